"""The lake's current state: versioned Parquet tables under `<root>/_state/`, switched by one pointer file.

    _state/CURRENT.json                  the pointer: version id, run, fingerprint, watermark, table -> folder
    _state/versions/<version>/<table>/   a version's tables (a table a run did not change stays where it was)
    _state/pending/<attempt>/            what a run in flight builds: plan.json, tables/<table>, changes/<table>

A run builds its next version in `pending/<attempt>/`, next to (never inside) the current one. Only after the run's
tables are committed (lake.py's commit protocol) does `advance` move the pending folder to `versions/` (one directory
rename) and rewrite `CURRENT.json` (written aside and renamed in: a reader sees the old pointer or the new one). A run
that dies before that leaves the previous version current and a pending folder the next writer deletes; one that
dies between its commit and the switch leaves its Gold committed and the state one version behind: the next run
diffs against that older version and recomputes the same changes (state and Gold never disagree in a harmful way:
the next run's Gold is what a full run on its inputs gives).

Every state version carries a fingerprint of what shaped it (the code of the transforms and parsers, the matcher
settings, the filters): a run whose fingerprint differs cannot build on it and runs in full (docs/incremental.md).
"""
from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql.types import StringType, StructField, StructType

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from ..config import Settings
    from ..lake import Lake

STATE_DIR = "_state"
# A feed's registry: one row per record copy the lake holds (incremental/extract.py), and one run's changes to it.
REGISTRY_SCHEMA = StructType([StructField("record_id", StringType()), StructField("sha", StringType()),
                              StructField("changed_run", StringType()), StructField("deleted_run", StringType())])
CHANGES_SCHEMA = StructType([StructField("record_id", StringType()), StructField("change", StringType())])
POINTER = "CURRENT.json"
VERSIONS = "versions"
PENDING = "pending"
PLAN = "plan.json"
# Bump when the layout or meaning of a state table changes: older states are then rebuilt by a full run.
# 2: release_kind joined the release key (release_keys, pair_keys, pairs and the change sets carry it).
STATE_FORMAT = 2

PACKAGE = Path(__file__).resolve().parent.parent
# The code whose output the state holds: a change to any of these makes the state stale (the next run is full).
SHAPING_CODE = ("sources/bronze.py", "sources/tmdb.py", "sources/musicbrainz.py", "sources/discogs.py",
                "transforms/normalise.py", "transforms/silver.py", "transforms/blocking.py", "transforms/contracts.py",
                "transforms/features.py", "transforms/decide.py", "transforms/enrich.py", "transforms/history.py",
                "tables/core.py", "tables/bronze.py", "tables/silver.py", "tables/gold.py",
                "incremental/state.py", "incremental/extract.py", "incremental/relink.py")


