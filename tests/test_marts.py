"""Gold analytics marts (step 06) on a hand-made gold/film_soundtracks with known answers."""
from __future__ import annotations

import pytest

from scripts_spark.base_step import RunManifest, StepContext
from scripts_spark.lake import Lake
from scripts_spark.log import get_logger
from scripts_spark.tables import schema_of
from scripts_spark.steps.s06_marts import BuildMarts
from scripts_spark.transforms.marts import (MART_BUILDERS, NO_GENRE, composer_stats, film_genre_x_soundtrack_genre,
                                            genre_by_decade, popularity_by_soundtrack_genre)

FILM = {  # tmdb_id -> (year, film genres, popularity, vote average, composers)
    1: (1994, ["Drama", "Romance"], 10.0, 7.0, ["Hans Zimmer", "Hans Zimmer"]),
    2: (1999, ["Drama"], 20.0, 6.0, ["Hans Zimmer", "Unknown"]),
    3: (2005, [" "], 30.0, 8.0, ["John Williams", " Hans Zimmer "]),
    4: (None, ["Action"], 40.0, 5.0, []),
}
RELEASES = [  # (tmdb_id, source, release_id, soundtrack genres)
    (1, "musicbrainz", "mb-a", ["Soundtrack", "classical"]),        # film 1 has two soundtracks ...
    (1, "discogs", "101", ["Stage & Screen", "Score", "soundtrack"]),  # ... sharing 'soundtrack' in another case
    (2, "musicbrainz", "mb-b", []),                                 # a release with no genre
    (3, "discogs", "102", None),                                    # and one whose genres are missing
    (4, "musicbrainz", "mb-c", ["Rock", "Soundtrack", "  "]),
]


def film_soundtrack_rows(releases=RELEASES):
    rows = []
    for tmdb_id, source, release_id, genres in releases:
        year, film_genres, popularity, vote, composers = FILM[tmdb_id]
        rows.append({
            "tmdb_id": tmdb_id, "imdb_id": f"tt{tmdb_id:07d}", "film_title": f"Film {tmdb_id}", "film_year": year,
            "decade": year // 10 * 10 if year else None, "film_genres": film_genres, "popularity": popularity,
            "vote_average": vote, "vote_count": 100, "composers": composers, "source": source,
            "release_id": release_id, "release_kind": "release_group" if source == "musicbrainz" else "master",
            "release_title": f"Film {tmdb_id} OST", "release_year": year, "release_artists": composers,
            "release_genres": genres, "release_styles": [], "release_secondary_types": [],
            "soundtrack_genres": genres, "match_score": 0.97})
    return rows


@pytest.fixture
def film_soundtracks(spark):
    return spark.createDataFrame(film_soundtrack_rows(), schema_of("gold/film_soundtracks"))


def as_dicts(df, key):
    return {tuple(r[k] for k in key): r.asDict() for r in df.collect()}


def test_genre_by_decade_counts_each_film_once_per_genre_and_shares_within_its_decade(film_soundtracks):
    mart = as_dicts(film_soundtracks.transform(genre_by_decade), ("decade", "soundtrack_genre"))
    assert {k: (v["films"], v["decade_films"], v["share"]) for k, v in mart.items()} == {
        (1990, "Soundtrack"): (1, 2, 0.5),        # film 1's two releases both say soundtrack: one film
        (1990, "classical"): (1, 2, 0.5),
        (1990, "Stage & Screen"): (1, 2, 0.5),
        (1990, "Score"): (1, 2, 0.5),
        (1990, NO_GENRE): (1, 2, 0.5),            # film 2's only release has no genre
        (2000, NO_GENRE): (1, 1, 1.0),
        (None, "Rock"): (1, 1, 1.0),              # a film without a year keeps its own (null) decade
        (None, "Soundtrack"): (1, 1, 1.0),
    }


def test_popularity_by_soundtrack_genre_gives_interpolated_quartiles_over_distinct_films(film_soundtracks):
    mart = as_dicts(film_soundtracks.transform(popularity_by_soundtrack_genre), ("soundtrack_genre",))
    soundtrack = mart[("Soundtrack",)]   # films 1 (popularity 10, vote 7) and 4 (popularity 40, vote 5)
    assert soundtrack["films"] == 2
    assert (soundtrack["popularity_p05"], soundtrack["popularity_q1"], soundtrack["popularity_median"],
            soundtrack["popularity_q3"], soundtrack["popularity_p95"]) == pytest.approx((11.5, 17.5, 25.0, 32.5, 38.5))
    assert soundtrack["popularity_mean"] == pytest.approx(25.0)
    assert (soundtrack["vote_average_q1"], soundtrack["vote_average_median"], soundtrack["vote_average_q3"],
            soundtrack["vote_average_mean"]) == pytest.approx((5.5, 6.0, 6.5, 6.0))
    assert mart[(NO_GENRE,)]["films"] == 2 and mart[(NO_GENRE,)]["popularity_median"] == pytest.approx(25.0)
    assert mart[("Rock",)]["popularity_median"] == pytest.approx(40.0)
    assert set(g for (g,) in mart) == {"Soundtrack", "classical", "Stage & Screen", "Score", "Rock", NO_GENRE}


