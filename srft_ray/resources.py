"""Resources: the one block each Ray component (critic workers, train workers, the policy
engine) reads its size from, in its job's config and in the loop's alike.

Standard library only: TrainConfig nests one, and the GPU benchmark imports TrainConfig.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(kw_only=True)
class Resources:
    """How many Ray workers a component runs and what each one reserves."""

    num_workers: int = 1
    """Workers (actors) of this component."""
    num_cpus: float = 1.0
    """CPUs reserved per worker."""
    num_gpus: float = 0.0
    """GPUs reserved per worker."""
    custom: dict[str, float] = field(default_factory=dict)
    """Ray custom resources per worker (e.g. {"critic_node": 1}: only nodes that offer it)."""

    def __post_init__(self) -> None:
        if self.num_workers < 0 or self.num_cpus < 0 or self.num_gpus < 0:
            raise ValueError("num_workers, num_cpus and num_gpus must be >= 0")

    def actor_options(self) -> dict[str, Any]:
        """`ray.remote(...).options(**this)` for one worker."""
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.custom:
            options["resources"] = dict(self.custom)
        return options
