"""Gold enrichment: film_soundtracks for analytics and the review queue for humans."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType
from pyspark.testing import assertDataFrameEqual

from scripts_spark.tables import schema_of
from scripts_spark.transforms import enrich
from test_features import film_row, release_row

LINKS_SCHEMA = StructType([StructField("tmdb_id", LongType()), StructField("source", StringType()),
                           StructField("release_id", StringType()), StructField("release_kind", StringType()),
                           StructField("match_score", DoubleType()), StructField("decision", StringType()),
                           StructField("reasons", StringType())])


@pytest.fixture(scope="module")
def sides(spark):
    films = spark.createDataFrame([film_row(1, "Jaws", 1975, ["John Williams"]), film_row(2, "Dumbo", 2019),
                                   film_row(3, "Undated", None)], schema_of("silver/films"))
    releases = spark.createDataFrame([
        release_row("m1", "Jaws", 1975, ["John Williams (4)"], source="discogs", primary_type=None, secondary_types=(),
                    genres=["Stage & Screen"], styles=["Score", "Soundtrack"]),
        release_row("rg1", "Dumbo", None, ["Danny Elfman"], genres=["Soundtrack", "orchestral"],
                    secondary_types=("Soundtrack",)),
        release_row("rg2", "Undated", None, ["Someone"]),
    ], schema_of("silver/releases"))
    links = spark.createDataFrame([(1, "discogs", "m1", "master", 0.99, "match", '{"score": 0.99}'),
                                   (2, "musicbrainz", "rg1", "release_group", 0.97, "match", "{}"),
                                   (3, "musicbrainz", "rg2", "release_group", 0.6, "review", '{"score": 0.6}')],
                                  LINKS_SCHEMA)
    return links, films, releases


def test_film_soundtracks_hold_matches_only_with_both_sides_fields_and_the_contract_schema(sides):
    out = enrich.film_soundtracks(*sides)
    assert [(f.name, f.dataType) for f in out.schema] == [(f.name, f.dataType) for f in schema_of("gold/film_soundtracks")]
    rows = {r["release_id"]: r for r in out.collect()}
    assert set(rows) == {"m1", "rg1"}
    jaws = rows["m1"]
    assert (jaws["tmdb_id"], jaws["film_title"], jaws["film_year"], jaws["decade"]) == (1, "Jaws", 1975, 1970)
    assert jaws["release_artists"] == ["John Williams (4)"] and jaws["composers"] == ["John Williams"]
    assert jaws["release_kind"] == "master" and jaws["match_score"] == 0.99


def test_soundtrack_genres_unify_discogs_genres_and_styles_with_musicbrainz_tags_and_types(sides):
    rows = {r["release_id"]: r for r in enrich.film_soundtracks(*sides).collect()}
    assert rows["m1"]["soundtrack_genres"] == ["score", "soundtrack", "stage & screen"]
    assert rows["rg1"]["soundtrack_genres"] == ["orchestral", "soundtrack"]


def test_decade_is_null_without_a_year(spark):
    cases = spark.createDataFrame([(1999, 1990), (2000, 2000), (None, None)], "year int, decade int")
    assertDataFrameEqual(cases.select("year", enrich.decade(F.col("year")).alias("decade")), cases)


def test_review_queue_shows_both_sides_titles_years_artists_and_reasons(sides):
    out = enrich.review_queue(*sides)
    assert [(f.name, f.dataType) for f in out.schema] == [(f.name, f.dataType) for f in schema_of("gold/review_queue")]
    (row,) = out.collect()
    assert (row["tmdb_id"], row["film_title"], row["film_year"]) == (3, "Undated", None)
    assert (row["release_id"], row["release_title"], row["release_year"]) == ("rg2", "Undated", None)
    assert row["release_artists"] == ["Someone"] and row["reasons"] == '{"score": 0.6}'
