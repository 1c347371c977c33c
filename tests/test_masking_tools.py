"""Tool-call trajectories train their calls: exact masks for a Qwen2.5-style template (calls as
`<tool_call>` JSON inside the assistant turn, responses in a user turn) and a Llama-3.1-style one
(calls as `{"name", "parameters"}` JSON, responses in an `ipython` turn, exactly one call per
message that has a `tool_calls` key, as Meta's template requires), both built locally on
SmolLM2's vocabulary; and SmolLM2's own ChatML, which has no tool support, through the counted
conversion to the agent's text actions. Expected ids come from hand-written renders.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from test_masking import expected

from srft_ray.chat_view import template_supports_tools, text_action
from srft_ray.data.model import DataError, StepLabel
from srft_ray.formats import read_minisweagent
from srft_ray.formats.tool_calls import BASH_TOOL
from srft_ray.masking import render_trajectory

DATA = Path(__file__).parent / "formats" / "data" / "mswea2_toolcalls.traj.json"

QWEN_STYLE = (
    "{%- if tools %}{{ '<|im_start|>system\n' + messages[0].content + '\n\n# Tools\n<tools>' }}"
    "{%- for tool in tools %}{{ '\n' + tool | tojson }}{%- endfor %}{{ '\n</tools><|im_end|>\n' }}"
    "{%- else %}{{ '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}{%- endif %}"
    "{%- for m in messages[1:] %}"
    "{%- if m.role == 'assistant' %}{{ '<|im_start|>assistant' }}"
    "{%- if m.content %}{{ '\n' + m.content }}{%- endif %}"
    '{%- for call in m.tool_calls or [] %}{{ \'\n<tool_call>\n{"name": "\' + call.function.name'
    " + '\", \"arguments\": ' + call.function.arguments | tojson + '}\n</tool_call>' }}{%- endfor %}"
    "{{ '<|im_end|>\n' }}"
    "{%- elif m.role == 'tool' %}"
    "{%- if loop.index0 == 0 or messages[loop.index0].role != 'tool' %}{{ '<|im_start|>user' }}{%- endif %}"
    "{{ '\n<tool_response>\n' + m.content + '\n</tool_response>' }}"
    "{%- if loop.last or messages[loop.index0 + 2].role != 'tool' %}{{ '<|im_end|>\n' }}{%- endif %}"
    "{%- else %}{{ '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}{%- endif %}"
    "{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{%- endif %}"
)
LLAMA31_STYLE = (
    "{{ '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n' + messages[0].content }}"
    "{%- if tools %}{{ '\n\nYou may call these functions:' }}"
    "{%- for tool in tools %}{{ '\n' + tool | tojson }}{%- endfor %}{%- endif %}{{ '<|eot_id|>' }}"
    "{%- for m in messages[1:] %}"
    "{%- if m.role == 'assistant' %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' + m.content }}"
    # As Meta's own template: any message with a `tool_calls` key must hold exactly one call.
    "{%- if 'tool_calls' in m %}{%- if not m.tool_calls | length == 1 %}"
    "{{ raise_exception('This model only supports single tool-calls at once!') }}{%- endif %}"
    "{%- set call = m.tool_calls[0].function %}{%- if m.content %}{{ '\n' }}{%- endif %}"
    "{{ '{\"name\": \"' + call.name + '\", \"parameters\": ' + call.arguments | tojson + '}' }}"
    "{%- endif %}{{ '<|eot_id|>' }}"
    "{%- elif m.role == 'tool' %}{{ '<|start_header_id|>ipython<|end_header_id|>\n\n' + m.content + '<|eot_id|>' }}"
    "{%- else %}{{ '<|start_header_id|>' + m.role + '<|end_header_id|>\n\n' + m.content + '<|eot_id|>' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"
)
SPECIALS = {
    "qwen": ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"],
    "llama31": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
}


def local_tokenizer(tokenizer, tmp_path_factory, family):
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp(f"{family}-tok")
    tokenizer.save_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    tok.add_special_tokens({"additional_special_tokens": SPECIALS[family]})
    tok.chat_template = QWEN_STYLE if family == "qwen" else LLAMA31_STYLE
    tok.save_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def qwen_tokenizer(tokenizer, tmp_path_factory):
    return local_tokenizer(tokenizer, tmp_path_factory, "qwen")


@pytest.fixture(scope="module")
def llama31_tokenizer(tokenizer, tmp_path_factory):
    return local_tokenizer(tokenizer, tmp_path_factory, "llama31")


def tool_traj(single_calls=False):
    traj = read_minisweagent(DATA)
    if single_calls:  # the Llama-3.1 style renders one call per turn
        traj.steps[0].tool_calls = traj.steps[0].tool_calls[:1]
    return traj


def args_json(call):
    return json.dumps(call.parsed_arguments(), ensure_ascii=False)


def qwen_segments(traj, trained):
    tools = "".join("\n" + json.dumps(t, ensure_ascii=False) for t in traj.tools)
    segs = [
        (
            f"<|im_start|>system\n{traj.system_prompt}\n\n# Tools\n<tools>{tools}\n</tools>"
            f"<|im_end|>\n<|im_start|>user\n{traj.task_prompt}<|im_end|>\n",
            0,
            -1,
        )
    ]
    for step in traj.steps:
        segs.append(("<|im_start|>assistant\n", 0, -1))
        calls = "\n".join(
            f'<tool_call>\n{{"name": "{c.name}", "arguments": {args_json(c)}}}\n</tool_call>'
            for c in step.tool_calls
        )
        body = (step.assistant + "\n" if step.assistant else "") + calls + "<|im_end|>"
        segs.append((body, int(trained[step.index]), step.index))
        answered = [c for c in step.tool_calls if c.output is not None]
        if answered and step.index < len(traj.steps) - 1:
            responses = "".join(
                f"\n<tool_response>\n{c.output}\n</tool_response>" for c in answered
            )
            segs.append((f"\n<|im_start|>user{responses}<|im_end|>\n", 0, -1))
    return segs


def llama31_segments(traj, trained):
    def header(role):
        return f"<|start_header_id|>{role}<|end_header_id|>\n\n"

    tools = "".join("\n" + json.dumps(t, ensure_ascii=False) for t in traj.tools)
    segs = [
        (
            f"<|begin_of_text|>{header('system')}{traj.system_prompt}\n\nYou may call these "
            f"functions:{tools}<|eot_id|>{header('user')}{traj.task_prompt}<|eot_id|>",
            0,
            -1,
        )
    ]
    for step in traj.steps:
        segs.append((header("assistant"), 0, -1))
        (call,) = step.tool_calls
        sep = "\n" if step.assistant else ""
        body = f'{step.assistant}{sep}{{"name": "{call.name}", "parameters": {args_json(call)}}}'
        segs.append((body + "<|eot_id|>", int(trained[step.index]), step.index))
        if call.output is not None and step.index < len(traj.steps) - 1:
            segs.append((f"{header('ipython')}{call.output}<|eot_id|>", 0, -1))
    return segs


@pytest.mark.parametrize("family", ["qwen", "llama31"])
@pytest.mark.parametrize(
    "mode,labels,trained",
    [
        ("all", (None, None, None), (1, 1, 1)),
        ("srft", ("good", "mistake", "good"), (1, 0, 1)),
        ("srft", ("unnecessary", "bad", "recover"), (1, 0, 1)),
    ],
)
def test_tool_call_masks_are_exact(
    family, mode, labels, trained, qwen_tokenizer, llama31_tokenizer
):
    tok = qwen_tokenizer if family == "qwen" else llama31_tokenizer
    traj = tool_traj(single_calls=family == "llama31")
    for step, label in zip(traj.steps, labels):
        if label:
            step.labels.append(StepLabel(label=label, source="critic"))
    segments = (qwen_segments if family == "qwen" else llama31_segments)(traj, trained)
    want_ids, want_mask, want_steps = expected(tok, segments)
    got = render_trajectory(traj, tok, mode=mode, action_format="tool_calls")
    assert template_supports_tools(tok)
    assert got.input_ids == want_ids
    assert got.loss_mask == want_mask  # a mistake's calls are masked as a unit
    assert got.step_index == want_steps
    assert got.num_converted_tool_calls == 0 and got.num_prefix_mismatches == 0


def test_parallel_calls_keep_order_and_their_own_responses(qwen_tokenizer):
    traj = tool_traj()
    first, second = traj.steps[0].tool_calls
    assert (first.command, second.command) == ("cat greet.py", 'grep -n "Hallo" -r tests/')
    assert "Hallo" in first.output and "Grüß dich" in second.output
    got = render_trajectory(traj, qwen_tokenizer, mode="all", action_format="tool_calls")
    trained = qwen_tokenizer.decode([t for t, m in zip(got.input_ids, got.loss_mask) if m])
    assert trained.index("cat greet.py") < trained.index("grep -n")
    assert "<tool_response>" not in trained and 'def greet():\n    print("Hallo")' not in trained


def test_template_without_parallel_calls_is_a_clear_error(llama31_tokenizer):
    with pytest.raises(
        DataError, match="mswea2_toolcalls.traj.json.*only supports single tool-calls"
    ):
        render_trajectory(tool_traj(), llama31_tokenizer, mode="all", action_format="tool_calls")


def test_a_step_without_a_call_has_no_tool_calls_key(llama31_tokenizer):
    """A reply with no call (a format error in tool-call mode) must not carry `tool_calls: []`:
    a single-call template such as Llama 3.1's raises on an empty list."""
    from srft_ray.chat_view import policy_chat
    from srft_ray.data.model import Step

    traj = tool_traj(single_calls=True)
    no_call = Step(
        index=1,
        assistant="I will look at the tests next.",
        observation="Format error: call exactly one tool.",
        end_reason="format_error",
    )
    traj.steps.insert(1, no_call)
    for index, step in enumerate(traj.steps):
        step.index = index
    view = policy_chat(traj, llama31_tokenizer, action_format="tool_calls")
    for messages in (view.messages, traj.messages()):
        assistants = [m for m in messages if m["role"] == "assistant"]
        assert ["tool_calls" in m for m in assistants] == [bool(s.tool_calls) for s in traj.steps]
    got = render_trajectory(traj, llama31_tokenizer, mode="all", action_format="tool_calls")
    trained = llama31_tokenizer.decode([t for t, m in zip(got.input_ids, got.loss_mask) if m])
    assert "I will look at the tests next.<|eot_id|>" in trained
    assert got.num_prefix_mismatches == 0
    assert "Format error" in llama31_tokenizer.decode(got.input_ids)


