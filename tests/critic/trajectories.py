"""Hand-built SWE-agent trajectories with ground-truth labels (source "scripted") for critic tests."""

from __future__ import annotations

from srft_ray.data.model import Outcome, Provenance, Step, StepLabel, Trajectory

TASK = (
    "calc.add returns the wrong result: `add(2, 3)` gives -1 instead of 5. "
    "Fix `add` in calc.py so that tests/test_calc.py passes."
)
BROKEN = "cat > calc.py <<'EOF'\ndef add(a, b)\n    return a + b\nEOF"
_MOVES = [
    # (assistant thought, command, observation, returncode, truth)
    ("Let me look at the files.", "ls", "calc.py\ntests\n", 0, "good"),
    ("Read the code.", "cat calc.py", "def add(a, b):\n    return a - b\n", 0, "good"),
    (
        "Run the tests of the other module.",
        "python -m pytest tests/test_missing.py",
        "ERROR: file or directory not found: tests/test_missing.py\n",
        4,
        "mistake",
    ),
    ("Rewrite the file.", BROKEN, "", 0, "mistake"),
    (
        "Check it imports.",
        "python -c 'import calc'",
        'Traceback (most recent call last):\n  File "calc.py", line 1\n    def add(a, b)\n'
        "                 ^\nSyntaxError: expected ':'\n",
        1,
        "good",
    ),
    ("Undo the broken rewrite.", "git checkout -- calc.py", "", 0, "recover"),
    ("Fix the operator.", "sed -i 's/a - b/a + b/' calc.py", "", 0, "good"),
    ("Run the tests.", "python -m pytest -q tests/test_calc.py", "1 passed in 0.01s\n", 0, "good"),
    ("Submit.", "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", None, 0, "good"),
]


def make_trajectory(
    trajectory_id: str, *, num_steps: int = len(_MOVES), pad_observations: int = 0
) -> Trajectory:
    """The first `num_steps` moves (a longer run repeats the middle); observations padded with
    `pad_observations` filler chars to make long prompts."""
    moves = list(_MOVES)
    while len(moves) < num_steps:
        moves.insert(
            2, ("Look again.", "cat calc.py", "def add(a, b):\n    return a - b\n", 0, "good")
        )
    moves = moves[:num_steps]
    steps = []
    for i, (thought, command, observation, rc, truth) in enumerate(moves):
        if observation is not None and pad_observations:
            observation = observation + ("x" * 79 + "\n") * (pad_observations // 80)
        steps.append(
            Step(
                index=i,
                assistant=f"THOUGHT: {thought}\n\n```bash\n{command}\n```",
                command=command,
                observation=observation,
                returncode=rc,
                end_reason="exit",
                labels=[StepLabel(label=truth, source="scripted", confidence=1.0, model="hand")],
            )
        )
    resolved = num_steps >= len(_MOVES)
    return Trajectory(
        trajectory_id=trajectory_id,
        instance_id="calc-1",
        system_prompt="You are a helpful assistant that can run bash commands.",
        task_prompt=TASK,
        steps=steps,
        outcome=Outcome(
            exit_status="submitted" if resolved else "step_limit",
            resolved=resolved,
            test_results={"tests/test_calc.py::test_add": "PASSED" if resolved else "FAILED"},
        ),
        provenance=Provenance(policy_model="hand", agent="hand/1"),
    )
