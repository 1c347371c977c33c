"""Import and export of agent trajectories: mini-swe-agent ("mini-swe-agent-1.1") JSON both
ways, SWE-agent `.traj` in, SWE-bench `preds.json` out. CLI: `srft import` / `srft export`."""

from srft_ray.formats.batch import (
    IMPORT_FORMATS,
    ImportReport,
    detect_format,
    expand_paths,
    import_file,
    import_files,
)
from srft_ray.formats.minisweagent import parse_action, read_minisweagent
from srft_ray.formats.minisweagent_export import (
    export_minisweagent,
    trajectory_to_minisweagent,
    write_minisweagent,
)
from srft_ray.formats.preds import PredsReport, predictions, write_preds
from srft_ray.formats.sweagent import read_sweagent

__all__ = [
    "IMPORT_FORMATS",
    "ImportReport",
    "PredsReport",
    "detect_format",
    "expand_paths",
    "export_minisweagent",
    "import_file",
    "import_files",
    "parse_action",
    "predictions",
    "read_minisweagent",
    "read_sweagent",
    "trajectory_to_minisweagent",
    "write_minisweagent",
    "write_preds",
]
