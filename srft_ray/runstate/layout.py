"""Run directory layout, the metric names stages record, and the train metrics JSONL.

RUN_DIR/
  run.json                       run manifest: the run config and the rounds started so far
  round-000/
    manifest.json                round manifest: per stage status, input/output hashes, metrics
    collected/                   TrajectoryStore written by collect
    labelled/                    TrajectoryStore written by critique
    checkpoint/                  training checkpoints (DCP), for resume inside train
    export/                      Hugging Face safetensors export: the next round's policy
    critic/                      a critic distilled from this round's labels (stage distil)
    train/metrics.jsonl          one JSON object per optimizer step (TRAIN_METRIC_FIELDS)
    eval/                        TrajectoryStore of held-out evaluation episodes
  report/index.html              `srft report RUN_DIR`
  report/trajectories/*.html     per-trajectory viewer pages
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srft_ray.data.model import DataError

STAGES: tuple[str, ...] = ("collect", "critique", "train", "evaluate")
OPTIONAL_STAGES: tuple[str, ...] = ("distil",)
"""Stages a round has only when its config asks for them, recorded once begun: `distil` trains
a critic on round 0's labels (LoopConfig.train_critic)."""

# The metric names each stage records with `finish(metrics=...)`; the summary and the report read
# these keys (missing ones show as "n/a"). Stages may add more.
STAGE_METRICS: dict[str, dict[str, str]] = {
    "collect": {
        "num_trajectories": "trajectories collected this round",
        "num_resolved": "of those, how many resolved their task",
    },
    "critique": {
        "num_steps": "steps labelled",
        "num_good": "steps labelled good",
        "num_unnecessary": "steps labelled unnecessary (trained unless masking.masked_kinds has it)",
        "num_mistake": "steps labelled mistake (loss-masked by SRFT; num_bad in older runs)",
        "num_recover": "steps labelled recover (they undo an earlier mistake)",
        "num_unknown": "steps the critic could not decide",
    },
    "train": {
        "num_tokens": "tokens the optimizer steps consumed (packed rows, all steps)",
        "num_trained_tokens": "of those, tokens with loss mask 1",
        "epochs": "passes over the training documents those steps made",
        "dataset_tokens": "tokens in the training examples",
        "dataset_trained_tokens": "of those, tokens with loss mask 1",
        "trained_token_share": "dataset_trained_tokens / dataset_tokens",
        "final_loss": "mean loss over the last logged steps",
        "num_optimizer_steps": "optimizer steps taken",
    },
    "distil": {
        "num_examples": "labelled trajectories the critic was trained on",
        "num_optimizer_steps": "optimizer steps taken",
        "final_loss": "mean loss over the last logged steps (verdict tokens only)",
    },
    "evaluate": {
        "num_tasks": "held-out tasks evaluated",
        "num_resolved": "held-out tasks resolved",
        "resolve_rate": "num_resolved / num_tasks",
    },
}
# One line of RUN_DIR/round-NNN/train/metrics.jsonl per optimizer step; "tokens" (all tokens in
# the step's batch) is optional and lets the report compute the trained-token share per step.
TRAIN_METRIC_FIELDS: tuple[str, ...] = ("step", "loss", "lr", "tokens_per_s", "trained_tokens")


# ----------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class RoundPaths:
    """Where one round keeps its data; every stage gets its paths from here."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def collected(self) -> Path:
        return self.root / "collected"

    @property
    def labelled(self) -> Path:
        return self.root / "labelled"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def critic(self) -> Path:
        return self.root / "critic"

    @property
    def train_metrics(self) -> Path:
        return self.root / "train" / "metrics.jsonl"

    @property
    def eval(self) -> Path:
        return self.root / "eval"


def round_dir(run_dir: str | Path, round_index: int) -> Path:
    return Path(run_dir) / f"round-{round_index:03d}"


def round_paths(run_dir: str | Path, round_index: int) -> RoundPaths:
    return RoundPaths(round_dir(run_dir, round_index))


def report_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "report"


# ----------------------------------------------------------------------------- train metrics


def append_train_metrics(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one step's metrics (flushed, so a crash loses at most the line being written)."""
    missing = [key for key in TRAIN_METRIC_FIELDS if key not in record]
    if missing:
        raise DataError(f"{path}: train metrics record lacks {missing}: {dict(record)!r:.200}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab+") as fh:
        torn = False
        if fh.seek(0, os.SEEK_END):
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
        # after a crash mid-append, start on a new line: the torn one stays a line of its own
        line = ("\n" if torn else "") + json.dumps(dict(record), sort_keys=True) + "\n"
        fh.write(line.encode())
        fh.flush()


def read_train_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Per-step records sorted by step; a step logged twice (resume) keeps its last record.

    A torn line (a crash mid-append: an object cut before its closing brace) is dropped, last
    or not (a resumed run appends after it); any other bad line is an error naming it.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    by_step: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) or (line.startswith("{") and not line.rstrip().endswith("}")):
                continue
            raise DataError(f"{path}:{number}: not a JSON object ({exc})") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise DataError(f"{path}:{number}: expected an object with an integer 'step'")
        by_step[record["step"]] = record
    return [by_step[step] for step in sorted(by_step)]
