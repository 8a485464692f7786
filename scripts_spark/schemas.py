"""Declared Spark schemas of every lake table: the contract between steps.

Every column keeps one name from Bronze to Gold (`tmdb_id`, `release_id`, `title_norm`). Tables are
partitioned by `run_id` (added by `Lake.write_table`, so it is not part of these schemas).
Types are declared here and never inferred.
"""
from __future__ import annotations

from pyspark.sql.types import (ArrayType, BooleanType, DateType, DoubleType, IntegerType, LongType, StringType,
                               StructField, StructType, TimestampType)

# The marts declare their columns next to the code that builds them (house style: one place per table).
from .transforms.marts import (GOLD_COMPOSER_STATS, GOLD_FILM_GENRE_X_SOUNDTRACK_GENRE, GOLD_GENRE_BY_DECADE,
                               GOLD_POPULARITY_BY_SOUNDTRACK_GENRE)


def _s(*fields: tuple) -> StructType:
    return StructType([StructField(name, dtype, nullable) for name, dtype, nullable in fields])


STR_ARRAY = ArrayType(StringType(), True)

# Bronze metadata carried by every Bronze row (house style: raw payload as received + provenance).
BRONZE_META = [
    ("payload", StringType(), True),           # the record as received: JSON text or XML fragment
    ("_source", StringType(), False),          # tmdb | musicbrainz | discogs_dump | discogs_search | discogs_api ...
    ("_source_uri", StringType(), True),       # file path or request URL, secrets stripped
    ("_ingested_at", TimestampType(), False),
    ("_run_id", StringType(), False),
    ("_payload_sha256", StringType(), True),
]

# --- Bronze ---------------------------------------------------------------------------------
BRONZE_TMDB_MOVIES = _s(
    ("tmdb_id", LongType(), True),
    ("imdb_id", StringType(), True),
    ("title", StringType(), True),
    ("original_title", StringType(), True),
    ("original_language", StringType(), True),
    ("release_date", StringType(), True),
    ("genres", STR_ARRAY, True),
    ("popularity", DoubleType(), True),
    ("vote_count", LongType(), True),
    ("vote_average", DoubleType(), True),
    ("composers", STR_ARRAY, True),            # crew with job 'Original Music Composer' or 'Music'
    *BRONZE_META,
)

BRONZE_MUSICBRAINZ_RELEASE_GROUPS = _s(
    ("release_group_id", StringType(), True),  # MBID
    ("title", StringType(), True),
    ("primary_type", StringType(), True),
    ("secondary_types", STR_ARRAY, True),      # as received (some rows hold one comma-joined string)
    ("first_release_date", StringType(), True),
    ("artists", STR_ARRAY, True),              # artist-credit names
    ("tags", STR_ARRAY, True),
    *BRONZE_META,
)

EXTRA_ARTIST = StructType([StructField("name", StringType(), True), StructField("role", StringType(), True)])

BRONZE_DISCOGS_RELEASES = _s(
    ("release_id", LongType(), True),
    ("master_id", LongType(), True),           # null when the release has no master
    ("is_main_release", BooleanType(), True),
    ("status", StringType(), True),
    ("title", StringType(), True),
    ("artists", STR_ARRAY, True),
    ("extra_artists", ArrayType(EXTRA_ARTIST, True), True),
    ("genres", STR_ARRAY, True),
    ("styles", STR_ARRAY, True),
    ("formats", STR_ARRAY, True),              # format names and descriptions, flattened ('Vinyl', 'LP', 'Album')
    ("country", StringType(), True),
    ("released", StringType(), True),          # as in the dump: '1999-03-00', '1999', ''
    ("labels", STR_ARRAY, True),
    ("data_quality", StringType(), True),
    *BRONZE_META,
)

BRONZE_DISCOGS_MASTERS = _s(
    ("master_id", LongType(), True),
    ("main_release", LongType(), True),
    ("title", StringType(), True),
    ("artists", STR_ARRAY, True),
    ("year", IntegerType(), True),             # 0 in the dump means unknown
    ("genres", STR_ARRAY, True),
    ("styles", STR_ARRAY, True),
    ("data_quality", StringType(), True),
    *BRONZE_META,
)

