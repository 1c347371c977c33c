"""`srft view`: the terminal, HTML and JSON views agree with the masking function."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from srft_ray.cli import main as srft
from srft_ray.data.model import LABELS, Outcome, Step, StepLabel, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.masking import render_trajectory
from srft_ray.present.svg_plots import LABEL_COLORS
from srft_ray.present.viewer import ANSI_KIND

DATA = Path(__file__).parents[1] / "formats" / "data"


def _store(tmp_path) -> Path:
    traj = Trajectory(
        trajectory_id="r0/demo-1/0",
        instance_id="demo-1",
        system_prompt="You fix bugs.",
        task_prompt="Make add() correct. ünïcode ✓",
        steps=[
            Step(index=0, assistant="```bash\ncat calc.py\n```", observation="return a+b+1"),
            Step(
                index=1,
                assistant="```bash\nrm -rf /\n```",
                observation="denied",
                labels=[StepLabel(label="bad", source="critic")],  # legacy name of mistake
            ),
            Step(
                index=2,
                assistant="```bash\nls tests\n```",
                observation="test_calc.py",
                labels=[StepLabel(label="unnecessary", source="critic")],
            ),
            Step(
                index=3,
                assistant="```bash\nsed -i s/+1// calc.py\n```",
                observation="",
                labels=[StepLabel(label="recover", source="rule")],
            ),
        ],
        outcome=Outcome(resolved=False),
    )
    TrajectoryStore(tmp_path / "store").append([traj])
    return tmp_path / "store"


def test_json_matches_render(tmp_path, smollm_dir, tokenizer, capsys):
    store = _store(tmp_path)
    assert (
        srft(["view", str(store), "--tokenizer", str(smollm_dir), "--mode", "srft", "--json"]) == 0
    )
    printed = json.loads(capsys.readouterr().out)
    example = render_trajectory(TrajectoryStore(store).read_all()[0], tokenizer, mode="srft")
    assert printed == {
        "input_ids": example.input_ids,
        "loss_mask": example.loss_mask,
        "step_index": example.step_index,
    }


KINDS_SHOWN = {0: "unknown", 1: "mistake", 2: "unnecessary", 3: "recover"}


def test_terminal_and_html_show_trained_and_masked(tmp_path, smollm_dir, capsys):
    store = _store(tmp_path)
    assert srft(["view", str(store), "--tokenizer", str(smollm_dir)]) == 0
    out = capsys.readouterr().out
    assert "\033[30;42m" in out and "\033[9;31m" in out  # trained and masked runs are styled
    assert "1 masked" in out
    # Every step's kind, in its own colour: in the step list and where its tokens start.
    for index, kind in KINDS_SHOWN.items():
        tag = f"{ANSI_KIND[kind]} {kind} \033[0m"
        assert re.search(rf"step +{index} {re.escape(tag)} ", out), kind
        assert out.count(tag) >= 3  # step list, token stream, legend
    legend = out.rstrip().splitlines()[-1]
    assert all(f"{ANSI_KIND[kind]} {kind} " in legend for kind in LABELS)
    assert len(set(ANSI_KIND.values())) == len(LABELS)  # one colour per kind
    page = tmp_path / "view.html"
    assert srft(["view", str(store), "--tokenizer", str(smollm_dir), "--html", str(page)]) == 0
    text = page.read_text()
    masked = "".join(re.findall(r'<span class="masked[^"]*"[^>]*>([^<]*)</span>', text))
    trained = "".join(re.findall(r'<span class="trained[^"]*"[^>]*>([^<]*)</span>', text))
    assert "rm -rf /" in masked and "rm -rf" not in trained
    assert "sed -i s/+1// calc.py" in trained and "ls tests" in trained
    tokens = html.unescape(re.sub(r"<[^>]+>", "", text.split("<pre>")[1]))
    assert "Make add() correct. ünïcode ✓" in tokens.replace("step 0: unknown", "")
    for index, kind in KINDS_SHOWN.items():
        assert f'<span class="kind k-{kind}">step {index}: {kind}</span>' in text
        step_tokens = re.findall(rf'<span class="\w+ k-{kind}" title="[^"]*, step {index}"', text)
        assert step_tokens, kind  # the step's tokens carry its kind's colour
    for kind, colour in LABEL_COLORS.items():
        assert f".kind.k-{kind} {{ background: {colour}; }}" in text
        assert f'<span class="kind k-{kind}">{kind}</span>' in text  # the legend
    # The option masks unnecessary steps too; the kinds stay as they are.
    option = ["--masked-kinds", "mistake,unnecessary"]
    assert srft(["view", str(store), "--tokenizer", str(smollm_dir), *option]) == 0
    assert "2 masked" in capsys.readouterr().out


def test_a_chat_template_error_is_one_line_naming_file_and_template(
    tokenizer, tmp_path_factory, capsys
):
    from test_masking_tools import DATA as TOOL_CALLS
    from test_masking_tools import local_tokenizer

    llama31 = local_tokenizer(tokenizer, tmp_path_factory, "llama31")
    args = ["view", str(TOOL_CALLS), "--tokenizer", llama31.name_or_path]
    assert srft([*args, "--action-format", "tool_calls"]) == 1  # two calls in one turn
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert TOOL_CALLS.name in err and llama31.name_or_path in err
    assert "only supports single tool-calls" in err
    assert srft(args) == 0  # as text actions (the default) the same file renders


def test_views_an_imported_minisweagent_file(smollm_dir, capsys):
    path = DATA / "mini_swe_agent_textbased.traj.json"
    assert srft(["view", str(path), "--tokenizer", str(smollm_dir), "--mode", "all", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sum(printed["loss_mask"]) > 0
    assert max(printed["step_index"]) >= 1
