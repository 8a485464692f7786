"""MovieLens ratings, films, tags and links (read by `sources/movielens.py`): cleaning with counted rejects.

Each file is read as text lines and parsed with a declared schema, so a rejected row keeps its raw line
(house style: nothing disappears, and a reject shows what was received). Cleaning is data: every table has an
ordered list of (reason, condition) rules; a row breaking several rules is rejected for the first one. Duplicates
are resolved after the rules, keeping one row per key and rejecting the others with a reason.
Columns get the lake's names on the way in (userId -> user_id, movieId -> movie_id, tmdbId -> tmdb_id).
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, DoubleType, IntegerType, LongType, StringType, StructField, StructType,
                               TimestampType)

RATING_MIN, RATING_MAX = 0.5, 5.0  # the MovieLens scale: half stars from 0.5 to 5.0 (GroupLens README)
NO_GENRES = "(no genres listed)"   # MovieLens' marker for a film without genres

# Clean tables, in the lake's column names.
RATINGS = StructType([StructField("user_id", IntegerType(), False), StructField("movie_id", IntegerType(), False),
                      StructField("rating", DoubleType(), False), StructField("rated_at", TimestampType(), True)])
MOVIES = StructType([StructField("movie_id", IntegerType(), False), StructField("title", StringType(), True),
                     StructField("year", IntegerType(), True),
                     StructField("genres", ArrayType(StringType(), True), True)])
TAGS = StructType([StructField("user_id", IntegerType(), False), StructField("movie_id", IntegerType(), False),
                   StructField("tag", StringType(), False), StructField("tagged_at", TimestampType(), True)])
LINKS = StructType([StructField("movie_id", IntegerType(), False), StructField("imdb_id", StringType(), True),
                    StructField("tmdb_id", LongType(), False)])

# --- rules ------------------------------------------------------------------------------------------------
def first_broken_rule(rules: list[tuple[str, Column]]) -> Column:
    """The reason of the first rule whose condition is true, else null (a row that passes every rule)."""
    return F.coalesce(*[F.when(condition, F.lit(reason)) for reason, condition in rules], F.lit(None).cast("string"))


def _blank(col: str) -> Column:
    return F.col(col).isNull() | (F.trim(F.col(col)) == "")


def flag_ratings(raw: DataFrame) -> DataFrame:
    """Ratings with `reject_reason`: ids present, rating on the MovieLens scale, one rating per user and film."""
    rules = [
        ("user_id_missing_or_invalid", F.col("userId").isNull()),
        ("movie_id_missing_or_invalid", F.col("movieId").isNull()),
        ("rating_missing_or_invalid", F.col("rating").isNull() | F.isnan("rating")),
        ("rating_outside_0.5_to_5.0", ~F.col("rating").between(RATING_MIN, RATING_MAX)),
    ]
    flagged = raw.withColumn("reject_reason", first_broken_rule(rules))
    # MovieLens holds one rating per (user, film); a repeated pair keeps the latest rating, as the site does.
    return (_reject_duplicates(flagged, ["userId", "movieId"], F.col("timestamp").desc_nulls_last(), "duplicate_rating")
            .withColumn("record_ref", F.format_string("userId=%s movieId=%s", "userId", "movieId")))


def flag_movies(raw: DataFrame) -> DataFrame:
    rules = [
        ("movie_id_missing_or_invalid", F.col("movieId").isNull()),
        ("title_empty", _blank("title")),
    ]
    flagged = raw.withColumn("reject_reason", first_broken_rule(rules))
    return (_reject_duplicates(flagged, ["movieId"], F.col("raw"), "duplicate_movie_id")
            .withColumn("record_ref", F.format_string("movieId=%s", "movieId")))


def flag_tags(raw: DataFrame) -> DataFrame:
    """Tags: ids present, tag text not empty, one copy of a tag per user and film (case and spaces ignored)."""
    rules = [
        ("user_id_missing_or_invalid", F.col("userId").isNull()),
        ("movie_id_missing_or_invalid", F.col("movieId").isNull()),
        ("tag_empty", _blank("tag")),
    ]
    flagged = raw.withColumn("reject_reason", first_broken_rule(rules)).withColumn("_tag_key", F.lower(F.trim("tag")))
    # The first time a user tagged a film with a word is the one kept; later repeats add nothing.
    return (_reject_duplicates(flagged, ["userId", "movieId", "_tag_key"],
                               F.col("timestamp").asc_nulls_last(), "duplicate_tag")
            .withColumn("record_ref", F.format_string("userId=%s movieId=%s", "userId", "movieId"))
            .drop("_tag_key"))


def flag_links(raw: DataFrame) -> DataFrame:
    """Links: a movie id and a TMDB id (the bridge to Gold); one link per film."""
    rules = [
        ("movie_id_missing_or_invalid", F.col("movieId").isNull()),
        ("tmdb_id_missing", F.col("tmdbId").isNull()),
    ]
    flagged = raw.withColumn("reject_reason", first_broken_rule(rules))
    return (_reject_duplicates(flagged, ["movieId"], F.col("raw"), "duplicate_movie_id")
            .withColumn("record_ref", F.format_string("movieId=%s", "movieId")))


def _reject_duplicates(flagged: DataFrame, key: list[str], keep_first: Column, reason: str) -> DataFrame:
    """Among rows that passed the rules, keep the first per key (by `keep_first`) and reject the rest."""
    order = Window.partitionBy(*key, F.col("reject_reason").isNull()).orderBy(keep_first, F.col("raw"))
    duplicate = F.col("reject_reason").isNull() & (F.row_number().over(order) > 1)
    return flagged.withColumn("reject_reason", F.when(duplicate, F.lit(reason)).otherwise(F.col("reject_reason")))


# --- kept rows in the lake's names ----------------------------------------------------------------------
def clean_ratings(flagged: DataFrame) -> DataFrame:
    return flagged.filter(F.col("reject_reason").isNull()).select(
        F.col("userId").alias("user_id"), F.col("movieId").alias("movie_id"), F.col("rating"),
        F.timestamp_seconds("timestamp").alias("rated_at"))


def clean_movies(flagged: DataFrame) -> DataFrame:
    """Title without its '(1995)' suffix, the year from it (null when absent), genres as a list."""
    title = F.trim("title")
    year_match = F.regexp_extract(title, r"\((\d{4})\)\s*$", 1)
    without_year = F.trim(F.regexp_replace(title, r"\s*\(\d{4}\)\s*$", ""))
    genres = F.when(F.col("genres").isNull() | (F.col("genres") == NO_GENRES), F.array().cast("array<string>")) \
              .otherwise(F.split("genres", r"\|"))
    return flagged.filter(F.col("reject_reason").isNull()).select(
        F.col("movieId").alias("movie_id"),
        F.when(year_match != "", without_year).otherwise(title).alias("title"),
        F.when(year_match != "", year_match.cast("int")).alias("year"),
        genres.alias("genres"))


def clean_tags(flagged: DataFrame) -> DataFrame:
    return flagged.filter(F.col("reject_reason").isNull()).select(
        F.col("userId").alias("user_id"), F.col("movieId").alias("movie_id"), F.trim("tag").alias("tag"),
        F.timestamp_seconds("timestamp").alias("tagged_at"))


def clean_links(flagged: DataFrame) -> DataFrame:
    imdb_digits = F.regexp_extract(F.trim("imdbId"), r"^(?:tt)?(\d+)$", 1)
    return flagged.filter(F.col("reject_reason").isNull()).select(
        F.col("movieId").alias("movie_id"),
        # TMDB and Gold write IMDb ids as 'tt' + at least 7 digits.
        F.when(imdb_digits != "", F.concat(F.lit("tt"), F.lpad(imdb_digits, 7, "0"))).alias("imdb_id"),
        F.col("tmdbId").alias("tmdb_id"))


def rejects(flagged: DataFrame, source: str, run_id: str) -> DataFrame:
    """Rejected rows in the lake's reject layout (BRONZE_REJECTS): where from, which record, why, what was received."""
    return flagged.filter(F.col("reject_reason").isNotNull()).select(
        F.lit(source).alias("source"), F.col("_source_uri"), F.col("record_ref"),
        F.col("reject_reason").alias("reason"), F.col("raw"),
        F.current_timestamp().alias("_ingested_at"), F.lit(run_id).alias("_run_id"))


FLAGGERS = {"ratings": flag_ratings, "movies": flag_movies, "tags": flag_tags, "links": flag_links}
CLEANERS = {"ratings": clean_ratings, "movies": clean_movies, "tags": clean_tags, "links": clean_links}
