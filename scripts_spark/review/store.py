"""The decisions store: every verdict a person gives, durable the moment it is acknowledged, never rewritten.

`<lake root>/review/decisions/<decision_id>.json`, one small file per verdict (columns: tables/review.py). A verdict
is written to a hidden temporary file, flushed and fsynced, then renamed into place and the folder fsynced: a reader
(or step 05) sees the whole record or nothing, whenever the writer dies. Temporary files start with '.', which Spark
and this module skip. The store sits outside the run partitions and outside the lake lock: verdicts only ever add
files with new names, so the page can stay open while a run commits, and the run reads the verdicts present when
step 05 starts.

How verdicts become links (`effective_verdicts`, the one rule step 05, the page and the report share):
- `accept` accepts the pair shown, `reject` rejects it, `another_film` rejects it and accepts (release, chosen film);
- the latest verdict of each pair wins (by `decided_at`, then `decision_id`); every verdict stays in the store;
- a release belongs to one film: of its accepted pairs only the latest stays accepted, the others count as rejected.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ..tables.review import RELEASE_KINDS, SOURCES, VERDICTS

STORE = ("review", "decisions")
AUDITS = ("review", "audits")
KIND_OF_SOURCE = {"musicbrainz": ("release_group",), "discogs": ("master", "release")}
# A temporary file this old belongs to a writer that died (a write takes milliseconds); the server sweeps them.
STALE_TMP_S = 3600


class DecisionError(ValueError):
    """A verdict that cannot be recorded; the message says which field and why."""


@dataclass(frozen=True, order=True)
class Pair:
    source: str
    release_kind: str
    release_id: str
    tmdb_id: int

    @property
    def release(self) -> tuple[str, str, str]:
        return (self.source, self.release_kind, self.release_id)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "release_kind": self.release_kind, "release_id": self.release_id,
                "tmdb_id": self.tmdb_id}


def pair_of(record: dict[str, Any]) -> Pair:
    return Pair(record["source"], record["release_kind"], str(record["release_id"]), int(record["tmdb_id"]))


def utc_stamp(now: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if now is None else now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise DecisionError(f"{field} must be a positive integer, not {value!r}")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise DecisionError(f"{field} must be a positive integer, not {value!r}") from None
    if number <= 0:
        raise DecisionError(f"{field} must be a positive integer, not {value!r}")
    return number


def check_pair(source: Any, release_kind: Any, release_id: Any, tmdb_id: Any) -> Pair:
    if source not in SOURCES:
        raise DecisionError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    if release_kind not in RELEASE_KINDS or release_kind not in KIND_OF_SOURCE[source]:
        raise DecisionError(f"release_kind of a {source} release must be {' or '.join(KIND_OF_SOURCE[source])}, "
                            f"not {release_kind!r}")
    if not isinstance(release_id, (str, int)) or not str(release_id).strip() or len(str(release_id)) > 100:
        raise DecisionError(f"release_id must be a non-empty id of at most 100 characters, not {release_id!r}")
    return Pair(source, release_kind, str(release_id).strip(), _positive_int(tmdb_id, "tmdb_id"))


def new_decision(pair: Pair, verdict: str, *, reviewer: str, chosen_tmdb_id: Any = None, run_id: str | None,
                 matcher_version: str | None, match_score: float | None, model_decision: str | None,
                 sample: str = "queue", via: str = "page", now: float | None = None) -> dict[str, Any]:
    """A checked decision record (tables/review.py DECISIONS), ready for `DecisionStore.append`."""
    pair = check_pair(pair.source, pair.release_kind, pair.release_id, pair.tmdb_id)
    if verdict not in VERDICTS:
        raise DecisionError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    chosen = None
    if verdict == "another_film":
        chosen = _positive_int(chosen_tmdb_id, "chosen_tmdb_id")
        if chosen == pair.tmdb_id:
            raise DecisionError("another_film must name a film other than the one shown (use accept)")
    elif chosen_tmdb_id not in (None, ""):
        raise DecisionError(f"chosen_tmdb_id is only given with another_film, not with {verdict}")
    if not reviewer or not str(reviewer).strip() or len(str(reviewer)) > 100:
        raise DecisionError("reviewer must be a name of 1-100 characters")
    if match_score is not None and not (isinstance(match_score, (int, float)) and 0 <= match_score <= 1
                                        and not math.isnan(match_score)):
        raise DecisionError(f"match_score must be between 0 and 1, not {match_score!r}")
    if model_decision not in (None, "match", "review"):
        raise DecisionError(f"model_decision must be match or review, not {model_decision!r}")
    if sample not in ("queue", "audit") or via not in ("page", "csv"):
        raise DecisionError(f"sample must be queue or audit and via page or csv, not {sample!r} / {via!r}")
    now = time.time() if now is None else now
    decided_at = utc_stamp(now)
    compact = decided_at.replace("-", "").replace(":", "").replace(".", "")
    return {"decision_id": f"{compact}-{secrets.token_hex(6)}", "decided_at": decided_at,
            "reviewer": str(reviewer).strip(), **pair.as_dict(), "verdict": verdict, "chosen_tmdb_id": chosen,
            "run_id": run_id, "matcher_version": matcher_version,
            "match_score": None if match_score is None else float(match_score), "model_decision": model_decision,
            "sample": sample, "via": via}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(folder: Path, name: str, text: str) -> Path:
    """Write `folder/name` so that it exists whole or not at all, and survives a crash once this returns."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    tmp = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    with open(tmp, "x", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    _fsync_dir(folder)
    return target


