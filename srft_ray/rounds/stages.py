"""Plumbing the loop's stages share: the run context, policy engines, manifest stage
bookkeeping (skip / resume / start over), tailing a store that is still being written, label counts.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from srft_ray.data.model import LABELS, Task
from srft_ray.data.store import TrajectoryStore
from srft_ray.rounds.config import LoopConfig
from srft_ray.runstate.hashing import inputs_hash
from srft_ray.runstate.layout import STAGES, round_paths
from srft_ray.runstate.manifest import RoundManifest, Stage, StageRecord
from srft_ray.runstate.run_manifest import RunManifest
from srft_ray.vllm_engine import EngineConfig

Log = Callable[[str], None]


class PolicyEngines:
    """At most one policy EngineActor, serving one checkpoint; restarted when the model changes.

    The evaluation engine of round r serves the policy that round r+1 collects with, so it is
    kept across that boundary and released only before training (which needs the accelerator).
    """

    def __init__(
        self,
        engine: EngineConfig,
        *,
        num_cpus: float,
        num_gpus: float,
        resources: dict[str, float] | None = None,
        start_engine: Callable[..., Any] | None = None,
    ):
        """`start_engine(config, num_cpus=, num_gpus=)` starts one engine actor (default: the
        EngineActor that srft_ray.registry.ACTOR_FACTORIES names)."""
        self.engine_config = engine
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self.options = {"resources": dict(resources)} if resources else {}
        self.start_engine = start_engine
        self.actor: Any = None
        self.model = ""
        # an evaluation and the next round's collection ask for the same engine at once
        self._lock = threading.RLock()

    def get(self, model_path: str | Path, log: Log = print) -> Any:
        with self._lock:
            return self._get(model_path, log)

    def _get(self, model_path: str | Path, log: Log) -> Any:
        import ray

        from srft_ray.registry import actor_factory

        if self.actor is not None and self.model == str(model_path):
            return self.actor
        self.release()
        started = time.monotonic()
        config = replace(self.engine_config, model=str(model_path))
        start_engine = self.start_engine or actor_factory("engine")
        actor = start_engine(config, num_cpus=self.num_cpus, num_gpus=self.num_gpus, **self.options)
        ray.get(actor.stats.remote())  # wait until the engine is up; errors surface here
        self.actor, self.model = actor, str(model_path)
        log(f"[engine] policy engine up in {time.monotonic() - started:.0f}s: {model_path}")
        return actor

    def release(self) -> None:
        with self._lock:
            if self.actor is not None:
                import ray

                ray.kill(self.actor)
                self.actor, self.model = None, ""


@dataclass
class RunContext:
    """What every round shares: the config, run manifest, task split, base model and engines."""

    config: LoopConfig
    run: RunManifest
    train_tasks: list[Task]
    eval_tasks: list[Task]
    base_model: str
    engines: PolicyEngines
    log: Log
    lock: threading.Lock  # manifest writes from the collect and critique threads


def open_round(run: RunManifest, index: int) -> RoundManifest:
    """run.round(index), writing a fresh manifest first when the round is new (one plain save,
    so creating it never nests the manifest's file lock)."""
    if not round_paths(run.run_dir, index).manifest.exists():
        RoundManifest(run.run_dir, index, {name: StageRecord() for name in STAGES}).save()
    return run.round(index)


def begin_stage(ctx: RunContext, stage: Stage, inputs: dict[str, str], outputs: list[Path]) -> bool:
    """Start `stage` unless done on these inputs (returns False: skip). Outputs of an earlier
    attempt on other inputs are removed; those of a dead attempt on the same inputs are kept."""
    current = inputs_hash(inputs)
    name = f"round {stage.manifest.round_index} {stage.name}"
    if stage.is_done(current):
        ctx.log(f"[{stage.name}] {name}: done earlier on the same inputs, skipped")
        return False
    if stage.should_resume(current):
        ctx.log(f"[{stage.name}] {name}: resuming an interrupted attempt")
    else:
        if stage.record.status != "pending":
            ctx.log(f"[{stage.name}] {name}: inputs changed, starting over")
        for path in outputs:
            shutil.rmtree(path, ignore_errors=True)
    with ctx.lock:
        stage.start(inputs)
    return True


def finish_stage(ctx: RunContext, stage: Stage, outputs: dict[str, Path], metrics: dict) -> None:
    with ctx.lock:
        stage.finish(outputs=outputs, metrics=metrics)


def fail_stage(ctx: RunContext, stage: Stage, error: BaseException | str) -> None:
    with ctx.lock:
        if stage.record.status == "running":
            stage.fail(error)


def heartbeat(ctx: RunContext, stage: Stage) -> None:
    with ctx.lock:
        if stage.record.status == "running":
            stage.heartbeat()


def tail_store(store: TrajectoryStore, stop: threading.Event, poll_s: float = 0.5) -> Iterator:
    """Like TrajectoryStore.follow(), but also ends when `stop` is set (the producer failed)."""
    import pyarrow.parquet as pq

    from srft_ray.data.store import TRAJECTORY_SCHEMA, trajectories_from_table

    seen: set[Path] = set()
    while True:
        complete = store.is_complete()  # read before listing, so no part is missed
        new = [part for part in store.parts() if part not in seen]
        for part in new:
            seen.add(part)
            yield from trajectories_from_table(pq.read_table(part, schema=TRAJECTORY_SCHEMA))
        if not new and (complete or stop.is_set()):
            return
        if not new:
            time.sleep(poll_s)


def label_counts(store: TrajectoryStore) -> dict[str, int]:
    """Steps per final label (the label training uses: masking's default source order)."""
    from srft_ray.masking import DEFAULT_LABEL_SOURCES

    counts = {"num_trajectories": 0, "num_steps": 0}
    counts.update({f"num_{kind}": 0 for kind in LABELS})
    for traj in store:
        counts["num_trajectories"] += 1
        for step in traj.steps:
            found = step.label_from(*DEFAULT_LABEL_SOURCES)
            counts["num_steps"] += 1
            counts[f"num_{found.label if found else 'unknown'}"] += 1
    return counts
