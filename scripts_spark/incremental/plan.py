"""A run's plan: full or incremental, the state version it builds on, and the next version it builds.

The pipeline opens the plan when an attempt starts (`begin`) and advances the state after the attempt committed
(`advance`); steps find it with `plan_of(ctx)`. A step run outside the pipeline (tests, tools) has no plan and
behaves as it always did.

Modes:
- `incremental`: a state exists, was built by the same code and matcher settings, and the run covers steps 01-05;
- `full`: no usable state, or `--full` / INCREMENTAL=full; the run rebuilds everything and writes a new state;
- `off`: the run does not cover steps 01-05 (e.g. `--steps 03-05` of an old run): the state is neither read nor
  advanced.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .state import CHANGES_SCHEMA, PACKAGE, StateStore, Version, fingerprint

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from ..base_step import StepContext
    from ..config import Settings
    from ..lake import Lake

OFF, FULL, INCREMENTAL = "off", "full", "incremental"
CHAIN = ("01", "02", "03", "04", "05")   # the steps that build the state: a run must cover them all
NOTES = "notes.json"
UNREAD = "unchanged files, not read"   # a feed's mode in the run's notes when extract.feed_records left it unread
INPUTS = "inputs"   # the version meta's and the notes' key of each feed's input files (feed_files.py)
ABSENT_FEEDS = "absent_feeds"   # the notes' key of the feeds with no input files in this run nor in the base state
# What the next version keeps for incremental/carry.py: the settings and code of steps 03-07 (noted when the run
# begins) and which review verdicts step 05 read (noted by it).
CARRY_META = ("carry_settings", "decisions")
# The tables a state version must hold (the registries are per source and may be absent: a source never read).
REQUIRED_TABLES = ("films", "releases", "pairs", "discogs_records", "film_keys", "release_keys", "pair_keys",
                   "features", "rarity", "links", "history")

_PLANS: dict[str, "Plan"] = {}


@dataclass
class Plan:
    mode: str
    reason: str
    run_id: str
    attempt_id: str
    store: StateStore
    base: Version | None
    fingerprint: dict[str, str]
    notes: dict[str, Any] = field(default_factory=dict)
    held: list = field(default_factory=list)   # frames persisted for the whole run, released when it ends

    @property
    def incremental(self) -> bool:
        return self.mode == INCREMENTAL

    def summary(self) -> dict[str, Any]:
        """For the run's manifest; the input files' fingerprints stay in the state (each feed's note says if it was
        read)."""
        return {"mode": self.mode, "reason": self.reason, "base_version": self.base.version if self.base else None,
                "base_run": self.base.run_id if self.base else None,
                **{k: v for k, v in self.notes.items() if k not in (INPUTS, *CARRY_META)}}

    def hold(self, df: "DataFrame") -> "DataFrame":
        self.held.append(df)
        return df

    def release(self) -> None:
        for df in self.held:
            df.unpersist()
        self.held.clear()

    # --- tables ---------------------------------------------------------------------------------------
    def write_table(self, name: str, df: "DataFrame") -> None:
        """The next version's table `name` (replaces the base's)."""
        self.store.write_pending(self.attempt_id, "tables", name, df)

    def read_base(self, name: str, schema: "StructType") -> "DataFrame":
        """The base version's table (empty when there is no base or it lacks the table)."""
        if self.base is None or name not in self.base.tables:
            return _empty(self.store, schema)
        return self.store.read(self.base, name, schema)

    def read_table(self, name: str, schema: "StructType") -> "DataFrame":
        """The next version's table: written by this run if it was, else the base's."""
        if self.store.has_pending(self.attempt_id, "tables", name):
            return self.store.read_pending(self.attempt_id, "tables", name, schema)
        return self.read_base(name, schema)

    def write_changes(self, name: str, df: "DataFrame") -> None:
        self.store.write_pending(self.attempt_id, "changes", name, df)

    def read_changes(self, name: str, schema: "StructType | None" = None) -> "DataFrame":
        return self.store.read_pending(self.attempt_id, "changes", name, schema or CHANGES_SCHEMA)

    def has_changes(self, name: str) -> bool:
        return self.store.has_pending(self.attempt_id, "changes", name)

    # --- notes: what the run found, for the manifest, the report and the next version's meta ----------------
    def note(self, key: str, value: Any) -> None:
        self.notes[key] = value
        self.store.lake.write_text(_notes_path(self), json.dumps(self.notes, indent=2, sort_keys=True, default=str),
                                   self.store.spark)

    def note_feed(self, feed: str, counts: dict[str, Any]) -> None:
        self.note("feeds", {**self.notes.get("feeds", {}), feed: counts})

    def left_unread(self, *feeds: str) -> bool:
        """Whether this incremental run left every one of `feeds` unread (their files are byte for byte those the
        base's registries were built from): their change sets are empty and this run's Bronze holds none of their
        rows, so a state table built from them alone is the base's, carried over instead of rewritten. A feed that has
        no input files now and had none when the base was built (extract.note_no_files: the usual Discogs input, dumps
        without saved search pages) counts as unread: nothing of it can have changed."""
        found, absent = self.notes.get("feeds", {}), self.notes.get(ABSENT_FEEDS, [])
        return self.incremental and all(found.get(feed, {}).get("mode") == UNREAD or feed in absent for feed in feeds)

    def note_input(self, feed: str, record: dict[str, Any] | None) -> None:
        """What the next version keeps of the feed's input files (feed_files.input_record); None: nothing (a feed
        read from an API has no files to compare with)."""
        self.note(INPUTS, {**self.notes.get(INPUTS, {}), feed: record})

    def next_inputs(self) -> dict[str, Any]:
        """The next version's input records: this run's, and the base's for feeds this run did not read (their
        registries stay in the base's version too)."""
        carried = dict(self.base.meta.get(INPUTS) or {}) if self.incremental and self.base else {}
        carried.update(self.notes.get(INPUTS, {}))
        return {feed: record for feed, record in sorted(carried.items()) if record is not None}


