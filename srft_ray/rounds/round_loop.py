"""The SRFT loop: rounds of collect -> critique (streaming, overlapped) -> train -> evaluate.

Each round keeps a manifest (srft_ray.runstate.manifest). A stage is skipped when it finished on
the same inputs (content hashes chain: critique keys on collect's inputs, train on the labelled
data's content and the starting weights, evaluate on the exported weights), resumed when an
earlier attempt on the same inputs died (the stores skip ids already written, training resumes
from its DCP checkpoint), and started afresh (its stale outputs removed) when its inputs changed.

Critique tails the collected store while collection runs: both run from this driver, collection
in the main thread and the critic pool in a second thread, each driving its own Ray actors.
Engines are Ray actors started per need and killed before training, so on a small GPU cluster one
set of GPUs serves collection, critique, training and evaluation in turn.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from srft_ray.config import to_dict
from srft_ray.data.model import Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.rounds.config import LoopConfig, split_tasks
from srft_ray.rounds.critic_stage import (
    critic_inputs,
    critic_of_round,
    distil_critic,
)
from srft_ray.rounds.stages import (
    Log,
    PolicyEngines,
    RunContext,
    begin_stage,
    fail_stage,
    finish_stage,
    heartbeat,
    label_counts,
    open_round,
    tail_store,
)
from srft_ray.rounds.task_choice import choose_tasks, pass_history
from srft_ray.rounds.train_evaluate import evaluate, evaluate_base, train
from srft_ray.runstate.hashing import checkpoint_hash, inputs_hash, run_relative_hash
from srft_ray.runstate.layout import round_paths
from srft_ray.runstate.manifest import RoundManifest, Stage
from srft_ray.runstate.run_manifest import RunManifest

__all__ = ["PolicyEngines", "run_loop", "run_round"]


def run_loop(config: LoopConfig, *, log: Log = print) -> Path:
    """Run (or resume) every round of `config`; returns the run directory."""
    from srft_ray.model_prep import prepare_model
    from srft_ray.present.progress import format_duration
    from srft_ray.ray_cluster import init_ray
    from srft_ray.tasks.source import load_task_source

    started = time.monotonic()
    config.check()
    run_dir = config.resolved_run_dir()
    run = RunManifest.load_or_create(run_dir, config)
    source = load_task_source(config.tasks.source, repos_dir=config.tasks.repos_dir)
    train_tasks, eval_tasks = split_tasks(source.tasks(), config.tasks)
    base_model = config.train.model_path or str(prepare_model(quiet=True))
    info = init_ray(config.ray)
    log(
        f"[run] {run_dir}: {config.num_rounds} rounds, {len(train_tasks)} train tasks, "
        f"{len(eval_tasks)} held-out tasks ({', '.join(t.instance_id for t in eval_tasks)}); "
        f"ray dashboard {info.get('dashboard_url') or 'n/a'}"
    )
    policy_engine = config.collect.episode.policy
    ctx = RunContext(
        config=config,
        run=run,
        train_tasks=train_tasks,
        eval_tasks=eval_tasks,
        base_model=str(Path(base_model).resolve()),
        engines=PolicyEngines(
            policy_engine.engine,
            num_cpus=policy_engine.resources.num_cpus,
            num_gpus=policy_engine.resources.num_gpus,
            resources=policy_engine.resources.custom,
        ),
        log=log,
        lock=threading.Lock(),
    )
    policy = ctx.base_model
    evaluation: Overlapped | None = None  # the last evaluation, beside this round's collection
    try:
        if config.evaluate_base:
            evaluation = Overlapped.begin(ctx, "evaluate base", lambda: evaluate_base(ctx))
        for index in range(config.num_rounds):
            round_started = time.monotonic()
            manifest = open_round(run, index)
            collect_and_critique(ctx, manifest, policy)
            if evaluation is not None:
                evaluation.wait()  # training takes the cores (and releases the engine)
            evaluation = None
            distil_critic(ctx, manifest)
            if config.last_stage != "critique":
                export = train(ctx, manifest, policy)
                if config.last_stage == "evaluate":
                    work = _evaluated(ctx, manifest, export, round_started)
                    evaluation = Overlapped.begin(ctx, f"evaluate round {index}", work)
                policy = export
            if config.last_stage != "evaluate":  # else the evaluation ends the round
                _round_done(ctx, manifest, round_started)
        if evaluation is not None:
            evaluation.wait()
    finally:
        ctx.engines.release()  # a still-running evaluation fails, and a resumed run redoes it
    log(f"[run] {config.num_rounds} rounds done in {format_duration(time.monotonic() - started)}")
    if config.write_report:
        from srft_ray.present.report import write_report

        log(f"[run] report: {write_report(run_dir)}  (rewrite it with `srft report {run_dir}`)")
    return run_dir


def run_round(ctx: RunContext, manifest: RoundManifest, policy: str) -> str:
    """One round, one stage at a time; `policy` is the checkpoint to collect with. Returns the
    round's export. (run_loop runs the same stages, each evaluation beside the next round.)"""
    collect_and_critique(ctx, manifest, policy)
    distil_critic(ctx, manifest)
    if ctx.config.last_stage == "critique":
        return policy
    export = train(ctx, manifest, policy)
    if ctx.config.last_stage == "evaluate":
        evaluate(ctx, manifest, export)
    return export


