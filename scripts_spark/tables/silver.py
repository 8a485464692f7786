"""Silver: films and releases cleaned and normalised, the candidate pairs blocking proposes, and the quarantine.

Step 03 writes each table to `silver/staged/<table>`; step 04 checks it against the contract below and writes the
valid rows to `silver/<table>` and the broken ones, with the first broken rule and every reason, to
`silver/quarantine/<table>`.
"""
from __future__ import annotations

from datetime import date

from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BooleanType, DateType, DoubleType, IntegerType, LongType, StringType

from .core import QUARANTINE, Reference, RowRule, Table, cols

STR_ARRAY = ArrayType(StringType(), True)
# A release is named by its kind too: Discogs numbers masters and releases separately, so master 217585 and the
# master-less release 217585 are two releases (docs/scale.md, "Discogs id collisions").
RELEASE_KEY = ("source", "release_kind", "release_id")

# The first films were shot in the late 1870s (Muybridge 1878); TMDB lists 1874 astronomy plates as films, but
# nothing in the catalogue predates 1870, so an earlier year is a parse error.
FIRST_YEAR = 1870


def next_year() -> int:
    """Films and albums are announced up to a year ahead; later than that is an error."""
    return date.today().year + 1


def _has_word(col: str):
    return lambda: F.col(col).rlike(r"[\p{L}\p{N}]")


TITLE_HAS_WORD = RowRule("title_norm_has_word", "normalised title has no letter or digit", _has_word("title_norm"))
BRONZE_REF = ("_bronze_ref", StringType(), "'bronze/<table>:<_payload_sha256>' pointer to the raw record")
SOURCE_ORDER = ("_source_order", StringType(), "where the Bronze record was read, '<file uri>#<line or byte offset, "
                "13 digits>': of rows sharing a key the last in this order is kept, the others quarantined (null for "
                "API records)")
# TMDB sends a release_date as 'YYYY-MM-DD' or ''; one that has a year but is no calendar date ('2020-13-45') is a
# broken record, not a film of 2020 with an unknown day (Silver derives the year from the text, the date by parsing).
RELEASE_DATE_IS_A_DATE = RowRule("release_date_is_a_date",
                                 "release_date is not a calendar date (its year was readable, the date not)",
                                 lambda: F.col("year").isNull() | F.col("release_date").isNotNull())

FILMS = Table(
    name="silver/films", written_by="04", enforce=QUARANTINE, pointer="_bronze_ref",
    about="One row per TMDB film: typed, deduplicated, with normalised titles and composers for matching.",
    key=("tmdb_id",),
    columns=cols(
        ("tmdb_id", LongType(), "TMDB film id", {"range": (1, None)}),
        ("imdb_id", StringType(), "IMDb id"),
        ("title", StringType(), "title", {"required": True}),
        ("original_title", StringType(), "title in the original language"),
        ("original_language", StringType(), "ISO 639-1"),
        ("year", IntegerType(), "release year", {"range": (FIRST_YEAR, next_year)}),
        ("release_date", DateType(), "release date"),
        ("genres", STR_ARRAY, "TMDB genres"),
        ("popularity", DoubleType(), "TMDB popularity", {"range": (0, None)}),
        ("vote_count", LongType(), "TMDB votes", {"range": (0, None)}),
        ("vote_average", DoubleType(), "TMDB mean vote", {"range": (0, 10)}),
        ("composers", STR_ARRAY, "credited composers"),
        ("title_norm", StringType(), "title normalised for matching", {"required": True}),
        ("original_title_norm", StringType(), "original title normalised"),
        ("title_tokens", STR_ARRAY, "words of the normalised titles"),
        ("composers_norm", STR_ARRAY, "composers normalised"),
        ("title_norm_is_fallback", BooleanType(), "the title had no Latin letters; normalised by transliteration"),
        BRONZE_REF,
        SOURCE_ORDER,
    ),
    row_rules=(TITLE_HAS_WORD, RELEASE_DATE_IS_A_DATE),
)