def _notes_path(plan: Plan) -> str:
    return plan.store.pending_file(plan.attempt_id, NOTES)


def _empty(store: StateStore, schema: "StructType") -> "DataFrame":
    from .state import _spark

    return _spark(store.spark).createDataFrame([], schema)


def carry_settings(settings: "Settings") -> dict[str, Any]:
    """What shapes or passes steps 03-06 besides their inputs and the state's fingerprint (incremental/carry.py): the
    two settings they read that the fingerprint leaves out (step 07 keeps its own: Recommend.inputs_key), and the whole
    package's code (the fingerprint covers the code whose output the state holds; the steps, the marts and the
    review rules are outside it)."""
    return {"max_quarantine_share": settings.max_quarantine_share,
            "link_history_score_tolerance": settings.link_history_score_tolerance, "code": package_fingerprint()}


@lru_cache(maxsize=1)
def package_fingerprint() -> str:
    """A hash of every Python and JSON file of the package (its code and the matcher settings beside it)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def decide_mode(settings: "Settings", base: Version | None, numbers: list[str],
                fingerprint_: dict[str, str]) -> tuple[str, str]:
    """(mode, reason) for a run of `numbers` on a lake whose current state is `base`."""
    missing = [n for n in CHAIN if n not in numbers]
    if missing:
        return OFF, (f"steps {', '.join(numbers)} alone: the incremental state needs steps 01-05 in one run; it is "
                     "neither used nor advanced")
    if settings.incremental == "full":
        return FULL, "full run asked for (--full, FULL=1 or INCREMENTAL=full)"
    if "api" in (settings.discogs_mode, settings.musicbrainz_mode):
        return FULL, ("Discogs and MusicBrainz are diffed from their dumps (file mode); in API mode every run walks "
                      "them in full")
    if base is None:
        return FULL, "no state in this lake yet: the first run builds it"
    if base.fingerprint.get("format") != fingerprint_.get("format"):
        # Named on its own: the state's tables have another layout, so no part of them may be diffed against
        # (state.STATE_FORMAT says what changed).
        return FULL, (f"the state of run {base.run_id} has layout {base.fingerprint.get('format', '?')} and this code "
                      f"reads layout {fingerprint_.get('format')}: rebuilt in full, in the new layout")
    differs = [k for k in sorted(set(base.fingerprint) | set(fingerprint_))
               if base.fingerprint.get(k) != fingerprint_.get(k)]
    if differs:
        return FULL, (f"the state of run {base.run_id} was built with other {', '.join(differs)} "
                      "(code, matcher settings or filters changed): rebuilt in full")
    if settings.tmdb_mode == "api" and not base.meta.get("tmdb_watermark"):
        return FULL, "TMDB API mode without a watermark of an earlier API run: the first API run walks every film"
    return INCREMENTAL, f"state of run {base.run_id} (version {base.version})"


def begin(lake: "Lake", settings: "Settings", run_id: str, numbers: list[str], attempt_id: str,
          spark: "SparkSession | None" = None, log=None) -> Plan:
    """Open the plan of an attempt (call it under the lake lock, once the attempt exists)."""
    store = StateStore(lake, spark)
    store.collect_garbage(keep=(), in_flight=attempt_id, versions=False)
    base = store.current()
    fp = fingerprint(settings)
    mode, reason = decide_mode(settings, base, numbers, fp)
    plan = Plan(mode, reason, run_id, attempt_id, store, base if mode == INCREMENTAL else _keep_base(base, mode), fp)
    if mode != OFF:
        store.write_plan(attempt_id, {"mode": mode, "reason": reason, "run_id": run_id,
                                      "base": base.version if base else None})
        plan.note("mode", mode)
        plan.note("carry_settings", carry_settings(settings))
    _PLANS[attempt_id] = plan
    if log is not None:
        log.info("run_mode", mode=mode, reason=reason)
    return plan


def _keep_base(base: Version | None, mode: str) -> Version | None:
    """A full run still knows the previous state: its links are what the run's link history compares against."""
    return base if mode == FULL else None


