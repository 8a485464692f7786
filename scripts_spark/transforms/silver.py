"""Bronze -> Silver: one film row per TMDB record, one release row per MusicBrainz release group and per Discogs
master (or master-less release), each with its normalised forms and a pointer to its Bronze record.

Films and MusicBrainz release groups map one Bronze row to one Silver row (a duplicate id stays a row: step 04's
key-uniqueness rule keeps the copy read last from the source, by `_source_order`, and quarantines the others with a
pointer to it, so nothing disappears unseen). A film whose release_date has a year but is no calendar date keeps
both as read (year from the text, date null), and step 04 quarantines it (rule release_date_is_a_date).

Discogs arrives in three shapes (dump masters, dump releases, saved search results); they are folded into one row per
master, because a film's soundtrack is one work whatever its pressings, and a master seen in the dump and in a
search is one row.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from ..tables import schema_of
from .normalise import (discogs_artist_title, normalise_name, normalised_names, normalised_title, split_comma_joined,
                        without_disambiguation, year_of)

# TMDB writes 'Unknown' as a composer name 77 times in the catalogue: a placeholder, not a person.
UNKNOWN_COMPOSERS = ("Unknown",)

# Discogs extra-artist roles that name the music's author: 'Composed By', 'Music By', 'Score', 'Composer'.
COMPOSER_ROLE_PATTERN = r"(?i)\b(composed by|composer|music by|score)\b"

# Order in which a Discogs row's title, artists and country are taken when several Bronze records fold into it:
# the master itself (dump, then search), then the master's main release, then any release (earliest first).
PRIORITY_DUMP_MASTER, PRIORITY_SEARCH_MASTER, PRIORITY_MAIN_RELEASE, PRIORITY_OTHER_RELEASE = 0, 1, 2, 3


def _no_strings() -> Column:
    return F.array().cast("array<string>")


def bronze_ref(table: str) -> Column:
    """'bronze/<table>:<sha256 of the payload>' (the source URI when the hash is missing): where the raw record is."""
    return F.concat(F.lit(f"{table}:"), F.coalesce(F.col("_payload_sha256"), F.col("_source_uri"), F.lit("?")))


# Digits of the line or byte offset in `_source_order`: a 60 GB decompressed dump has 11-digit offsets.
SOURCE_POS_DIGITS = 13


def source_order() -> Column:
    """'<file uri>#<position, zero-padded>' of a Bronze row: sorts in the order the records were read (input files
    are read in name order); null when the record has no position (API responses)."""
    return F.when(F.col("_source_pos").isNotNull(),
                  F.concat(F.coalesce(F.col("_source_uri"), F.lit("")), F.lit("#"),
                           F.lpad(F.col("_source_pos").cast("string"), SOURCE_POS_DIGITS, "0")))


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """The declared columns, in declared order, with declared types."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def _words(title_norm: Column) -> Column:
    return F.array_distinct(F.filter(F.split(F.coalesce(title_norm, F.lit("")), " "), lambda w: w != ""))


def _sorted_union(col: str) -> Column:
    return F.array_sort(F.array_distinct(F.flatten(F.collect_list(F.coalesce(F.col(col), _no_strings())))))


# --- films ---------------------------------------------------------------------------------------------------------
def films_from_bronze(tmdb: DataFrame) -> DataFrame:
    """bronze/tmdb_movies -> silver films (schema_of("silver/films")), one row per Bronze row."""
    unknown = [name.lower() for name in UNKNOWN_COMPOSERS]
    composers = F.filter(F.coalesce(F.col("composers"), _no_strings()),
                         lambda c: c.isNotNull() & (F.trim(c) != "") & ~F.lower(F.trim(c)).isin(*unknown))
    return (tmdb
            .withColumn("composers", composers)
            .withColumn("year", year_of(F.substring(F.col("release_date"), 1, 4)))
            .withColumn("release_date", F.try_to_date(F.col("release_date")))
            .withColumn("_title", normalised_title(F.col("title")))
            .withColumn("_original", normalised_title(F.col("original_title")))
            .withColumn("title_norm", F.col("_title.title_norm"))
            .withColumn("title_norm_is_fallback", F.col("_title.title_norm_is_fallback"))
            .withColumn("original_title_norm", F.col("_original.title_norm"))
            .withColumn("title_tokens", _words(F.col("title_norm")))
            .withColumn("composers_norm", normalised_names(F.col("composers"),
                                                           exclude=[normalise_name(n) for n in UNKNOWN_COMPOSERS]))
            .withColumn("_bronze_ref", bronze_ref("bronze/tmdb_movies"))
            .withColumn("_source_order", source_order())
            .transform(lambda df: conform(df, schema_of("silver/films"))))


