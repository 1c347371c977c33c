"""LLMCritic: labels every step of a batch of trajectories through a critic backend.

per_step: one request per step (prompts share the trajectory's history as a prefix; with
`prefix_warmup` the longest prompt of each trajectory goes first, alone, so the others find its
blocks in vLLM's prefix cache instead of all prefilling the same history at once).
single_pass: one request per trajectory, constrained to a JSON schema with exactly N verdicts.
Any bad output (see verdicts.BAD_OUTPUT_KINDS) labels the affected steps `unknown`, is counted, and
never raises; only a dead engine raises (CriticEngineDied), so the pool can retry the batch.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import Counter
from dataclasses import dataclass, field

from srft_ray.critic.backends import CriticBackend
from srft_ray.critic.config import CriticConfig
from srft_ray.critic.label_modes import CRITIC_FREE_MODES, REPLAY_MODES, combine_replay, gated
from srft_ray.critic.prompts import PromptRenderer
from srft_ray.critic.rules import combine, rule_labels
from srft_ray.critic.verdicts import (
    BAD_OUTPUT_KINDS,
    VERDICTS,
    BadCriticOutput,
    Verdict,
    classify_engine_error,
    parse_choice,
    parse_verdict_list,
    verdicts_schema,
    vote,
)
from srft_ray.data.model import LABELS, StepLabel, Trajectory
from srft_ray.vllm_engine import GenerateRequest, GenerateResult

COMBINED_PREFIX = "combined:"
"""StepLabel.model of the final label in the combined modes, e.g. "combined:critic_or_rules"."""


@dataclass(kw_only=True)
class CritiqueStats:
    """What a batch of critique cost and what went wrong; added up by the pool."""

    num_trajectories: int = 0
    num_steps: int = 0
    num_requests: int = 0
    num_prompt_tokens: int = 0
    num_cached_tokens: int = 0
    num_generated_tokens: int = 0
    bad_outputs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAD_OUTPUT_KINDS, 0))
    labels: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LABELS, 0))
    sandbox_seconds: float = 0.0
    """Replay: seconds of sandboxes that replayed commands or ran the task's tests."""
    num_test_runs: int = 0
    """Replay: trees tested (the rest came from its cache)."""

    def add(self, other: CritiqueStats) -> None:
        names = ("num_trajectories", "num_steps", "num_requests", "num_prompt_tokens")
        for name in (*names, "sandbox_seconds", "num_test_runs"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.num_cached_tokens += other.num_cached_tokens
        self.num_generated_tokens += other.num_generated_tokens
        self.bad_outputs = dict(Counter(self.bad_outputs) + Counter(other.bad_outputs))
        self.labels = dict(Counter(self.labels) + Counter(other.labels))
        for key in BAD_OUTPUT_KINDS:
            self.bad_outputs.setdefault(key, 0)


@dataclass(kw_only=True)
class LabelledBatch:
    trajectories: list[Trajectory]
    stats: CritiqueStats


class LLMCritic:
    """Implements the `Critic` protocol (async `label_batch`, sync `label`)."""

    def __init__(self, config: CriticConfig, tokenizer, backend: CriticBackend | None):
        self.config = config
        self.tokenizer = tokenizer
        self.backend = backend
        self.renderer = PromptRenderer(tokenizer, config.prompt_key, config.prompt)
        self.kinds = self.renderer.template.kinds
        # Reply tokens per verdict: good/bad as always; a kind's word, quote and comma, twice over:
        # structured output allows any whitespace between items, and a barely trained critic
        # writes '"recover"\n\n,\n\n' (the cap costs nothing when the reply closes early).
        longest = max(len(tokenizer(f'"{k}", ')["input_ids"]) for k in self.kinds)
        self._tokens_per_verdict = 6 if self.kinds == VERDICTS else 2 * longest + 6
        path = str(getattr(tokenizer, "name_or_path", "") or "critic")
        self.model_name = config.model_name or path.rstrip("/").rsplit("/", 1)[-1]
        self.replay = None
        if config.labels in REPLAY_MODES:
            from srft_ray.critic.replay import ReplayLabeller

            self.replay = ReplayLabeller(config.replay)

    # ---- requests -------------------------------------------------------------------------
    def _request(self, prompt_ids: list[int], *, json_steps: int = 0) -> GenerateRequest:
        cfg = self.config
        voting = cfg.confidence == "vote"
        return GenerateRequest(
            prompt_token_ids=prompt_ids,
            max_tokens=24 + self._tokens_per_verdict * json_steps if json_steps else 4,
            temperature=cfg.vote_temperature if voting else 0.0,
            seed=cfg.seed,
            n=cfg.num_votes if voting else 1,
            logprobs=cfg.top_logprobs,
            choice=None if json_steps else ["good", "bad"],
            json_schema=verdicts_schema(json_steps, self.kinds) if json_steps else None,
            cache_salt=uuid.uuid4().hex if cfg.unique_cache_salt else (cfg.cache_salt or None),
        )

    def _fits(self, request: GenerateRequest) -> bool:
        return len(request.prompt_token_ids) + request.max_tokens <= self.config.max_model_len

    def _pieces(self, result: GenerateResult) -> list[str]:
        if result.top_logprobs and any(
            str(k).startswith("token_id:") for top in result.top_logprobs for k in top
        ):  # an OpenAI server returned ids as candidate names: decode them to text pieces
            result.top_logprobs = [
                {self.tokenizer.decode([int(k.split(":", 1)[1])]): v for k, v in top.items()}
                for top in result.top_logprobs
            ]
        return [self.tokenizer.decode([t]) if t >= 0 else "" for t in result.token_ids]

    # ---- verdicts -------------------------------------------------------------------------
    def _verdicts(
        self, result: GenerateResult | Exception | None, num_steps: int, stats: CritiqueStats
    ) -> list[Verdict]:
        """Verdicts for `num_steps` steps from one result; bad output -> unknown, counted."""
        try:
            if result is None:
                raise BadCriticOutput("overflow", f"prompt longer than {self.config.max_model_len}")
            if isinstance(result, BaseException):
                raise classify_engine_error(result)
            samples = [result, *result.samples]
            stats.num_prompt_tokens += result.num_prompt_tokens
            stats.num_cached_tokens += result.num_cached_tokens
            stats.num_generated_tokens += sum(len(s.token_ids) for s in samples)
            if self.config.mode == "per_step":
                parsed = [[parse_choice(s, self._pieces(s))] for s in samples]
            else:
                parsed = [
                    parse_verdict_list(s, self._pieces(s), num_steps, self.kinds) for s in samples
                ]
        except BadCriticOutput as exc:
            stats.bad_outputs[exc.kind] += 1
            return [Verdict(label="unknown", confidence=None, rationale=str(exc))] * num_steps
        if len(parsed) == 1:
            return parsed[0]
        return [vote([p[i] for p in parsed]) for i in range(num_steps)]

    async def _per_step(self, trajs: list[Trajectory], stats: CritiqueStats) -> list[list[Verdict]]:
        requests = [[self._request(p) for p in self.renderer.per_step_prompts(t)] for t in trajs]
        results: list[list[GenerateResult | Exception | None]] = [[None] * len(r) for r in requests]
        fitting = [[i for i, r in enumerate(reqs) if self._fits(r)] for reqs in requests]
        first = [(t, ok[-1]) for t, ok in enumerate(fitting) if ok and self.config.prefix_warmup]
        warm = set(first)
        rest = [(t, i) for t, ok in enumerate(fitting) for i in ok if (t, i) not in warm]
        for wave in (first, rest):
            answers = await self.backend.generate([requests[t][i] for t, i in wave])
            for (t, i), answer in zip(wave, answers):
                results[t][i] = answer
            stats.num_requests += len(wave)
        return [
            [self._verdicts(result, 1, stats)[0] for result in per_traj] for per_traj in results
        ]

    async def _single_pass(
        self, trajs: list[Trajectory], stats: CritiqueStats
    ) -> list[list[Verdict]]:
        requests = [
            self._request(self.renderer.single_pass_prompt(t), json_steps=t.num_steps)
            for t in trajs
        ]
        wave = [i for i, r in enumerate(requests) if trajs[i].num_steps and self._fits(r)]
        answers = dict(zip(wave, await self.backend.generate([requests[i] for i in wave])))
        stats.num_requests += len(wave)
        return [
            self._verdicts(answers.get(i), t.num_steps, stats) if t.num_steps else []
            for i, t in enumerate(trajs)
        ]

    # ---- labelling ------------------------------------------------------------------------
    async def label_batch(self, trajs: list[Trajectory]) -> LabelledBatch:
        """Copies of `trajs` with critic (and rule) labels appended to every step."""
        stats = CritiqueStats(
            num_trajectories=len(trajs), num_steps=sum(t.num_steps for t in trajs)
        )
        replayed: list[list[list[StepLabel]]] | None = None
        shown = trajs  # what the critic's prompts are rendered from
        if self.replay is not None:  # sandboxes and test runs: off the event loop
            before = (self.replay.stats.sandbox_seconds, self.replay.stats.num_test_runs)
            replayed = await asyncio.to_thread(self.replay.label, trajs)
            stats.sandbox_seconds += self.replay.stats.sandbox_seconds - before[0]
            stats.num_test_runs += self.replay.stats.num_test_runs - before[1]
            if self.renderer.template.privileged:  # the prompt shows the reference patch
                shown = [self._with_reference(t, r) for t, r in zip(trajs, replayed)]
        if self.config.labels not in CRITIC_FREE_MODES:
            run = self._per_step if self.config.mode == "per_step" else self._single_pass
            verdicts = await run(shown, stats)
        else:
            verdicts = [[None] * t.num_steps for t in trajs]
        if replayed is None:
            replayed = [[[] for _ in t.steps] for t in trajs]
        return LabelledBatch(
            trajectories=[
                self._attach(t, v, r, stats) for t, v, r in zip(trajs, verdicts, replayed)
            ],
            stats=stats,
        )

    def _with_reference(self, traj: Trajectory, replayed: list[list[StepLabel]]) -> Trajectory:
        """A copy carrying its task's reference patch and the replay facts the prompt shows."""
        out = copy.deepcopy(traj)
        out.extra["reference_patch"] = self.replay.task_of(traj).patch
        for step, labels in zip(out.steps, replayed):
            step.labels.extend(labels)
        return out

    def label(self, trajectories: list[Trajectory]) -> list[list[StepLabel]]:
        """The `Critic` protocol: only the labels this critic added, per trajectory and step."""
        batch = asyncio.run(self.label_batch(trajectories))
        return [
            [s.labels[len(o.labels) :] for s, o in zip(t.steps, orig.steps)]
            for t, orig in zip(batch.trajectories, trajectories)
        ]

    def _attach(
        self,
        traj: Trajectory,
        verdicts: list[Verdict | None],
        replayed: list[list[StepLabel]],
        stats: CritiqueStats,
    ) -> Trajectory:
        mode = self.config.labels
        out = copy.deepcopy(traj)
        uses_rules = mode not in ("critic", *REPLAY_MODES)
        rules = rule_labels(traj) if uses_rules else [[] for _ in traj.steps]
        for step, verdict, fired, replay in zip(out.steps, verdicts, rules, replayed):
            critic = None
            if verdict is not None:
                critic = StepLabel(
                    label=verdict.label,
                    source="critic",
                    confidence=verdict.confidence,
                    model=self.model_name,
                    prompt_version=self.config.prompt_key,
                    rationale=verdict.rationale,
                )
                step.labels.append(critic)
            step.labels.extend(fired)
            step.labels.extend(replay)
            if mode in REPLAY_MODES:
                critic_kind = gated(critic, self.config.min_confidence)
                final = combine_replay(mode, replay[0] if replay else None, critic_kind)
            else:
                final = combine(mode, critic, fired)
            if mode == "rules":
                why = "; ".join(f"{r.model}: {r.rationale}" for r in fired) or "no rule fired"
                step.labels.append(
                    StepLabel(label=final, source="rule", model="rules", rationale=why)
                )
            elif mode not in ("critic", "replay"):
                # The final label of a combined mode: source critic, which masking reads before
                # the raw replay and rule labels it combined.
                step.labels.append(
                    StepLabel(
                        label=final,
                        source="critic",
                        confidence=critic.confidence if critic and final == critic.label else None,
                        model=COMBINED_PREFIX + mode,
                        prompt_version=self.config.prompt_key,
                        rationale=", ".join(r.model for r in [*fired, *replay]),
                    )
                )
            stats.labels[final] = stats.labels.get(final, 0) + 1
        return out
