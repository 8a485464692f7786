"""Link identity and link history: `link_id`, and the events between two versions of gold/soundtrack_matches.

`link_id` names a (release, film) link, the same in every run, full or incremental, and outside Spark:
the first 24 hex digits of sha256('<source>|<release_kind>|<release_id>|<tmdb_id>'). In DuckDB:
`substr(sha256(source || '|' || release_kind || '|' || release_id || '|' || tmdb_id), 1, 24)`. A release that
moves to another film gets a new link_id (the review loop's verdicts are about one film for one release).
"""
from __future__ import annotations

import hashlib

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..tables.silver import RELEASE_KEY

LINK_ID_HEX = 24   # 96 bits: no collision in any catalogue (10M links: odds ~1e-15)


def link_id(source: Column | str = "source", release_kind: Column | str = "release_kind",
            release_id: Column | str = "release_id", tmdb_id: Column | str = "tmdb_id") -> Column:
    """The link's stable id (see the module docstring); null when a part is null."""
    parts = [F.col(c) if isinstance(c, str) else c for c in (source, release_kind, release_id, tmdb_id)]
    joined = F.concat(parts[0], F.lit("|"), parts[1], F.lit("|"), parts[2], F.lit("|"), parts[3].cast("string"))
    return F.substring(F.sha2(joined, 256), 1, LINK_ID_HEX)


def link_id_of(source: str, release_kind: str, release_id: str, tmdb_id: int) -> str:
    """`link_id` in plain Python (tools, the review page, tests)."""
    text = f"{source}|{release_kind}|{release_id}|{tmdb_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:LINK_ID_HEX]


# --- link history ----------------------------------------------------------------------------------------------
ADDED, REMOVED, MOVED, DECISION_CHANGED, SCORE_CHANGED = ("added", "removed", "moved", "decision_changed",
                                                           "score_changed")
EVENTS = (ADDED, REMOVED, MOVED, DECISION_CHANGED, SCORE_CHANGED)
RELEASE = RELEASE_KEY


def link_events(before: DataFrame, after: DataFrame, run_id: str, mode: str, reasons: DataFrame | None,
                default_reason: str, score_tolerance: float) -> DataFrame:
    """This run's events (schema_of("gold/link_history")) between two versions of gold/soundtrack_matches, one per
    release whose link was added, removed, moved to another film, changed decision, or moved its score by more than
    `score_tolerance`; `reasons` (source, release_kind, release_id, reason) says why a release was decided again."""
    b = before.select(*RELEASE, *[F.col(c).alias(f"b_{c}") for c in ("tmdb_id", "decision", "match_score", "link_id")])
    a = after.select(*RELEASE, *[F.col(c).alias(f"a_{c}") for c in ("tmdb_id", "decision", "match_score", "link_id")])
    event = (F.when(F.col("b_tmdb_id").isNull(), F.lit(ADDED))
             .when(F.col("a_tmdb_id").isNull(), F.lit(REMOVED))
             .when(F.col("a_tmdb_id") != F.col("b_tmdb_id"), F.lit(MOVED))
             .when(F.col("a_decision") != F.col("b_decision"), F.lit(DECISION_CHANGED))
             .when(F.abs(F.col("a_match_score") - F.col("b_match_score")) > score_tolerance, F.lit(SCORE_CHANGED)))
    events = b.join(a, list(RELEASE), "full_outer").withColumn("event", event).where(F.col("event").isNotNull())
    if reasons is not None:
        events = events.join(reasons.select(*RELEASE, F.col("reason").alias("_why")), list(RELEASE), "left")
    else:
        events = events.withColumn("_why", F.lit(None).cast("string"))
    return events.select(
        F.lit(run_id).alias("event_run_id"), "event", *RELEASE,
        F.col("a_tmdb_id").alias("tmdb_id"), F.col("b_tmdb_id").alias("previous_tmdb_id"),
        F.col("a_link_id").alias("link_id"), F.col("b_link_id").alias("previous_link_id"),
        F.col("a_decision").alias("decision"), F.col("b_decision").alias("previous_decision"),
        F.col("a_match_score").alias("match_score"), F.col("b_match_score").alias("previous_match_score"),
        F.coalesce(F.col("_why"), F.lit(default_reason)).alias("reason"), F.lit(mode).alias("mode"))
