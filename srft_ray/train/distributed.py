"""Process group, device and FSDP2 sharding; the same code for 1 process, torchrun and Ray Train.

Ray Train's TorchTrainer and torchrun initialize the process group (or set RANK/WORLD_SIZE);
a plain `python` call gets a one-rank group, so the training step is the same FSDP2 code path
everywhere (a 2-rank run can then be compared with a 1-rank run bit for bit, modulo reduction
order). Imports only torch.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard


@dataclass(kw_only=True)
class DistContext:
    rank: int
    world_size: int
    device: torch.device
    owns_group: bool
    """True when train_loop created the process group (and so must destroy it)."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_distributed() -> DistContext:
    """Join the existing process group, or the one torchrun describes, or make a 1-rank group."""
    use_cuda = torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    owns = False
    if not dist.is_initialized():
        if "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ:
            dist.init_process_group(backend)
        else:
            dist.init_process_group(
                backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
            )
        owns = True
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", torch.cuda.current_device()))
        # Ray Train narrows CUDA_VISIBLE_DEVICES per worker: then the only device is index 0.
        local_rank = min(local_rank, torch.cuda.device_count() - 1)
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    return DistContext(
        rank=dist.get_rank(), world_size=dist.get_world_size(), device=device, owns_group=owns
    )


def teardown_distributed(ctx: DistContext) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def compute_dtype(setting: str, device: torch.device) -> torch.dtype:
    """auto: bf16 compute on GPU, fp32 on CPU (tests want exact maths there); fast: bf16 on GPU
    and on CPUs with native bf16 (see srft_ray.hardware), else fp32; bf16 / fp32: as named."""
    from srft_ray.hardware import cpu_has_fast_bf16

    if setting == "bf16" or (setting in ("auto", "fast") and device.type == "cuda"):
        return torch.bfloat16
    if setting == "fast" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def shard_model(wrapper: torch.nn.Module, decoder_layers, ctx: DistContext, dtype: torch.dtype):
    """FSDP2: one unit per decoder layer, then the root (embeddings, final norm, head)."""
    mesh = init_device_mesh(ctx.device.type, (ctx.world_size,))
    policy = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
    for layer in decoder_layers:
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    fully_shard(wrapper, mesh=mesh, mp_policy=policy)
    return wrapper


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a few scalars over all ranks in one collective."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor)
    return tensor.tolist()
