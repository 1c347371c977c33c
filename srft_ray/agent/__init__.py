"""The bash-only, linear-history SWE agent (mini-swe-agent compatible) and its policies.

- config.AgentConfig: limits and which mini-swe-agent templates to speak.
- actions: mini-swe-agent's templates, action parsing and observation formatting, reused.
- agent_loop.run_episode: one episode in a sandbox -> Trajectory (exact token ids per step).
- scripted.ScriptedTeacher: a deterministic, deliberately flawed teacher with step labels.
- policies: "vllm" | "openai" | "scripted" (the POLICIES map) behind PolicyProvider.for_episode.
- episode.EpisodeRunner: checkout + sandbox + loop + grading (what a rollout worker holds).
"""
