"""One episode end to end: check out the task, open a sandbox, run the agent, grade the patch.

`EpisodeRunner` is what a rollout worker holds (one per worker): it owns the per-worker policy
provider and a cache of base checkouts (the sandbox layers a copy-on-write checkout over them, so
concurrent episodes of one task share one read-only base).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srft_ray.agent.agent_loop import AGENT_NAME, run_episode, trajectory_id
from srft_ray.agent.config import AgentConfig
from srft_ray.agent.policies import PolicyConfig, policy_provider
from srft_ray.data.model import Outcome, Provenance, Task, Trajectory
from srft_ray.protocols import TaskSource
from srft_ray.sandbox import SandboxConfig, open_sandbox


@dataclass(kw_only=True)
class EpisodeConfig:
    """Everything one episode needs besides the task: agent, policy and sandbox settings."""

    agent: AgentConfig = field(default_factory=AgentConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)


class EpisodeRunner:
    """Runs episodes of tasks from one task source; thread-safe (one per rollout worker)."""

    def __init__(
        self,
        config: EpisodeConfig,
        *,
        task_source: TaskSource,
        round_index: int = 0,
        config_hash: str = "",
        engine: Any = None,
    ):
        self.config = config
        self.task_source = task_source
        self.round_index = round_index
        self.config_hash = config_hash
        self.policies = policy_provider(config.policy, engine=engine, round_index=round_index)
        self._checkouts: dict[str, Path] = {}
        self._checkout_lock = threading.Lock()
        # the owner pid in the name: a successor removes it if this worker is killed
        self._workspace = Path(tempfile.mkdtemp(prefix=f"{WORKSPACE_PREFIX}{os.getpid()}-"))

    def run(self, task: Task, sample_index: int) -> Trajectory:
        """Run (and grade) one episode; the id is deterministic in (round, task, sample)."""
        policy = self.policies.for_episode(task, sample_index)
        provenance = Provenance(
            policy_model=policy.model_name,
            policy_version=policy.version,
            round=self.round_index,
            sampling_params=self.policies.sampling_params(),
            config_hash=self.config_hash,
            agent=AGENT_NAME,
            created_at=time.time(),
        )
        sandbox = open_sandbox(self.config.sandbox, source_dir=self.checkout(task), image=None)
        try:
            return run_episode(
                task,
                sandbox=sandbox,
                policy=policy,
                config=self.config.agent,
                trajectory_id=trajectory_id(self.round_index, task.instance_id, sample_index),
                provenance=provenance,
                grader=self.grade,
            )
        finally:
            sandbox.close()

    def checkout(self, task: Task) -> Path | None:
        """A base checkout of the task (built once per worker), or None if the image has it."""
        from srft_ray.tasks.source import checkout_task

        if self.config.sandbox.backend != "bwrap" and self.task_source.repo_dir(task) is None:
            return None  # docker: the instance image holds the repository
        key = f"{task.repo}@{task.base_commit}"
        with self._checkout_lock:
            if key not in self._checkouts:
                dest = self._workspace / f"checkout-{len(self._checkouts)}"
                self._checkouts[key] = checkout_task(self.task_source, task, dest)
            return self._checkouts[key]

    def grade(self, task: Task, patch: str) -> Outcome:
        """Apply the patch and the hidden tests in a fresh sandbox and grade with swebench."""
        from srft_ray.tasks.grading import GradingConfig, grade_in_sandbox, grade_patch

        grading = GradingConfig(timeout_s=self.config.agent.grading_timeout_s)
        checkout = self.checkout(task)
        if checkout is None:  # docker with the instance image
            result = grade_patch(
                task,
                patch,
                source=self.task_source,
                sandbox_config=self.config.sandbox,
                config=grading,
            )
        else:  # a fresh copy-on-write sandbox over the cached base checkout: no re-clone
            with open_sandbox(self.config.sandbox, source_dir=checkout) as box:
                result = grade_in_sandbox(task, patch, box, grading)
        return result.to_outcome(Outcome())

    def close(self) -> None:
        shutil.rmtree(self._workspace, ignore_errors=True)


WORKSPACE_PREFIX = "srft-episodes-"


def remove_orphaned_workspaces(root: str | None = None) -> int:
    """Delete episode workspaces (cached checkouts) whose owning process is gone, as a worker
    SIGKILLed mid-episode leaves them; returns how many. Live owners' workspaces stay."""
    from srft_ray.sandbox.cgroups import owner_pid, pid_alive

    num_removed = 0
    for entry in os.scandir(root or tempfile.gettempdir()):
        pid = owner_pid(entry.name, WORKSPACE_PREFIX)
        if pid is not None and not pid_alive(pid) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
            num_removed += 1
    return num_removed
