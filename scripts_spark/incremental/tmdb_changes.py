"""TMDB API mode without a nightly full walk: the films changed since the last run, and the export's new and gone ids.

A full run walks the catalogue (sources/tmdb.py `extract_api`) and records the day it ran as the state's watermark.
An incremental run asks `/movie/changes` for every day since the watermark, in windows of at most 14 days (TMDB's
limit), page by page; each window is one checkpoint unit, so a run killed half way asks only for the windows it had
not finished when it is run again. With a daily id export (TMDB_ID_EXPORT), ids in the export but not in the state
are new films, and ids in the state but gone from the export were deleted. Details are fetched only for changed and
new ids (the same batched, checkpointed, rate-limited fetch as the full walk); a changed id the export no longer
lists is a deletion, not a fetch. A repeated id is fetched once; an id the state never had is fetched as a new film
(a 404 there is a reject, as in a full walk); a 404 for a film the state holds is a deletion. An error that outlives
the HTTP client's retries (429, 5xx, timeouts: sources/http.py) fails the step: the state stays where it was and the
watermark does not move.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .extract import ApiDelta
from .plan import plan_of
from .state import REGISTRY_SCHEMA

if TYPE_CHECKING:  # pragma: no cover
    from ..base_step import StepContext
    from ..sources.checkpoint import Checkpoint
    from ..sources.tmdb import TmdbClient

WINDOW_DAYS = 14            # TMDB answers at most 14 days per /movie/changes request
MAX_CHANGES_PAGES = 1000    # the pages TMDB serves per request (100 ids a page); a longer window is split in two


@dataclass(frozen=True)
class ChangeWindow:
    start: date
    end: date

    @property
    def key(self) -> str:
        return f"{self.start.isoformat()}_{self.end.isoformat()}"


def change_windows(since: date, until: date, days: int = WINDOW_DAYS) -> list[ChangeWindow]:
    """Consecutive inclusive windows of at most `days` days covering since..until (the watermark day included:
    a film changed on it after the last run started is asked for again, and a repeat costs nothing)."""
    out, start = [], since
    while start <= until:
        end = min(until, start + timedelta(days=days - 1))
        out.append(ChangeWindow(start, end))
        start = end + timedelta(days=1)
    return out


def changes_page(client: "TmdbClient", window: ChangeWindow, page: int) -> dict[str, Any]:
    return client.http.get_json(f"{client.base_url}/movie/changes", params={
        "start_date": window.start.isoformat(), "end_date": window.end.isoformat(), "page": page}).data


def changed_ids(client: "TmdbClient", checkpoint: "Checkpoint", since: date, until: date, log) -> list[int]:
    """Distinct ids the changes feed names from `since` to `until`, window by window (each a checkpoint unit)."""
    from ..sources.http import Progress

    progress = Progress(log, "tmdb changes pages")
    ids: set[int] = set()
    pending = change_windows(since, until)
    while pending:
        window = pending.pop(0)
        if checkpoint.is_done("changes", window.key):
            ids.update(json.loads(checkpoint.read_unit("changes", window.key)[0])["ids"])
            continue
        first = changes_page(client, window, 1)
        total = int(first.get("total_pages") or 0)
        if total > MAX_CHANGES_PAGES and window.end > window.start:
            middle = window.start + timedelta(days=(window.end - window.start).days // 2)
            pending[:0] = [ChangeWindow(window.start, middle), ChangeWindow(middle + timedelta(days=1), window.end)]
            continue
        found = _ids_of(first)
        for page in range(2, min(total, MAX_CHANGES_PAGES) + 1):
            found += _ids_of(changes_page(client, window, page))
            progress.advance()
        progress.advance()
        if total > MAX_CHANGES_PAGES:
            log.warning("tmdb_changes_truncated", window=window.key, total_pages=total, kept_pages=MAX_CHANGES_PAGES)
        checkpoint.stage("changes", window.key, [json.dumps({"window": window.key, "ids": sorted(set(found)),
                                                             "total_pages": total})])
        ids.update(found)
    progress.report(final=True)
    return sorted(ids)


def _ids_of(page: dict[str, Any]) -> list[int]:
    out = []
    for result in page.get("results") or []:
        value = result.get("id") if isinstance(result, dict) else None
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            out.append(int(value))
    return out


def extract_api(ctx: "StepContext", client: "TmdbClient", checkpoint: "Checkpoint",
                today: date | None = None) -> tuple[dict[str, Any], ApiDelta | None]:
    """Step 01's API extract: the full walk (no plan, or a full run), else the changes since the watermark.
    Returns the figures and, for an incremental run, the deleted ids (`select_changed(..., delta=...)`)."""
    from ..sources import tmdb
    from ..sources.checkpoint import fetch_in_batches

    s, log = ctx.settings, ctx.log
    today = today or datetime.now(timezone.utc).date()
    plan = plan_of(ctx)
    if plan is None or not plan.incremental:
        metrics = tmdb.extract_api(client, checkpoint, s, log, today=today)
        if plan is not None:
            plan.note("tmdb_watermark", today.isoformat())
        return metrics, None

    since = date.fromisoformat(plan.base.meta["tmdb_watermark"])
    known = _known_ids(plan)
    changed = changed_ids(client, checkpoint, since, today, log)
    deleted: set[int] = set()
    new: list[int] = []
    if s.tmdb_id_export:
        listed = set(tmdb.read_id_export(s.tmdb_id_export))
        deleted = known - listed
        new = sorted(listed - known)
        changed = [i for i in changed if i in listed or i not in known]
    fetch = sorted((set(changed) | set(new)) - deleted)
    metrics: dict[str, Any] = {"id_source": "changes", "since": since.isoformat(), "until": today.isoformat(),
                               "changed_ids": len(changed), "new_ids_in_export": len(new),
                               "gone_from_export": len(deleted), "resumed": checkpoint.resumed}
    metrics.update(fetch_in_batches(checkpoint, "details", fetch, client.movie_details, log, what="tmdb films",
                                    batch_size=tmdb.DETAIL_BATCH, workers=tmdb.DETAIL_WORKERS))
    not_found = {int(json.loads(line)["ref"]) for unit in checkpoint.units("details")
                 for line in checkpoint.read_unit("details", unit) if json.loads(line).get("reason")}
    deleted |= not_found & known
    metrics.update(http_requests_this_run=client.http.requests_sent, http_retries_this_run=client.http.retries,
                   deleted=len(deleted))
    plan.note("tmdb_watermark", today.isoformat())
    return metrics, ApiDelta({str(i) for i in deleted})


def _known_ids(plan) -> set[int]:
    """The film ids the state holds (the registry's live rows), collected to the driver."""
    from pyspark.sql import functions as F

    registry = plan.read_base("registry_tmdb", REGISTRY_SCHEMA)
    return {int(r["record_id"]) for r in registry.where(F.col("deleted_run").isNull()
                                                        & F.col("record_id").rlike(r"^\d+$"))
            .select("record_id").distinct().collect()}
