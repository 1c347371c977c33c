#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run all of it.
#   bash tests/run.sh            (extra arguments go to pytest, e.g. -k masking)
# The docker sandbox tests run against podman's Docker-compatible API when podman can be
# installed (Debian, root); elsewhere they skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cluster/setup_local.sh

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -qq podman runc >/dev/null || echo "[tests] podman not installable" >&2
fi
if command -v podman >/dev/null && command -v runc >/dev/null; then
  if exports="$(PATH="$PWD/.venv/bin:$PATH" bash .ci/podman-setup.sh /tmp/srft-podman)"; then
    eval "$exports"
    # --stop also removes leftover sandbox containers and unmounts podman's storage.
    trap 'bash .ci/podman-setup.sh /tmp/srft-podman --stop >/dev/null 2>&1 || true' EXIT
  else
    echo "[tests] podman setup failed: docker sandbox tests will skip" >&2
  fi
fi

# As a user's activated venv would: job entrypoints and subprocesses find this `python`.
export PATH="$PWD/.venv/bin:$PATH"
python -m pytest "$@"
