"""The working tree after each step, recorded during collection from git (not from the command).

Replay labels (srft_ray.critic.replay) need to know what each step did to the repository. Parsing
commands cannot say that (`python fix.py`, `make`, an editor script), git can: after the step's
command, `git add -A` into a private index and `git write-tree` give a content id of the whole
working tree, and `git diff BASE TREE` gives its content when the id changed.

Cost: the snapshot rides along with the step's own command in the same sandbox process (a
shell EXIT trap), so a step costs git's few milliseconds, not a second sandbox start; the trap
prints one marker line with the tree id after everything the command printed, and the agent
loop strips that line before the observation is formed. The diff goes to a file inside the
sandbox and is read back only for steps that changed the tree. When the marker is missing (the
command was killed, replaced its shell with `exec`, or its output was cut), one separate
snapshot command records the tree instead.

The private index (`GIT_INDEX_FILE` under /tmp) leaves the agent's own index, `git status` and
`git stash` exactly as they would be without it; byproducts of running Python are excluded as in
the final patch.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass

from srft_ray.protocols import CommandResult, Sandbox

# Byproducts of running Python / pytest are not changes the agent made (as in the final patch).
PATHSPEC_EXCLUDES = (
    "':(exclude,glob)**/__pycache__/**' ':(exclude,glob)**/*.pyc' "
    "':(exclude,glob)**/.pytest_cache/**'"
)
_INDEX = "/tmp/.srft-snapshot-index"
_DIFF = "/tmp/.srft-snapshot.diff"
_GIT = "git -c safe.directory='*' -c core.quotepath=off"


@dataclass(kw_only=True)
class TreeState:
    tree: str
    """Git tree id of the working tree (content-addressed: equal ids, equal trees)."""
    diff: str | None
    """The tree as a diff against base_commit; None when the tree did not change."""


def _snapshot_script(workdir: str, base_commit: str, previous_tree: str) -> str:
    """Shell that records the tree and, when it differs from `previous_tree`, its diff."""
    wd, base, prev = shlex.quote(workdir), shlex.quote(base_commit), shlex.quote(previous_tree)
    return (
        f"cd {wd} && export GIT_INDEX_FILE={_INDEX} && "
        f"{{ [ -f {_INDEX} ] || cp .git/index {_INDEX} 2>/dev/null || true; }} && "
        f"{_GIT} add -A -- . {PATHSPEC_EXCLUDES} && __srft_t=$({_GIT} write-tree) && "
        f'{{ [ "$__srft_t" = {prev} ] || {_GIT} diff --no-color --no-ext-diff {base} '
        f'"$__srft_t" -- . {PATHSPEC_EXCLUDES} > {_DIFF}; }}'
    )


class TreeRecorder:
    """Wraps each step's command so the tree after it comes back with its output."""

    def __init__(self, sandbox: Sandbox, base_commit: str):
        self.sandbox = sandbox
        self.base_commit = base_commit
        self.tree = ""
        """The tree after the last recorded step ("" before the first)."""
        self.marker = f"__SRFT_TREE_{secrets.token_hex(8)}__"
        self.num_fallbacks = 0
        """Steps whose tree needed a separate snapshot command (the marker did not come back)."""

    def wrap(self, command: str) -> str:
        """`command`, followed at exit (whatever way it exits) by the snapshot of the tree."""
        script = _snapshot_script(self.sandbox.workdir, self.base_commit, self.tree or "-")
        trap = (
            f"__srft_snapshot() {{ __srft_rc=$?; {{ {script}; }} >/dev/null 2>&1 "
            f'&& printf "\\n{self.marker} %s\\n" "$__srft_t"; exit $__srft_rc; }}\n'
            "trap __srft_snapshot EXIT\n"
        )
        return trap + command

    def unwrap(self, result: CommandResult) -> tuple[CommandResult, TreeState | None]:
        """The command's own result, and the tree its snapshot recorded (None: fall back)."""
        output = result.output
        at = output.rfind(f"\n{self.marker} ")
        if at < 0:
            return result, None
        tree = output[at + len(self.marker) + 2 :].strip()
        result.output = output[:at]
        return result, self._state(tree)

    def snapshot(self) -> TreeState:
        """Record the tree with a command of its own (the fallback)."""
        self.num_fallbacks += 1
        script = _snapshot_script(self.sandbox.workdir, self.base_commit, self.tree or "-")
        result = self.sandbox.run(f'{script} && echo "$__srft_t"', timeout_s=60)
        if result.returncode != 0:
            raise RuntimeError(f"tree snapshot failed: {result.output[-300:]}")
        return self._state(result.output.strip().splitlines()[-1])

    def _state(self, tree: str) -> TreeState:
        if tree == self.tree:
            return TreeState(tree=tree, diff=None)
        self.tree = tree
        return TreeState(tree=tree, diff=self.sandbox.read_file(_DIFF))
