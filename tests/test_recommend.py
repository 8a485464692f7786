"""Recommender transforms: stats with known answers, the split, metrics, baselines, ALS on a planted structure,
and soundtracks attached to recommended films."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from pyspark.sql import functions as F

from scripts_spark.recommend_settings import RecommendSettings
from scripts_spark.schemas import GOLD_FILM_SOUNDTRACKS
from scripts_spark.transforms import movielens as ml
from scripts_spark.transforms import recommend as rec

T0 = datetime(2020, 1, 1)
# Small enough for a test (a few seconds per fit), large enough to recover a rank-2 structure.
TINY = RecommendSettings(als_ranks=(2,), als_reg_params=(0.01, 0.1), als_max_iter=10, min_item_ratings_grid=(1,),
                         bias_reg_grid=((1.0, 1.0),), top_n=2, eval_k=2, holdout_fraction=0.25,
                         min_ratings_to_hold_out=4)


def ratings_frame(spark, triples, start=T0):
    rows = [(u, m, float(r), start + timedelta(minutes=i)) for i, (u, m, r) in enumerate(triples)]
    return spark.createDataFrame(rows, ml.RATINGS)


def empty_soundtracks(spark):
    return spark.createDataFrame([], GOLD_FILM_SOUNDTRACKS)


def soundtrack_row(tmdb_id, release_id, score, composers=("Hans Zimmer",), title="OST"):
    values = {f.name: None for f in GOLD_FILM_SOUNDTRACKS.fields}
    values.update(tmdb_id=tmdb_id, source="musicbrainz", release_id=release_id, release_kind="release_group",
                  release_title=title, release_year=1999, release_artists=list(composers), composers=list(composers),
                  match_score=score)
    return tuple(values[f.name] for f in GOLD_FILM_SOUNDTRACKS.fields)


# --- movie stats -----------------------------------------------------------------------------------------------------
def test_bayesian_mean_keeps_a_film_with_two_perfect_ratings_below_a_well_rated_popular_one(spark):
    ratings = ratings_frame(spark, [(1, 1, 5.0), (2, 1, 5.0)] + [(u, 2, 4.5) for u in range(1, 11)]
                            + [(1, 3, 1.0), (2, 3, 1.0)])
    movies = spark.createDataFrame([(1, "Two Fans", 2001, ["Drama"]), (2, "Classic", 1994, ["Drama"]),
                                    (3, "Flop", 2010, []), (4, "Unseen", 2020, [])], ml.MOVIES)
    links = spark.createDataFrame([(2, "tt0111161", 278)], ml.LINKS)
    tags = spark.createDataFrame([(1, 2, "prison", T0), (2, 2, "Prison", T0), (3, 2, "hope", T0)], ml.TAGS)
    soundtracks = spark.createDataFrame([soundtrack_row(278, "mb-1", 0.9), soundtrack_row(278, "mb-2", 0.8)],
                                        GOLD_FILM_SOUNDTRACKS)
    stats = {r.movie_id: r
             for r in rec.movie_stats(ratings, movies, links, tags, soundtracks, prior_ratings=10).collect()}

    global_mean = (5 + 5 + 45 + 1 + 1) / 14                                   # 57 / 14 = 4.0714
    assert stats[1].rating_bayesian_mean == pytest.approx((2 * 5.0 + 10 * global_mean) / 12)   # 4.226
    assert stats[2].rating_bayesian_mean == pytest.approx((10 * 4.5 + 10 * global_mean) / 20)  # 4.286
    assert stats[3].rating_bayesian_mean == pytest.approx((2 * 1.0 + 10 * global_mean) / 12)
    assert [stats[m].bayesian_rank for m in (2, 1, 4, 3)] == [1, 2, 3, 4]
    assert (stats[4].ratings_count, stats[4].rating_mean, stats[4].rating_bayesian_mean) == (0, None,
                                                                                             pytest.approx(global_mean))
    assert (stats[2].ratings_count, stats[2].rating_mean) == (10, 4.5)
    assert (stats[2].tmdb_id, stats[2].imdb_id) == (278, "tt0111161")
    assert stats[2].top_tags == ["prison", "hope"]
    assert (stats[2].soundtrack_count, stats[1].soundtrack_count) == (2, 0)


# --- split and metrics ----------------------------------------------------------------------------------------
def test_holdout_takes_each_users_latest_ratings_and_leaves_light_users_whole(spark):
    ratings = ratings_frame(spark, [(1, m, 3.0) for m in range(10)] + [(2, m, 3.0) for m in range(3)])
    marked = ratings.transform(rec.holdout_latest(0.2, min_ratings=5)).collect()
    held = sorted((r.user_id, r.movie_id) for r in marked if r.is_holdout)
    assert held == [(1, 8), (1, 9)]   # ceil(0.2 x 10) latest of user 1; user 2 has only 3 ratings


def test_ranking_quality_matches_hand_computed_precision_and_ndcg(spark):
    top = spark.createDataFrame([(1, 10, 0.9, 1), (1, 11, 0.8, 2), (1, 12, 0.7, 3)],
                                "user_id int, movie_id int, score double, rank int")
    relevant = spark.createDataFrame([(1, 11), (2, 20)], "user_id int, movie_id int")
    users = relevant.select("user_id").distinct()
    quality = rec.ranking_quality(top, relevant, users, k=3)
    # user 1: one hit at rank 2 of 3 -> p = 1/3, ndcg = (1/log2(3)) / 1; user 2: no list -> 0 and 0.
    assert quality["precision_at_k"] == pytest.approx((1 / 3) / 2)
    assert quality["ndcg_at_k"] == pytest.approx((1 / math.log2(3)) / 2)


def test_several_lists_are_judged_in_one_pass_as_if_judged_one_by_one(spark):
    top = spark.createDataFrame([(5, 1, 10, 0.9, 1), (5, 1, 11, 0.8, 2), (9, 1, 11, 0.8, 1)],
                                "threshold int, user_id int, movie_id int, score double, rank int")
    relevant = spark.createDataFrame([(1, 11)], "user_id int, movie_id int")
    users = relevant.select("user_id")
    together = rec.ranking_quality_per(top, relevant, users, 2, "threshold", [5, 9, 20])
    for threshold in (5, 9):
        alone = rec.ranking_quality(top.filter(f"threshold = {threshold}").drop("threshold"), relevant, users, 2)
        assert together[threshold] == pytest.approx(alone)
    assert together[9]["ndcg_at_k"] == pytest.approx(1.0) and together[5]["precision_at_k"] == pytest.approx(0.5)
    assert together[20] == {"precision_at_k": 0.0, "ndcg_at_k": 0.0}     # no list at all for that threshold


def test_top_k_breaks_score_ties_by_movie_id_so_lists_are_reproducible(spark):
    scored = spark.createDataFrame([(1, 30, 1.0), (1, 20, 1.0), (1, 10, 0.5)],
                                   "user_id int, movie_id int, score double")
    assert [(r.movie_id, r.rank) for r in rec.top_k(scored, 2).orderBy("rank").collect()] == [(20, 1), (30, 2)]


def test_preferred_films_come_first_and_the_others_only_top_up_a_short_list(spark):
    scored = spark.createDataFrame([(1, 10, 4.9, 2), (1, 11, 4.0, 80), (1, 12, 3.0, 90), (2, 11, 4.5, 80)],
                                   "user_id int, movie_id int, score double, n long")
    top = rec.top_k(scored, 2, preferred=F.col("n") >= 50).orderBy("user_id", "rank").collect()
    assert [(r.user_id, r.movie_id) for r in top] == [(1, 11), (1, 12), (2, 11)]
    top_up = rec.top_k(scored.filter("user_id = 2 OR movie_id = 10"), 2, preferred=F.col("n") >= 50)
    assert [r.movie_id for r in top_up.filter("user_id = 1").collect()] == [10]   # nothing preferred left: filled


def test_rmse_clips_predictions_to_the_rating_scale(spark):
    df = spark.createDataFrame([(5.0, 6.0), (1.0, 0.0)], "rating double, prediction double")
    assert rec.rmse(df) == pytest.approx(math.sqrt((0 + 0.25) / 2))


# --- baselines ----------------------------------------------------------------------------------------------
def test_bias_baseline_recovers_hand_computed_biases(spark):
    ratings = ratings_frame(spark, [(1, 1, 5.0), (1, 2, 3.0), (2, 1, 3.0)])
    model = rec.fit_biases(ratings, reg_item=0.0, reg_user=0.0)
    assert model.global_mean == pytest.approx(11 / 3)
    b_i = {r.movie_id: r.b_i for r in model.item_bias.collect()}
    b_u = {r.user_id: r.b_u for r in model.user_bias.collect()}
    assert b_i == {1: pytest.approx(1 / 3), 2: pytest.approx(-2 / 3)}
    assert b_u == {1: pytest.approx(0.5), 2: pytest.approx(-1.0)}
    pairs = spark.createDataFrame([(2, 2), (3, 1)], "user_id int, movie_id int")
    predicted = {(r.user_id, r.movie_id): r.prediction for r in model.predict(pairs).collect()}
    assert predicted[(2, 2)] == pytest.approx(11 / 3 - 1 - 2 / 3)
    assert predicted[(3, 1)] == pytest.approx(11 / 3 + 1 / 3)  # unknown user: no user bias


# --- ALS on a planted structure ---------------------------------------------------------------------------------------
def two_taste_groups(size: int = 6):
    """`2 x size` users and films in two taste groups: group A (the first `size` users) loves films 1..size (5.0) and
    dislikes the others (1.0); group B the reverse. Each user leaves two films of each group unrated, a different
    pair per user."""
    triples = []
    for u in range(1, 2 * size + 1):
        group_a, group_b = range(1, size + 1), range(size + 1, 2 * size + 1)
        own, other = (group_a, group_b) if u <= size else (group_b, group_a)
        unrated = {own[u % size], own[(u + 1) % size], other[u % size], other[(u + 1) % size]}
        triples += [(u, m, 5.0 if m in own else 1.0) for m in [*own, *other] if m not in unrated]
    return triples


@pytest.mark.parametrize("min_item_ratings", [1, 100], ids=["every film eligible", "lists topped up"])
def test_als_recovers_two_taste_groups_and_recommends_each_user_its_own_groups_films(spark, min_item_ratings):
    # With a threshold no film reaches, every list comes from the top-up: still full, still the user's own group.
    ratings = ratings_frame(spark, two_taste_groups())
    als = {"rank": 2, "reg_param": 0.01, "min_item_ratings": min_item_ratings}
    top = rec.recommend_for_all_users(ratings, als, TINY).collect()
    by_user: dict[int, list] = {}
    for r in top:
        by_user.setdefault(r.user_id, []).append(r)
    assert sorted(by_user) == list(range(1, 13))
    for user, recs in by_user.items():
        own = set(range(1, 7)) if user <= 6 else set(range(7, 13))
        assert len(recs) == TINY.top_n
        assert {r.movie_id for r in recs} <= own, (user, recs)          # never the other group's films
        assert all(r.predicted_rating > 4.0 for r in recs), recs           # and predicted as loved
        assert sorted(r.rank for r in recs) == [1, 2]


def test_model_choice_reports_every_model_on_the_same_test_split(spark):
    # Rating times scrambled per user, so every split holds out a mix of loved and disliked films.
    triples = sorted(two_taste_groups(size=8), key=lambda t: ((t[1] * 7 + t[0] * 3) % 13, t[0], t[1]))
    choice = rec.choose_and_evaluate(ratings_frame(spark, triples), TINY)

    test = choice.test_figures()
    assert set(test) == {"global_mean", "most_popular", "baseline_biases", "als", "als_unfiltered"}
    # ALS recovers the two groups; the global mean and the biases cannot tell a 5.0 fan from a 1.0 hater.
    assert test["als"]["rmse"] < 0.5 < 1.5 < test["global_mean"]["rmse"]
    assert test["als"]["rmse"] < test["baseline_biases"]["rmse"]
    assert test["most_popular"]["rmse"] is None and test["global_mean"]["precision_at_k"] is None
    assert choice.als_beats_baselines()["rmse"] is True
    test_rows = [m for m in choice.metrics if m["split"] == "test"]
    assert len({(m["rated_pairs"]) for m in test_rows if m["rmse"] is not None}) == 1   # the same held-out ratings
    validation_als = [m for m in choice.metrics if m["model"] == "als" and m["split"] == "validation"]
    assert len(validation_als) == 2 and sum(m["selected"] for m in validation_als) == 1
    chosen = json.loads(next(m["params"] for m in validation_als if m["selected"]))
    assert chosen == choice.als and choice.chosen()["als"] == choice.als
    assert choice.counts["test"]["ranked_users"] > 0
    assert any("Test split" in line for line in choice.summary(TINY.eval_k))


def test_a_choice_that_loses_says_so_in_its_summary():
    metrics = [{"model": model, "split": "test", "rmse": r, "precision_at_k": p, "ndcg_at_k": n}
               for model, r, p, n in [("als", 0.9, 0.04, 0.05), ("baseline_biases", 0.88, 0.03, 0.04),
                                      ("most_popular", None, 0.06, 0.08)]]
    choice = rec.Choice((5.0, 5.0), 10, {"rank": 10, "reg_param": 0.1, "min_item_ratings": 25}, metrics, {})
    assert choice.als_beats_baselines() == {"rmse": False, "precision_at_k": False, "ndcg_at_k": False}
    assert choice.summary(10)[-1] == "ALS does not beat both baselines on: rmse, precision_at_k, ndcg_at_k"


def test_settings_refuse_an_empty_grid_or_unknown_selection_metric():
    with pytest.raises(ValueError, match="every grid"):
        RecommendSettings(als_ranks=())
    with pytest.raises(ValueError, match="selection_metric"):
        RecommendSettings(selection_metric="auc")
    with pytest.raises(ValueError, match="holdout_fraction"):
        RecommendSettings(holdout_fraction=1.0)


# --- soundtracks ------------------------------------------------------------------------------------------------------
def test_recommended_films_carry_their_gold_soundtracks_best_match_first(spark):
    recommendations = spark.createDataFrame([(1, 2, 1, 4.8), (1, 3, 2, 4.5), (1, 4, 3, 4.1)],
                                            "user_id int, movie_id int, rank int, predicted_rating double")
    movies = spark.createDataFrame([(2, "The Matrix", 1999, ["Action"]), (3, "Heat", 1995, ["Crime"]),
                                    (4, "No Link", 2001, [])], ml.MOVIES)
    links = spark.createDataFrame([(2, "tt0133093", 603), (3, "tt0113277", 949)], ml.LINKS)
    gold = spark.createDataFrame([soundtrack_row(603, "mb-score", 0.7, ("Don Davis",), "The Matrix: Score"),
                                  soundtrack_row(603, "mb-ost", 0.95, ("Don Davis",), "The Matrix: OST"),
                                  soundtrack_row(111, "mb-other", 0.9)], GOLD_FILM_SOUNDTRACKS)
    out = {r.movie_id: r for r in rec.with_films_and_soundtracks(recommendations, movies, links, gold).collect()}

    assert out[2].title == "The Matrix" and out[2].tmdb_id == 603 and out[2].composers == ["Don Davis"]
    assert [(s.release_id, s.release_title, s.match_score) for s in out[2].soundtracks] == [
        ("mb-ost", "The Matrix: OST", 0.95), ("mb-score", "The Matrix: Score", 0.7)]
    assert out[2].soundtrack_count == 2
    assert (out[3].tmdb_id, out[3].soundtrack_count, out[3].soundtracks) == (949, 0, [])   # linked, no match in Gold
    assert (out[4].tmdb_id, out[4].soundtrack_count) == (None, 0)                          # no TMDB link at all
    assert [f.name for f in rec.with_films_and_soundtracks(recommendations, movies, links, gold).schema.fields] == [
        f.name for f in rec.GOLD_RECOMMENDATIONS.fields]


def test_an_empty_gold_gives_recommendations_without_soundtracks(spark):
    recommendations = spark.createDataFrame([(1, 2, 1, 4.8)],
                                            "user_id int, movie_id int, rank int, predicted_rating double")
    movies = spark.createDataFrame([(2, "The Matrix", 1999, ["Action"])], ml.MOVIES)
    links = spark.createDataFrame([(2, "tt0133093", 603)], ml.LINKS)
    (row,) = rec.with_films_and_soundtracks(recommendations, movies, links, empty_soundtracks(spark)).collect()
    assert (row.soundtrack_count, row.soundtracks, row.composers) == (0, [], None)
    assert row.predicted_rating == 4.8