def test_chatml_without_tool_support_refuses_native_and_converts_by_default(tokenizer):
    assert not template_supports_tools(tokenizer)
    with pytest.raises(
        DataError, match=r"mswea2_toolcalls.traj.json: the chat template of .*SmolLM2"
    ):
        render_trajectory(tool_traj(), tokenizer, mode="all", action_format="tool_calls")
    traj = tool_traj()
    got = render_trajectory(traj, tokenizer, mode="all")
    assert got.num_converted_tool_calls == 4 and got.num_reformatted_observations == 1
    segs = [
        (
            f"<|im_start|>system\n{traj.system_prompt}<|im_end|>\n<|im_start|>user\n{traj.task_prompt}<|im_end|>\n",
            0,
            -1,
        )
    ]
    for step in traj.steps:
        segs.append(("<|im_start|>assistant\n", 0, -1))
        segs.append((text_action(step) + "<|im_end|>", 1, step.index))
        if step.index < 2:  # parallel outputs: one observation, as one text action would get
            raw = "".join(call.raw_output for call in step.tool_calls)
            obs = f"<returncode>0</returncode>\n<output>\n{raw}</output>"
            segs.append((f"\n<|im_start|>user\n{obs}<|im_end|>\n", 0, -1))
    want_ids, want_mask, want_steps = expected(tokenizer, segs)
    assert (got.input_ids, got.loss_mask, got.step_index) == (want_ids, want_mask, want_steps)
    trained = tokenizer.decode([t for t, m in zip(got.input_ids, got.loss_mask) if m])
    for step in traj.steps:
        for call in step.tool_calls:
            assert call.command in trained  # multi-line heredoc and unicode included
    assert "```bash\ncat greet.py\ngrep -n" in trained


