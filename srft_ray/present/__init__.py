"""Presentation: what a person reads of a run.

- progress: the per-stage progress line and the one-screen round summary.
- report: `srft report RUN_DIR`, one self-contained HTML page (svg_plots draws its charts,
  ablation_report its `srft ablate` section).
- viewer: `srft view`, a trajectory's tokens with the trained ones highlighted.
"""
