"""DCP checkpoints: sharded model + optimizer, plus scheduler, step (= data position) and RNG.

Layout: <checkpoint_dir>/step-00000012/ (DCP files + trainer-rank<r>.pt) and a `latest` file
naming the last COMPLETE checkpoint; it is written (atomically, by rank 0) only after every rank
finished saving, so a crash mid-save resumes from the previous one.
The data position is the optimizer step: the packed schedule is a pure function of
(seed, epoch, step, world_size x grad_accum_steps), which is checked on resume.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

LATEST = "latest"


def _barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def save_checkpoint(
    directory: str | Path,
    *,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    rank: int,
    micro_batches_per_step: int,
    keep: int = 2,
) -> Path:
    """Save after `step` optimizer steps; returns the checkpoint folder."""
    root = Path(directory)
    path = root / f"step-{step:08d}"
    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=str(path))
    trainer_state = {
        "step": step,
        "micro_batches_per_step": micro_batches_per_step,
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        "python_rng": random.getstate(),
    }
    torch.save(trainer_state, path / f"trainer-rank{rank}.pt")
    _barrier()
    if rank == 0:
        tmp = root / f".{LATEST}.tmp"
        tmp.write_text(path.name + "\n")
        os.replace(tmp, root / LATEST)
        old = sorted(p for p in root.glob("step-*") if p.is_dir() and p != path)
        for stale in old[: max(0, len(old) - (keep - 1))]:
            shutil.rmtree(stale, ignore_errors=True)
    _barrier()
    return path


def latest_checkpoint(directory: str | Path) -> Path | None:
    marker = Path(directory) / LATEST
    if not marker.is_file():
        return None
    path = Path(directory) / marker.read_text().strip()
    if not path.is_dir():
        raise FileNotFoundError(f"{marker} names {path.name}, which does not exist")
    return path


def load_checkpoint(
    path: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    rank: int,
    micro_batches_per_step: int,
) -> int:
    """Restore everything saved by `save_checkpoint`; returns the step to continue from."""
    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state}
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(
        model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"]
    )
    trainer_file = path / f"trainer-rank{rank}.pt"
    if not trainer_file.is_file():
        trainer_file = path / "trainer-rank0.pt"  # resumed on more ranks than saved
    trainer_state = torch.load(trainer_file, weights_only=False)
    if trainer_state["micro_batches_per_step"] != micro_batches_per_step:
        raise ValueError(
            f"{path}: saved with {trainer_state['micro_batches_per_step']} micro-batches per step "
            f"(world_size x grad_accum_steps), now {micro_batches_per_step}: the data order "
            "would change; keep world_size x grad_accum_steps equal when resuming"
        )
    scheduler.load_state_dict(trainer_state["scheduler"])
    torch.set_rng_state(trainer_state["torch_rng"])
    if trainer_state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(trainer_state["cuda_rng"])
    random.setstate(trainer_state["python_rng"])
    return int(trainer_state["step"])
