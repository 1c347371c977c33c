"""Tasks: where SWE-bench rows and their repositories come from, and how patches are graded.

- source.py: JSONL / Parquet row files, `load_task_source`, checkouts at base_commit.
- pack.py: task packs (tasks.jsonl + repositories stored offline); "embedded" is the bundled one.
- grading.py: evaluate a patch in a sandbox and grade the log with swebench's own functions.
- validate.py / cli.py: `srft tasks list|validate`.
"""
