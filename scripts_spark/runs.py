"""What the run manifests say, for readers that hold no lock: a run's real status, the latest committed run, and
whether a run may be published.

A manifest left `running` by a process that is gone (SIGKILL, a power cut) is reported `interrupted`: its attempt
records the pid, the host and the start time of the process (and, on another host, its heartbeat), and the next
writer marks it for good (pipeline.recover).
"""
from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

from .lake_lock import holder_alive, read_holder

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from .lake import Lake


def read_manifest(lake: "Lake", run_id: str, spark: "SparkSession | None" = None) -> dict[str, Any] | None:
    text = lake.read_text(lake.run_file(run_id, "manifest.json"), spark)
    return json.loads(text) if text else None


def effective_status(doc: dict[str, Any] | None, lake: "Lake | None" = None,
                     spark: "SparkSession | None" = None) -> str:
    """The manifest's status, except that a `running` attempt whose process is gone is `interrupted`: on this host
    its pid is checked; an attempt on another host is alive while it holds the lake's lock with a fresh heartbeat.

    A manifest from before attempts were recorded names no process: its status is taken as written.
    """
    if not doc:
        return "missing"
    status = doc.get("status") or "missing"
    attempts = doc.get("attempts")
    if status != "running" or not attempts:
        return status
    attempt = attempts[-1]
    if attempt.get("host") != socket.gethostname() and lake is not None:
        holder = read_holder(lake, spark)
        alive = bool(holder and holder.get("attempt") == attempt.get("attempt") and holder_alive(holder))
    else:
        alive = holder_alive(attempt)
    return status if alive else "interrupted"


def committed_status(doc: dict[str, Any] | None) -> str | None:
    """`succeeded` or `incomplete` for the data a run holds; None when nothing trustworthy was committed.

    A manifest from before the commit protocol has no `committed` section: its `succeeded` is taken at its word.
    """
    if not doc:
        return None
    if "committed" in doc:
        return doc["committed"].get("status")
    if "attempts" not in doc and doc.get("status") == "succeeded":
        return "succeeded"
    return None


def latest_committed_run(lake: "Lake", spark: "SparkSession | None" = None) -> str | None:
    """The newest run id (by name: run ids are UTC timestamps) whose committed data is complete and consistent."""
    for run_id in reversed(lake.list_runs(spark)):
        if committed_status(read_manifest(lake, run_id, spark)) == "succeeded":
            return run_id
    return None


def publish_refusal(doc: dict[str, Any] | None, lake: "Lake | None" = None) -> str | None:
    """Why a run may not be published (None when it may): only committed, complete, consistent data goes out."""
    status = effective_status(doc, lake)
    if status == "running":
        return "status is 'running': an attempt is in flight"
    if committed_status(doc) != "succeeded":
        shown = doc["committed"].get("status") if doc and "committed" in doc else status
        return f"status is '{shown}', not 'succeeded'"
    return None
