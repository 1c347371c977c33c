"""Run state: what a run directory holds and what lets a restarted loop resume.

- layout: the run directory (RUN_DIR/round-NNN/...), the metric names stages record, train
  metrics JSONL.
- hashing: content hashes of stores, model folders and configs; atomic JSON writes.
- manifest: RoundManifest (per round, per stage: status, input and output hashes, metrics,
  attempts); a restarted loop skips what finished on the same inputs.
- run_manifest: RunManifest (RUN_DIR/run.json): the run's config and the rounds it started.
"""