BRONZE_DISCOGS_SEARCH_RESULTS = _s(
    ("result_id", LongType(), True),           # release id or master id, per result_type
    ("result_type", StringType(), True),       # release | master
    ("master_id", LongType(), True),           # 0/null = no master
    ("title", StringType(), True),             # 'Artist - Title' as Discogs returns it
    ("year", StringType(), True),              # a string or missing in the API
    ("country", StringType(), True),
    ("genres", STR_ARRAY, True),
    ("styles", STR_ARRAY, True),
    ("formats", STR_ARRAY, True),
    ("labels", STR_ARRAY, True),
    ("query", StringType(), True),             # the search that returned it
    *BRONZE_META,
)

BRONZE_REJECTS = _s(
    ("source", StringType(), False),
    ("_source_uri", StringType(), True),
    ("record_ref", StringType(), True),        # line number, byte offset or id: where to find the raw record
    ("reason", StringType(), False),
    ("raw", StringType(), True),
    ("_ingested_at", TimestampType(), False),
    ("_run_id", StringType(), False),
)

# --- Silver -------------------------------------------------------------------------------------
SILVER_FILMS = _s(
    ("tmdb_id", LongType(), True),
    ("imdb_id", StringType(), True),
    ("title", StringType(), True),
    ("original_title", StringType(), True),
    ("original_language", StringType(), True),
    ("year", IntegerType(), True),
    ("release_date", DateType(), True),
    ("genres", STR_ARRAY, True),
    ("popularity", DoubleType(), True),
    ("vote_count", LongType(), True),
    ("vote_average", DoubleType(), True),
    ("composers", STR_ARRAY, True),
    ("title_norm", StringType(), True),
    ("original_title_norm", StringType(), True),
    ("title_tokens", STR_ARRAY, True),
    ("composers_norm", STR_ARRAY, True),
    ("title_norm_is_fallback", BooleanType(), True),
    ("_bronze_ref", StringType(), True),       # 'bronze/<table>:<_payload_sha256>' pointer to the raw record
)

SILVER_RELEASES = _s(
    ("source", StringType(), True),            # musicbrainz | discogs
    ("release_id", StringType(), True),        # MBID, Discogs master id, or Discogs release id (no master)
    ("release_kind", StringType(), True),      # release_group | master | release
    ("title", StringType(), True),
    ("artists", STR_ARRAY, True),
    ("year", IntegerType(), True),
    ("primary_type", StringType(), True),
    ("secondary_types", STR_ARRAY, True),
    ("genres", STR_ARRAY, True),
    ("styles", STR_ARRAY, True),
    ("formats", STR_ARRAY, True),
    ("country", StringType(), True),
    ("member_release_ids", STR_ARRAY, True),   # Discogs releases folded into the master
    ("credits", STR_ARRAY, True),              # composer-like credits (Discogs extra artists: Composed By, Music By, Score)
    ("title_norm", StringType(), True),
    ("title_tokens", STR_ARRAY, True),
    ("film_hint_norm", StringType(), True),    # film name found inside a qualifier: 'X (From "Film")'
    ("artists_norm", STR_ARRAY, True),
    ("title_norm_is_fallback", BooleanType(), True),
    ("_bronze_ref", StringType(), True),
)

SILVER_CANDIDATE_PAIRS = _s(
    ("tmdb_id", LongType(), True),
    ("source", StringType(), True),
    ("release_id", StringType(), True),
    ("rules", STR_ARRAY, True),                # blocking rules that proposed the pair
)

SILVER_QUARANTINE = _s(
    ("table", StringType(), False),
    ("rule", StringType(), False),
    ("reason", StringType(), False),
    ("record_key", StringType(), True),
    ("_bronze_ref", StringType(), True),
    ("record", StringType(), True),            # the offending row as JSON
)

