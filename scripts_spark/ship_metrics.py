"""Ship a run's `_runs/<run_id>/metrics.json` to Log Analytics through the Logs Ingestion API.

    python -m scripts_spark.ship_metrics --run-id ID [--lake-root DIR] [--dry-run]

run_pipeline_safe.sh calls this after a successful run when LOG_ANALYTICS_ENDPOINT is set. The call is
`POST {DCE}/dataCollectionRules/{DCR immutable id}/streams/{stream}?api-version=2023-01-01` with a bearer token
for https://monitor.azure.com (the VM's managed identity, which Bicep gives "Monitoring Metrics Publisher" on
the DCR only) and a gzip'd JSON array of rows whose columns are `STREAM_COLUMNS`, the same list that the DCR's
stream declaration and the custom table hold in infrastructure/modules/monitoring.bicep (a test keeps them equal).

Rows are long-format, one per leaf of metrics.json (`Metric` = the dotted path, `Value` for numbers and
booleans, `Text` for strings), so the table does not change when a step adds a metric, and a KQL query such as
`SoundtrackLakeRuns_CL | where Metric == "steps.05.rows_out" | render timechart` charts any figure over runs.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import socket
import sys
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import requests

from .config import ConfigError, Settings
from .lake import Lake, LakeError, validate_run_id
from .log import configure_logging, get_logger, redact

LOGS_INGESTION_API_VERSION = "2023-01-01"
# (column, Log Analytics type); monitoring.bicep declares exactly these for the stream and the table.
STREAM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("TimeGenerated", "datetime"),
    ("RunId", "string"),
    ("RunStatus", "string"),
    ("Step", "string"),
    ("Metric", "string"),
    ("Value", "real"),
    ("Text", "string"),
    ("Host", "string"),
)
# The API takes at most 1 MB per call; stay under it with room for the JSON array's brackets and commas.
MAX_BATCH_BYTES = 900_000
# A free-text leaf (a note, a path) is context, not a document: keep rows small.
TEXT_MAX_CHARS = 1024
_STEP_SEGMENT = re.compile(r"^(\d{2})(?:_\w+)?$")  # '05' or '05_match_enrich' under 'steps'


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, str(i)))
    elif node is not None:
        yield path, node


def _step_of(path: tuple[str, ...]) -> str:
    for parent, segment in zip(path, path[1:]):
        match = _STEP_SEGMENT.match(segment)
        if parent == "steps" and match:
            return match.group(1)
    return ""


def metrics_rows(metrics: dict[str, Any], run_id: str, status: str, time_generated: str, host: str) -> list[dict]:
    """One stream row per leaf of the metrics document (numbers and booleans in Value, strings in Text)."""
    rows = []
    for path, value in _leaves(metrics):
        number = float(value) if isinstance(value, (int, float)) else None  # bool is an int: True -> 1.0
        text = None if number is not None else str(value)[:TEXT_MAX_CHARS]
        rows.append({"TimeGenerated": time_generated, "RunId": run_id, "RunStatus": status, "Step": _step_of(path),
                     "Metric": ".".join(path), "Value": number, "Text": text, "Host": host})
    return rows


def batches(rows: list[dict], max_bytes: int = MAX_BATCH_BYTES) -> list[list[dict]]:
    """Split rows into calls whose JSON stays under max_bytes."""
    out: list[list[dict]] = []
    current: list[dict] = []
    size = 2
    for row in rows:
        row_bytes = len(json.dumps(row).encode()) + 1
        if current and size + row_bytes > max_bytes:
            out.append(current)
            current, size = [], 2
        current.append(row)
        size += row_bytes
    if current:
        out.append(current)
    return out


def ingestion_url(settings: Settings) -> str:
    missing = [key for key, value in (("LOG_ANALYTICS_ENDPOINT", settings.log_analytics_endpoint),
                                      ("LOG_ANALYTICS_RULE_ID", settings.log_analytics_rule_id),
                                      ("LOG_ANALYTICS_STREAM", settings.log_analytics_stream)) if not value]
    if missing:
        raise ConfigError(f"{', '.join(missing)} empty: set them from the Bicep outputs to ship metrics")
    return (f"{settings.log_analytics_endpoint.rstrip('/')}/dataCollectionRules/{settings.log_analytics_rule_id}"
            f"/streams/{settings.log_analytics_stream}?api-version={LOGS_INGESTION_API_VERSION}")


def _run_documents(lake: Lake, run_id: str) -> tuple[dict | None, dict]:
    metrics_text = lake.read_text(lake.run_file(run_id, "metrics.json"))
    manifest_text = lake.read_text(lake.run_file(run_id, "manifest.json"))
    return (json.loads(metrics_text) if metrics_text else None), (json.loads(manifest_text) if manifest_text else {})


def run_rows(settings: Settings, run_id: str) -> list[dict] | None:
    """The rows for one run, or None when the run has no metrics.json."""
    lake = Lake(settings.lake_root)
    if lake.is_remote:
        raise ConfigError("ship_metrics reads a local lake's run folder (the VM); on Databricks use the job's "
                          "own run history or read metrics.json with Spark")
    metrics, manifest = _run_documents(lake, validate_run_id(run_id))
    if metrics is None:
        return None
    stamp = (metrics.get("finished_at") or metrics.get("generated_at") or manifest.get("finished_at")
             or datetime.now(timezone.utc).isoformat(timespec="seconds"))
    status = str(metrics.get("status") or manifest.get("status") or "")
    return metrics_rows(metrics, run_id, status, stamp, socket.gethostname())


def post_rows(url: str, rows: list[dict], bearer: str, session: requests.Session,
              timeout: tuple[float, float]) -> requests.Response:
    body = gzip.compress(json.dumps(rows, separators=(",", ":")).encode("utf-8"))
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    return session.post(url, data=body, headers=headers, timeout=timeout)


def ship_metrics(settings: Settings, run_id: str, token_provider: Callable[[], str] | None = None,
                 session: requests.Session | None = None, max_batch_bytes: int = MAX_BATCH_BYTES) -> int:
    """Post the run's metrics rows; 0 when every batch was accepted, 1 otherwise (the reason is printed)."""
    from .azure_auth import MONITOR_SCOPE, AzureAuthError, credential_from_settings, http_session

    log = get_logger(run_id)
    url = ingestion_url(settings)
    rows = run_rows(settings, run_id)
    if rows is None:
        print(f"ship_metrics: run {run_id} has no metrics.json in {settings.lake_root}/_runs/{run_id}; nothing shipped")
        return 1
    if token_provider is None:
        credential = credential_from_settings(settings)
        token_provider = lambda: credential.bearer(MONITOR_SCOPE)  # noqa: E731 - deferred until rows exist
    session = session or http_session(settings.http_max_retries, settings.http_backoff_s, (429, 500, 502, 503, 504))
    timeout = (settings.http_connect_timeout_s, settings.http_read_timeout_s)
    try:
        bearer = token_provider()
        for batch in batches(rows, max_batch_bytes):
            response = post_rows(url, batch, bearer, session, timeout)
            if not 200 <= response.status_code < 300:
                hint = (" (the identity needs 'Monitoring Metrics Publisher' on the data collection rule)"
                        if response.status_code in (401, 403) else "")
                print(f"ship_metrics: Logs Ingestion API answered {response.status_code}{hint}: "
                      f"{redact(response.text[:300])}")
                log.error("metrics_ship_failed", status=response.status_code)
                return 1
    except (AzureAuthError, requests.RequestException) as exc:
        print(f"ship_metrics: {redact(str(exc))[:300]}")
        log.error("metrics_ship_failed", error=type(exc).__name__)
        return 1
    log.info("metrics_shipped", rows=len(rows), stream=settings.log_analytics_stream)
    print(f"ship_metrics: {len(rows)} rows of run {run_id} sent to {settings.log_analytics_stream}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .config import load_settings

    parser = argparse.ArgumentParser(prog="python -m scripts_spark.ship_metrics",
                                     description="Send a run's metrics.json to Log Analytics (Logs Ingestion API).")
    parser.add_argument("--run-id", help="run to ship (default: the newest run in the lake)")
    parser.add_argument("--lake-root", help="lake root folder (default: LAKE_ROOT or data/lake)")
    parser.add_argument("--dry-run", action="store_true", help="print the rows as JSON lines; send nothing")
    parser.add_argument("--imds-endpoint", help=argparse.SUPPRESS)  # tests: a local fake managed-identity endpoint
    args = parser.parse_args(argv)
    try:
        settings = load_settings(lake_root=args.lake_root)
        configure_logging(settings.log_level)
        run_id = args.run_id or (Lake(settings.lake_root).list_runs() or [""])[-1]
        if not run_id:
            raise ConfigError(f"no runs in the lake at {settings.lake_root}")
        if args.dry_run:
            rows = run_rows(settings, run_id)
            for row in rows or []:
                print(json.dumps(row))
            return 0 if rows is not None else 1
        token_provider = None
        if args.imds_endpoint:
            from .azure_auth import MONITOR_SCOPE, credential_from_settings

            credential = credential_from_settings(settings, imds_endpoint=args.imds_endpoint)
            token_provider = lambda: credential.bearer(MONITOR_SCOPE)  # noqa: E731
        return ship_metrics(settings, run_id, token_provider)
    except (ConfigError, LakeError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