class Overlapped(threading.Thread):
    """An evaluation running in a second driver thread beside the next round's collection;
    `wait()` joins it and re-raises its error. With overlap_evaluation off it runs inline."""

    def __init__(self, name: str, work: Callable[[], Any]):
        super().__init__(name=name, daemon=True)
        self.work, self.error = work, None

    @classmethod
    def begin(cls, ctx: RunContext, name: str, work: Callable[[], Any]) -> Overlapped | None:
        if not ctx.config.overlap_evaluation:
            work()
            return None
        thread = cls(name, work)
        thread.start()
        return thread

    def run(self) -> None:
        try:
            self.work()
        except BaseException as exc:  # re-raised in the driver's thread by wait()
            self.error = exc

    def wait(self) -> None:
        self.join()
        if self.error is not None:
            raise RuntimeError(f"{self.name} failed") from self.error


def _evaluated(
    ctx: RunContext, manifest: RoundManifest, export: str, round_started: float
) -> Callable[[], None]:
    """Round `manifest`'s evaluation, then its summary (the round is complete only then)."""

    def work() -> None:
        evaluate(ctx, manifest, export)
        _round_done(ctx, manifest, round_started)

    return work


def _round_done(ctx: RunContext, manifest: RoundManifest, round_started: float) -> None:
    from srft_ray.present.progress import format_duration, format_round_summary

    took = format_duration(time.monotonic() - round_started)
    ctx.log(f"\n{format_round_summary(manifest)}")
    ctx.log(f"[run] round {manifest.round_index} took {took}\n")


# ----------------------------------------------------------------------------- collect + critique


def collect_config_for(ctx: RunContext, round_index: int, policy: str):
    """This round's CollectConfig: the teacher in early rounds, else the current policy."""
    config = ctx.config
    collect = copy.deepcopy(config.collect)
    collect.round = round_index
    collect.tasks = config.tasks.source
    collect.repos_dir = config.tasks.repos_dir
    collect.instance_ids = [t.instance_id for t in ctx.train_tasks]
    collect.max_tasks = 0
    if round_index < config.teacher_rounds:
        collect.episode.policy = copy.deepcopy(config.teacher)
        if config.teacher_step_limit:
            collect.episode.agent.step_limit = config.teacher_step_limit
    else:
        if config.student_task_selection == "pass_rate":
            earlier = range(config.teacher_rounds, round_index)
            stores = [round_paths(ctx.run.run_dir, i).collected for i in earlier]
            history = pass_history(t for s in stores if s.is_dir() for t in TrajectoryStore(s))
            collect.instance_ids = choose_tasks(
                collect.instance_ids,
                history,
                config.student_max_tasks,
                seed=f"student-tasks/{round_index}",
            )
        elif config.student_max_tasks and config.student_max_tasks < len(collect.instance_ids):
            rng = random.Random(f"student-tasks/{round_index}")
            chosen = set(rng.sample(collect.instance_ids, config.student_max_tasks))
            collect.instance_ids = [i for i in collect.instance_ids if i in chosen]
        collect.episode.policy.kind = "vllm"
        collect.episode.policy.engine.model = policy
        collect.episode.policy.version = Path(policy).name
    return collect


