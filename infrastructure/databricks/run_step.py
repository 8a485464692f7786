"""Databricks entry point of one job task: `python run_step.py run --steps 03 --run-id ...` (spark_python_task).

The bundle syncs the repo's `scripts_spark/` next to this folder's parent (sync.paths in databricks.yml), so the
package is imported from the workspace files, not installed. Databricks already has a SparkSession when the task
starts; `main` makes it the active session, so `spark_session.get_spark` returns it and the cluster's
configuration (abfss:// credentials from the secret scope) applies. The arguments are the CLI's
(`python -m scripts_spark --help`); a non-zero exit fails the task, which stops the tasks that depend on it.
"""
from __future__ import annotations

import sys
from pathlib import Path


def repo_root() -> Path:
    """The folder that holds scripts_spark/: two levels up from this file, as in the git checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent.parent, *here.parents):
        if (candidate / "scripts_spark" / "__init__.py").exists():
            return candidate
    raise SystemExit(f"run_step: no scripts_spark/ above {here}; is sync.paths in databricks.yml deployed?")


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(repo_root()))
    from pyspark.sql import SparkSession

    # Make the cluster's own session the active one before the pipeline asks for a session: get_spark() then
    # reuses it instead of building one from SPARK_MASTER (whose default, local[*], means nothing on a cluster).
    SparkSession.builder.getOrCreate()
    from scripts_spark.__main__ import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
