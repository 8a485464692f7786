"""Review: the verdicts people give on links in the review page (`python -m scripts_spark review`) or a CSV.

The decisions store lives outside the run partitions, so no run ever replaces it: `<lake root>/review/decisions/`
holds one small JSON file per verdict, written aside and renamed into place (scripts_spark/review/store.py). Step 05
of every later run reads it and applies the latest verdict of each pair.
"""
from __future__ import annotations

from pyspark.sql.types import DoubleType, LongType, StringType

from .core import Table, cols

SOURCES = ("musicbrainz", "discogs")
RELEASE_KINDS = ("release_group", "master", "release")
VERDICTS = ("accept", "reject", "another_film")

DECISIONS = Table(
    name="review/decisions", written_by="review",
    about="One row per verdict a person gave, never rewritten: the pair shown, the verdict, who and when, and the "
          "matcher version and score they saw. The latest verdict of a pair (by `decided_at`) is the one step 05 "
          "applies; the earlier ones stay.",
    key=("decision_id",),
    notes="written by the review page and `review import` (scripts_spark/review), read by step 05; JSON files, one "
          "per verdict, under `<lake root>/review/decisions/` (no run_id partition); `make clean` leaves them.",
    columns=cols(
        ("decision_id", StringType(), "unique; sorts by time ('<decided_at, compact>-<random hex>')",
         {"required": True}),
        ("decided_at", StringType(), "UTC, ISO 8601 with microseconds ('2026-11-30T09:12:03.123456Z')",
         {"required": True}),
        ("reviewer", StringType(), "who decided (the page's or the import's --reviewer, default the login name)",
         {"required": True}),
        ("source", StringType(), "musicbrainz | discogs", {"allowed": SOURCES}),
        ("release_kind", StringType(), "release_group | master | release", {"allowed": RELEASE_KINDS}),
        ("release_id", StringType(), "the release shown", {"required": True}),
        ("tmdb_id", LongType(), "the film the matcher proposed for it", {"required": True}),
        ("verdict", StringType(), "accept (the proposed film is right) | reject (it is not) | another_film "
                                  "(the release is `chosen_tmdb_id`'s)", {"allowed": VERDICTS}),
        ("chosen_tmdb_id", LongType(), "another_film: the film the release belongs to; null otherwise"),
        ("run_id", StringType(), "the run whose queue was shown"),
        ("matcher_version", StringType(), "the matcher that proposed the link (match_settings.json `version`)"),
        ("match_score", DoubleType(), "the match score shown", {"range": (0, 1)}),
        ("model_decision", StringType(), "what the matcher had decided: review (a queued link) | match (an "
                                         "automatic one, drawn for an audit)", {"allowed": ("match", "review")}),
        ("sample", StringType(), "queue (worked from the review queue) | audit (a random draw of automatic "
                                 "matches: the precision estimate counts only these)", {"allowed": ("queue", "audit")}),
        ("via", StringType(), "page | csv", {"allowed": ("page", "csv")}),
    ),
)

TABLES = (DECISIONS,)
