"""Gold tables built from decided links: the review queue and the analytics-ready film_soundtracks."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..tables import schema_of
from .blocking import RELEASE_KEY
from .history import link_id


def _conform(df: DataFrame, schema) -> DataFrame:
    return df.withColumn("link_id", link_id()).select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


# MusicBrainz tags are a folksonomy: beside genres ('film score', 'synthwave') users tag chart runs ('5+ wochen',
# 'offizielle charts'), covers ('cat on cover'), bookkeeping ('added/2016/12/03', 'ph_2_stars'), sites ('laut.de'),
# languages and bare numbers ('24'). Such a label is not a genre and stays out of the genre marts. Discogs genres and
# styles are a fixed vocabulary and never match. On the bundled sample this leaves out 27 of the 166 distinct tags.
NOT_A_GENRE = (r"\d|[/_#@.:()\[\]]|\b(cover|charts?|wochen|added|favou?rites?|seen live|owned|wishlist)\b|"
               r"^(english|german|deutsch|french|japanese|spanish|italian|korean|chinese|hindi|russian|swedish)$")


def _clean_labels(col: Column) -> Column:
    return F.filter(F.transform(F.coalesce(col, F.array().cast("array<string>")), lambda x: F.lower(F.trim(x))),
                    lambda x: x.isNotNull() & (x != "") & ~x.rlike(NOT_A_GENRE))


def soundtrack_genres(genres: Column, styles: Column, secondary_types: Column) -> Column:
    """One vocabulary for both sources: Discogs genres + styles, MusicBrainz tags (Silver `genres`) + secondary
    types; lower-cased, distinct, sorted ('Soundtrack' from either source becomes one 'soundtrack'); labels that are
    not genres (NOT_A_GENRE) are left out."""
    return F.array_sort(F.array_distinct(F.concat(_clean_labels(genres), _clean_labels(styles),
                                                  _clean_labels(secondary_types))))


def decade(year: Column) -> Column:
    """1990 for 1990-1999; null when there is no year."""
    return (F.floor(year / 10) * 10).cast("int")


def _film_fields(films: DataFrame) -> DataFrame:
    return films.select("tmdb_id", "imdb_id", F.col("title").alias("film_title"), F.col("year").alias("film_year"),
                        F.col("genres").alias("film_genres"), "popularity", "vote_average", "vote_count",
                        "composers")


def _release_fields(releases: DataFrame) -> DataFrame:
    return releases.select(*RELEASE_KEY,
                           F.col("title").alias("release_title"), F.col("year").alias("release_year"),
                           F.col("artists").alias("release_artists"), F.col("genres").alias("release_genres"),
                           F.col("styles").alias("release_styles"),
                           F.col("secondary_types").alias("release_secondary_types"))


def review_queue(links: DataFrame, films: DataFrame, releases: DataFrame) -> DataFrame:
    """Links in the review band, with both sides' titles, years and artists next to the reasons (schema_of("gold/review_queue"))."""
    band = links.filter(F.col("decision") == "review").select("tmdb_id", "source", "release_id", "release_kind",
                                                              "match_score", "reasons")
    joined = band.join(_film_fields(films), "tmdb_id", "left").join(_release_fields(releases), RELEASE_KEY, "left")
    return _conform(joined.orderBy(F.col("match_score").desc(), *RELEASE_KEY), schema_of("gold/review_queue"))


def film_soundtracks(links: DataFrame, films: DataFrame, releases: DataFrame) -> DataFrame:
    """Matched links only, each with the film's and the release's fields for analytics (schema_of("gold/film_soundtracks"))."""
    matched = links.filter(F.col("decision") == "match").select("tmdb_id", "source", "release_id", "release_kind",
                                                                "match_score")
    joined = (matched.join(_film_fields(films), "tmdb_id").join(_release_fields(releases), RELEASE_KEY)
              .withColumn("decade", decade(F.col("film_year")))
              .withColumn("soundtrack_genres", soundtrack_genres(F.col("release_genres"), F.col("release_styles"),
                                                                 F.col("release_secondary_types"))))
    return _conform(joined, schema_of("gold/film_soundtracks"))
