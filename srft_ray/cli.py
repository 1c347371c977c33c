"""`srft`: one command, many subcommands; each lives in its own module and is imported on use.

Every subcommand module exposes `main(argv: list[str] | None) -> int`, so `srft view ...` and
`python -m srft_ray.present.viewer ...` behave the same.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, one-line help). Modules are imported lazily so `srft --help` stays instant.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("srft_ray.jobs.loop", "run SRFT rounds (collect -> critique -> train -> evaluate)"),
    "prepare-model": ("srft_ray.model_prep", "convert the embedded SmolLM2 model (cached)"),
    "view": ("srft_ray.present.viewer", "show a trajectory with its trained tokens highlighted"),
    "import": ("srft_ray.formats.cli", "import mini-swe-agent / SWE-agent trajectories"),
    "export": ("srft_ray.formats.cli", "export SWE-bench preds.json or mini-swe-agent JSON"),
    "sandbox": ("srft_ray.sandbox.cli", "run one command in a fresh sandbox"),
    "tasks": ("srft_ray.tasks.cli", "list or validate a task pack"),
    "collect": ("srft_ray.jobs.collect", "collect agent trajectories with Ray rollout workers"),
    "critique": ("srft_ray.jobs.critique", "label trajectory steps with a critic pool"),
    "critic-eval": ("srft_ray.critic.critic_eval", "precision/recall/F1 of critic labels"),
    "train": ("srft_ray.jobs.train", "step-masked fine-tuning with Ray Train + FSDP2"),
    "train-critic": ("srft_ray.jobs.train_critic", "distil a critic from labelled trajectories"),
    "evaluate": ("srft_ray.jobs.evaluate", "resolve rate of a policy on held-out tasks"),
    "report": ("srft_ray.present.report", "write an HTML report of a run directory"),
    "ablate": ("srft_ray.rounds.ablate", "RFT vs SRFT vs no-filter on the same data"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: srft COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`srft COMMAND --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"srft: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    if name in ("import", "export"):
        rest = [name, *rest]  # one module serves both directions
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
