"""`srft critic-eval`: how well critic, rule and replay labels detect mistakes, against reference labels.

References are the ScriptedTeacher's ground truth (StepLabel source "scripted") or human labels
carried by the trajectories, or a hand-labelled JSONL of {"trajectory_id", "step", "label"}
(`step` is Step.index; label one of the kinds good, unnecessary, mistake, recover; a legacy "bad"
reads as mistake). The positive class is "mistake" (the kind srft masks): precision = of the
steps flagged mistake, how many are mistakes; recall = of the mistakes, how many were flagged.
Next to those, each row counts the reference's kinds and the predicted kinds, and a confusion
matrix of reference kind x predicted kind (predicted `unknown` is its own column, before
`--unknown-as`), which shows where unnecessary and recover steps land. Predictions come from
labelled stores: the raw critic label of each critic model and prompt version (source "critic";
two critics in one store are scored apart, never mixed), and the four label modes recomputed from
it and the (deterministic) rules, so one labelled store answers every mode. A predicted `unknown`
counts as not flagged (like `--unknown-as good`) and is reported separately. Undefined ratios (no
flagged steps, no mistakes) are reported as 0.0.

    srft critic-eval --store runs/r0/labelled [--store ...] [--labels hand.jsonl] [--out eval.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import get_args

from srft_ray.critic.config import LabelMode
from srft_ray.critic.label_modes import combine_replay
from srft_ray.critic.llm_critic import COMBINED_PREFIX
from srft_ray.critic.rules import combine, rule_labels
from srft_ray.data.model import LABELS, DataError, StepLabel, Trajectory, canonical_label
from srft_ray.data.store import TrajectoryStore

MODES: tuple[str, ...] = get_args(LabelMode)
REFERENCE_SOURCES = ("human", "scripted")
KINDS = tuple(label for label in LABELS if label != "unknown")
"""What a reference says of a step (rows of the confusion matrix)."""
PREDICTED = LABELS
"""What a prediction says (columns: the kinds and unknown)."""


def _zero_matrix() -> dict[str, dict[str, int]]:
    return {truth: dict.fromkeys(PREDICTED, 0) for truth in KINDS}


@dataclass(kw_only=True)
class Metrics:
    source: str
    critic_model: str
    """StepLabel.model of the critic scored ("-" for the rules alone)."""
    prompt_version: str
    mode: str
    num_steps: int = 0
    num_unknown: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=_zero_matrix)
    """confusion[reference kind][predicted kind] = steps; predicted unknown before unknown_as."""

    def count(self, predicted: str, truth: str, unknown_as: str) -> None:
        predicted, truth = canonical_label(predicted), canonical_label(truth)
        self.num_steps += 1
        self.confusion[truth][predicted] += 1
        if predicted == "unknown":
            self.num_unknown += 1
            predicted = canonical_label(unknown_as)
        flagged, mistake = predicted == "mistake", truth == "mistake"
        self.tp += flagged and mistake
        self.fp += flagged and not mistake
        self.fn += mistake and not flagged
        self.tn += not mistake and not flagged

    @property
    def reference_kinds(self) -> dict[str, int]:
        """Steps per reference kind (the confusion matrix's row sums)."""
        return {truth: sum(row.values()) for truth, row in self.confusion.items()}

    @property
    def predicted_kinds(self) -> dict[str, int]:
        """Steps per predicted kind, unknown included (the column sums)."""
        return {kind: sum(row[kind] for row in self.confusion.values()) for kind in PREDICTED}

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.num_steps if self.num_steps else 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(precision=self.precision, recall=self.recall, f1=self.f1, accuracy=self.accuracy)
        out.update(reference_kinds=self.reference_kinds, predicted_kinds=self.predicted_kinds)
        return out


def load_reference_jsonl(path: str | Path) -> dict[tuple[str, int], str]:
    """(trajectory_id, step index) -> kind from a hand-labelled JSONL file ("bad": mistake)."""
    out = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not JSON ({exc})") from None
        for key, kind in (("trajectory_id", str), ("step", int), ("label", str)):
            if not isinstance(row.get(key), kind) or isinstance(row.get(key), bool):
                raise DataError(f"{where}: field {key!r} must be a {kind.__name__}")
        label = canonical_label(row["label"])
        if label not in KINDS:
            raise DataError(
                f"{where}: field 'label' must be one of {', '.join(KINDS)} (or the legacy bad), "
                f"got {row['label']!r}"
            )
        out[(row["trajectory_id"], row["step"])] = label
    return out


def reference_from_trajectories(trajs: Iterable[Trajectory]) -> dict[tuple[str, int], str]:
    """Reference labels carried by the trajectories (human first, then the scripted teacher)."""
    out = {}
    for traj in trajs:
        for step in traj.steps:
            found = step.label_from(*REFERENCE_SOURCES)
            if found is not None and found.label in KINDS:
                out[(traj.trajectory_id, step.index)] = found.label
    return out


def _raw_critic(labels: list[StepLabel]) -> dict[tuple[str, str], StepLabel]:
    """(critic model, prompt version) -> the last raw critic label of that pair on one step."""
    return {
        (lab.model, lab.prompt_version): lab
        for lab in labels
        if lab.source == "critic" and not lab.model.startswith(COMBINED_PREFIX)
    }


def evaluate(
    trajs: Iterable[Trajectory],
    reference: dict[tuple[str, int], str],
    *,
    source: str = "",
    unknown_as: str = "good",
) -> list[Metrics]:
    """Metrics per (critic model, prompt version, mode) over the steps with a reference label."""
    table: dict[tuple[str, str, str], Metrics] = {}

    def row(model: str, version: str, mode: str) -> Metrics:
        key = (model, version, mode)
        if key not in table:
            table[key] = Metrics(
                source=source, critic_model=model, prompt_version=version, mode=mode
            )
        return table[key]

    for traj in trajs:
        rules = rule_labels(traj)
        for step, fired in zip(traj.steps, rules):
            truth = reference.get((traj.trajectory_id, step.index))
            if truth is None:
                continue
            row("-", "-", "rules").count(combine("rules", None, fired), truth, unknown_as)
            replay = step.label_from("replay")
            if replay is not None:
                row(replay.model, "-", "replay").count(replay.label, truth, unknown_as)
            for (model, version), critic in _raw_critic(step.labels).items():
                for mode in ("critic", "critic_and_rules", "critic_or_rules"):
                    row(model, version, mode).count(combine(mode, critic, fired), truth, unknown_as)
                if replay is not None:
                    for mode in ("replay_else_critic", "consensus"):
                        kind = combine_replay(mode, replay, canonical_label(critic.label))
                        row(model, version, mode).count(kind, truth, unknown_as)
    return sorted(
        table.values(), key=lambda m: (m.critic_model, m.prompt_version, MODES.index(m.mode))
    )


def format_table(rows: list[Metrics]) -> str:
    head = f"{'source':<24} {'critic':<20} {'prompt':<16} {'mode':<17} {'steps':>5} {'unk':>4} "
    head += (
        f"{'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4} {'prec':>6} {'recall':>6} {'F1':>6} {'acc':>6}"
    )
    lines = [head, "-" * len(head)]
    for m in rows:
        lines.append(
            f"{m.source[-24:]:<24} {m.critic_model[-20:]:<20} {m.prompt_version:<16} "
            f"{m.mode:<17} {m.num_steps:>5} "
            f"{m.num_unknown:>4} {m.tp:>4} {m.fp:>4} {m.fn:>4} {m.tn:>4} {m.precision:>6.3f} "
            f"{m.recall:>6.3f} {m.f1:>6.3f} {m.accuracy:>6.3f}"
        )
    return "\n".join(lines)


def format_confusion(rows: list[Metrics]) -> str:
    """Each row's matrix on one line: per reference kind, its steps by predicted kind."""
    short = " ".join(f"{kind[0] if kind != 'unknown' else '?'}={kind}" for kind in PREDICTED)
    heads = "".join(f"{kind[0] if kind != 'unknown' else '?':>3}" for kind in PREDICTED)
    width = len(heads)
    prefix = f"{'source':<16} {'critic':<16} {'prompt':<16} {'mode':<17} "
    lines = [
        f"confusion: reference kind (groups) x predicted kind ({short})",
        " " * len(prefix) + " | ".join(f"{kind:<{width}}" for kind in KINDS),
        prefix + " | ".join(heads for _ in KINDS),
    ]
    for m in rows:
        groups = ["".join(f"{m.confusion[t][p]:>3}" for p in PREDICTED) for t in KINDS]
        lines.append(
            f"{m.source[-16:]:<16} {m.critic_model[-16:]:<16} {m.prompt_version[-16:]:<16} "
            f"{m.mode:<17} " + " | ".join(groups)
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srft critic-eval", description=__doc__.split("\n")[0])
    parser.add_argument("--store", action="append", default=[], help="labelled store (repeatable)")
    parser.add_argument(
        "--labels",
        help="reference: a JSONL of {trajectory_id, step, label} or a store directory "
        "whose steps carry scripted/human labels; default: the labels inside each --store",
    )
    parser.add_argument(
        "--unknown-as",
        choices=(*KINDS, "bad"),
        default="good",
        help="the kind a predicted unknown counts as in precision/recall (bad: mistake)",
    )
    parser.add_argument("--out", help="write the metrics as JSON here")
    args = parser.parse_args(argv)
    if not args.store:
        parser.error("give at least one --store with labelled trajectories")
    fixed_reference = None
    if args.labels:
        path = Path(args.labels)
        if path.is_dir():
            fixed_reference = reference_from_trajectories(TrajectoryStore(path))
        else:
            fixed_reference = load_reference_jsonl(path)
    rows: list[Metrics] = []
    for store_dir in args.store:
        if not Path(store_dir).is_dir():
            print(f"critic-eval: {store_dir}: no such store directory", file=sys.stderr)
            return 2
        trajs = TrajectoryStore(store_dir).read_all()
        reference = (
            fixed_reference if fixed_reference is not None else reference_from_trajectories(trajs)
        )
        if not reference:
            print(f"critic-eval: {store_dir}: no reference labels (give --labels)", file=sys.stderr)
            return 2
        rows += evaluate(trajs, reference, source=store_dir, unknown_as=args.unknown_as)
    print(format_table(rows))
    print()
    print(format_confusion(rows))
    if args.out:
        Path(args.out).write_text(json.dumps([m.to_dict() for m in rows], indent=2) + "\n")
        print(f"critic-eval: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
