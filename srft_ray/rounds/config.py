"""LoopConfig: the root config of `srft run`, composing each stage's own config.

Every stage keeps its own dataclass (CollectConfig, CriticConfig, PoolConfig, TrainConfig,
EvaluateConfig); this module only nests them and adds what belongs to the loop itself: rounds,
the task split, who collects in early rounds, and where training starts each round. The embedded
defaults live in srft_ray/configs/embedded.yaml and are applied under the user's files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from srft_ray.agent.episode import EpisodeConfig
from srft_ray.agent.policies import PolicyConfig
from srft_ray.collect import CollectConfig
from srft_ray.critic.config import CriticConfig
from srft_ray.critic.distill import DistillConfig
from srft_ray.critic.pool import PoolConfig
from srft_ray.data.model import Task
from srft_ray.ray_cluster import RayConfig
from srft_ray.train.config import TrainConfig

EMBEDDED_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "embedded.yaml"


@dataclass(kw_only=True)
class TaskSplitConfig:
    """Which tasks the loop collects on (train split) and evaluates on (held-out split)."""

    source: str = "embedded"
    """Task source: "embedded", a pack folder, or a file of SWE-bench rows."""
    repos_dir: str = ""
    """For row files: folder of local clones the bwrap sandbox checks out from."""
    eval_fraction: float = 0.25
    """Share of tasks held out for evaluation, chosen by a stable hash of instance_id."""
    split_salt: str = "srft-heldout-v1"
    """Salt of that hash: change it to draw another (still stable) split."""
    split_by: Literal["instance", "repo"] = "instance"
    """instance: hold out tasks; repo: hold out whole repositories, so evaluation runs on
    repositories that never occur in training (what a learning experiment needs)."""
    max_train_tasks: int = 0
    """Only the first N train-split tasks (0: all)."""
    max_eval_tasks: int = 0
    """Only the first N held-out tasks (0: all)."""


@dataclass(kw_only=True)
class EvaluateConfig:
    """Held-out evaluation: episodes of the exported policy, graded (resolve rate)."""

    num_workers: int = 1
    """Rollout worker actors."""
    episodes_per_worker: int = 4
    """Episodes one worker runs at once."""
    worker_num_cpus: float = 0.5
    samples_per_task: int = 1
    temperature: float = 0.0
    """Sampling temperature of the evaluated policy (0: greedy, reproducible)."""
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    """Agent, policy (kind vllm; the model is set to the checkpoint) and sandbox settings."""


@dataclass(kw_only=True)
class LoopConfig:
    """`srft run`: R rounds of collect -> critique -> train -> evaluate."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "critique": "critique_pool",
        "critic_num_cpus": "critique_pool.resources.num_cpus",
        "critic_num_gpus": "critique_pool.resources.num_gpus",
        "train_num_workers": "train.resources.num_workers",
        "train_use_gpu": "train.resources.num_gpus",
        "train_cpus_per_worker": "train.resources.num_cpus",
        "policy_engine_num_cpus": "collect.episode.policy.resources.num_cpus",
        "policy_engine_num_gpus": "collect.episode.policy.resources.num_gpus",
    }

    name: str = "embedded"
    """Run name; the run directory defaults to ./runs/<name>."""
    run_dir: str = ""
    """Where manifests, stores, checkpoints and the report go (empty: ./runs/<name>)."""
    num_rounds: int = 2
    teacher_rounds: int = 1
    """Rounds 0..N-1 collect with `teacher`; later rounds with the current policy."""
    teacher: PolicyConfig = field(default_factory=PolicyConfig)
    """The teacher: the ScriptedTeacher (kind scripted) or an OpenAI-compatible endpoint."""
    teacher_step_limit: int = 0
    """Agent step limit in teacher rounds (a teacher's fix takes more steps than a tiny
    policy is given); 0 keeps collect.episode.agent.step_limit."""
    student_max_tasks: int = 0
    """Training tasks the current policy collects on per round, a fresh sample each round (0:
    every training task). On CPU a student episode costs ~30x a scripted teacher's, so a run
    can give the teacher many tasks and the student a few."""
    student_task_selection: Literal["random", "pass_rate"] = "random"
    """Which training tasks a student round samples (up to student_max_tasks): random, or by
    the earlier student rounds' pass rates (srft_ray.rounds.task_choice: tasks it always solved
    are left out, tasks it sometimes solves come first)."""
    tasks: TaskSplitConfig = field(default_factory=TaskSplitConfig)
    collect: CollectConfig = field(default_factory=CollectConfig)
    """Collection; its episode.policy (kind vllm) samples the current policy, on the one engine
    that collect and evaluate share (its engine and resources blocks). `round`, `tasks` and
    `instance_ids` are set by the loop each round."""
    critic: CriticConfig = field(default_factory=CriticConfig)
    """The critic: backend, model, prompt and label source."""
    critique_pool: PoolConfig = field(default_factory=PoolConfig)
    """The critique pool (workers, batches, unknown-label guard) that runs `critic`."""
    train_critic: bool = False
    """Distil a critic from round 0's labels after its critique (stage `distil`, `srft
    train-critic`'s function; srft_ray.rounds.critic_stage) and label every later round with it
    under critic.labels (which must ask a critic: critic, replay_else_critic, consensus, ...).
    Round 0 then labels with replay, the labels the critic learns."""
    critic_distill: DistillConfig = field(default_factory=DistillConfig)
    """How that critic is trained and prompted (train.model_path empty: the loop's base model)."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Fine-tuning; dataset_dirs, output_dir and checkpoint_dir are set by the loop (DCP
    checkpoints, and so resume inside training, only when train.checkpoint_every > 0);
    train.resources.num_workers 0 (the default) trains in the driver process, N on Ray Train."""
    student_masking: Literal["", "rft", "srft", "all"] = ""
    """Masking mode of the rounds the student collects ("": train.masking.mode, like the
    teacher's). rft keeps only the student's resolved episodes: its failing ones are mostly
    steps the labels call good, yet they do not solve the task."""
    teacher_weight: float = 1.0
    """Weight of the teacher's rounds when a student round trains from the base on all data so
    far (TrainConfig.dataset_weights: passes over the teacher's stores per pass over the
    student's); 0 drops the teacher's data once the student collects (a teacher-free regime)."""
    train_from: Literal["base", "last"] = "base"
    """base: train the base model on all rounds' data so far; last: continue from the last
    exported policy on this round's data only."""
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    last_stage: Literal["critique", "train", "evaluate"] = "evaluate"
    """Stop each round after this stage: "critique" only collects and labels data (for
    `srft ablate`, or to train elsewhere); rounds then all collect with the teacher or base."""
    evaluate_base: bool = True
    """Evaluate the untrained base model on the held-out tasks first (RUN_DIR/base/)."""
    overlap_evaluation: bool = True
    """Run each evaluation beside the next round's collection and critique, on the same policy
    engine (round r's export is what round r+1 collects with; the base model's evaluation runs
    beside the teacher's round): training waits for it. False: one stage at a time."""
    ray: RayConfig = field(default_factory=RayConfig)
    write_report: bool = True
    """Write RUN_DIR/report/index.html at the end (`srft report RUN_DIR`)."""

    def check(self) -> None:
        """Checks across sections, once every file and override is applied (a __post_init__
        would see `train_critic=true` before a later `critic.labels=...`)."""
        from srft_ray.critic.label_modes import CRITIC_FREE_MODES

        if self.teacher_weight < 0:
            raise ValueError(f"teacher_weight must be >= 0, got {self.teacher_weight}")
        if self.train_critic and self.critic.labels in CRITIC_FREE_MODES:
            raise ValueError(
                f"train_critic=true: critic.labels={self.critic.labels} never asks a critic; "
                "set critic.labels to critic, replay_else_critic, consensus or critic_or_rules"
            )

    def masking_mode_of_round(self, round_index: int) -> str:
        """The masking mode round `round_index`'s labelled store is trained with."""
        if round_index >= self.teacher_rounds and self.student_masking:
            return self.student_masking
        return self.train.masking.mode

    def resolved_run_dir(self) -> Path:
        return Path(self.run_dir or Path("runs") / self.name).resolve()


def split_tasks(tasks: list[Task], config: TaskSplitConfig) -> tuple[list[Task], list[Task]]:
    """(train, held-out) by a salted hash of instance_id: stable across runs and task order."""
    if not tasks:
        raise ValueError(f"tasks.source {config.source!r}: no tasks")
    if not 0.0 <= config.eval_fraction < 1.0:
        raise ValueError(f"tasks.eval_fraction must be in [0, 1), got {config.eval_fraction}")

    def position(task: Task) -> float:
        key = task.repo if config.split_by == "repo" else task.instance_id
        digest = hashlib.sha256(f"{config.split_salt}\0{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    held = [t for t in tasks if position(t) < config.eval_fraction]
    if config.eval_fraction > 0 and not held:  # tiny packs: hold out at least one task (repo)
        first = min(tasks, key=position)
        held = [t for t in tasks if position(t) == position(first)]
    held_ids = {t.instance_id for t in held}
    train = [t for t in tasks if t.instance_id not in held_ids]
    if not train:
        raise ValueError("tasks: the held-out split took every task; lower eval_fraction")
    if config.max_train_tasks:
        train = train[: config.max_train_tasks]
    if config.max_eval_tasks:
        held = held[: config.max_eval_tasks]
    return train, held
