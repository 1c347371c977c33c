"""Versioned critic prompt templates, rendered with the critic model's chat template into ids.

A template is keyed "<mode>/<version>" ("per_step/v1", "single_pass/v1"); a label records the key
so label quality can be compared per version. The critic sees the task, the outcome (resolved or
not, per-test results) and the trajectory with each message cut to a stated character budget
(head + tail around a visible marker).

Four-kind templates (PromptTemplate.kinds = verdicts.KINDS) ask for good / unnecessary / mistake /
recover per step:
- "single_pass/privileged-v1" is a critic with privileged information: besides the outcome it sees
  the task's reference patch and, under each step, the rationale of that step's source="replay"
  label (what replaying the tests after the step showed). The reference patch comes from the
  `reference_patch` argument or, when none is given, from `trajectory.extra["reference_patch"]`
  (set it to `task.patch` where the task is at hand: the critic pool streams trajectories, not
  tasks); a privileged prompt without one raises ValueError rather than judge blind.
- "single_pass/distilled-v1" is what a trained critic (srft_ray.critic.distill) sees, in training
  and when served: the task and the trajectory only, no outcome, no tests, no reference.

per_step prompts are built so that all requests of one trajectory share the longest possible token
prefix: [chat header, task, outcome, step 1, ..., step k] + [question about step k, chat footer].
Each segment is tokenized on its own and the ids are concatenated, so the prompt for step k is
*exactly* (id for id) a prefix of the prompt for step k+1 up to the question, and vLLM's prefix
cache reuses everything but the question.
"""

from __future__ import annotations

from dataclasses import dataclass

from srft_ray.critic.config import PromptConfig
from srft_ray.critic.verdicts import KINDS, VERDICTS
from srft_ray.data.model import Step, Trajectory

_BODY = "\x00CRITIC_BODY\x00"  # splits the rendered chat template around the user message


@dataclass(frozen=True, kw_only=True)
class PromptTemplate:
    key: str
    system: str
    header: str
    """Opens the user message; fields: task, outcome, num_steps."""
    step: str
    """One step of the transcript; fields: index, assistant, observation_header, observation."""
    question: str
    """Closes the user message; fields: index (per_step) or num_steps (single_pass)."""
    kinds: tuple[str, ...] = VERDICTS
    """The verdicts a reply may hold: good/bad, or the four verdicts.KINDS."""
    privileged: bool = False
    """The header shows the reference patch ({reference}) and steps their replay facts ({facts})."""


_SYSTEM_V1 = (
    "You review the work of a software-engineering agent that tries to fix a bug in a repository "
    "by running shell commands. You judge each step of its trajectory.\n"
    "A step is BAD if it is an error: a wrong or pointless command, a command that fails because "
    "the agent made a mistake, an edit that breaks the code or is later undone, a false claim, "
    "or submitting without a working fix.\n"
    "A step is GOOD if it is a reasonable move towards solving the task, including exploring the "
    "code, reproducing the bug, and recovering from an earlier error."
)
_HEADER_V1 = "## Task\n{task}\n\n## Outcome\n{outcome}\n\n## Trajectory ({num_steps} steps)\n"
_STEP_V1 = "### Step {index}\n[agent]\n{assistant}\n[{observation_header}]\n{observation}\n\n"

_SYSTEM_KINDS = (
    "You review the work of a software-engineering agent that tries to fix a bug in a repository "
    "by running shell commands. You give each step of its trajectory one of four kinds:\n"
    "- good: a sound move towards solving the task: exploring the relevant code, reproducing the "
    "bug, a correct edit, a test run that checks the fix, submitting a working fix.\n"
    "- unnecessary: harmless but not needed: it repeats what is already known or explores "
    "something irrelevant, and changes nothing that matters.\n"
    "- mistake: an error: a wrong command, a command that fails because the agent erred, an edit "
    "that breaks the code or changes the wrong place, a false claim, or submitting without a "
    "working fix.\n"
    "- recover: a step that repairs an earlier mistake, e.g. it reverts a broken edit."
)
_SYSTEM_PRIVILEGED = _SYSTEM_KINDS + (
    "\nYou also have information the agent never saw: a reference patch that fixes the task, and "
    "under each step the facts of replaying the task's tests on the working tree after that step "
    "(FAIL_TO_PASS tests that must come to pass, PASS_TO_PASS tests that must keep passing). An "
    "edit that matches the reference and makes tests pass is good; one the tests show broke "
    "something is a mistake."
)
_QUESTION_KINDS = (
    "## Question\nGive every step, 1 to {num_steps}, one kind: good, unnecessary, mistake or "
    'recover. Reply with JSON: {{"verdicts": [...]}} holding exactly {num_steps} strings, the '
    "i-th for step i."
)

TEMPLATES: dict[str, PromptTemplate] = {
    "per_step/v1": PromptTemplate(
        key="per_step/v1",
        system=_SYSTEM_V1,
        header=_HEADER_V1,
        step=_STEP_V1,
        question=(
            "## Question\nJudge only step {index} (the last step shown above). "
            "Was step {index} good or bad? Answer with one word: good or bad."
        ),
    ),
    "single_pass/v1": PromptTemplate(
        key="single_pass/v1",
        system=_SYSTEM_V1,
        header=_HEADER_V1,
        step=_STEP_V1,
        question=(
            "## Question\nJudge every step, 1 to {num_steps}. Reply with JSON: "
            '{{"verdicts": [...]}} holding exactly {num_steps} strings, "good" or "bad", '
            "the i-th for step i."
        ),
    ),
    "single_pass/privileged-v1": PromptTemplate(
        key="single_pass/privileged-v1",
        system=_SYSTEM_PRIVILEGED,
        header=(
            "## Task\n{task}\n\n## Outcome\n{outcome}\n\n"
            "## Reference patch (a correct fix; the agent never saw it)\n{reference}\n\n"
            "## Trajectory ({num_steps} steps)\n"
        ),
        step=(
            "### Step {index}\n[agent]\n{assistant}\n[{observation_header}]\n{observation}\n"
            "[replay]\n{facts}\n\n"
        ),
        question=_QUESTION_KINDS,
        kinds=KINDS,
        privileged=True,
    ),
    "single_pass/distilled-v1": PromptTemplate(
        key="single_pass/distilled-v1",
        system=_SYSTEM_KINDS,
        header="## Task\n{task}\n\n## Trajectory ({num_steps} steps)\n",
        step=_STEP_V1,
        question=_QUESTION_KINDS,
        kinds=KINDS,
    ),
}


