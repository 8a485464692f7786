"""`_runs/<run_id>/metrics.json`: a run's figures as one JSON document for monitoring.

The document (written with the report, `write_metrics`):

    {"run_id": "...", "status": "succeeded", "started_at": "...", "finished_at": "...", "generated_at": "...",
     "config_fingerprint": "...",
     "headline": {"films_extracted": 6193, "matches": 812, "quarantined": 4, "seconds": 301.2, ...},
     "steps": {"05": {"name": "match_enrich", "status": "succeeded", "seconds": 88.1, "rows_in": ...,
                      "rows_out": ..., "quarantined": 0, "rejected": ..., "tables": {"gold/...": n},
                      "metrics": {...the step's own figures...}}, ...},
     "evaluation": {"sources": {"musicbrainz": {"precision": ..., "recall": ..., "f1": ...}},
                    "blocking": {...}}}          # only when the run was evaluated against labels

How a monitor ingests it: `python -m scripts_spark.ship_metrics --run-id <id>` (called by
`run_pipeline_safe.sh` after a successful cron run when LOG_ANALYTICS_ENDPOINT is set) turns every leaf into one
row of the custom Log Analytics table (Azure Monitor Logs Ingestion API, columns TimeGenerated = finished_at,
RunId, RunStatus, Step = the two-digit step under `steps`, Metric = the dotted path, Value for numbers and
booleans, Text for strings, Host). Long and narrow on purpose: a new step metric needs no change to the table
or the data collection rule, and a chart or alert is one KQL line, e.g.
`SoundtrackLakeRuns_CL | where Metric == "headline.matches" | project TimeGenerated, RunId, Value` or an alert on
`Metric == "headline.quarantined"` rising. Missing figures (a step that did not succeed) are left out, not 0.

`headline_figures(manifest)` is also what the report's history section shows for every earlier run, so the
report and the monitor always agree.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from .lake import Lake

# Each headline figure, with where it comes from in the manifest: (step, field, key inside a dict field).
HEADLINE_SOURCES: dict[str, tuple[str, str, str]] = {
    "films_extracted": ("01", "rows_out", ""),
    "releases_extracted": ("02", "rows_out", ""),
    "candidate_pairs": ("05", "rows_in", ""),
    "matches": ("05", "tables", "gold/film_soundtracks"),
    "reviews": ("05", "tables", "gold/review_queue"),
    "matched_films": ("06", "metrics", "films"),
}
RUN_TOTALS = ("quarantined", "rejected", "seconds")
STEP_FIELDS = ("name", "status", "seconds", "rows_in", "rows_out", "quarantined", "rejected", "tables", "metrics")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def headline_figures(manifest: dict) -> dict[str, float | None]:
    """The figures people watch from run to run; None where the step that makes one did not succeed."""
    steps = manifest.get("steps") or {}
    figures: dict[str, float | None] = {}
    for name, (number, field, key) in HEADLINE_SOURCES.items():
        step = steps.get(number) or {}
        value = step.get(field)
        if key:
            value = value.get(key) if isinstance(value, dict) else None
        figures[name] = _number(value) if step.get("status") == "succeeded" else None
    for total in RUN_TOTALS:
        figures[total] = float(sum(_number(s.get(total)) or 0.0 for s in steps.values()))
    figures["steps_failed"] = float(sum(s.get("status") == "failed" for s in steps.values()))
    return figures


def metrics_document(manifest: dict, evaluation: dict | None = None) -> dict[str, Any]:
    """The metrics.json document of one run (see the module docstring)."""
    doc: dict[str, Any] = {
        "run_id": manifest.get("run_id"),
        "status": manifest.get("status"),
        "started_at": manifest.get("started_at"),
        "finished_at": manifest.get("finished_at"),
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config_fingerprint": manifest.get("config_fingerprint"),
        "headline": {k: v for k, v in headline_figures(manifest).items() if v is not None},
        # Only the counting fields: notes and errors are prose for the report and the log, not metrics.
        "steps": {number: {k: step[k] for k in STEP_FIELDS if step.get(k) not in (None, {})}
                  for number, step in sorted((manifest.get("steps") or {}).items())},
    }
    if evaluation:
        doc["evaluation"] = {k: evaluation[k] for k in ("sources", "blocking", "original_rule") if k in evaluation}
    return doc


def write_metrics(lake: Lake, run_id: str, manifest: dict, evaluation: dict | None = None, spark=None) -> str:
    """Write `_runs/<run_id>/metrics.json` and return its path."""
    path = lake.run_file(run_id, "metrics.json")
    lake.write_text(path, json.dumps(metrics_document(manifest, evaluation), indent=1, sort_keys=True), spark)
    return path