# --- releases ------------------------------------------------------------------------------------------------------
def musicbrainz_releases(release_groups: DataFrame) -> DataFrame:
    """bronze/musicbrainz_release_groups -> release rows before normalisation (tags become `genres`)."""
    return release_groups.select(
        F.lit("musicbrainz").alias("source"),
        F.col("release_group_id").alias("release_id"),
        F.lit("release_group").alias("release_kind"),
        "title", "artists",
        year_of(F.col("first_release_date")).alias("year"),
        "primary_type",
        split_comma_joined(F.col("secondary_types")).alias("secondary_types"),
        F.coalesce(F.col("tags"), _no_strings()).alias("genres"),
        _no_strings().alias("styles"), _no_strings().alias("formats"),
        F.lit(None).cast("string").alias("country"),
        release_date(F.col("first_release_date")).alias("release_date"), _no_strings().alias("labels"),
        _no_strings().alias("member_release_ids"), _no_strings().alias("credits"),
        F.coalesce(F.col("imdb_ids"), _no_strings()).alias("imdb_ids"),
        bronze_ref("bronze/musicbrainz_release_groups").alias("_bronze_ref"),
        source_order().alias("_source_order"),
    )


def release_date(col: Column) -> Column:
    """A release date as received, cut to what is known ('1999-03-00' -> '1999-03'); null when it is no date."""
    text = F.regexp_replace(F.trim(col), r"(-00)+$", "")
    return F.when(text.rlike(r"^\d{4}(-\d{2}){0,2}$"), text)


def _column_or_null(df: DataFrame, name: str, dtype: str = "string") -> Column:
    """Masters carry no dates or labels, search results no dates: the Bronze tables differ in these columns."""
    return F.col(name) if name in df.columns else F.lit(None).cast(dtype)


def _discogs_row(df: DataFrame, *, kind: Column, group_id: Column, priority: Column, member: Column, title: Column,
                 artists: Column, year: Column, formats: Column, country: Column, credits: Column,
                 table: str) -> DataFrame:
    """One Discogs Bronze record in the common shape the fold works on."""
    return df.select(
        kind.alias("release_kind"), group_id.cast("string").alias("group_id"), priority.alias("priority"),
        member.cast("string").alias("member_release_id"), title.alias("title"),
        without_disambiguation(F.coalesce(artists, _no_strings())).alias("artists"), year.alias("year"),
        F.coalesce(F.col("genres"), _no_strings()).alias("genres"),
        F.coalesce(F.col("styles"), _no_strings()).alias("styles"),
        F.coalesce(formats, _no_strings()).alias("formats"), country.alias("country"),
        release_date(_column_or_null(df, "released")).alias("release_date"),
        F.coalesce(_column_or_null(df, "labels", "array<string>"), _no_strings()).alias("labels"),
        without_disambiguation(F.coalesce(credits, _no_strings())).alias("credits"),
        bronze_ref(table).alias("_bronze_ref"),
        source_order().alias("_source_order"),
    )


def _has_master(col: str) -> Column:
    return F.col(col).isNotNull() & (F.col(col) > 0)


def discogs_records(masters: DataFrame, releases: DataFrame, search: DataFrame) -> DataFrame:
    """Every Discogs Bronze record as (release_kind, group_id, priority, member_release_id, title, ...)."""
    null_str = F.lit(None).cast("string")
    from_masters = _discogs_row(
        masters, kind=F.lit("master"), group_id=F.col("master_id"), priority=F.lit(PRIORITY_DUMP_MASTER),
        member=null_str, title=F.col("title"), artists=F.col("artists"), year=year_of(F.col("year")),
        formats=_no_strings(), country=null_str, credits=_no_strings(), table="bronze/discogs_masters")

    composer_credits = F.transform(
        F.filter(F.coalesce(F.col("extra_artists"), F.array()),
                 lambda a: F.coalesce(a["role"], F.lit("")).rlike(COMPOSER_ROLE_PATTERN) & a["name"].isNotNull()),
        lambda a: a["name"])
    from_releases = _discogs_row(
        releases,
        kind=F.when(_has_master("master_id"), F.lit("master")).otherwise(F.lit("release")),
        group_id=F.when(_has_master("master_id"), F.col("master_id")).otherwise(F.col("release_id")),
        priority=F.when(F.coalesce(F.col("is_main_release"), F.lit(False)) | ~_has_master("master_id"),
                        F.lit(PRIORITY_MAIN_RELEASE)).otherwise(F.lit(PRIORITY_OTHER_RELEASE)),
        member=F.col("release_id"), title=F.col("title"), artists=F.col("artists"),
        year=year_of(F.col("released")), formats=F.col("formats"), country=F.col("country"),
        credits=composer_credits, table="bronze/discogs_releases")

    is_master_result = F.lower(F.coalesce(F.col("result_type"), F.lit(""))) == "master"
    split = discogs_artist_title(F.col("title"))
    from_search = _discogs_row(
        search,
        kind=F.when(is_master_result | _has_master("master_id"), F.lit("master")).otherwise(F.lit("release")),
        group_id=F.when(is_master_result, F.col("result_id"))
                  .when(_has_master("master_id"), F.col("master_id")).otherwise(F.col("result_id")),
        priority=F.when(is_master_result, F.lit(PRIORITY_SEARCH_MASTER)).otherwise(F.lit(PRIORITY_OTHER_RELEASE)),
        member=F.when(~is_master_result, F.col("result_id")), title=split["title"], artists=split["artists"],
        year=year_of(F.col("year")), formats=F.col("formats"), country=F.col("country"), credits=_no_strings(),
        table="bronze/discogs_search_results")
    return from_masters.unionByName(from_releases).unionByName(from_search)


