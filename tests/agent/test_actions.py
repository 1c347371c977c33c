"""Action parsing and observations are mini-swe-agent's own: same regex rule, same messages."""

from minisweagent.models.utils.actions_text import format_observation_messages

from srft_ray.agent.actions import format_observation, load_templates, parse_action
from srft_ray.agent.config import DEFAULT_ACTION_REGEX

TEMPLATES = load_templates("mini_textbased")


def _parse(text, finish_reason="stop"):
    return parse_action(
        text,
        action_regex=DEFAULT_ACTION_REGEX,
        format_error_template=TEMPLATES.format_error,
        finish_reason=finish_reason,
    )


def test_one_block_is_the_command_in_either_fence():
    assert _parse("THOUGHT: look\n\n```bash\nls -la\n```").command == "ls -la"
    assert _parse("```mswea_bash_command\ncat a.py | head\n```").command == "cat a.py | head"
    multi = _parse("THOUGHT: x\n```bash\ncat > f <<'EOF'\na\nb\nEOF\n```")
    assert multi.command == "cat > f <<'EOF'\na\nb\nEOF"


def test_no_command_gets_the_format_error_observation():
    parsed = _parse("THOUGHT: I will look at the file next.")
    assert parsed.command is None and parsed.num_actions == 0
    assert "Format error" in parsed.error_observation
    assert "Expected exactly 1 action, found 0." in parsed.error_observation


def test_several_commands_are_a_format_error_too():
    parsed = _parse("```bash\nls\n```\nthen\n```bash\npwd\n```")
    assert parsed.command is None and parsed.num_actions == 2
    assert "found 2 actions" in parsed.error_observation


def test_cut_off_reply_says_so():
    parsed = _parse("THOUGHT: long reasoning that never ends", finish_reason="length")
    assert parsed.command is None
    assert "finish_reason=length" in parsed.error_observation


def test_observation_matches_mini_swe_agent():
    ours = format_observation(TEMPLATES.observation, output="hello\n", returncode=3)
    (theirs,) = format_observation_messages(
        [{"output": "hello\n", "returncode": 3, "exception_info": ""}],
        observation_template=TEMPLATES.observation,
    )
    assert ours == theirs["content"]
    assert "<returncode>3</returncode>" in ours
    long = format_observation(TEMPLATES.observation, output="x" * 20000, returncode=0)
    assert "elided_chars" in long and len(long) < 12000