RELEASES = Table(
    name="silver/releases", written_by="04", enforce=QUARANTINE, pointer="_bronze_ref",
    about="One row per soundtrack candidate release: MusicBrainz release groups, Discogs masters, and Discogs "
          "releases without a master. Discogs numbers masters and releases separately, so a master and a "
          "master-less release can share an id: the kind is part of the key.",
    key=RELEASE_KEY,
    columns=cols(
        ("source", StringType(), "musicbrainz | discogs", {"allowed": ("musicbrainz", "discogs")}),
        ("release_id", StringType(), "MBID, Discogs master id, or Discogs release id (no master)"),
        ("release_kind", StringType(), "release_group | master | release",
         {"required": True, "allowed": ("release_group", "master", "release")}),
        ("title", StringType(), "release title", {"required": True}),
        ("artists", STR_ARRAY, "credited artists"),
        ("year", IntegerType(), "first release year", {"range": (FIRST_YEAR, next_year)}),
        ("primary_type", StringType(), "MusicBrainz primary type (Album, Single, EP)"),
        ("secondary_types", STR_ARRAY, "MusicBrainz secondary types (Soundtrack, Compilation)"),
        ("genres", STR_ARRAY, "Discogs genres, or MusicBrainz tags"),
        ("styles", STR_ARRAY, "Discogs styles"),
        ("formats", STR_ARRAY, "Discogs formats"),
        ("labels", STR_ARRAY, "Discogs record labels (MusicBrainz release groups name none)"),
        ("release_date", StringType(), "first release date as far as known: 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD' "
                                       "(MusicBrainz first_release_date; Discogs: the earliest release's `released`)"),
        ("country", StringType(), "release country"),
        ("member_release_ids", STR_ARRAY, "Discogs releases folded into the master"),
        ("credits", STR_ARRAY, "composer-like credits (Discogs extra artists: Composed By, Music By, Score)"),
        ("imdb_ids", STR_ARRAY, "IMDb title ids the release names (MusicBrainz IMDb URL relationships): an exact "
                                "bridge to the film with that id"),
        ("title_norm", StringType(), "title normalised for matching", {"required": True}),
        ("title_tokens", STR_ARRAY, "words of the normalised title"),
        ("film_hint_norm", StringType(), "film name found inside a qualifier: 'X (From \"Film\")'"),
        ("artists_norm", STR_ARRAY, "artists normalised"),
        ("title_norm_is_fallback", BooleanType(), "normalised by transliteration"),
        BRONZE_REF,
        SOURCE_ORDER,
    ),
    row_rules=(
        TITLE_HAS_WORD,
        RowRule("kind_matches_source", "MusicBrainz rows are release groups, Discogs rows masters or releases",
                lambda: F.when(F.col("source") == "musicbrainz", F.col("release_kind") == "release_group")
                .when(F.col("source") == "discogs", F.col("release_kind").isin("master", "release"))
                .otherwise(F.lit(True))),
    ),
)

CANDIDATE_PAIRS = Table(
    name="silver/candidate_pairs", written_by="04", enforce=QUARANTINE,
    about="Film x release pairs proposed by blocking (the only pairs the matcher scores), with the rules that "
          "proposed each.",
    key=("tmdb_id",) + RELEASE_KEY,
    columns=cols(
        ("tmdb_id", LongType(), "film"),
        ("source", StringType(), "release source", {"allowed": ("musicbrainz", "discogs")}),
        ("release_kind", StringType(), "release_group | master | release",
         {"required": True, "allowed": ("release_group", "master", "release")}),
        ("release_id", StringType(), "release"),
        ("rules", STR_ARRAY, "blocking rules that proposed the pair"),
    ),
    row_rules=(RowRule("rules_present", "no blocking rule named for the pair",
                       lambda: F.coalesce(F.size("rules"), F.lit(0)) > 0),),
    references=(Reference("film_exists", ("tmdb_id",), "silver/films"),
                Reference("release_exists", RELEASE_KEY, "silver/releases")),
)

QUARANTINE_TABLE = Table(
    name="silver/quarantine", written_by="04",
    about="Rows that broke their table's contract, one folder per table (`silver/quarantine/<table>`).",
    columns=cols(
        ("table", StringType(), "the table the row was meant for"),
        ("rule", StringType(), "the first rule it broke"),
        ("reason", StringType(), "every broken rule with its reason"),
        ("record_key", StringType(), "the row's key, ':'-joined"),
        ("_bronze_ref", StringType(), "pointer to the raw Bronze record"),
        ("record", StringType(), "the offending row as JSON"),
    ),
)

TABLES = (FILMS, RELEASES, CANDIDATE_PAIRS, QUARANTINE_TABLE)
CHECKED = (FILMS, RELEASES, CANDIDATE_PAIRS)   # step 04's tables, in dependency order