def get_template(key: str) -> PromptTemplate:
    if key not in TEMPLATES:
        raise KeyError(f"unknown critic prompt {key!r} (known: {', '.join(sorted(TEMPLATES))})")
    return TEMPLATES[key]


def truncate_middle(text: str, max_chars: int) -> str:
    """Keep the head and tail of `text` within `max_chars`, with a marker saying what was cut."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    marker = f"\n[... {len(text) - max_chars} chars truncated ...]\n"
    keep = max(max_chars - len(marker), 0)
    head = keep - keep // 2  # the head usually says what ran, the tail how it ended
    return text[:head] + marker + text[len(text) - keep // 2 :] if keep else marker.strip()


def outcome_text(traj: Trajectory, max_tests: int) -> str:
    outcome = traj.outcome
    resolved = {True: "RESOLVED", False: "NOT RESOLVED", None: "not graded"}[outcome.resolved]
    lines = [f"Exit status: {outcome.exit_status or 'unknown'}; the final patch: {resolved}."]
    tests = sorted(outcome.test_results.items())
    if tests:
        lines.append("Test results:")
        lines += [f"- {name}: {status}" for name, status in tests[:max_tests]]
        if len(tests) > max_tests:
            lines.append(f"- ... {len(tests) - max_tests} more")
    return "\n".join(lines)


class PromptRenderer:
    """Renders critic prompts for one template into token ids with the critic's chat template."""

    def __init__(self, tokenizer, key: str, config: PromptConfig):
        self.tokenizer = tokenizer
        self.template = get_template(key)
        self.config = config
        chat = tokenizer.apply_chat_template(
            [
                {"role": "system", "content": self.template.system},
                {"role": "user", "content": _BODY},
            ],
            tokenize=False,
            add_generation_prompt=True,
        )
        self._chat_head, _, self._chat_tail = chat.partition(_BODY)
        if not self._chat_tail:
            raise ValueError(f"chat template of {tokenizer.name_or_path} dropped the user message")

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _header_text(self, traj: Trajectory, reference_patch: str | None = None) -> str:
        cfg = self.config
        reference = ""
        if self.template.privileged:
            reference = reference_patch or traj.extra.get("reference_patch") or ""
            if not reference.strip():
                raise ValueError(
                    f"trajectory {traj.trajectory_id}: prompt {self.template.key} needs the "
                    "task's reference patch: pass reference_patch= or set "
                    'trajectory.extra["reference_patch"] = task.patch'
                )
        return self.template.header.format(
            task=truncate_middle(traj.task_prompt or "", cfg.max_task_chars),
            outcome=outcome_text(traj, cfg.max_test_results),
            num_steps=traj.num_steps,
            reference=truncate_middle(reference, cfg.max_reference_chars),
        )

    def step_text(self, step: Step, number: int) -> str:
        cfg = self.config
        if step.observation is None:
            header, observation = "no observation", "(none: the episode ended here)"
        else:
            rc = "timeout" if step.end_reason == "timeout" else step.returncode
            header = "observation" + (f", return code {rc}" if rc is not None else "")
            observation = truncate_middle(step.observation, cfg.max_observation_chars)
        return self.template.step.format(
            index=number,
            assistant=truncate_middle(step.assistant, cfg.max_assistant_chars),
            observation_header=header,
            observation=observation,
            facts=replay_facts(step) if self.template.privileged else "",
        )

    def per_step_prompts(self, traj: Trajectory) -> list[list[int]]:
        """One prompt per step; prompt k = shared prefix through step k + the question about k."""
        prefix = self._ids(self._chat_head + self._header_text(traj))
        prompts = []
        for number, step in enumerate(traj.steps, start=1):
            prefix = prefix + self._ids(self.step_text(step, number))
            question = self._ids(self.template.question.format(index=number) + self._chat_tail)
            prompts.append(prefix + question)
        return prompts

    def single_pass_text(self, traj: Trajectory, reference_patch: str | None = None) -> str:
        """The user message of a single_pass prompt (no chat template around it)."""
        text = self._header_text(traj, reference_patch)
        text += "".join(self.step_text(s, i) for i, s in enumerate(traj.steps, start=1))
        return text + self.template.question.format(num_steps=traj.num_steps)

    def single_pass_prompt(self, traj: Trajectory, reference_patch: str | None = None) -> list[int]:
        """One prompt holding the whole trajectory and a request for N verdicts; privileged
        templates take the reference patch from `reference_patch` or traj.extra (module doc)."""
        return self._ids(
            self._chat_head + self.single_pass_text(traj, reference_patch) + self._chat_tail
        )


def replay_facts(step: Step) -> str:
    """What replaying the tests after `step` showed: its last replay label's rationale."""
    found = step.label_from("replay")
    return found.rationale if found is not None and found.rationale else "(not replayed)"
