"""What the two sandbox backends share: running a command through bash with the configured shell
set-up, reading a file, closing (idempotent, also as a context manager), and unpacking a tar
stream copied out of the sandbox. A backend supplies `_exec(argv, ...)` and a `_finalizer`."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from srft_ray.protocols import CommandResult


class SandboxBase:
    """Mixin of the Sandbox protocol's shared methods; see the module doc."""

    workdir: str
    config: Any  # SandboxConfig
    _finalizer: Any  # weakref.finalize that kills everything and deletes the sandbox
    _bash = "bash"
    _cat = "cat"

    def _exec(self, argv: list[str], **kwargs: Any) -> CommandResult:
        raise NotImplementedError

    def run(self, command: str, *, timeout_s: float | None = None) -> CommandResult:
        """Run `bash -c command` in `workdir`; never raises for the command's own failure."""
        if self.config.shell_setup:
            command = f"{self.config.shell_setup}\n{command}"
        return self._exec([self._bash, "-c", command], timeout_s=timeout_s)

    def read_file(self, path: str) -> str:
        """Text of `path` inside the sandbox (relative to workdir, or absolute)."""
        from srft_ray.sandbox import SandboxError

        result = self._exec([self._cat, "--", path], keep_bytes=self.config.output_kill_bytes)
        if result.returncode != 0:
            raise SandboxError(f"cannot read {path} in the sandbox: {result.output.strip()}")
        return result.output

    def close(self) -> None:
        """Kill everything still running and delete the sandbox; safe to call twice."""
        self._closed = True
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def extract_tar(archive: tarfile.TarFile, top: str, host_dest: Path) -> None:
    """Unpack `archive` (whose entries sit under `top`) so that `top` becomes `host_dest`."""
    host_dest = Path(host_dest)
    host_dest.parent.mkdir(parents=True, exist_ok=True)
    for member in archive:
        member.name = str(Path(host_dest.name) / Path(member.name).relative_to(top))
        archive.extract(member, host_dest.parent, filter="data")