# --- Gold ---------------------------------------------------------------------------------------
GOLD_SOUNDTRACK_MATCHES = _s(
    ("tmdb_id", LongType(), False),
    ("source", StringType(), False),
    ("release_id", StringType(), False),
    ("release_kind", StringType(), False),
    ("match_score", DoubleType(), False),
    ("decision", StringType(), False),         # match | review
    ("reasons", StringType(), True),           # JSON: feature values and their signed contributions
)

GOLD_REVIEW_QUEUE = _s(
    ("tmdb_id", LongType(), False),
    ("film_title", StringType(), True),
    ("film_year", IntegerType(), True),
    ("film_composers", STR_ARRAY, True),
    ("source", StringType(), False),
    ("release_id", StringType(), False),
    ("release_kind", StringType(), True),
    ("release_title", StringType(), True),
    ("release_year", IntegerType(), True),
    ("release_artists", STR_ARRAY, True),
    ("match_score", DoubleType(), False),
    ("reasons", StringType(), True),
)

GOLD_FILM_SOUNDTRACKS = _s(
    ("tmdb_id", LongType(), False),
    ("imdb_id", StringType(), True),
    ("film_title", StringType(), True),
    ("film_year", IntegerType(), True),
    ("decade", IntegerType(), True),           # 1990 for 1990-1999; null when the film has no year
    ("film_genres", STR_ARRAY, True),
    ("popularity", DoubleType(), True),
    ("vote_average", DoubleType(), True),
    ("vote_count", LongType(), True),
    ("composers", STR_ARRAY, True),
    ("source", StringType(), False),
    ("release_id", StringType(), False),
    ("release_kind", StringType(), True),
    ("release_title", StringType(), True),
    ("release_year", IntegerType(), True),
    ("release_artists", STR_ARRAY, True),
    ("release_genres", STR_ARRAY, True),
    ("release_styles", STR_ARRAY, True),
    ("release_secondary_types", STR_ARRAY, True),
    ("soundtrack_genres", STR_ARRAY, True),    # unified: Discogs genres+styles, MusicBrainz tags+secondary types
    ("match_score", DoubleType(), False),
)

TABLES: dict[str, StructType] = {
    "bronze/tmdb_movies": BRONZE_TMDB_MOVIES,
    "bronze/musicbrainz_release_groups": BRONZE_MUSICBRAINZ_RELEASE_GROUPS,
    "bronze/discogs_releases": BRONZE_DISCOGS_RELEASES,
    "bronze/discogs_masters": BRONZE_DISCOGS_MASTERS,
    "bronze/discogs_search_results": BRONZE_DISCOGS_SEARCH_RESULTS,
    "bronze/tmdb_rejects": BRONZE_REJECTS,
    "bronze/release_rejects": BRONZE_REJECTS,
    "silver/films": SILVER_FILMS,
    "silver/releases": SILVER_RELEASES,
    "silver/candidate_pairs": SILVER_CANDIDATE_PAIRS,
    "gold/soundtrack_matches": GOLD_SOUNDTRACK_MATCHES,
    "gold/review_queue": GOLD_REVIEW_QUEUE,
    "gold/film_soundtracks": GOLD_FILM_SOUNDTRACKS,
    "gold/genre_by_decade": GOLD_GENRE_BY_DECADE,
    "gold/popularity_by_soundtrack_genre": GOLD_POPULARITY_BY_SOUNDTRACK_GENRE,
    "gold/film_genre_x_soundtrack_genre": GOLD_FILM_GENRE_X_SOUNDTRACK_GENRE,
    "gold/composer_stats": GOLD_COMPOSER_STATS,
}


def schema_of(table: str) -> StructType:
    """Declared schema of a table; quarantine and staged tables share their base table's schema."""
    if table.startswith("silver/quarantine/"):
        return SILVER_QUARANTINE
    if table.startswith("silver/staged/"):
        return TABLES["silver/" + table.split("/", 2)[2]]
    if table not in TABLES:
        raise KeyError(f"no declared schema for table {table!r}")
    return TABLES[table]
