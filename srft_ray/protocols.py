"""The pluggable parts of srft-ray, each a small protocol, all in one place.

Backends are chosen by a short name from a registry next to their implementations
(sandboxes: "bwrap", "docker"; policies: "vllm", "openai", "scripted"; critics: "vllm", "openai").
Everything else in the system talks to these protocols only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from srft_ray.data.model import StepLabel, Task, Trajectory


@dataclass(kw_only=True)
class CommandResult:
    """What one command in a sandbox produced and why it ended."""

    output: str
    """stdout and stderr interleaved, capped; a capped output ends with a visible marker."""
    returncode: int | None
    """None when the command did not exit by itself (killed for a timeout or a limit)."""
    end_reason: str = "exit"
    """exit, timeout, memory_limit, cpu_limit, file_size_limit, output_limit, killed."""
    duration_s: float = 0.0
    output_truncated: bool = False


@runtime_checkable
class Sandbox(Protocol):
    """An isolated, disposable machine holding one task's checkout at `workdir`."""

    workdir: str

    def run(self, command: str, *, timeout_s: float | None = None) -> CommandResult:
        """Run a bash command in the checkout; never raises for the command's own failure."""
        ...

    def write_file(self, path: str, content: str) -> None:
        """Write a file inside the sandbox (path relative to the checkout or absolute in it)."""
        ...

    def read_file(self, path: str) -> str:
        """Text of a file inside the sandbox, whole (no command-output cap)."""
        ...

    def copy_out(self, path: str, host_dest: Path) -> None:
        """Copy a file or folder from inside the sandbox to `host_dest` on the host."""
        ...

    def close(self) -> None:
        """Kill everything still running and delete the sandbox; safe to call twice."""
        ...


@dataclass(kw_only=True)
class PolicyReply:
    """One sampled assistant message."""

    text: str
    token_ids: list[int] | None = None
    """The exact sampled ids (end-of-turn token included when generation stopped on it)."""
    logprobs: list[float] | None = None
    finish_reason: str = "stop"
    num_prompt_tokens: int = 0
    seconds: float = 0.0
    labels: list[StepLabel] = field(default_factory=list)
    """Labels the policy itself knows for this step (a scripted teacher's ground truth)."""


@runtime_checkable
class PolicyClient(Protocol):
    """Samples the agent's next message from the chat so far."""

    model_name: str
    version: str

    def generate(self, messages: list[dict[str, Any]]) -> PolicyReply: ...


@runtime_checkable
class Critic(Protocol):
    """Labels every step of each trajectory good, bad or unknown."""

    def label(self, trajectories: list[Trajectory]) -> list[list[StepLabel]]:
        """One list of labels per trajectory, one label per step, in step order."""
        ...


@runtime_checkable
class TaskSource(Protocol):
    """Where tasks (SWE-bench rows) and, for local sandboxes, their repositories come from."""

    def tasks(self) -> list[Task]: ...

    def repo_dir(self, task: Task) -> Path | None:
        """A local git repository holding task.base_commit, or None (the image has the repo)."""
        ...
