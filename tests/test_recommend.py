"""Recommender transforms: stats with known answers, the split, metrics, baselines, ALS on a planted structure,
and soundtracks attached to recommended films."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from scripts_spark.recommend_settings import RecommendSettings
from scripts_spark.tables import schema_of
from scripts_spark.transforms import movielens as ml
from scripts_spark.transforms import recommend as rec

T0 = datetime(2020, 1, 1)
# Small enough for a test (a few seconds per fit), large enough to recover a rank-2 structure.
TINY = RecommendSettings(als_ranks=(2,), als_reg_params=(0.01,), als_residual_ranks=(2,),
                         als_residual_reg_params=(0.01,), als_max_iter=10, min_item_ratings_grid=(1,),
                         bias_reg_grid=((1.0, 1.0),), top_n=2, eval_k=2, holdout_fraction=0.25,
                         min_ratings_to_hold_out=4)


def ratings_frame(spark, triples, start=T0):
    rows = [(u, m, float(r), start + timedelta(minutes=i)) for i, (u, m, r) in enumerate(triples)]
    return spark.createDataFrame(rows, ml.RATINGS)


def empty_soundtracks(spark):
    return spark.createDataFrame([], schema_of("gold/film_soundtracks"))


def soundtrack_row(tmdb_id, release_id, score, composers=("Hans Zimmer",), title="OST"):
    values = {f.name: None for f in schema_of("gold/film_soundtracks").fields}
    values.update(tmdb_id=tmdb_id, source="musicbrainz", release_id=release_id, release_kind="release_group",
                  release_title=title, release_year=1999, release_artists=list(composers), composers=list(composers),
                  match_score=score)
    return tuple(values[f.name] for f in schema_of("gold/film_soundtracks").fields)


# --- movie stats -----------------------------------------------------------------------------------------------------
def test_bayesian_mean_keeps_a_film_with_two_perfect_ratings_below_a_well_rated_popular_one(spark):
    ratings = ratings_frame(spark, [(1, 1, 5.0), (2, 1, 5.0)] + [(u, 2, 4.5) for u in range(1, 11)]
                            + [(1, 3, 1.0), (2, 3, 1.0)])
    movies = spark.createDataFrame([(1, "Two Fans", 2001, ["Drama"]), (2, "Classic", 1994, ["Drama"]),
                                    (3, "Flop", 2010, []), (4, "Unseen", 2020, [])], ml.MOVIES)
    links = spark.createDataFrame([(2, "tt0111161", 278)], ml.LINKS)
    tags = spark.createDataFrame([(1, 2, "prison", T0), (2, 2, "Prison", T0), (3, 2, "hope", T0)], ml.TAGS)
    soundtracks = spark.createDataFrame([soundtrack_row(278, "mb-1", 0.9), soundtrack_row(278, "mb-2", 0.8)],
                                        schema_of("gold/film_soundtracks"))
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
    assertDataFrameEqual(rec.top_k(scored, 2).select("movie_id", "rank").orderBy("rank"),
                         [Row(movie_id=20, rank=1), Row(movie_id=30, rank=2)], checkRowOrder=True)


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


@pytest.mark.parametrize("model, min_item_ratings", [(rec.PLAIN_ALS, 1), (rec.PLAIN_ALS, 100), (rec.RESIDUAL_ALS, 1)],
                         ids=["every film eligible", "lists topped up", "residual ALS"])
def test_als_recovers_two_taste_groups_and_recommends_each_user_its_own_groups_films(spark, model, min_item_ratings):
    # With a threshold no film reaches, every list comes from the top-up: still full, still the user's own group.
    ratings = ratings_frame(spark, two_taste_groups())
    als = {"rank": 2, "reg_param": 0.01, "min_item_ratings": min_item_ratings, "bias_reg_item": 1.0,
           "bias_reg_user": 1.0}
    top = rec.recommend_for_all_users(ratings, model, als, TINY).collect()
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


LEVELS = (-0.5, 0.0, 0.5)


def biased_taste_groups(size: int = 6):
    """`2 x size` users and films; rating = 3 + the user's level + the film's level, +1 within a taste group
    (users 1..size with films 1..size, the others with the others) and -1 across. Each user leaves out two films of
    each group. Returns (training triples, held-out triples)."""
    train, held_out = [], []
    for u in range(1, 2 * size + 1):
        for m in range(1, 2 * size + 1):
            taste = 1.0 if (u <= size) == (m <= size) else -1.0
            cell = (u, m, 3.0 + LEVELS[u % 3] + LEVELS[m % 3] + taste)
            (held_out if m % size in (u % size, (u + 1) % size) else train).append(cell)
    return train, held_out


def test_residual_als_recovers_the_taste_structure_the_bias_model_cannot(spark):
    train_cells, held_out_cells = biased_taste_groups()
    train, held_out = ratings_frame(spark, train_cells), ratings_frame(spark, held_out_cells)
    biases = rec.fit_biases(train, reg_item=1.0, reg_user=1.0)
    residual = rec.fit_residual_als(train, rank=2, reg_param=0.01, biases=biases, params=TINY)

    bias_rmse = rec.rmse(biases.predict(held_out))
    residual_rmse = rec.rmse(residual.transform(held_out))
    # Every user rates as many films of each group, so the biases only see the levels: the +-1 is left over.
    assert bias_rmse > 0.9
    assert residual_rmse < bias_rmse - 0.6, (residual_rmse, bias_rmse)
    # Unconstrained factors: across-group films are predicted below what the biases alone say.
    both = (residual.transform(held_out).withColumnRenamed("prediction", "with_als")
            .join(biases.predict(held_out.select("user_id", "movie_id")), ["user_id", "movie_id"]))
    across = both.filter(((F.col("user_id") <= 6) != (F.col("movie_id") <= 6))).collect()
    assert across and all(r.with_als < r.prediction - 0.5 for r in across)


def test_residual_als_drops_pairs_it_cannot_score_like_plain_als(spark):
    train = ratings_frame(spark, [(1, 1, 4.0), (1, 2, 2.0), (2, 1, 5.0), (2, 2, 3.0)])
    pairs = spark.createDataFrame([(1, 2), (3, 1), (1, 9)], "user_id int, movie_id int")
    residual = rec.fit_residual_als(train, 1, 0.1, rec.fit_biases(train, 1.0, 1.0), TINY)
    assertDataFrameEqual(residual.transform(pairs).select("user_id", "movie_id"),
                         [Row(user_id=1, movie_id=2)])   # user 3 and film 9 are cold starts: dropped


@pytest.mark.slow   # fits every model of the search (~13 s)
def test_model_choice_reports_every_model_on_the_same_test_split(spark):
    # Rating times scrambled per user, so every split holds out a mix of loved and disliked films.
    triples = sorted(two_taste_groups(size=8), key=lambda t: ((t[1] * 7 + t[0] * 3) % 13, t[0], t[1]))
    choice = rec.choose_and_evaluate(ratings_frame(spark, triples), TINY)

    test = choice.test_figures()
    assert choice.als_model in rec.ALS_MODELS
    assert set(test) == {"global_mean", "most_popular", "baseline_biases", rec.PLAIN_ALS, rec.RESIDUAL_ALS,
                         f"{choice.als_model}_unfiltered"}
    # Both ALS variants recover the two groups; the global mean and the biases cannot tell a 5.0 fan from a hater.
    for model in rec.ALS_MODELS:
        assert test[model]["rmse"] < 0.5 < 1.5 < test["global_mean"]["rmse"], model
        assert test[model]["rmse"] < test["baseline_biases"]["rmse"], model
    assert test["most_popular"]["rmse"] is None and test["global_mean"]["precision_at_k"] is None
    assert choice.als_beats_baselines()["rmse"] is True
    test_rows = [m for m in choice.metrics if m["split"] == "test"]
    assert len({(m["rated_pairs"]) for m in test_rows if m["rmse"] is not None}) == 1   # the same held-out ratings
    assert [m["model"] for m in test_rows if m["model"] in rec.ALS_MODELS and m["selected"]] == [choice.als_model]
    validation_als = [m for m in choice.metrics if m["model"] in rec.ALS_MODELS and m["split"] == "validation"]
    assert sorted(m["model"] for m in validation_als) == sorted(rec.ALS_MODELS)   # one grid point each in TINY
    (served,) = [m for m in validation_als if m["selected"]]
    assert served["model"] == choice.als_model and json.loads(served["params"]) == choice.als
    assert choice.chosen()["als"] == {"model": choice.als_model, **choice.als}
    residual_point = json.loads(next(m["params"] for m in validation_als if m["model"] == rec.RESIDUAL_ALS))
    assert (residual_point["bias_reg_item"], residual_point["bias_reg_user"]) == choice.bias_reg
    assert choice.counts["test"]["ranked_users"] > 0
    assert any(f"ALS served: {choice.als_model}" in line for line in choice.summary(TINY.eval_k))


def validation_row(model, rmse, ndcg):
    return {"model": model, "rmse": rmse, "ndcg_at_k": ndcg}


def test_served_point_must_beat_the_bias_baselines_rmse_before_ranking_quality_counts():
    plain, residual = validation_row("als", 0.917, 0.083), validation_row("als_residual", 0.864, 0.071)
    rows, bias_rmse = [plain, residual], 0.874
    assert min(rows, key=rec.selection_key(RecommendSettings(), bias_rmse)) is residual
    ranking_first = RecommendSettings(served_must_beat_bias_rmse=False)
    assert min(rows, key=rec.selection_key(ranking_first, bias_rmse)) is plain
    # No point beats the baseline: the best-ranking one is served all the same (and the summary says it loses).
    assert min(rows, key=rec.selection_key(RecommendSettings(), bias_rmse=0.5)) is plain
    by_rmse = RecommendSettings(selection_metric="rmse", served_must_beat_bias_rmse=False)
    assert min(rows, key=rec.selection_key(by_rmse, bias_rmse)) is residual


TEST_ROWS = [("als", 0.95, 0.04, 0.05), ("als_residual", 0.87, 0.07, 0.09), ("baseline_biases", 0.88, 0.03, 0.04),
             ("most_popular", None, 0.06, 0.08)]


@pytest.mark.parametrize("served, wins", [("als", False), ("als_residual", True)])
def test_the_served_variant_is_the_one_compared_with_the_baselines(served, wins):
    metrics = [{"model": model, "split": "test", "rmse": r, "precision_at_k": p, "ndcg_at_k": n}
               for model, r, p, n in TEST_ROWS]
    choice = rec.Choice((5.0, 5.0), 10, served, {"rank": 10, "reg_param": 0.1, "min_item_ratings": 25}, metrics, {})
    assert choice.als_beats_baselines() == {"rmse": wins, "precision_at_k": wins, "ndcg_at_k": wins}
    summary = choice.summary(10)
    assert summary[0].startswith(f"ALS served: {rec.ALS_DESCRIPTIONS[served]}")
    if wins:
        assert len(summary) == 1
    else:
        assert summary[-1] == "The served ALS (als) does not beat both baselines on: rmse, precision_at_k, ndcg_at_k"


def test_settings_refuse_an_empty_grid_or_unknown_selection_metric():
    with pytest.raises(ValueError, match="every grid"):
        RecommendSettings(als_ranks=())
    with pytest.raises(ValueError, match="every grid"):
        RecommendSettings(als_residual_reg_params=())
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
                                  soundtrack_row(111, "mb-other", 0.9)], schema_of("gold/film_soundtracks"))
    out = {r.movie_id: r for r in rec.with_films_and_soundtracks(recommendations, movies, links, gold).collect()}

    assert out[2].title == "The Matrix" and out[2].tmdb_id == 603 and out[2].composers == ["Don Davis"]
    assert [(s.release_id, s.release_title, s.match_score) for s in out[2].soundtracks] == [
        ("mb-ost", "The Matrix: OST", 0.95), ("mb-score", "The Matrix: Score", 0.7)]
    assert out[2].soundtrack_count == 2
    assert (out[3].tmdb_id, out[3].soundtrack_count, out[3].soundtracks) == (949, 0, [])   # linked, no match in Gold
    assert (out[4].tmdb_id, out[4].soundtrack_count) == (None, 0)                          # no TMDB link at all
    assert [f.name for f in rec.with_films_and_soundtracks(recommendations, movies, links, gold).schema.fields] == [
        f.name for f in rec.schema_of("gold/recommendations").fields]


def test_an_empty_gold_gives_recommendations_without_soundtracks(spark):
    recommendations = spark.createDataFrame([(1, 2, 1, 4.8)],
                                            "user_id int, movie_id int, rank int, predicted_rating double")
    movies = spark.createDataFrame([(2, "The Matrix", 1999, ["Action"])], ml.MOVIES)
    links = spark.createDataFrame([(2, "tt0133093", 603)], ml.LINKS)
    (row,) = rec.with_films_and_soundtracks(recommendations, movies, links, empty_soundtracks(spark)).collect()
    assert (row.soundtrack_count, row.soundtracks, row.composers) == (0, [], None)
    assert row.predicted_rating == 4.8
