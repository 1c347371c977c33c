"""The agent's config: limits, the command timeout, and which mini-swe-agent templates to speak."""

from __future__ import annotations

from dataclasses import dataclass

# mini-swe-agent's text-based action format: one fenced block per reply. Its stock regex only
# accepts ```mswea_bash_command; small instruct models overwhelmingly write ```bash, so the
# default accepts both (a reply with two blocks of either kind is still a format error).
DEFAULT_ACTION_REGEX = r"```(?:mswea_bash_command|bash)\s*\n(.*?)\n```"


@dataclass(kw_only=True)
class AgentConfig:
    """Limits and prompt templates of the bash-only, linear-history agent."""

    templates: str = "mini_textbased"
    """Agent/model templates: "compact" (srft_ray/configs/agent_compact.yaml), a name under minisweagent/config
    (e.g. mini_textbased, benchmarks/swebench_backticks) or a path to a YAML file of that shape."""
    action_regex: str = DEFAULT_ACTION_REGEX
    """Regex whose single group is the command; exactly one match per reply is a valid action."""
    step_limit: int = 30
    """Most model replies per episode (format errors count); 0 means no limit."""
    wall_time_limit_s: float = 900.0
    """Most wall-clock seconds per episode (checked before each model call); 0 means no limit."""
    token_limit: int = 0
    """Most context tokens (prompt + reply) per episode; 0 means no limit."""
    max_consecutive_format_errors: int = 3
    """End the episode after this many replies in a row without exactly one command; 0: never."""
    command_timeout_s: float = 60.0
    """Wall-clock limit of one command in the sandbox."""
    submit_marker: str = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
    """First output line that ends the episode (mini-swe-agent's submit convention)."""
    grade: bool = True
    """Grade the final patch with the task's tests (off: outcome.resolved stays None)."""
    grading_timeout_s: float = 300.0
    """Wall-clock limit of grading one patch."""
    record_trees: bool = True
    """Record the working tree after each step (git tree id, and its diff against base_commit
    when it changed): what replay labels read. Costs git's few milliseconds per step."""
