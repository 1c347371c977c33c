"""Masks are exact to the token, for ChatML (SmolLM2) and a Llama-3-style template built locally.

Expected ids are built segment by segment from the literal template strings, independently of the
renderer (which tokenizes whole renders), so a wrong boundary shows up as a wrong id or mask.
"""

from __future__ import annotations

import pytest

from srft_ray.data.model import Outcome, Step, StepLabel, Trajectory
from srft_ray.masking import KINDS, MaskingConfig, encode_chat, render_trajectory

LLAMA3_TEMPLATE = (
    "{{ '<|begin_of_text|>' }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

SYSTEM = "You are a careful engineer.\nUse one bash block per reply."
TASK = "Fix the bug in calc.py: add(2, 2) returns 5 — «ünïcode» 🚀"
STEPS = [
    ("THOUGHT: look first.\n```bash\ncat calc.py\n```", "def add(a, b):\n    return a + b + 1\n"),
    ("THOUGHT: fix it — ñ.\n```bash\nsed -i 's/ + 1//' calc.py\n```", "(no output)"),
    ("Done.\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```", "diff --git a/calc.py ..."),
]


def make_traj(labels=(None, None, None), resolved=True, token_ids=(None, None, None)):
    steps = []
    for i, ((text, obs), label, ids) in enumerate(zip(STEPS, labels, token_ids)):
        step = Step(index=i, assistant=text, observation=obs, token_ids=ids)
        if label:
            step.labels.append(StepLabel(label=label, source="critic"))
        steps.append(step)
    return Trajectory(
        trajectory_id="t1",
        instance_id="demo__calc-1",
        system_prompt=SYSTEM,
        task_prompt=TASK,
        steps=steps,
        outcome=Outcome(resolved=resolved),
    )


@pytest.fixture(scope="module")
def llama3_tokenizer(tokenizer, tmp_path_factory):
    """SmolLM2's vocabulary with Llama-3 special tokens and chat template, saved and reloaded."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("llama3-tok")
    tokenizer.save_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    tok.add_special_tokens(
        {
            "additional_special_tokens": [
                "<|begin_of_text|>",
                "<|start_header_id|>",
                "<|end_header_id|>",
                "<|eot_id|>",
            ]
        }
    )
    tok.chat_template = LLAMA3_TEMPLATE
    tok.save_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def chatml_segments(steps_trained):
    """(text, trained, step) segments of the ChatML render, without the trailing observation."""
    segs = [
        (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{TASK}<|im_end|>\n", 0, -1)
    ]
    for i, (text, obs) in enumerate(STEPS):
        segs.append(("<|im_start|>assistant\n", 0, -1))
        segs.append((text + "<|im_end|>", int(steps_trained[i]), i))
        if i < len(STEPS) - 1:
            segs.append((f"\n<|im_start|>user\n{obs}<|im_end|>\n", 0, -1))
    return segs


def llama3_segments(steps_trained):
    def header(role):
        return f"<|start_header_id|>{role}<|end_header_id|>\n\n"

    segs = [
        (
            f"<|begin_of_text|>{header('system')}{SYSTEM}<|eot_id|>{header('user')}{TASK}<|eot_id|>",
            0,
            -1,
        )
    ]
    for i, (text, obs) in enumerate(STEPS):
        segs.append((header("assistant"), 0, -1))
        segs.append((text + "<|eot_id|>", int(steps_trained[i]), i))
        if i < len(STEPS) - 1:
            segs.append((f"{header('user')}{obs}<|eot_id|>", 0, -1))
    return segs


def expected(tok, segments):
    """Tokenize the hand-written text once; a token belongs to the segment its first char is in."""
    text, owners = "", []
    for seg_text, trained, step in segments:
        owners.append((len(text), len(text) + len(seg_text), trained, step))
        text += seg_text
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, mask, steps = list(enc["input_ids"]), [], []
    for start, _ in enc["offset_mapping"]:
        _, _, trained, step = next(o for o in owners if o[0] <= start < o[1])
        mask.append(trained)
        steps.append(step)
    return ids, mask, steps


ALSO_UNNECESSARY = ["mistake", "unnecessary"]


@pytest.mark.parametrize("family", ["chatml", "llama3"])
@pytest.mark.parametrize(
    "mode,labels,resolved,trained,masked_kinds",
    [
        ("all", (None, "mistake", None), False, (1, 1, 1), None),
        ("rft", (None, None, None), True, (1, 1, 1), None),
        ("rft", (None, None, None), False, (0, 0, 0), None),
        ("rft", ("mistake", "unnecessary", None), True, (1, 1, 1), ALSO_UNNECESSARY),
        ("srft", ("good", "mistake", None), False, (1, 0, 1), None),
        ("srft", ("mistake", "good", "mistake"), True, (0, 1, 0), None),
        ("srft", ("bad", "good", "bad"), True, (0, 1, 0), None),  # legacy name of mistake
        # The paper's default masks mistakes only: detours and recoveries are trained.
        ("srft", ("unnecessary", "mistake", "recover"), False, (1, 0, 1), None),
        ("srft", ("unnecessary", "mistake", "recover"), False, (0, 0, 1), ALSO_UNNECESSARY),
        ("srft", ("recover", "unnecessary", "good"), False, (1, 0, 1), ALSO_UNNECESSARY),
    ],
)
def test_masks_are_exact(
    family, mode, labels, resolved, trained, masked_kinds, tokenizer, llama3_tokenizer
):
    tok = tokenizer if family == "chatml" else llama3_tokenizer
    segments = (chatml_segments if family == "chatml" else llama3_segments)(trained)
    want_ids, want_mask, want_steps = expected(tok, segments)
    config = MaskingConfig(mode=mode)
    if masked_kinds is not None:
        config = MaskingConfig(mode=mode, masked_kinds=masked_kinds)
    got = render_trajectory(make_traj(labels, resolved), tok, config)
    assert got.input_ids == want_ids
    assert got.loss_mask == want_mask
    assert got.step_index == want_steps
    assert got.step_trained == [bool(t) for t in trained]
    # Masked steps stay in the context: the ids never depend on the labels.
    assert got.input_ids == render_trajectory(make_traj(), tok, mode="all").input_ids


def test_trained_text_is_exactly_the_assistant_turns(tokenizer):
    got = render_trajectory(make_traj(), tokenizer, mode="all")
    trained = [t for t, m in zip(got.input_ids, got.loss_mask) if m]
    assert tokenizer.decode(trained) == "".join(text + "<|im_end|>" for text, _ in STEPS)


def test_unknown_labels_follow_config(tokenizer):
    traj = make_traj(labels=("unknown", None, "good"))
    assert render_trajectory(traj, tokenizer, mode="srft").step_trained == [True, True, True]
    for as_mistake in ("mistake", "bad"):  # "bad": configs written before the four kinds
        masked = render_trajectory(traj, tokenizer, mode="srft", unknown_as=as_mistake)
        assert masked.step_trained == [False, False, True]
        assert masked.num_masked_steps == 2
    # Unknown read as unnecessary is trained unless unnecessary steps are masked too.
    config = MaskingConfig(mode="srft", unknown_as="unnecessary")
    assert render_trajectory(traj, tokenizer, config).step_trained == [True, True, True]
    config = MaskingConfig(mode="srft", unknown_as="unnecessary", masked_kinds=ALSO_UNNECESSARY)
    assert render_trajectory(traj, tokenizer, config).step_trained == [False, False, True]
    with pytest.raises(ValueError, match="unknown_as"):
        MaskingConfig(unknown_as="unknown")
    with pytest.raises(ValueError, match="masked_kinds"):
        MaskingConfig(masked_kinds=["mistake", "typo"])


@pytest.mark.parametrize("masked_kinds", [None, ALSO_UNNECESSARY])
@pytest.mark.parametrize("kind", [*KINDS, "unknown"])
def test_each_kind_trains_as_configured_and_the_loss_is_plain_cross_entropy(
    kind, masked_kinds, tokenizer
):
    """One step of each kind between two good ones: only the configured kinds lose their tokens,
    and the trainer's loss over the packed row equals CE(reduction="none") summed over the
    hand-built mask / number of trained tokens."""
    import torch
    import torch.nn.functional as F

    from srft_ray.train.loss import masked_token_loss_sum
    from srft_ray.train.packing import Document, pack_documents

    config = MaskingConfig(mode="srft")
    if masked_kinds is not None:
        config = MaskingConfig(mode="srft", masked_kinds=masked_kinds)
    masked = {"mistake"} if masked_kinds is None else {"mistake", "unnecessary"}
    trained = (1, int(kind not in masked), 1)
    want_ids, want_mask, _ = expected(tokenizer, chatml_segments(trained))
    got = render_trajectory(make_traj(("good", kind, "good"), resolved=False), tokenizer, config)
    assert (got.input_ids, got.loss_mask) == (want_ids, want_mask)
    assert got.step_trained == [bool(t) for t in trained]

    # A fixed random "model": hidden state = embedding of the token, logits = hidden @ head.T.
    torch.manual_seed(0)
    vocab = max(want_ids) + 1
    embed = torch.randn(vocab, 16, dtype=torch.float64)
    head = torch.randn(vocab, 16, dtype=torch.float64)
    batch = pack_documents([Document(input_ids=got.input_ids, loss_mask=got.loss_mask)])
    hidden = embed[batch.input_ids]
    ours = masked_token_loss_sum(hidden, head, batch.targets, 64) / batch.num_trained_tokens

    ids = torch.tensor(want_ids)
    losses = F.cross_entropy(embed[ids[:-1]] @ head.T, ids[1:], reduction="none")
    mask = torch.tensor(want_mask[1:], dtype=torch.float64)  # token t+1 is predicted at t
    reference = (losses * mask).sum() / mask.sum()
    assert torch.allclose(ours, reference, atol=1e-10)
    assert batch.num_trained_tokens == int(mask.sum()) == sum(want_mask)


def test_label_source_priority(tokenizer):
    traj = make_traj()
    traj.steps[0].labels = [
        StepLabel(label="mistake", source="rule"),
        StepLabel(label="good", source="critic"),
    ]
    assert render_trajectory(traj, tokenizer, mode="srft").step_trained[0] is True
    rules_first = MaskingConfig(mode="srft", label_sources=["rule", "critic"])
    assert render_trajectory(traj, tokenizer, rules_first).step_trained[0] is False
    # Replay labels outrank the rules; a critic label (the final label of a combined mode such
    # as consensus, written after the replay label it combined) outranks replay.
    traj.steps[0].labels = [
        StepLabel(label="good", source="rule"),
        StepLabel(label="mistake", source="replay"),
    ]
    assert render_trajectory(traj, tokenizer, mode="srft").step_trained[0] is False
    traj.steps[0].labels.append(StepLabel(label="unknown", source="critic"))
    assert render_trajectory(traj, tokenizer, mode="srft").step_trained[0] is True  # unknown_as
    traj.steps[0].labels.append(StepLabel(label="mistake", source="critic"))
    assert render_trajectory(traj, tokenizer, mode="srft").step_trained[0] is False
    traj.steps[0].labels.append(StepLabel(label="recover", source="human"))
    assert render_trajectory(traj, tokenizer, mode="srft").step_trained[0] is True


def template_step_ids(tok, traj, step):
    messages = traj.messages()
    pos = [i for i, m in enumerate(messages) if m.get("step") == step][0]
    ctx = encode_chat(tok, messages[:pos], add_generation_prompt=True)
    full = encode_chat(tok, messages[: pos + 1], add_generation_prompt=False)
    ids = full[len(ctx) :]
    return ids[: ids.index(tok.convert_tokens_to_ids("<|im_end|>")) + 1]


def test_sampled_ids_are_used_when_they_match_the_template(tokenizer):
    plain = make_traj()
    sampled = [template_step_ids(tokenizer, plain, i) for i in range(3)]
    got = render_trajectory(make_traj(token_ids=sampled), tokenizer, mode="all")
    assert got.input_ids == render_trajectory(plain, tokenizer, mode="all").input_ids
    assert got.num_retokenized_steps == 0


def non_canonical(tok, ids):
    """Same text, different ids: spell the first multi-character token one character at a time."""
    end = ids[-1]
    for pos, token in enumerate(ids[:-1]):
        piece = tok.decode([token])
        if len(piece) > 1:
            chars = [tok(c, add_special_tokens=False)["input_ids"] for c in piece]
            if all(len(c) == 1 for c in chars):
                spelled = [c[0] for c in chars]
                assert tok.decode(spelled) == piece
                return ids[:pos] + spelled + ids[pos + 1 : -1] + [end]
    raise AssertionError("no multi-character token to spell out")


def test_drift_in_a_middle_step_falls_back_and_is_counted(tokenizer):
    plain = make_traj()
    canonical = [template_step_ids(tokenizer, plain, i) for i in range(3)]
    drifted = non_canonical(tokenizer, canonical[1])
    assert drifted != canonical[1]
    got = render_trajectory(
        make_traj(token_ids=[canonical[0], drifted, canonical[2]]), tokenizer, mode="all"
    )
    # The next turn's context is the re-rendered text, so step 1 trains on the template's ids.
    assert got.num_retokenized_steps == 1
    assert got.input_ids == render_trajectory(plain, tokenizer, mode="all").input_ids


def test_last_step_keeps_its_sampled_ids_and_unsampled_end_token_is_not_trained(tokenizer):
    plain = make_traj()
    canonical = [template_step_ids(tokenizer, plain, i) for i in range(3)]
    cut_short = non_canonical(tokenizer, canonical[2])[:-1]  # hit max_tokens: no <|im_end|>
    got = render_trajectory(
        make_traj(token_ids=[canonical[0], canonical[1], cut_short]), tokenizer, mode="all"
    )
    n = len(cut_short)
    assert got.input_ids[-n - 1 : -1] == cut_short
    assert got.input_ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert got.loss_mask[-n - 1 :] == [1] * n + [0]
    assert got.num_retokenized_steps == 0


def test_truncate_overflow_keeps_the_head(tokenizer):
    full = render_trajectory(make_traj(), tokenizer, mode="all")
    cut = len(full.input_ids) - 7
    got = render_trajectory(make_traj(), tokenizer, mode="all", max_length=cut, overflow="truncate")
    assert got.input_ids == full.input_ids[:cut]
    assert got.loss_mask == full.loss_mask[:cut]
    assert got.step_index == full.step_index[:cut]
    assert got.num_truncated_tokens == 7 and got.truncated and got.num_dropped_steps == 0


def test_default_overflow_elides_early_observations_and_keeps_every_action(tokenizer):
    from srft_ray.chat_view import ELIDED_OBSERVATION

    traj = make_traj()
    traj.steps[0].observation = "x = 1\n" * 200  # one long early observation
    full = render_trajectory(traj, tokenizer, mode="all")
    limit = len(full.input_ids) - 100
    got = render_trajectory(traj, tokenizer, mode="all", max_length=limit)
    assert got.num_elided_observations == 1 and got.num_truncated_tokens == 0
    assert len(got.input_ids) <= limit
    assert ELIDED_OBSERVATION in tokenizer.decode(got.input_ids)
    trained = [t for t, m in zip(got.input_ids, got.loss_mask) if m]
    assert tokenizer.decode(trained) == "".join(text + "<|im_end|>" for text, _ in STEPS)
    # Too small even without observations: the end is cut, counted, and whole steps are named.
    tiny = render_trajectory(traj, tokenizer, mode="all", max_length=80)
    assert tiny.num_elided_observations == 2 and len(tiny.input_ids) == 80
    assert tiny.num_truncated_tokens > 0 and tiny.num_dropped_steps >= 1


def test_bad_mode_is_rejected(tokenizer):
    with pytest.raises(ValueError, match="masking mode"):
        render_trajectory(make_traj(), tokenizer, mode="sft")
