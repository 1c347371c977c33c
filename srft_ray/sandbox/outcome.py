"""What both backends share: capping a command's output and naming why it ended."""

from __future__ import annotations

import signal

# A limit that makes the kernel signal the process, seen as a shell-style status 128+signal.
_SIGNAL_REASONS = {
    signal.SIGXCPU: "cpu_limit",
    signal.SIGXFSZ: "file_size_limit",
}

# What programs print when an rlimit refuses them instead of killing them (Python ignores
# SIGXFSZ and raises; malloc returns NULL). Looked for only near the end of a failed command.
_TEXT_REASONS = (
    ("MemoryError", "memory_limit"),
    ("Cannot allocate memory", "memory_limit"),
    ("std::bad_alloc", "memory_limit"),
    ("out of memory", "memory_limit"),
    ("File too large", "file_size_limit"),
)
_TAIL_CHARS = 2000


class OutputCollector:
    """Keeps the first `keep_bytes` of a stream, counts the rest, says when to give up."""

    def __init__(self, *, keep_bytes: int, kill_bytes: int) -> None:
        self.keep_bytes = keep_bytes
        self.kill_bytes = kill_bytes
        self.num_bytes = 0
        self._chunks: list[bytes] = []
        self._kept = 0

    def add(self, chunk: bytes) -> None:
        self.num_bytes += len(chunk)
        room = self.keep_bytes - self._kept
        if room > 0:
            self._chunks.append(chunk[:room])
            self._kept += min(room, len(chunk))

    @property
    def truncated(self) -> bool:
        return self.num_bytes > self.keep_bytes

    @property
    def over_kill_limit(self) -> bool:
        return self.num_bytes > self.kill_bytes

    def text(self, *, killed_for_output: bool = False) -> str:
        out = b"".join(self._chunks).decode("utf-8", errors="replace")
        if self.truncated:
            more = "+" if killed_for_output else ""
            out += (
                f"\n[output truncated: showing the first {self.keep_bytes} of "
                f"{self.num_bytes}{more} bytes"
                + ("; the command was killed for printing too much]" if killed_for_output else "]")
            )
        return out


def classify_end(
    *, status: int | None, output: str, timed_out: bool, killed_for_output: bool
) -> tuple[int | None, str]:
    """(returncode, end_reason) from a shell-style exit status (128+N = killed by signal N).

    returncode is None when the command did not exit by itself (a timeout or a limit killed it).
    """
    if timed_out:
        return None, "timeout"
    if killed_for_output:
        return None, "output_limit"
    if status is None:
        return None, "killed"
    if status > 128 and (status - 128) in _SIGNAL_REASONS:
        return None, _SIGNAL_REASONS[signal.Signals(status - 128)]
    if status != 0:
        tail = output[-_TAIL_CHARS:]
        for needle, reason in _TEXT_REASONS:
            if needle in tail:
                return status, reason
    return status, "exit"
