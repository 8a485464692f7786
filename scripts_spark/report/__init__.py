"""The run report: `write_report(settings, run_id)` writes `<lake root>/_runs/<run_id>/report.html` (one
self-contained file: inline CSS and SVG charts, no scripts, opens with no network) and `metrics.json` next to it.

    gather.py   reads the run folder (manifest, evaluation) and the run's Gold tables; small aggregates only
    charts.py   matplotlib figures -> inline SVG (why matplotlib: see its docstring)
    html.py     the page: run summary, match quality, analytics, history
"""
from __future__ import annotations

from ..config import Settings
from ..lake import Lake
from ..log import get_logger
from ..metrics import write_metrics


def write_report(settings: Settings, run_id: str) -> str:
    """Write the run's report.html and metrics.json; return the report's path."""
    from ..spark_session import get_spark
    from .gather import gather
    from .html import render

    spark = get_spark(settings)
    lake = Lake(settings.lake_root)
    data = gather(settings, run_id, spark)
    metrics_path = write_metrics(lake, run_id, data.manifest, data.evaluation, spark)
    path = lake.run_file(run_id, "report.html")
    lake.write_text(path, render(data), spark)
    get_logger(run_id).info("report_written", path=path, metrics=metrics_path,
                            matched_films=data.analytics.matched_films, history_runs=len(data.history))
    return path
