"""Bronze: each source's records as received, one table per record type, plus the rejects of steps 01, 02 and 07.

Every Bronze row keeps the raw payload and where it came from (`BRONZE_META`); the typed columns beside it are
parsed for convenience and never reshaped. Contracts here are the schema only: Bronze stores what the source sent.
"""
from __future__ import annotations

from pyspark.sql.types import (ArrayType, BooleanType, DoubleType, IntegerType, LongType, StringType, StructField,
                               StructType, TimestampType)

from .core import Table, cols

STR_ARRAY = ArrayType(StringType(), True)
EXTRA_ARTIST = StructType([StructField("name", StringType(), True), StructField("role", StringType(), True)])

BRONZE_META = cols(
    ("payload", StringType(), "the record as received: JSON text or XML fragment"),
    ("_source", StringType(), "tmdb | musicbrainz | discogs_dump | discogs_search | discogs_api ..."),
    ("_source_uri", StringType(), "file path or request URL, secrets stripped"),
    ("_ingested_at", TimestampType(), "when the record was read"),
    ("_run_id", StringType(), "the run that read it"),
    ("_payload_sha256", StringType(), "hash of the payload: the pointer Silver rows keep (`_bronze_ref`)"),
    ("_source_pos", LongType(), "where the record is in its file: line (JSON lines, from 1), byte offset of the "
                                "decompressed dump (XML), result index (search page); null for API responses"),
)

TMDB_MOVIES = Table(
    name="bronze/tmdb_movies", written_by="01",
    about="TMDB films as received (file mode: one JSON object a line; API mode: /movie/{id} with credits).",
    columns=cols(
        ("tmdb_id", LongType(), "TMDB film id"),
        ("imdb_id", StringType(), "IMDb id ('tt...')"),
        ("title", StringType(), "title as TMDB shows it"),
        ("original_title", StringType(), "title in the original language"),
        ("original_language", StringType(), "ISO 639-1"),
        ("release_date", StringType(), "as received ('1999-03-31')"),
        ("genres", STR_ARRAY, "TMDB genre names"),
        ("popularity", DoubleType(), "TMDB popularity"),
        ("vote_count", LongType(), "TMDB votes"),
        ("vote_average", DoubleType(), "TMDB mean vote, 0..10"),
        ("composers", STR_ARRAY, "crew with job 'Original Music Composer' or 'Music'"),
    ) + BRONZE_META,
)

MUSICBRAINZ_RELEASE_GROUPS = Table(
    name="bronze/musicbrainz_release_groups", written_by="02",
    about="MusicBrainz release groups as received (JSON dump lines or /ws/2 search results).",
    columns=cols(
        ("release_group_id", StringType(), "MBID"),
        ("title", StringType(), "release group title"),
        ("primary_type", StringType(), "Album | Single | EP | ..."),
        ("secondary_types", STR_ARRAY, "as received (some rows hold one comma-joined string)"),
        ("first_release_date", StringType(), "as received: '1999', '1999-03', '1999-03-31' or empty"),
        ("artists", STR_ARRAY, "artist-credit names"),
        ("tags", STR_ARRAY, "folksonomy tags"),
        ("imdb_ids", STR_ARRAY, "IMDb title ids of the group's IMDb URL relationships (dumps carry them; the search "
                                "API mode walks does not)"),
    ) + BRONZE_META,
)

DISCOGS_RELEASES = Table(
    name="bronze/discogs_releases", written_by="02",
    about="Discogs releases from the monthly XML dump (soundtrack candidates only; the rest are counted as filtered).",
    columns=cols(
        ("release_id", LongType(), "Discogs release id"),
        ("master_id", LongType(), "null when the release has no master"),
        ("is_main_release", BooleanType(), "the master's main release"),
        ("status", StringType(), "Accepted | Draft | ..."),
        ("title", StringType(), "release title"),
        ("artists", STR_ARRAY, "artist names"),
        ("extra_artists", ArrayType(EXTRA_ARTIST, True), "credits with their role"),
        ("genres", STR_ARRAY, "Discogs genres"),
        ("styles", STR_ARRAY, "Discogs styles"),
        ("formats", STR_ARRAY, "format names and descriptions, flattened ('Vinyl', 'LP', 'Album')"),
        ("country", StringType(), "release country"),
        ("released", StringType(), "as in the dump: '1999-03-00', '1999', ''"),
        ("labels", STR_ARRAY, "label names"),
        ("data_quality", StringType(), "Discogs data quality"),
    ) + BRONZE_META,
)

DISCOGS_MASTERS = Table(
    name="bronze/discogs_masters", written_by="02",
    about="Discogs masters from the monthly XML dump.",
    columns=cols(
        ("master_id", LongType(), "Discogs master id"),
        ("main_release", LongType(), "its main release id"),
        ("title", StringType(), "master title"),
        ("artists", STR_ARRAY, "artist names"),
        ("year", IntegerType(), "0 in the dump means unknown"),
        ("genres", STR_ARRAY, "Discogs genres"),
        ("styles", STR_ARRAY, "Discogs styles"),
        ("data_quality", StringType(), "Discogs data quality"),
    ) + BRONZE_META,
)

DISCOGS_SEARCH_RESULTS = Table(
    name="bronze/discogs_search_results", written_by="02",
    about="Discogs /database/search results (API mode, or saved search pages in file mode).",
    columns=cols(
        ("result_id", LongType(), "release id or master id, per result_type"),
        ("result_type", StringType(), "release | master"),
        ("master_id", LongType(), "0/null = no master"),
        ("title", StringType(), "'Artist - Title' as Discogs returns it"),
        ("year", StringType(), "a string or missing in the API"),
        ("country", StringType(), "release country"),
        ("genres", STR_ARRAY, "Discogs genres"),
        ("styles", STR_ARRAY, "Discogs styles"),
        ("formats", STR_ARRAY, "formats"),
        ("labels", STR_ARRAY, "labels"),
        ("query", StringType(), "the search that returned it"),
    ) + BRONZE_META,
)

REJECT_COLUMNS = cols(
    ("source", StringType(), "the source of the record"),
    ("_source_uri", StringType(), "file path or request URL"),
    ("record_ref", StringType(), "line number, byte offset or id: where to find the raw record"),
    ("reason", StringType(), "why it was rejected"),
    ("raw", StringType(), "the raw record (truncated when very long)"),
    ("_ingested_at", TimestampType(), "when it was read"),
    ("_run_id", StringType(), "the run that read it"),
)

TMDB_REJECTS = Table(name="bronze/tmdb_rejects", written_by="01", columns=REJECT_COLUMNS,
                     about="TMDB records that could not be read (malformed JSON, no id, HTTP errors), with the raw text.")
RELEASE_REJECTS = Table(name="bronze/release_rejects", written_by="02", columns=REJECT_COLUMNS,
                        about="MusicBrainz and Discogs records that could not be read, with the raw text.")
MOVIELENS_REJECTS = Table(name="bronze/movielens_rejects", written_by="07", columns=REJECT_COLUMNS,
                          about="MovieLens CSV rows that break the file's rules (bad rating, duplicate, no id).")

TABLES = (TMDB_MOVIES, MUSICBRAINZ_RELEASE_GROUPS, DISCOGS_RELEASES, DISCOGS_MASTERS, DISCOGS_SEARCH_RESULTS,
          TMDB_REJECTS, RELEASE_REJECTS, MOVIELENS_REJECTS)