def plan_of(ctx: "StepContext") -> Plan | None:
    """The plan of the step's run; None outside the pipeline and for runs that leave the state alone (`off`)."""
    attempt = getattr(ctx.lake, "attempt", None)
    if attempt is None:
        return None
    plan = _PLANS.get(attempt.attempt_id)
    return plan if plan is not None and plan.run_id == ctx.run_id and plan.mode != OFF else None


def advance(plan: Plan, status: str, log=None) -> Version | None:
    """After a committed, succeeded attempt: make its pending state current. Anything else: drop the pending state."""
    _PLANS.pop(plan.attempt_id, None)
    plan.release()
    if plan.mode == OFF:
        return None
    if status != "succeeded":
        plan.store.discard_pending(plan.attempt_id)
        if log is not None:
            log.warning("state_not_advanced", status=status, kept=plan.base.version if plan.base else None)
        return None
    meta = {"mode": plan.mode, **{k: v for k, v in plan.notes.items() if k in ("tmdb_watermark", *CARRY_META)},
            INPUTS: plan.next_inputs()}
    if plan.base and "tmdb_watermark" not in meta and plan.base.meta.get("tmdb_watermark"):
        meta["tmdb_watermark"] = plan.base.meta["tmdb_watermark"]
    base = plan.base if plan.incremental else None
    version = plan.store.advance(plan.attempt_id, plan.run_id, base, plan.fingerprint, meta, REQUIRED_TABLES,
                                 keep=plan.base)
    if log is not None:
        log.info("state_advanced", version=version.version, mode=plan.mode, tables=len(version.tables))
    return version


def abandon(plan: Plan) -> None:
    """A failed or interrupted attempt: its pending state goes, the current state stays."""
    _PLANS.pop(plan.attempt_id, None)
    plan.release()
    if plan.mode != OFF:
        plan.store.discard_pending(plan.attempt_id)