def local_root(lake_root: str) -> Path:
    """The review page and CSV import read the lake with pyarrow and write plain files: a local lake only."""
    if "://" in lake_root and not lake_root.startswith("file://"):
        raise DecisionError(f"the review tools work on a local lake; {lake_root} is remote (review on a local copy "
                            "of the run, or on the machine that holds the lake)")
    return Path(lake_root.removeprefix("file://")).resolve()


class DecisionStore:
    def __init__(self, lake_root: str):
        self.root = local_root(lake_root)
        self.folder = self.root.joinpath(*STORE)

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        write_durably(self.folder, f"{record['decision_id']}.json", json.dumps(record, sort_keys=True))
        return record

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.suffix == ".json" and not p.name.startswith("."))

    def read_all(self) -> list[dict[str, Any]]:
        """Every verdict, oldest first."""
        records = [json.loads(p.read_text(encoding="utf-8")) for p in self.files()]
        return sorted(records, key=lambda r: (r["decided_at"], r["decision_id"]))

    def sweep_leftovers(self, older_than_s: float = STALE_TMP_S) -> int:
        """Remove temporary files of writers that died mid-write (never a finished verdict)."""
        if not self.folder.is_dir():
            return 0
        cutoff, removed = time.time() - older_than_s, 0
        for p in self.folder.iterdir():
            if p.name.startswith(".") and p.name.endswith(".tmp") and p.stat().st_mtime < cutoff:
                p.unlink(missing_ok=True)
                removed += 1
        return removed


@dataclass(frozen=True)
class PairVerdict:
    pair: Pair
    verdict: str            # accept | reject
    decided_at: str
    decision_id: str
    reviewer: str


def _expanded(record: dict[str, Any]) -> Iterable[tuple[Pair, str]]:
    pair = pair_of(record)
    if record["verdict"] == "another_film":
        yield pair, "reject"
        yield Pair(pair.source, pair.release_kind, pair.release_id, int(record["chosen_tmdb_id"])), "accept"
    else:
        yield pair, record["verdict"]


def effective_verdicts(records: Iterable[dict[str, Any]]) -> dict[Pair, PairVerdict]:
    """The verdict in force for every decided pair (see the module docstring); at most one accept per release."""
    latest: dict[Pair, PairVerdict] = {}
    for record in sorted(records, key=lambda r: (r["decided_at"], r["decision_id"])):
        for pair, verdict in _expanded(record):
            latest[pair] = PairVerdict(pair, verdict, record["decided_at"], record["decision_id"], record["reviewer"])
    accepted: dict[tuple[str, str, str], PairVerdict] = {}
    for v in latest.values():
        if v.verdict == "accept":
            held = accepted.get(v.pair.release)
            if held is None or (v.decided_at, v.decision_id) > (held.decided_at, held.decision_id):
                accepted[v.pair.release] = v
    return {p: (v if v.verdict == "reject" or accepted[p.release] is v else
                PairVerdict(p, "reject", v.decided_at, v.decision_id, v.reviewer)) for p, v in latest.items()}


def latest_records(records: Iterable[dict[str, Any]]) -> dict[Pair, dict[str, Any]]:
    """The latest verdict record given on each pair shown (for agreement and audit figures)."""
    out: dict[Pair, dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: (r["decided_at"], r["decision_id"])):
        out[pair_of(record)] = record
    return out


def read_lake_decisions(lake, spark=None) -> list[dict[str, Any]]:
    """Every verdict in a lake's store: plain files for a local lake, Spark's JSON reader for a remote one (where
    the store is written by a review done elsewhere and copied in). Spark skips the hidden temporary files."""
    if not lake.is_remote:
        return DecisionStore(lake.root).read_all()
    from ..tables import schema_of

    path = "/".join((lake.root, *STORE))
    if not lake.exists(path, spark):
        return []
    rows = spark.read.schema(schema_of("review/decisions")).json(path).collect()
    return sorted((r.asDict() for r in rows), key=lambda r: (r["decided_at"], r["decision_id"]))
