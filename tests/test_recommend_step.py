"""Step 07 end to end on a slice of the bundled MovieLens sample, with a real PostgreSQL server and a hand-made Gold."""
from __future__ import annotations

import csv
import secrets
from pathlib import Path

import pytest

from scripts_spark.base_step import StepContext, StepFailed
from scripts_spark.lake import Lake
from scripts_spark.log import get_logger
from scripts_spark.recommend_settings import RecommendSettings
from scripts_spark.tables import schema_of
from scripts_spark.steps.s07_recommend import PG_ABSENT_NOTE, Recommend
from tests.pg_server import pg_server  # noqa: F401 - the fixture

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "movielens"
USERS = 20        # the first 20 users of ml-latest-small: ~3,000 ratings, every user with >= 20
SMALL = RecommendSettings(als_ranks=(5,), als_reg_params=(0.1,), als_residual_ranks=(5,),
                          als_residual_reg_params=(0.1,), als_max_iter=5, min_item_ratings_grid=(3,),
                          bias_reg_grid=((5.0, 5.0),))
BAD_RATINGS = ["1,1,7.5,964982703", ",2,4.0,964982703"]   # off the scale; no user


def movielens_slice(folder: Path) -> Path:
    """The sample's movies, tags and links, the ratings of its first USERS users, and two broken rating lines."""
    target = folder / "movielens"
    target.mkdir(parents=True)
    for name in ("movies", "tags", "links"):
        (target / f"{name}.csv").write_bytes((SAMPLE / f"{name}.csv").read_bytes())
    with open(SAMPLE / "ratings.csv", newline="") as src, open(target / "ratings.csv", "w", newline="") as out:
        rows = csv.reader(src)
        out.write(",".join(next(rows)) + "\n")
        out.writelines(",".join(r) + "\n" for r in rows if int(r[0]) <= USERS)
        out.writelines(line + "\n" for line in BAD_RATINGS)
    return folder


def gold_for_every_linked_film(spark, lake: Lake, run_id: str, input_dir: Path) -> None:
    """A stand-in for step 05's gold/film_soundtracks: one soundtrack per linked film, two for Toy Story (862)."""
    with open(input_dir / "movielens" / "links.csv", newline="") as fh:
        tmdb_ids = {int(r["tmdbId"]) for r in csv.DictReader(fh) if r["tmdbId"]}
    names = [f.name for f in schema_of("gold/film_soundtracks").fields]

    def row(tmdb_id, release_id, score):
        values = dict.fromkeys(names)
        values.update(tmdb_id=tmdb_id, source="discogs", release_id=release_id, release_kind="master",
                      release_title=f"OST {tmdb_id}", composers=["Randy Newman"], match_score=score)
        return tuple(values[n] for n in names)
    rows = [row(t, f"dg-{t}", 0.9) for t in sorted(tmdb_ids)] + [row(862, "dg-862-reissue", 0.6)]
    lake.write_table(spark.createDataFrame(rows, schema_of("gold/film_soundtracks")), "gold/film_soundtracks", run_id)


def context(spark, settings, run_id="r1"):
    return StepContext(spark, settings, Lake(settings.lake_root), run_id, get_logger(run_id))


@pytest.mark.slow   # the whole step on a MovieLens slice
def test_without_a_database_the_step_writes_gold_only_and_says_so(spark, settings, tmp_path):
    input_dir = movielens_slice(tmp_path / "input")
    settings = settings.replace(input_dir=str(input_dir))
    gold_for_every_linked_film(spark, Lake(settings.lake_root), "r1", input_dir)
    record = Recommend(SMALL).run(context(spark, settings))
    assert record.status == "succeeded", record.error
    assert record.notes[-1] == PG_ABSENT_NOTE and record.metrics["postgres"] == {"server": None, "tables": {}}
    assert record.tables["gold/recommendations"] == USERS * SMALL.top_n


def test_without_movielens_input_the_step_is_skipped_and_with_part_of_it_it_fails(spark, settings, tmp_path):
    pg = {"pg_host": "127.0.0.1"}
    record = Recommend(SMALL).run(context(spark, settings.replace(input_dir=str(tmp_path / "none"), **pg)))
    assert record.status == "skipped" and "no MovieLens input" in record.notes[0]
    partial = tmp_path / "partial" / "movielens"
    partial.mkdir(parents=True)
    (partial / "ratings.csv").write_bytes((SAMPLE / "ratings.csv").read_bytes())
    with pytest.raises(StepFailed, match="movies.csv, tags.csv, links.csv missing"):
        Recommend(SMALL).run(context(spark, settings.replace(input_dir=str(partial.parent), **pg)))