class StateError(RuntimeError):
    """The state cannot be used or advanced; the message says why and what to do."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _join(lake: "Lake", *parts: str) -> str:
    return posixpath.join(lake.root, *parts) if lake.is_remote else str(Path(lake.root, *parts))


def fingerprint(settings: "Settings") -> dict[str, str]:
    """What shaped a state: a hash of the shaping code, of the matcher settings file, and the filters."""
    code = hashlib.sha256()
    for rel in SHAPING_CODE:
        path = PACKAGE / rel
        if path.exists():
            code.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    match_file = Path(settings.match_settings_path)
    matcher = hashlib.sha256(match_file.read_bytes()).hexdigest()[:16] if match_file.exists() else "missing"
    return {"format": str(STATE_FORMAT), "code": code.hexdigest()[:16], "match_settings": matcher,
            "filters": f"discogs={settings.discogs_soundtrack_filter},musicbrainz={settings.musicbrainz_soundtrack_filter}"}


@dataclass
class Version:
    """One committed state version: its id, the run that made it, and where each of its tables lives."""
    version: str
    run_id: str
    created_at: str
    fingerprint: dict[str, str]
    tables: dict[str, str]                     # table name -> folder relative to _state/
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "Version":
        return cls(doc["version"], doc["run_id"], doc["created_at"], doc["fingerprint"], doc["tables"],
                   doc.get("meta", {}))

    def doc(self) -> dict[str, Any]:
        return {"version": self.version, "run_id": self.run_id, "created_at": self.created_at,
                "fingerprint": self.fingerprint, "tables": self.tables, "meta": self.meta}


class StateStore:
    """Reads the current version, stages the next one for an attempt, and switches the pointer."""

    def __init__(self, lake: "Lake", spark: "SparkSession | None" = None):
        self.lake = lake
        self.spark = spark
        self.root = _join(lake, STATE_DIR)

    def path(self, *parts: str) -> str:
        return _join(self.lake, STATE_DIR, *parts)

    # --- the current version -----------------------------------------------------------------
    def current(self) -> Version | None:
        text = self.lake.read_text(self.path(POINTER), self.spark)
        return Version.from_doc(json.loads(text)) if text else None

    def table_path(self, version: Version, name: str) -> str:
        if name not in version.tables:
            raise StateError(f"state version {version.version} has no table {name!r}; run with --full to rebuild it")
        return self.path(version.tables[name])

    def read(self, version: Version, name: str, schema: "StructType") -> "DataFrame":
        return _spark(self.spark).read.schema(schema).parquet(self.table_path(version, name))

    # --- the pending version of an attempt ----------------------------------------------------------
    def pending_dir(self, attempt_id: str) -> str:
        return self.path(PENDING, attempt_id)

    def write_plan(self, attempt_id: str, plan: dict[str, Any]) -> None:
        self.lake.write_text(_join_under(self.lake, self.pending_dir(attempt_id), PLAN),
                             json.dumps(plan, indent=2, sort_keys=True), self.spark)

    def read_plan(self, attempt_id: str) -> dict[str, Any] | None:
        text = self.lake.read_text(_join_under(self.lake, self.pending_dir(attempt_id), PLAN), self.spark)
        return json.loads(text) if text else None

    def pending_table(self, attempt_id: str, kind: str, name: str) -> str:
        """`kind` 'tables' (the next version's tables) or 'changes' (what a step tells the next one)."""
        return _join_under(self.lake, self.pending_dir(attempt_id), kind, name)

    def write_pending(self, attempt_id: str, kind: str, name: str, df: "DataFrame") -> str:
        path = self.pending_table(attempt_id, kind, name)
        df.write.mode("overwrite").parquet(path)
        return path

    def read_pending(self, attempt_id: str, kind: str, name: str, schema: "StructType") -> "DataFrame":
        spark = _spark(self.spark)
        path = self.pending_table(attempt_id, kind, name)
        if not self.lake.exists(path, spark):
            return spark.createDataFrame([], schema)
        return spark.read.schema(schema).parquet(path)

    def has_pending(self, attempt_id: str, kind: str, name: str) -> bool:
        return self.lake.exists(self.pending_table(attempt_id, kind, name), self.spark)

    # --- switching ------------------------------------------------------------------------------------
    def pending_file(self, attempt_id: str, name: str) -> str:
        return _join_under(self.lake, self.pending_dir(attempt_id), name)

    def advance(self, attempt_id: str, run_id: str, base: Version | None, fingerprint_: dict[str, str],
                meta: dict[str, Any], required: tuple[str, ...], keep: Version | None = None) -> Version:
        """Make the attempt's pending tables (plus the tables of `base` it did not rewrite) the current version;
        `keep` (the version the run started from) stays on disk until the next switch, the rest is deleted."""
        pending = self.pending_dir(attempt_id)
        written = self.lake.list_names(_join_under(self.lake, pending, "tables"), self.spark, dirs_only=True)
        version_id = f"{run_id}.{attempt_id}"
        tables = dict(base.tables) if base else {}
        tables.update({name: posixpath.join(VERSIONS, version_id, "tables", name) for name in written})
        missing = [name for name in required if name not in tables]
        if missing:
            raise StateError(f"run {run_id} built no state table {', '.join(missing)}; the state stays at "
                             f"{base.version if base else 'none'}")
        version = Version(version_id, run_id, utc_now(), fingerprint_, tables, meta)
        self.lake.rename(pending, self.path(VERSIONS, version_id), self.spark)
        self.lake.write_text(self.path(VERSIONS, version_id, "version.json"),
                             json.dumps(version.doc(), indent=2, sort_keys=True), self.spark)
        self.lake.write_text(self.path(POINTER), json.dumps(version.doc(), indent=2, sort_keys=True), self.spark)
        self.collect_garbage(keep=(version, keep or base))
        return version

    def drop(self) -> None:
        """Forget the state (the next run is full); the lake's run partitions are untouched."""
        self.lake.delete(self.path(POINTER), self.spark)
        self.collect_garbage(keep=())

    def discard_pending(self, attempt_id: str) -> None:
        self.lake.delete(self.pending_dir(attempt_id), self.spark)

    def collect_garbage(self, keep: tuple[Version | None, ...], in_flight: str | None = None,
                        versions: bool = True) -> list[str]:
        """Delete pending folders of attempts that are gone and (`versions`) version tables no kept version refers
        to. Call under the lake lock: no other attempt is in flight then."""
        removed = []
        for attempt in self.lake.list_names(self.path(PENDING), self.spark, dirs_only=True):
            if attempt != in_flight:
                self.lake.delete(self.pending_dir(attempt), self.spark)
                removed.append(f"{PENDING}/{attempt}")
        if not versions:
            return removed
        referenced = {rel for v in keep if v for rel in v.tables.values()}
        kept_versions = {v.version for v in keep if v}
        for version_id in self.lake.list_names(self.path(VERSIONS), self.spark, dirs_only=True):
            tables_dir = self.path(VERSIONS, version_id, "tables")
            live = False
            for name in self.lake.list_names(tables_dir, self.spark, dirs_only=True):
                if posixpath.join(VERSIONS, version_id, "tables", name) in referenced:
                    live = True
                else:
                    self.lake.delete(_join_under(self.lake, tables_dir, name), self.spark)
            if not live and version_id not in kept_versions:
                self.lake.delete(self.path(VERSIONS, version_id), self.spark)
                removed.append(f"{VERSIONS}/{version_id}")
        return removed


def _spark(spark: "SparkSession | None") -> "SparkSession":
    if spark is not None:
        return spark
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is None:
        raise StateError("reading the state needs a SparkSession")
    return active


def _join_under(lake: "Lake", base: str, *parts: str) -> str:
    return posixpath.join(base, *parts) if lake.is_remote else str(Path(base, *parts))