def collect_and_critique(ctx: RunContext, manifest: RoundManifest, policy: str) -> None:
    from srft_ray.collect import collect

    paths = manifest.paths
    collect_config = collect_config_for(ctx, manifest.round_index, policy)
    uses_policy = collect_config.episode.policy.kind == "vllm"
    collect_inputs = {
        "config": run_relative_hash(to_dict(collect_config), ctx.run.run_dir),
        "policy": checkpoint_hash(policy) if uses_policy else "teacher",
    }
    round_critic = critic_of_round(ctx, manifest.round_index, run_critic(ctx.config))
    critique_inputs = {
        **critic_inputs(ctx, manifest.round_index, round_critic),
        # Collection is deterministic in its inputs (ids are round/task/sample), and critique
        # starts before collection has an output to hash: key on collection's inputs.
        "collect": inputs_hash(collect_inputs),
    }
    collect_stage, critique_stage = manifest.stage("collect"), manifest.stage("critique")
    need_collect = begin_stage(ctx, collect_stage, collect_inputs, [paths.collected])
    need_critique = begin_stage(ctx, critique_stage, critique_inputs, [paths.labelled])
    collected = TrajectoryStore(paths.collected)
    stop = threading.Event()
    critic = _CritiqueThread(ctx, critique_stage, round_critic, collected, paths.labelled, stop)
    if need_critique:
        critic.start()
    try:
        if need_collect:
            engine = ctx.engines.get(policy, ctx.log) if uses_policy else None
            who = f"policy {Path(policy).name}" if uses_policy else "the teacher"
            ctx.log(f"[collect] round {manifest.round_index}: {who}, critique streaming along")

            summary = collect(
                collect_config,
                ctx.train_tasks,
                collected,
                engine=engine,
                log=ctx.log,
                heartbeat=lambda: heartbeat(ctx, collect_stage),
            )
            trajs = collected.read_all()
            finish_stage(
                ctx,
                collect_stage,
                {"collected": paths.collected},
                {
                    "num_trajectories": len(trajs),
                    "num_resolved": sum(bool(t.outcome.resolved) for t in trajs),
                    "num_failed_episodes": summary.num_failed,
                    "num_written_this_attempt": summary.num_written,
                    "episodes_per_minute": round(summary.episodes_per_minute, 2),
                },
            )
    except BaseException as exc:
        stop.set()
        fail_stage(ctx, collect_stage, exc)
        if need_critique:
            critic.join()
        raise
    if need_critique:
        critic.join()
    if critic.error is not None:
        raise RuntimeError(f"critique of round {manifest.round_index} failed") from critic.error


class _CritiqueThread(threading.Thread):
    """The critic pool tailing the collected store; records the stage's end in the manifest."""

    def __init__(self, ctx, stage: Stage, critic, collected: TrajectoryStore, out: Path, stop):
        super().__init__(name="critique", daemon=True)
        self.ctx, self.stage, self.collected, self.out, self.stop = ctx, stage, collected, out, stop
        self.critic = critic  # this round's CriticConfig
        self.error: BaseException | None = None

    def _source(self) -> Iterator[Trajectory]:
        for traj in tail_store(self.collected, self.stop):
            heartbeat(self.ctx, self.stage)
            yield traj

    def run(self) -> None:
        from srft_ray.critic.pool import critique

        cfg = self.ctx.config
        try:
            labelled = TrajectoryStore(self.out)
            report = critique(self.critic, cfg.critique_pool, self._source(), labelled)
            if self.stop.is_set():
                raise RuntimeError("collection failed; critique stopped with what it had")
            if report.failed_ids:
                raise RuntimeError(
                    f"{len(report.failed_ids)} trajectories could not be labelled "
                    f"(left for the next run): {report.failed_ids[:5]}"
                )
            metrics = label_counts(labelled)
            metrics.update(
                bad_outputs={k: v for k, v in report.stats.bad_outputs.items() if v},
                num_written_this_attempt=report.num_written,
            )
            finish_stage(self.ctx, self.stage, {"labelled": self.out}, metrics)
        except BaseException as exc:
            self.error = exc
            fail_stage(self.ctx, self.stage, exc)


def run_critic(config) -> Any:
    """The loop's critic config, its replay source reading the run's tasks in its sandbox when
    the config names none."""
    critic = config.critic
    if critic.replay.tasks:
        return critic
    replay = dataclasses.replace(
        critic.replay, tasks=config.tasks.source, sandbox=config.collect.episode.sandbox
    )
    return dataclasses.replace(critic, replay=replay)