def test_genre_statistics_of_films_without_popularity_are_null_not_an_error(spark):
    rows = film_soundtrack_rows([(4, "musicbrainz", "mb-c", ["Rock"])])
    rows[0]["popularity"] = rows[0]["vote_average"] = None
    (row,) = spark.createDataFrame(rows, schema_of("gold/film_soundtracks")).transform(popularity_by_soundtrack_genre).collect()
    assert row["films"] == 1 and row["popularity_median"] is None and row["vote_average_q3"] is None


def test_film_genre_x_soundtrack_genre_counts_pairs_and_normalises_by_film_genre(film_soundtracks):
    mart = as_dicts(film_soundtracks.transform(film_genre_x_soundtrack_genre), ("film_genre", "soundtrack_genre"))
    got = {k: (v["films"], v["film_genre_films"], v["share"]) for k, v in mart.items()}
    assert got[("Drama", "Soundtrack")] == (1, 2, 0.5)
    assert got[("Drama", NO_GENRE)] == (1, 2, 0.5)
    assert got[("Romance", "Score")] == (1, 1, 1.0)
    assert got[(NO_GENRE, NO_GENRE)] == (1, 1, 1.0)     # film 3: no TMDB genre and no soundtrack genre
    assert got[("Action", "Rock")] == (1, 1, 1.0)
    assert len(got) == 5 + 4 + 1 + 2


def test_composer_stats_trim_deduplicate_and_drop_the_unknown_placeholder(film_soundtracks):
    mart = as_dicts(film_soundtracks.transform(composer_stats), ("composer",))
    assert set(mart) == {("Hans Zimmer",), ("John Williams",)}
    zimmer = mart[("Hans Zimmer",)]
    assert (zimmer["films"], zimmer["decades"], zimmer["decades_active"], zimmer["first_year"],
            zimmer["last_year"]) == (3, [1990, 2000], 2, 1994, 2005)
    assert zimmer["popularity_median"] == pytest.approx(20.0)
    assert zimmer["vote_average_mean"] == pytest.approx(7.0)
    williams = mart[("John Williams",)]
    assert (williams["films"], williams["decades"], williams["popularity_median"]) == (1, [2000], 30.0)


@pytest.mark.parametrize("table", sorted(MART_BUILDERS))
def test_empty_input_gives_an_empty_mart_with_the_declared_schema(spark, table):
    mart = spark.createDataFrame([], schema_of("gold/film_soundtracks")).transform(MART_BUILDERS[table])
    assert mart.count() == 0
    assert [(f.name, f.dataType) for f in mart.schema] == [(f.name, f.dataType) for f in schema_of(table)]


def _run_step(spark, settings, run_id):
    lake = Lake(settings.lake_root)
    ctx = StepContext(spark, settings, lake, run_id, get_logger(run_id))
    return lake, BuildMarts().run(ctx, RunManifest(lake, run_id, settings, spark))


@pytest.mark.slow   # step 06 with its Gold contract checks
def test_build_marts_step_writes_every_mart_for_the_run_and_reports_counts(spark, settings, film_soundtracks):
    Lake(settings.lake_root).write_table(film_soundtracks, "gold/film_soundtracks", "r1")
    lake, rec = _run_step(spark, settings, "r1")
    assert rec.status == "succeeded"
    assert (rec.rows_in, rec.rows_out) == (5, 8 + 6 + 12 + 2)
    assert rec.tables == {"gold/genre_by_decade": 8, "gold/popularity_by_soundtrack_genre": 6,
                          "gold/film_genre_x_soundtrack_genre": 12, "gold/composer_stats": 2}
    assert rec.metrics == {"films": 4, "films_without_soundtrack_genre": 2, "soundtrack_genres": 5, "composers": 2}
    for table, rows in rec.tables.items():
        assert lake.read_table(spark, table, "r1", schema_of(table)).count() == rows


@pytest.mark.slow   # step 06 with its Gold contract checks
def test_build_marts_on_a_run_with_zero_matches_writes_empty_marts_and_says_so(spark, settings):
    Lake(settings.lake_root).write_table(spark.createDataFrame([], schema_of("gold/film_soundtracks")), "gold/film_soundtracks", "r0")
    lake, rec = _run_step(spark, settings, "r0")
    assert rec.status == "succeeded" and rec.rows_in == 0
    assert set(rec.tables.values()) == {0}
    assert any("no matched films" in note for note in rec.notes)
    assert lake.read_table(spark, "gold/composer_stats", "r0", schema_of("gold/composer_stats")).count() == 0
