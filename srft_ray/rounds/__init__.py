"""Rounds: the collect -> critique -> train -> evaluate loop.

- config: `srft run`'s LoopConfig.
- loop: run_loop / run_round, the stages in order (their run state lives in srft_ray.runstate).
- stages: one stage's inputs hash, skip/resume decision and record.
- evaluation: held-out evaluation of a policy.
- ablate, stats, label_variants: `srft ablate`, its statistics and its label sources.
"""