def test_dry_run_preview_parses_the_first_record_of_each_file(settings):
    lines = Recommend(SMALL).preview(context(None, settings))
    assert lines[0] == PG_ABSENT_NOTE
    assert "ratings.csv: {'userId': '1', 'movieId': '1', 'rating': '4.0', 'timestamp': '964982703'}" in lines


@pytest.mark.slow   # the whole step on a MovieLens slice
def test_step_writes_gold_and_postgres_and_recommended_films_carry_their_soundtracks(spark, settings, tmp_path,
                                                                                     pg_server):  # noqa: F811
    input_dir = movielens_slice(tmp_path / "input")
    settings = settings.replace(input_dir=str(input_dir), **pg_server.settings_overrides("s_" + secrets.token_hex(4)))
    lake = Lake(settings.lake_root)
    gold_for_every_linked_film(spark, lake, "r1", input_dir)

    record = Recommend(SMALL).run(context(spark, settings))

    assert record.status == "succeeded", record.error
    accounting = record.metrics["accounting"]
    assert accounting["ratings"] == {"kept": sum(1 for _ in open(input_dir / "movielens/ratings.csv")) - 3,
                                     "rating_outside_0.5_to_5.0": 1, "user_id_missing_or_invalid": 1}
    assert accounting["links"] == {"kept": 9_734, "tmdb_id_missing": 8}
    assert record.rows_in == record.rows_out + record.rejected and record.rejected == 10
    rejects = lake.read_table(spark, "bronze/movielens_rejects", "r1", schema_of("bronze/tmdb_rejects"))
    assert sorted(r.raw for r in rejects.filter("source = 'movielens_ratings'").collect()) == sorted(BAD_RATINGS)

    recs = lake.read_table(spark, "gold/recommendations", "r1", schema_of("gold/recommendations"))
    assert record.tables["gold/recommendations"] == recs.count() == USERS * SMALL.top_n
    linked = recs.filter("tmdb_id IS NOT NULL").collect()
    assert linked and all(r.soundtrack_count >= 1 and r.soundtracks[0].release_id == f"dg-{r.tmdb_id}" for r in linked)
    assert record.metrics["recommendations_with_soundtracks"] == len(linked)
    assert record.tables["gold/movie_stats"] == 9_742
    stats_862 = lake.read_table(spark, "gold/movie_stats", "r1", schema_of("gold/movie_stats")).filter("tmdb_id = 862").first()
    assert stats_862.soundtrack_count == 2 and stats_862.title == "Toy Story"
    metrics = lake.read_table(spark, "gold/model_metrics", "r1", schema_of("gold/model_metrics"))
    served = record.metrics["chosen"]["als"]["model"]
    assert {r.model for r in metrics.filter("split = 'test'").collect()} == {
        "global_mean", "most_popular", "baseline_biases", "als", "als_residual", f"{served}_unfiltered"}
    assert [r.model for r in metrics.filter("split = 'test' AND model LIKE 'als%' AND selected").collect()] == [served]
    assert set(record.metrics["als_beats_both_baselines"]) == {"rmse", "precision_at_k", "ndcg_at_k"}

    schema = settings.pg_schema
    conn = pg_server.connect()
    try:
        with conn, conn.cursor() as cur:
            for table in ("recommendations", "movie_stats", "model_metrics"):
                cur.execute(f"SELECT count(*), min(run_id), max(run_id) FROM {schema}.{table}")
                assert cur.fetchone() == (record.tables[f"gold/{table}"], "r1", "r1"), table
            cur.execute(f"SELECT soundtracks->0->>'release_id', soundtrack_count FROM {schema}.recommendations "
                        "WHERE tmdb_id IS NOT NULL ORDER BY user_id, rank LIMIT 1")
            release_id, count = cur.fetchone()
            assert release_id.startswith("dg-") and count >= 1
    finally:
        conn.close()
    assert record.metrics["postgres"]["tables"] == {f"{schema}.recommendations": USERS * SMALL.top_n,
                                                    f"{schema}.movie_stats": 9_742,
                                                    f"{schema}.model_metrics": record.tables["gold/model_metrics"]}

    # A night that carries the step over (incremental/carry.py) serves its Gold again, with the counts the run
    # recorded: a database emptied meanwhile gets the same rows back.
    conn = pg_server.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"DELETE FROM {schema}.recommendations")
    finally:
        conn.close()
    again = Recommend(SMALL).after_carry(context(spark, settings), record.tables)
    assert again["postgres"]["tables"] == record.metrics["postgres"]["tables"]
    conn = pg_server.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {schema}.recommendations")
            assert cur.fetchone() == (USERS * SMALL.top_n,)
    finally:
        conn.close()
