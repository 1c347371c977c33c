"""Speaking mini-swe-agent's text protocol: its templates, its action parsing, its observations.

We reuse mini-swe-agent's own pieces (the YAML templates shipped in the package, its
`parse_regex_actions` and `format_observation_messages`), so a reply that mini-swe-agent would
reject gets the very same format-error message here, and observations read the same.
"""

from __future__ import annotations

import os
import platform
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template

# mini-swe-agent prints a banner and writes a global config dir on import; keep it quiet and
# out of the home directory (Ray workers may not own it).
os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
os.environ.setdefault(
    "MSWEA_GLOBAL_CONFIG_DIR", os.path.join(tempfile.gettempdir(), "srft-mini-swe-agent")
)

from minisweagent import package_dir as MINI_PACKAGE_DIR  # noqa: E402
from minisweagent.exceptions import FormatError  # noqa: E402
from minisweagent.models.utils.actions_text import (  # noqa: E402
    format_observation_messages,
    parse_regex_actions,
)


@dataclass(kw_only=True, frozen=True)
class AgentTemplates:
    """The four Jinja templates a text-based mini-swe-agent run uses."""

    system: str
    instance: str
    observation: str
    format_error: str
    source: str
    """Which file they came from (recorded in provenance)."""


@lru_cache(maxsize=8)
def load_templates(name: str) -> AgentTemplates:
    """Templates from a mini-swe-agent config name (e.g. "mini_textbased") or a YAML path."""
    path = Path(name)
    if not path.suffix:  # a name: srft-ray's own agent_<name>.yaml first, then mini-swe-agent's
        ours = Path(__file__).resolve().parent.parent / "configs" / f"agent_{name}.yaml"
        path = ours if ours.is_file() else Path(MINI_PACKAGE_DIR) / "config" / f"{name}.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"agent.templates={name!r}: cannot read {path}: {exc}") from exc
    agent, model = data.get("agent") or {}, data.get("model") or {}
    found = {
        "system": agent.get("system_template"),
        "instance": agent.get("instance_template"),
        "observation": model.get("observation_template"),
        "format_error": model.get("format_error_template"),
    }
    missing = [key for key, value in found.items() if not isinstance(value, str)]
    if missing:
        raise ValueError(f"{path}: missing template(s) {missing} (agent.*_template, model.*)")
    return AgentTemplates(**found, source=str(path))


def render(template: str, **variables: Any) -> str:
    return Template(template, undefined=StrictUndefined).render(**variables)


def platform_vars() -> dict[str, str]:
    """The uname fields mini-swe-agent's instance templates show ({{system}}, {{machine}}, ...)."""
    return platform.uname()._asdict()


@dataclass(kw_only=True)
class ParsedAction:
    """The one command of a reply, or the format-error observation to answer it with."""

    command: str | None
    error_observation: str | None = None
    num_actions: int = 1


def parse_action(
    text: str, *, action_regex: str, format_error_template: str, finish_reason: str = "stop"
) -> ParsedAction:
    """Exactly one fenced command -> it; none or several -> mini-swe-agent's format error."""
    try:
        (action,) = parse_regex_actions(
            text,
            action_regex=action_regex,
            format_error_template=format_error_template,
            template_kwargs={"finish_reason": finish_reason},
        )
    except FormatError as exc:
        message = exc.messages[0]
        return ParsedAction(
            command=None,
            error_observation=message["content"],
            num_actions=message.get("extra", {}).get("n_actions", 0),
        )
    return ParsedAction(command=action["command"])


def format_observation(
    observation_template: str, *, output: str, returncode: int | None, exception_info: str = ""
) -> str:
    """The user message mini-swe-agent would send back after running a command."""
    outputs = [
        {
            "output": output,
            "returncode": -1 if returncode is None else returncode,
            "exception_info": exception_info,
        }
    ]
    (message,) = format_observation_messages(outputs, observation_template=observation_template)
    return message["content"]
