"""Final export: a Hugging Face safetensors folder (config, weights, tokenizer, chat template).

Every rank gathers the full state dict (a collective), rank 0 writes it. The folder is what
vLLM and `AutoModelForCausalLM.from_pretrained` load directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

WRAPPER_PREFIX = "causal_lm."


def export_hf_folder(
    wrapper: torch.nn.Module,
    *,
    hf_config,
    tokenizer,
    output_dir: str | Path,
    dtype: torch.dtype,
    rank: int,
    generation_config=None,
) -> Path | None:
    """Write model.safetensors + config + tokenizer to `output_dir`; returns it on rank 0."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    state = get_model_state_dict(wrapper, options=options)  # all ranks: it all-gathers
    out: Path | None = None
    if rank == 0:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for key, value in state.items():
            name = key.removeprefix(WRAPPER_PREFIX)
            tensors[name] = value.detach().to(dtype).contiguous()
        if getattr(hf_config, "tie_word_embeddings", False):
            tensors.pop("lm_head.weight", None)  # tied to embed_tokens; safetensors forbids aliases
        save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
        hf_config.dtype = dtype
        hf_config.save_pretrained(out)
        # Attention implementations are a runtime choice, never part of the exported config.
        config_file = out / "config.json"
        saved = json.loads(config_file.read_text())
        saved.pop("attn_implementation", None)
        saved.pop("_attn_implementation", None)
        config_file.write_text(json.dumps(saved, indent=2) + "\n")
        tokenizer.save_pretrained(out)
        if generation_config is not None:
            generation_config.save_pretrained(out)
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()
    return out
