"""Extract only what changed: a source's new snapshot diffed against its registry by record id and content hash.

Each source feed (TMDB films, MusicBrainz release groups, Discogs masters, Discogs releases, saved Discogs search
pages) keeps a registry in the state: one row per record copy (`record_id`, `sha` = sha256 of the record as read,
`changed_run` = the run whose Bronze partition holds that version) and a tombstone per deleted id (`deleted_run`).

`select_changed(ctx, feed, raw)` sits between a step's reader and its parser:
- full run: records every record's id and hash (the registry of the next state) and returns `raw` unchanged;
- incremental run: an id is changed when the multiset of its (sha) differs from the registry's (a new id, an edit,
  a copy more or less); only the records of changed ids go on to be parsed, so an unchanged record is read and
  hashed but never parsed, normalised, blocked or scored again. Ids in the registry but not in the snapshot are
  deleted (tombstones). Records the reader already set aside without text (out of the soundtrack filter before any
  parse) pass through to be counted as they always are.
A snapshot in which more than `INCREMENTAL_MAX_VANISHED_SHARE` of a feed's records vanish at once (a truncated dump,
a half-copied folder) is refused with `SnapshotRefused` before anything is written.

`feed_records(ctx, feed, files, read, schema)` comes first in file mode: when an incremental run finds a feed's files
byte for byte as the state's registry was built from them (feed_files.py), the feed is not read at all (`read` is
never called, no record is hashed), its registry stays in its version and its change set is empty, as for a source
whose folder is missing; otherwise it reads and hands over to `select_changed`, which records the files' fingerprint
and what the read set aside for the next state.

API mode (TMDB) hands over a partial snapshot (`delta`): only the films the changes feed named were fetched, and
`delta.deleted_ids` names the films gone from the daily export (incremental/tmdb_changes.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..sources.bronze import FILTERED, REJECTED
from .feed_files import files_difference, fingerprint_files, input_record, short, unchanged_since
from .plan import ABSENT_FEEDS, UNREAD, Plan, plan_of
from .state import REGISTRY_SCHEMA, StateError

if TYPE_CHECKING:  # pragma: no cover
    from ..base_step import StepContext


@dataclass
class ApiDelta:
    """What an incremental API extract knows beyond the fetched records: the ids it found deleted."""
    deleted_ids: set[str] = field(default_factory=set)

ADDED, EDITED, DELETED = "added", "edited", "deleted"


class SnapshotRefused(StateError):
    """A snapshot would delete more of a source than a snapshot plausibly does at once."""


def _json_id() -> Column:
    return F.get_json_object("payload", "$.id")


def _xml_id(element: str) -> Callable[[], Column]:
    return lambda: F.regexp_extract("payload", rf'^<{element} id="([^"]*)"', 1)


def _search_page() -> Column:
    # A saved search page is one record; its id is its path under discogs/search/ (the same in every snapshot folder).
    return F.regexp_extract("_source_uri", r"/discogs/search/(.+)$", 1)


@dataclass(frozen=True)
class Feed:
    name: str
    record_id: Callable[[], Column]

    @property
    def table(self) -> str:
        return f"registry_{self.name}"


FEEDS: dict[str, Feed] = {f.name: f for f in (
    Feed("tmdb", _json_id),
    Feed("musicbrainz", _json_id),
    Feed("discogs_masters", _xml_id("master")),
    Feed("discogs_releases", _xml_id("release")),
    Feed("discogs_search", _search_page),
)}


def passes_through(raw: DataFrame) -> Column:
    """Rows the reader already judged without a parse: no text kept (out of the soundtrack filter), a line it
    rejected (`_pre`: not UTF-8, not JSON, an unreadable file's end) or a record cut short. They are counted and
    reported by the step every run, as in a full run, and never enter the registry."""
    through = F.col("payload").isNull()
    if "_pre" in raw.columns:
        through = through | F.col("_pre").isNotNull()
    if "_complete" in raw.columns:
        through = through | ~F.coalesce(F.col("_complete"), F.lit(False))
    return through


def with_record_ids(raw: DataFrame, feed: Feed) -> DataFrame:
    """`raw` + `_record_id` and `_sha` (null for the rows that pass through)."""
    sha = F.sha2(F.col("payload"), 256)
    found = feed.record_id()
    return (raw.withColumn("_through", passes_through(raw))
            .withColumn("_sha", F.when(~F.col("_through"), sha))
            .withColumn("_record_id", F.when(~F.col("_through"), F.when(found.isNotNull() & (found != ""), found)
                                             .otherwise(F.concat(F.lit("sha:"), sha)))))


@dataclass(frozen=True)
class UnreadFeed:
    """A feed an incremental run did not read: its files are those the state's registry was built from by `since_run`,
    whose read registered `records` (`ids` distinct) and set aside `set_aside` before any parse (by status)."""
    feed: str
    since_run: str
    fingerprint: str
    records: int
    ids: int
    set_aside: dict[str, int]

    @property
    def reason(self) -> str:
        return f"input files unchanged since run {self.since_run} (fingerprint {self.fingerprint}): not read"

    def metrics(self) -> dict[str, Any]:
        """The step's account of the feed: carried counts, apart from the rows this run read (none of this feed)."""
        return {"skipped": self.reason, "carried": {
            "from_run": self.since_run, "records": self.records, "ids": self.ids, "set_aside": self.set_aside,
            "meaning": "what that run's read registered and set aside; the state keeps them, this run's rows do "
                       "not count them"}}

    @property
    def note(self) -> str:
        aside = ", ".join(f"{n:,} {status}" for status, n in sorted(self.set_aside.items())) or "none"
        return (f"{self.feed}: {self.reason}; the state carries its {self.ids:,} records as they are (that read set "
                f"aside {aside}), none of them counted in this step's rows")


def feed_records(ctx: "StepContext", feed_name: str, files: list[str], read: Callable[[], DataFrame],
                 read_schema: str) -> tuple[DataFrame, UnreadFeed | None]:
    """(the records of `files` the step must parse, None), or (no records, the unread feed) when an incremental run
    finds the files exactly as the state's registry was built from them (see the module docstring). `read` builds
    the reader's frame of `files`, `read_schema` is its DDL. Outside a run plan: (`read()`, None)."""
    plan = plan_of(ctx)
    if plan is None:
        return read(), None
    # Taken before the read: a file replaced while it is read then differs from this fingerprint, and the next run
    # reads it again instead of trusting a registry built from other bytes.
    files_now = fingerprint_files(ctx.settings.input_dir, files)
    record = unchanged_since(plan.base, feed_name, files_now) if plan.incremental else None
    if record is None:
        if plan.incremental:
            ctx.log.info("feed_files_changed", feed=feed_name, why=files_difference(plan.base, feed_name, files_now))
        return select_changed(ctx, feed_name, read(), files=files_now), None
    unread = UnreadFeed(feed_name, record["run"], short(files_now), record["records"], record["ids"],
                        record["set_aside"])
    plan.note_feed(feed_name, {"mode": UNREAD, ADDED: 0, EDITED: 0, DELETED: 0, "unchanged": unread.ids,
                               "skipped": unread.reason})
    ctx.log.info("feed_unread", feed=feed_name, since_run=unread.since_run, fingerprint=unread.fingerprint,
                 records=unread.records, set_aside=unread.set_aside)
    return ctx.spark.createDataFrame([], read_schema), unread


def note_no_files(ctx: "StepContext", feed_name: str) -> None:
    """A feed read from files has none in this run. When the base state holds no registry of it either (no run since
    the state began read it), it is noted as absent, and Plan.left_unread counts it as unread. A feed whose files
    were there for the base and are gone now is not: the state tables that hold its records are rebuilt."""
    plan = plan_of(ctx)
    if plan is None or not plan.incremental or plan.base is None or FEEDS[feed_name].table in plan.base.tables:
        return
    plan.note(ABSENT_FEEDS, sorted({*plan.notes.get(ABSENT_FEEDS, []), feed_name}))


def select_changed(ctx: "StepContext", feed_name: str, raw: DataFrame, delta: ApiDelta | None = None,
                   files: dict[str, Any] | None = None) -> DataFrame:
    """The records of `raw` the step must parse this run (see the module docstring); `raw` itself outside a run
    plan (a step run on its own) and in full runs, whose registry it records. `delta`: `raw` holds only the records
    an API extract fetched, and these ids were found deleted (incremental/tmdb_changes.py). `files`: the fingerprint
    of the input files `raw` was read from (feed_files.py), kept in the next state with what the read counted; without
    it (API mode) the next state keeps no fingerprint of the feed, so no later run skips it."""
    plan = plan_of(ctx)
    if plan is None:
        return raw
    complete = delta is None
    deleted_ids: Iterable[str] = delta.deleted_ids if delta is not None else ()
    from pyspark import StorageLevel

    feed = FEEDS[feed_name]
    # On disk between the diff and the parse: the readers run in Python workers, a second pass would read again.
    tagged = plan.hold(with_record_ids(raw, feed).persist(StorageLevel.DISK_ONLY))
    snapshot = tagged.where(~F.col("_through")).select(F.col("_record_id").alias("record_id"),
                                                       F.col("_sha").alias("sha"))
    if plan.mode == "full":
        registry = snapshot.select("record_id", "sha", F.lit(ctx.run_id).alias("changed_run"),
                                   F.lit(None).cast("string").alias("deleted_run"))
        plan.write_table(feed.table, registry)
        plan.note_feed(feed_name, {"mode": "full"})
        _note_input(plan, ctx.run_id, feed_name, tagged, files)
        return tagged.drop("_record_id", "_sha", "_through")
    snapshot = snapshot.persist()
    try:
        registry, counts = diff_registry(plan, feed, snapshot, ctx.run_id, complete, list(deleted_ids))
        _refuse_mass_deletion(ctx, feed_name, counts)
        plan.write_table(feed.table, registry)
    finally:
        snapshot.unpersist()
    plan.note_feed(feed_name, {"mode": "incremental", **counts})
    _note_input(plan, ctx.run_id, feed_name, tagged, files)
    ctx.log.info("feed_diffed", feed=feed_name, **counts)
    changed = plan.read_changes(feed_name).where(F.col("change") != DELETED).select(
        F.col("record_id").alias("_record_id"))
    diffed = tagged.where(~F.col("_through")).join(changed, "_record_id", "left_semi")
    return diffed.unionByName(tagged.where(F.col("_through"))).drop("_record_id", "_sha", "_through")


def _note_input(plan: Plan, run_id: str, feed_name: str, tagged: DataFrame, files: dict[str, Any] | None) -> None:
    plan.note_input(feed_name, input_record(run_id, files, read_counts(tagged)) if files is not None else None)


def read_counts(tagged: DataFrame) -> dict[str, Any]:
    """What a read of a feed counted, in one small aggregation: the `records` the registry holds, their distinct
    `ids`, and the rows `set_aside` before any parse, by the status the parser gives them (bronze.py, discogs.py:
    the reader's `_pre`, a record cut short is rejected, a record without text filtered)."""
    kind = F.when(~F.col("_through"), F.lit("registered"))
    if "_pre" in tagged.columns:
        kind = kind.when(F.col("_pre").isNotNull(), F.col("_pre"))
    if "_complete" in tagged.columns:
        kind = kind.when(~F.coalesce(F.col("_complete"), F.lit(False)), F.lit(REJECTED))
    records = F.sum("_records") if "_records" in tagged.columns else F.count(F.lit(1))   # a dump's counting rows
    rows = (tagged.groupBy(kind.otherwise(F.lit(FILTERED)).alias("kind"))
            .agg(records.alias("n"), F.countDistinct("_record_id").alias("ids")).collect())
    found = {r["kind"]: r for r in rows}
    registered = found.pop("registered", None)
    return {"records": registered["n"] if registered else 0, "ids": registered["ids"] if registered else 0,
            "set_aside": {kind: r["n"] for kind, r in sorted(found.items())}}


def diff_registry(plan: Plan, feed: Feed, snapshot: DataFrame, run_id: str, complete: bool,
                  deleted_ids: list[str]) -> tuple[DataFrame, dict[str, int]]:
    """Write the feed's changes (the ids added, edited, deleted) to the plan; return the next registry and the
    counts. An id is compared as the multiset of its (sha) in the snapshot and in the base registry."""
    spark = snapshot.sparkSession
    base = plan.read_base(feed.table, REGISTRY_SCHEMA)
    live = base.where(F.col("deleted_run").isNull())
    new_counts = snapshot.groupBy("record_id", "sha").agg(F.count(F.lit(1)).alias("n_new"))
    old_counts = live.groupBy("record_id", "sha").agg(F.count(F.lit(1)).alias("n_old"))
    differing = (new_counts.join(old_counts, ["record_id", "sha"], "full_outer")
                 .where(~F.coalesce(F.col("n_new") == F.col("n_old"), F.lit(False))))
    snapshot_ids = new_counts.select("record_id").distinct()
    live_ids = old_counts.select("record_id").distinct().withColumn("_live", F.lit(True))
    explicit = spark.createDataFrame([(str(i),) for i in deleted_ids], "record_id string").distinct()
    if complete:
        touched = differing.select("record_id").distinct()
    else:  # only what was fetched can have changed; an id the API did not name stays as it is
        touched = differing.where(F.col("n_new").isNotNull()).select("record_id").distinct()
    present = snapshot_ids.withColumn("_present", F.lit(True))
    changes = (touched.unionByName(explicit).distinct()
               .join(present, "record_id", "left").join(live_ids, "record_id", "left")
               .select("record_id", F.when(F.col("_present").isNotNull() & F.col("_live").isNotNull(), F.lit(EDITED))
                       .when(F.col("_present").isNotNull(), F.lit(ADDED))
                       .when(F.col("_live").isNotNull(), F.lit(DELETED)).alias("change"))
               .where(F.col("change").isNotNull()))
    # an id named for deletion that the snapshot also holds is an edit, handled above; one the state never had is
    # ignored (nothing to delete)
    plan.write_changes(feed.name, changes)
    changes = plan.read_changes(feed.name)
    counts = {r["change"]: r["n"] for r in changes.groupBy("change").agg(F.count(F.lit(1)).alias("n")).collect()}
    live_total = live.select("record_id").distinct().count()
    counts = {"live_before": live_total, ADDED: counts.get(ADDED, 0), EDITED: counts.get(EDITED, 0),
              DELETED: counts.get(DELETED, 0)}
    counts["unchanged"] = live_total - counts[EDITED] - counts[DELETED]

    touched_ids = changes.select("record_id")
    deleted = changes.where(F.col("change") == DELETED).select("record_id")
    kept_old = base.join(touched_ids, "record_id", "left_anti")   # unchanged ids and untouched tombstones
    new_rows = (snapshot.join(changes.where(F.col("change") != DELETED).select("record_id"), "record_id", "left_semi")
                .select("record_id", "sha", F.lit(run_id).alias("changed_run"),
                        F.lit(None).cast("string").alias("deleted_run")))
    tombstones = deleted.select("record_id", F.lit(None).cast("string").alias("sha"),
                                F.lit(None).cast("string").alias("changed_run"), F.lit(run_id).alias("deleted_run"))
    registry = kept_old.unionByName(new_rows).unionByName(tombstones)
    return registry, counts


def _refuse_mass_deletion(ctx: "StepContext", feed_name: str, counts: dict[str, int]) -> None:
    limit = ctx.settings.incremental_max_vanished_share
    before, gone = counts["live_before"], counts[DELETED]
    if before and gone / before > limit:
        raise SnapshotRefused(
            f"the {feed_name} snapshot would delete {gone:,} of the {before:,} records the lake holds "
            f"({gone / before:.1%}, more than INCREMENTAL_MAX_VANISHED_SHARE={limit:.0%}): a truncated or partial "
            f"input, refused; the state is unchanged. If the source really lost them, raise the share for one run "
            f"or run with --full")