def fold_discogs(records: DataFrame) -> DataFrame:
    """One row per Discogs master (or master-less release).

    Title, artists and the Bronze pointer come from the best record (master, then main release, then the earliest
    release), the country from the best record that has one; the year is the master's own year, else the earliest
    release's (reissues carry their own, often decades later); the release date the earliest of its releases';
    genres, styles, formats, labels, credits and member release ids are the union of all records.
    A record without an id stays a row of its own (with a null id, for step 04 to quarantine), never merged.
    """
    best_order = F.struct(F.col("title").isNull(), "priority", F.coalesce("year", F.lit(9999)),
                          F.length(F.coalesce("title", F.lit(""))), "_bronze_ref")
    best = F.struct("title", "artists", "_bronze_ref", "_source_order")
    master_year = F.when(F.col("priority") <= PRIORITY_SEARCH_MASTER, F.col("year"))
    return (records
            .withColumn("group_key", F.coalesce(F.col("group_id"),
                                                F.concat(F.lit("no-id:"), F.monotonically_increasing_id())))
            .groupBy("release_kind", "group_key")
            .agg(F.first("group_id", ignorenulls=True).alias("release_id"),
                 F.min_by(best, best_order).alias("best"),
                 # masters carry no country: the best record that has one
                 F.min_by("country", F.when(F.col("country").isNotNull(), best_order)).alias("country"),
                 F.coalesce(F.min(master_year), F.min("year")).alias("year"),
                 _sorted_union("genres").alias("genres"), _sorted_union("styles").alias("styles"),
                 _sorted_union("formats").alias("formats"), _sorted_union("credits").alias("credits"),
                 _sorted_union("labels").alias("labels"), F.min("release_date").alias("release_date"),
                 F.array_sort(F.array_distinct(F.collect_list("member_release_id"))).alias("member_release_ids"))
            .select(F.lit("discogs").alias("source"), "release_id", "release_kind",
                    F.col("best.title").alias("title"), F.col("best.artists").alias("artists"), "year",
                    F.lit(None).cast("string").alias("primary_type"), _no_strings().alias("secondary_types"),
                    "genres", "styles", "formats", "country", "release_date", "labels",
                    "member_release_ids", "credits", _no_strings().alias("imdb_ids"),
                    F.col("best._bronze_ref").alias("_bronze_ref"),
                    F.col("best._source_order").alias("_source_order")))


def with_release_norms(releases: DataFrame) -> DataFrame:
    """Normalised title, film hint, title words and artist names of release rows."""
    return (releases
            .withColumn("_title", normalised_title(F.col("title")))
            .withColumn("title_norm", F.col("_title.title_norm"))
            .withColumn("title_norm_is_fallback", F.col("_title.title_norm_is_fallback"))
            .withColumn("film_hint_norm", F.col("_title.film_hint_norm"))
            .withColumn("title_tokens", _words(F.col("title_norm")))
            .withColumn("artists_norm", normalised_names(F.col("artists"))))


def releases_from_bronze(musicbrainz: DataFrame, discogs_masters: DataFrame, discogs_releases: DataFrame,
                         discogs_search: DataFrame) -> DataFrame:
    """All release sources -> silver releases (schema_of("silver/releases")); any input may be empty."""
    discogs = fold_discogs(discogs_records(discogs_masters, discogs_releases, discogs_search))
    return (musicbrainz_releases(musicbrainz).unionByName(discogs)
            .transform(with_release_norms)
            .transform(lambda df: conform(df, schema_of("silver/releases"))))
