"""Real mini-swe-agent runs that write real trajectory files (shared by the format tests).

mini-swe-agent's own DefaultAgent and LocalEnvironment run in a scratch git repository, driven by
scripted replies. The text-based model parses replies with mini-swe-agent's parse_regex_actions
(raising its FormatError like LitellmTextbasedModel does); the tool-call model is mini-swe-agent's
DeterministicToolcallModel. So the files the importer reads are exactly what mini-swe-agent writes.
Import this module only after MSWEA_SILENT_STARTUP / MSWEA_GLOBAL_CONFIG_DIR are set (conftest).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

ACTION_REGEX = r"```mswea_bash_command\s*\n(.*?)\n```"
SYSTEM_TEMPLATE = "You are a helpful assistant that can interact with a computer shell."
INSTANCE_TEMPLATE = (
    "Please solve this issue:\n\n{{task}}\n\nReply with exactly one bash block:\n"
    "```mswea_bash_command\n<command>\n```\n"
    "When done, run `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git diff`."
)
TASK = "greet() prints «Hello» but must print «Grüß dich» — fix greet.py."


def fence(command: str) -> str:
    return f"```mswea_bash_command\n{command}\n```"


# Replies of a short, realistic episode: multi-line thoughts, a heredoc, unicode, one reply with
# two actions (a format error) and a submission.
TEXT_REPLIES = [
    "THOUGHT: Let me look at the file first.\n\n" + fence("cat greet.py"),
    "THOUGHT: I will run two commands.\n\n" + fence("ls") + "\n" + fence("pwd"),
    "THOUGHT: The greeting is wrong — I'll rewrite the file.\n\n"
    + fence(
        "cat <<'EOF' > greet.py\ndef greet():\n    print(\"Grüß dich 👋\")\n\n\ngreet()\nEOF\npython3 greet.py"
    ),
    "THOUGHT: Done; submit the diff.\n\n"
    + fence("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git diff"),
]


class ScriptedTextModel:
    """A text-based model for mini-swe-agent whose replies come from a script."""

    def __init__(self, replies: list[str]):
        from minisweagent.models.test_models import DeterministicModelConfig

        self.replies = list(replies)
        self.config = DeterministicModelConfig(outputs=[], model_name="scripted-text")

    def query(self, messages: list[dict], **kwargs) -> dict:
        from minisweagent.models.utils.actions_text import parse_regex_actions

        content = self.replies.pop(0)
        try:
            actions = parse_regex_actions(
                content,
                action_regex=ACTION_REGEX,
                format_error_template="Please always provide EXACTLY ONE action, "
                "found {{actions|length}} actions.",
            )
        except Exception as exc:  # FormatError: the message keeps the cost, like litellm's model
            exc.messages[0]["extra"]["cost"] = 0.0
            raise
        extra = {"actions": actions, "cost": 0.0, "timestamp": time.time()}
        return {"role": "assistant", "content": content, "extra": extra}

    def format_message(self, **kwargs) -> dict:
        return kwargs

    def format_observation_messages(self, message, outputs, template_vars=None):
        from minisweagent.models.utils.actions_text import format_observation_messages

        return format_observation_messages(
            outputs,
            observation_template=self.config.observation_template,
            template_vars=template_vars,
        )

    def get_template_vars(self, **kwargs) -> dict:
        return self.config.model_dump()

    def serialize(self) -> dict:
        model = {"model_name": self.config.model_name, "action_regex": ACTION_REGEX}
        return {"info": {"config": {"model": model, "model_type": "scripted-text"}}}


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    (repo / "greet.py").write_text('def greet():\n    print("Hello")\n')
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    return repo


def run_mini_swe_agent(root: Path, *, toolcall: bool = False, instance_id: str = "demo__greet-1"):
    """Run mini-swe-agent for real; returns the path of the trajectory file it saved."""
    from minisweagent.agents.default import DefaultAgent
    from minisweagent.environments.local import LocalEnvironment

    repo = make_repo(root)
    if toolcall:
        from minisweagent.models.test_models import (
            DeterministicToolcallModel,
            make_toolcall_output,
        )

        commands = [
            "cat greet.py",
            "sed -i 's/Hello/Grüß dich/' greet.py && python3 -c 'import greet; greet.greet()'",
        ]
        commands.append("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git diff")
        outputs = []
        for i, command in enumerate(commands):
            call = {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": "bash", "arguments": json.dumps({"command": command})},
            }
            action = {"command": command, "tool_call_id": f"call_{i}"}
            outputs.append(make_toolcall_output(f"Step {i}: running a command.", [call], [action]))
        model = DeterministicToolcallModel(outputs=outputs)
    else:
        model = ScriptedTextModel(TEXT_REPLIES)
    path = root / instance_id / f"{instance_id}.traj.json"
    agent = DefaultAgent(
        model,
        LocalEnvironment(cwd=str(repo), timeout=20),
        system_template=SYSTEM_TEMPLATE,
        instance_template=INSTANCE_TEMPLATE,
        step_limit=10,
        cost_limit=0,
    )
    info = agent.run(TASK)
    agent.save(path, {"instance_id": instance_id})
    assert info["exit_status"] == "Submitted", info
    return path
