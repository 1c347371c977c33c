"""Rounds: the collect -> critique -> train -> evaluate loop and the bookkeeping around it.

- layout: the run directory (RUN_DIR/round-NNN/...), the metric names stages record, train
  metrics JSONL.
- hashing: content hashes of stores, model folders and configs; atomic JSON writes.
- manifest: RunManifest (run.json) and RoundManifest (per round, per stage: status, input and
  output hashes, metrics, attempts); a restarted loop skips what finished on the same inputs.
- progress: the per-stage progress counter and the one-screen round summary.
- report: `srft report RUN_DIR`, one self-contained HTML page (svg_plots draws its charts).
- config, loop, evaluation, ablate: `srft run`'s config and loop, held-out evaluation,
  `srft ablate`.
"""
