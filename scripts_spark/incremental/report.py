"""What a run changed, and what the next run would do: the report's section and the dry run's lines.

`what_changed(lake_root, run_id, manifest)` reads the run's events from gold/link_history (pyarrow, no Spark) and the
run's incremental summary from its manifest; `changes_section` renders them for the report (report/html.py);
`dry_run_lines(settings, steps)` says which mode a run would take and, for a local lake in incremental mode, how many
records of each source the input folder adds, edits and deletes (plain Python: the dry run starts no Spark); a
source whose files are those the state was built from is named as the run would leave it, unread.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Settings

TOP_CHANGES = 10   # links listed in the report's "what changed" table: the largest moves first
EVENT_ORDER = ("moved", "added", "removed", "decision_changed", "score_changed")


@dataclass
class RunChanges:
    mode: str | None
    reason: str | None
    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: Counter = field(default_factory=Counter)             # (event, source) -> links
    reasons: Counter = field(default_factory=Counter)            # reason -> links
    top: list[dict] = field(default_factory=list)
    rescored: dict[str, int] = field(default_factory=dict)


def _history_rows(lake_root: str, run_id: str) -> list[dict]:
    import pyarrow.parquet as pq

    folder = Path(lake_root, "gold", "link_history", f"run_id={run_id}")
    rows: list[dict] = []
    for path in sorted(folder.rglob("*.parquet")) if folder.exists() else []:
        rows += [r for r in pq.read_table(path).to_pylist() if r["event_run_id"] == run_id]
    return rows


def what_changed(lake_root: str, run_id: str, manifest: dict[str, Any]) -> RunChanges:
    """The run's mode, its sources' added / edited / deleted records, and its link events (counts and the top)."""
    summary = manifest.get("incremental") or {}
    out = RunChanges(summary.get("mode"), summary.get("reason"), summary.get("feeds") or {},
                     rescored=summary.get("rescored") or {})
    if "://" in lake_root and not lake_root.startswith("file://"):
        return out
    rows = _history_rows(lake_root.removeprefix("file://"), run_id)
    out.events = Counter((r["event"], r["source"]) for r in rows)
    out.reasons = Counter(r["reason"] for r in rows)

    def weight(r: dict) -> tuple:
        moved = abs((r.get("match_score") or 0.0) - (r.get("previous_match_score") or 0.0))
        return (EVENT_ORDER.index(r["event"]), -moved, r["source"], r["release_id"], r["release_kind"])

    out.top = sorted(rows, key=weight)[:TOP_CHANGES]
    return out


# --- dry run ------------------------------------------------------------------------------------------------
XML_ID = re.compile(rb'^<(?:master|release) id="([^"]*)"')


def dry_run_lines(settings: "Settings", steps: list[str]) -> list[str]:
    """Which mode a run of `steps` would take, and (incremental, local lake) what the input folder changes."""
    from ..lake import Lake
    from .plan import INCREMENTAL, decide_mode
    from .state import StateStore, fingerprint

    lake = Lake(settings.lake_root)
    if lake.is_remote:
        return ["mode: decided when the run starts (remote lake: its state is read through Spark)"]
    base = StateStore(lake).current()
    mode, reason = decide_mode(settings, base, steps, fingerprint(settings))
    lines = [f"mode: {mode} ({reason})"]
    if mode != INCREMENTAL:
        return lines
    changes = snapshot_changes(settings, lake, base)
    for feed, counts in changes.items():
        if counts is None:
            lines.append(f"  {feed}: no input in this folder: left as it is")
        elif "unread_since" in counts:
            lines.append(f"  {feed}: unchanged files, not read (as run {counts['unread_since']} read them)")
        else:
            lines.append(f"  {feed}: " + ", ".join(f"{counts[k]:,} {k}" for k in ("added", "edited", "deleted",
                                                                                  "unchanged")))
    if all(counts is None or "unread_since" in counts for counts in changes.values()):
        lines.append(carry_line(lake, base, settings, steps))
    return lines


def carry_line(lake, base, settings: "Settings", steps: list[str]) -> str:
    """What a run of `steps` with no input change would do (incremental/carry.py), as the dry run says it."""
    from ..review.store import read_lake_decisions
    from .carry import verdicts_fingerprint
    from .plan import carry_settings

    last = max(n for n in steps if n <= "06")
    recommender = " (07 too when its MovieLens files and settings are unchanged)" if "07" in steps else ""
    if base.meta.get("carry_settings") != carry_settings(settings):
        return (f"  no input changed, but run {base.run_id} ran with other settings or code (or left no record of "
                f"them): steps 03-{last} run on the state")
    if base.meta.get("decisions") != verdicts_fingerprint(read_lake_decisions(lake)):
        return (f"  no input changed: steps 03-04 carry run {base.run_id}'s tables over by file copy; review "
                "verdicts were given since, so step 05 decides those releases again" + (
                    " and 06 follows" if last == "06" else ""))
    return f"  nothing changed since run {base.run_id}: steps 03-{last}{recommender} carry its tables over by file copy"


def snapshot_changes(settings: "Settings", lake, base) -> dict[str, dict[str, Any] | None]:
    """Per feed: records the input folder adds, edits and deletes against the state's registry (as step 01/02 would
    count them; None for a feed without input files; {"unread_since": run} for a feed whose files are those the
    state was built from, which steps 01-02 would not read either, and whose records are not hashed here)."""
    import pyarrow.parquet as pq

    from .feed_files import fingerprint_files, unchanged_since
    from .state import StateStore

    store = StateStore(lake)
    out: dict[str, dict[str, Any] | None] = {}
    for feed, files, read in _feeds(settings):
        if not files:
            out[feed] = None
            continue
        record = unchanged_since(base, feed, fingerprint_files(settings.input_dir, files))
        if record is not None:
            out[feed] = {"unread_since": record["run"]}
            continue
        table = f"registry_{feed}"
        old: dict[str, Counter] = {}
        if table in base.tables:
            for row in pq.read_table(store.table_path(base, table), columns=["record_id", "sha", "deleted_run"]) \
                    .to_pylist():
                if row["deleted_run"] is None:
                    old.setdefault(row["record_id"], Counter())[row["sha"]] += 1
        new: dict[str, Counter] = {}
        for record_id, sha in read():
            new.setdefault(record_id, Counter())[sha] += 1
        changed = [i for i in new if new[i] != old.get(i)]
        added = sum(1 for i in changed if i not in old)
        deleted = sum(1 for i in old if i not in new)
        out[feed] = {"added": added, "edited": len(changed) - added, "deleted": deleted,
                     "unchanged": len(old) - (len(changed) - added) - deleted}
    return out


def _feeds(settings: "Settings") -> Iterator[tuple[str, list[str], Callable[[], Iterator[tuple[str, str]]]]]:
    """(feed, its input files, the reader of their (record id, sha)) per feed read from files."""
    from ..sources.discogs import dump_kind
    from ..sources.inputs import input_files

    if settings.tmdb_mode == "file":
        files = input_files(settings.input_dir, "tmdb")
        yield "tmdb", files, partial(_json_records, files, None)
    files = input_files(settings.input_dir, "musicbrainz")
    yield "musicbrainz", files, partial(_json_records, files,
                                        "soundtrack" if settings.musicbrainz_soundtrack_filter else None)
    dumps = input_files(settings.input_dir, "discogs_dump")
    for kind in ("masters", "releases"):
        files = [p for p in dumps if dump_kind(p) == kind]
        yield f"discogs_{kind}", files, partial(_dump_records, files, kind, not settings.discogs_soundtrack_filter)
    pages = input_files(settings.input_dir, "discogs_search")
    yield "discogs_search", pages, partial(_pages, pages)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_records(files: list[str], prefilter: str | None) -> Iterator[tuple[str, str]]:
    from ..sources.bronze import classify_line, iter_lines

    for path in files:
        for _number, offset, raw in iter_lines(path):
            if not raw.strip():
                continue
            payload, pre, _hint = classify_line(raw, offset, prefilter)
            if payload is None or pre is not None:
                continue
            sha = _sha(payload)
            try:
                found = json.loads(payload).get("id")
            except (ValueError, AttributeError):
                found = None
            yield (_json_id_text(found) if found not in (None, "") else f"sha:{sha}"), sha


def _json_id_text(value: Any) -> str:
    """What Spark's get_json_object gives for the id: a string as is, any other value as JSON text."""
    return value if isinstance(value, str) else json.dumps(value)


def _dump_records(files: list[str], kind: str, keep_unmarked: bool) -> Iterator[tuple[str, str]]:
    from ..sources.discogs import DUMP_KINDS, SOUNDTRACK_MARKERS, iter_dump_record_bytes, open_dump

    element = DUMP_KINDS[kind]
    markers = [m.encode() for m in SOUNDTRACK_MARKERS]
    close = f"</{element}>".encode()
    for path in files:
        with open_dump(path) as stream:
            for raw in iter_dump_record_bytes(stream, element):
                if not raw.endswith(close) or not (keep_unmarked or any(m in raw for m in markers)):
                    continue
                text = raw.decode("utf-8", "replace")
                sha = _sha(text)
                found = XML_ID.match(raw)
                yield ((found.group(1).decode() if found and found.group(1) else f"sha:{sha}"), sha)


def _pages(files: list[str]) -> Iterator[tuple[str, str]]:
    for path in files:
        text = Path(path).read_text(encoding="utf-8")
        found = re.search(r"/discogs/search/(.+)$", Path(path).absolute().as_posix())
        yield (found.group(1) if found else path), _sha(text)
