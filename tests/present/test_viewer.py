"""`srft view`: the terminal, HTML and JSON views agree with the masking function."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from srft_ray.cli import main as srft
from srft_ray.data.model import Outcome, Step, StepLabel, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.masking import render_trajectory

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
                labels=[StepLabel(label="bad", source="critic")],
            ),
            Step(index=2, assistant="```bash\nsed -i s/+1// calc.py\n```", observation=""),
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


def test_terminal_and_html_show_trained_and_masked(tmp_path, smollm_dir, capsys):
    store = _store(tmp_path)
    assert srft(["view", str(store), "--tokenizer", str(smollm_dir)]) == 0
    out = capsys.readouterr().out
    assert "\033[30;42m" in out and "\033[9;31m" in out  # trained and masked runs are styled
    assert "1 masked" in out
    page = tmp_path / "view.html"
    assert srft(["view", str(store), "--tokenizer", str(smollm_dir), "--html", str(page)]) == 0
    text = page.read_text()
    masked = "".join(re.findall(r'<span class="masked"[^>]*>([^<]*)</span>', text))
    trained = "".join(re.findall(r'<span class="trained"[^>]*>([^<]*)</span>', text))
    assert "rm -rf /" in masked and "rm -rf" not in trained
    assert "sed -i s/+1// calc.py" in trained
    tokens = html.unescape(re.sub(r"<[^>]+>", "", text.split("<pre>")[1]))
    assert "Make add() correct. ünïcode ✓" in tokens  # multi-byte characters survive


def test_views_an_imported_minisweagent_file(smollm_dir, capsys):
    path = DATA / "mini_swe_agent_textbased.traj.json"
    assert srft(["view", str(path), "--tokenizer", str(smollm_dir), "--mode", "all", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sum(printed["loss_mask"]) > 0
    assert max(printed["step_index"]) >= 1