def test_observations_follow_the_policy_template_and_longer_ones_are_counted(tokenizer):
    traj = tool_traj()
    short = "<returncode>{{output.returncode}}</returncode>\n{{ output.output[:5] }}"
    got = render_trajectory(traj, tokenizer, mode="all", observation_template=short)
    # Text actions: the parallel pair is one observation; the final one is never rendered.
    assert got.num_reformatted_observations == 2 and got.num_shortened_observations == 2
    text = tokenizer.decode(got.input_ids)
    assert "<returncode>0</returncode>\ndef g" in text and 'print("Hallo")' not in text
    unverified = copy.deepcopy(traj)
    for step in unverified.steps:
        for call in step.tool_calls:
            call.raw_output = None
    got = render_trajectory(unverified, tokenizer, mode="all", observation_template=short)
    assert got.num_reformatted_observations == 0 and got.num_unverified_observations == 2


def test_bash_tool_schema_is_rendered_but_never_trained(qwen_tokenizer):
    got = render_trajectory(tool_traj(), qwen_tokenizer, mode="all", action_format="tool_calls")
    trained = qwen_tokenizer.decode([t for t, m in zip(got.input_ids, got.loss_mask) if m])
    assert BASH_TOOL["function"]["description"] in qwen_tokenizer.decode(got.input_ids)
    assert BASH_TOOL["function"]["description"] not in trained
