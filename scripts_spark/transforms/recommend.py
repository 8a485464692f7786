"""Recommender transforms: movie stats, a time-aware split, two baselines, two ALS variants (plain, and on the
bias model's residuals) tuned on one grid, top-N with soundtracks.

Evaluation protocol (the same for every model, so the figures compare):
- split: per user, the latest `holdout_fraction` of ratings are held out (`holdout_latest`); the training part
  is split the same way again into fit + validation for choosing hyper-parameters; the test part is scored once.
- RMSE: on held-out ratings whose user and film both appear in training (what ALS's cold-start `drop` keeps);
  predictions are clipped to the rating scale for every model.
- precision@k / NDCG@k: each model ranks the same candidates (films with enough training ratings that the user
  has not rated in training); a hit is a held-out film rated >= `relevant_rating`; averaged over users with at
  least one such film. Candidates are all (user, eligible film) pairs: fine for ml-latest-small (610 users x
  ~1,400 films with >= 10 ratings); a catalogue of ml-25m's size needs the support threshold, or a cluster.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Any, Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType

from ..recommend_settings import RecommendSettings
from ..tables import schema_of
from ..tables.gold import SOUNDTRACK
from .movielens import RATING_MAX, RATING_MIN

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.ml.recommendation import ALSModel

    from ..log import EventLogger

# --- movie stats ------------------------------------------------------------------------------------------------
def movie_stats(ratings: DataFrame, movies: DataFrame, links: DataFrame, tags: DataFrame,
                film_soundtracks: DataFrame, prior_ratings: float, top_tags: int = 5) -> DataFrame:
    """One row per film (in movies.csv or rated): count, mean, Bayesian-shrunk mean and its rank, tags, soundtracks."""
    global_mean = F.lit(ratings.agg(F.avg("rating")).first()[0]).cast("double")
    per_film = ratings.groupBy("movie_id").agg(F.count("*").alias("ratings_count"),
                                               F.avg("rating").alias("rating_mean"))
    tag_counts = tags.groupBy("movie_id", F.lower("tag").alias("tag")).agg(F.count("*").alias("n"))
    by_use = Window.partitionBy("movie_id").orderBy(F.desc("n"), "tag")
    film_tags = (tag_counts.withColumn("i", F.row_number().over(by_use)).filter(F.col("i") <= top_tags)
                 .groupBy("movie_id").agg(F.sort_array(F.collect_list(F.struct("i", "tag"))).alias("t"))
                 .select("movie_id", F.col("t.tag").alias("top_tags")))
    soundtracks = film_soundtracks.groupBy("tmdb_id").agg(F.count("*").cast("int").alias("soundtrack_count"))
    n = F.coalesce(F.col("ratings_count"), F.lit(0))
    shrunk = (n * F.coalesce(F.col("rating_mean"), F.lit(0.0)) + F.lit(float(prior_ratings)) * global_mean) \
        / (n + F.lit(float(prior_ratings)))
    best_first = Window.orderBy(F.desc("rating_bayesian_mean"), F.desc("ratings_count"), "movie_id")
    return (movies.join(per_film, "movie_id", "full")
            .join(links.select("movie_id", "tmdb_id", "imdb_id"), "movie_id", "left")
            .join(film_tags, "movie_id", "left")
            .join(soundtracks, "tmdb_id", "left")
            .withColumn("ratings_count", n.cast("long"))
            .withColumn("rating_bayesian_mean", shrunk)
            .withColumn("soundtrack_count", F.coalesce("soundtrack_count", F.lit(0)))
            # One ranking over the whole catalogue: a single-partition window, fine for ~10^5 films.
            .withColumn("bayesian_rank", F.row_number().over(best_first))
            .select(*[f.name for f in schema_of("gold/movie_stats").fields]))


# --- split ------------------------------------------------------------------------------------------------------
def holdout_latest(fraction: float, min_ratings: int):
    """Mark each user's latest `fraction` of ratings (at least one) as `is_holdout`; light users stay in training."""
    def mark(ratings: DataFrame) -> DataFrame:
        per_user = Window.partitionBy("user_id")
        latest_first = per_user.orderBy(F.col("rated_at").desc_nulls_last(), F.col("movie_id").desc())
        n = F.count("*").over(per_user)
        return ratings.withColumn(
            "is_holdout", (n >= min_ratings) & (F.row_number().over(latest_first) <= F.ceil(n * F.lit(fraction))))
    return mark


@dataclass
class EvalSet:
    """Training ratings and the held-out ratings every model is judged on."""
    train: DataFrame
    rated: DataFrame       # held-out (user, film, rating) whose user and film are both in `train`
    relevant: DataFrame    # (user, film) pairs of `rated` with rating >= relevant_rating
    users: DataFrame       # users with at least one relevant film: the ones ranking quality is averaged over
    film_support: DataFrame  # (movie_id, n): training ratings per film
    counts: dict[str, int] = field(default_factory=dict)
    _candidates: dict[int, DataFrame] = field(default_factory=dict)

    @classmethod
    def build(cls, train: DataFrame, holdout: DataFrame, relevant_rating: float) -> "EvalSet":
        train = train.select("user_id", "movie_id", "rating").persist()
        known_users = train.select("user_id").distinct()
        support = train.groupBy("movie_id").agg(F.count("*").alias("n")).persist()
        rated = (holdout.select("user_id", "movie_id", "rating").join(known_users, "user_id")
                 .join(support.select("movie_id"), "movie_id").persist())
        relevant = rated.filter(F.col("rating") >= relevant_rating).select("user_id", "movie_id").persist()
        users = relevant.select("user_id").distinct().persist()
        counts = {"train_ratings": train.count(), "holdout_ratings": holdout.count(), "rated_pairs": rated.count(),
                  "ranked_users": users.count()}
        counts["cold_start_holdout_ratings"] = counts["holdout_ratings"] - counts["rated_pairs"]
        return cls(train, rated, relevant, users, support, counts)

    def candidates(self, min_item_ratings: int) -> DataFrame:
        """(user, film) pairs to rank: evaluated users x films with enough support, minus films rated in training."""
        if min_item_ratings not in self._candidates:
            films = self.film_support.filter(F.col("n") >= min_item_ratings).select("movie_id")
            self._candidates[min_item_ratings] = (self.users.crossJoin(films)
                                                  .join(self.train, ["user_id", "movie_id"], "left_anti").persist())
        return self._candidates[min_item_ratings]

    def release(self) -> None:
        for df in [self.train, self.rated, self.relevant, self.users, self.film_support, *self._candidates.values()]:
            df.unpersist()


# --- metrics ------------------------------------------------------------------------------------------------------
def clipped(col: str = "prediction") -> Column:
    return F.least(F.lit(RATING_MAX), F.greatest(F.lit(RATING_MIN), F.col(col)))


def rmse(predictions: DataFrame) -> float:
    """Root mean squared error of `prediction` (clipped to the rating scale) against `rating`."""
    return predictions.agg(F.sqrt(F.avg((clipped() - F.col("rating")) ** 2))).first()[0]


def top_k(scored: DataFrame, k: int, score: str = "score", preferred: Column | None = None,
          per: tuple[str, ...] = ()) -> DataFrame:
    """Best `k` films per user (and per `per` column, when several lists are ranked at once) by `score`, ties
    broken by movie_id so lists are reproducible, ranked from 1.

    With `preferred` (a boolean column), preferred films come first and the others only fill a short list.
    """
    order = ([preferred.desc()] if preferred is not None else []) + [F.desc(score), F.col("movie_id")]
    best_first = Window.partitionBy("user_id", *per).orderBy(*order)
    return (scored.withColumn("rank", F.row_number().over(best_first)).filter(F.col("rank") <= k)
            .select(*per, "user_id", "movie_id", F.col(score).alias("score"), "rank"))


def ranking_quality(top: DataFrame, relevant: DataFrame, users: DataFrame, k: int) -> dict[str, float]:
    """Mean precision@k and NDCG@k (binary relevance) over `users`; a user with no list scores 0."""
    return ranking_quality_per(top.withColumn("list", F.lit(0)), relevant, users, k, "list", [0])[0]


def ranking_quality_per(top: DataFrame, relevant: DataFrame, users: DataFrame, k: int, group: str,
                        groups: list[Any]) -> dict[Any, dict[str, float]]:
    """`ranking_quality` of several lists at once (one per value of `group` in `top`), in a single Spark job."""
    hits = top.join(relevant.withColumn("hit", F.lit(1.0)), ["user_id", "movie_id"], "left").fillna(0.0, ["hit"])
    per_user = hits.groupBy(group, "user_id").agg(F.sum("hit").alias("hits"),
                                                  F.sum(F.col("hit") / F.log2(F.col("rank") + 1)).alias("dcg"))
    ideal_hits = F.least(F.col("relevant"), F.lit(k))
    idcg = F.aggregate(F.sequence(F.lit(1), ideal_hits), F.lit(0.0), lambda acc, i: acc + 1.0 / F.log2(i + 1))
    every_list = top.sparkSession.createDataFrame([(g,) for g in groups], [group])
    judged = (relevant.groupBy("user_id").agg(F.count("*").alias("relevant")).join(users, "user_id")
              .crossJoin(every_list).join(per_user, [group, "user_id"], "left").fillna(0.0, ["hits", "dcg"]))
    found = {r[group]: {"precision_at_k": r["p"] or 0.0, "ndcg_at_k": r["ndcg"] or 0.0}
             for r in judged.groupBy(group).agg(F.avg(F.col("hits") / k).alias("p"),
                                                F.avg(F.col("dcg") / idcg).alias("ndcg")).collect()}
    return {g: found.get(g, {"precision_at_k": 0.0, "ndcg_at_k": 0.0}) for g in groups}


# --- baselines -------------------------------------------------------------------------------------------------------
@dataclass
class BiasModel:
    """r(u, i) = mu + b_u + b_i with damped means (Koren 2008, "baseline predictors")."""
    global_mean: float
    item_bias: DataFrame   # movie_id, b_i
    user_bias: DataFrame   # user_id, b_u

    def predict(self, pairs: DataFrame) -> DataFrame:
        return (pairs.join(self.item_bias, "movie_id", "left").join(self.user_bias, "user_id", "left")
                .withColumn("prediction", F.lit(self.global_mean) + F.coalesce("b_u", F.lit(0.0))
                            + F.coalesce("b_i", F.lit(0.0)))
                .drop("b_u", "b_i"))

    def persist(self) -> "BiasModel":
        """Keep the bias tables: every residual ALS fit and every scoring of a grid joins them again."""
        self.item_bias, self.user_bias = self.item_bias.persist(), self.user_bias.persist()
        return self

    def unpersist(self) -> None:
        self.item_bias.unpersist()
        self.user_bias.unpersist()


def fit_biases(train: DataFrame, reg_item: float, reg_user: float) -> BiasModel:
    mu = train.agg(F.avg("rating")).first()[0]
    item_bias = train.groupBy("movie_id").agg((F.sum(F.col("rating") - mu) / (F.count("*") + reg_item)).alias("b_i"))
    user_bias = (train.join(item_bias, "movie_id").groupBy("user_id")
                 .agg((F.sum(F.col("rating") - mu - F.col("b_i")) / (F.count("*") + reg_user)).alias("b_u")))
    return BiasModel(mu, item_bias, user_bias)


def score_by_film(candidates: DataFrame, film_scores: DataFrame) -> DataFrame:
    """The same score for every user: film popularity, or a film's bias (a user's bias does not change the order)."""
    return candidates.join(film_scores, "movie_id")


# --- ALS ------------------------------------------------------------------------------------------------------
# The two ALS variants every run tunes, scores and chooses between (their names are schema_of("gold/model_metrics").model).
PLAIN_ALS, RESIDUAL_ALS = "als", "als_residual"
ALS_MODELS = (PLAIN_ALS, RESIDUAL_ALS)


def fit_als(train: DataFrame, rank: int, reg_param: float, params: RecommendSettings,
            nonnegative: bool = True) -> "ALSModel":
    from pyspark.ml.recommendation import ALS

    blocks = params.als_blocks or train.sparkSession.sparkContext.defaultParallelism
    als = ALS(userCol="user_id", itemCol="movie_id", ratingCol="rating", rank=rank, regParam=reg_param,
              maxIter=params.als_max_iter, implicitPrefs=False, nonnegative=nonnegative, coldStartStrategy="drop",
              numUserBlocks=blocks, numItemBlocks=blocks, seed=params.seed,
              checkpointInterval=params.als_checkpoint_interval)
    return als.fit(train)


@dataclass
class ResidualAlsModel:
    """mu + b_u + b_i + ALS(u, i): ALS (Spark ML, explicit) fitted on what the bias model leaves unexplained
    (Koren 2008: factors model the interaction, the biases model the user's and the film's general level).

    Like plain ALS it scores only users and films seen in training (coldStartStrategy drop): a pair ALS cannot
    score is dropped, not predicted from the biases alone, so both variants are judged on the same pairs.
    """
    biases: BiasModel
    interaction: "ALSModel"

    def transform(self, pairs: DataFrame) -> DataFrame:
        return (self.biases.predict(self.interaction.transform(pairs).withColumnRenamed("prediction", "residual"))
                .withColumn("prediction", F.col("prediction") + F.col("residual")).drop("residual"))


def residuals(ratings: DataFrame, biases: BiasModel) -> DataFrame:
    """Ratings with `rating` replaced by rating - (mu + b_u + b_i): the part of a rating the biases do not explain."""
    return (biases.predict(ratings).withColumn("rating", F.col("rating") - F.col("prediction"))
            .select("user_id", "movie_id", "rating"))


def fit_residual_als(train: DataFrame, rank: int, reg_param: float, biases: BiasModel,
                     params: RecommendSettings) -> ResidualAlsModel:
    # nonnegative=False: residuals are centred on zero (a user likes a film more, or less, than the biases say).
    # Non-negative factors give non-negative dot products, so the model could only ever raise the bias prediction
    # and every "less than expected" pair would be pushed to a residual of zero. (Plain ALS keeps non-negative
    # factors: it predicts the rating itself, which is positive, and the factors stay readable as tastes.)
    residual_ratings = residuals(train, biases).persist()
    try:
        return ResidualAlsModel(biases, fit_als(residual_ratings, rank, reg_param, params, nonnegative=False))
    finally:
        residual_ratings.unpersist()


def fit_als_model(train: DataFrame, model: str, point: dict[str, Any], params: RecommendSettings,
                  biases: BiasModel | None = None) -> "ALSModel | ResidualAlsModel":
    """The ALS variant `model` at grid point `point`; a residual point names the bias regularisation it uses."""
    if model == PLAIN_ALS:
        return fit_als(train, point["rank"], point["reg_param"], params)
    if biases is None:
        biases = fit_biases(train, point["bias_reg_item"], point["bias_reg_user"])
    return fit_residual_als(train, point["rank"], point["reg_param"], biases, params)


def als_scores(model: "ALSModel | ResidualAlsModel", candidates: DataFrame) -> DataFrame:
    return model.transform(candidates).withColumnRenamed("prediction", "score")


# --- evaluation and model choice ---------------------------------------------------------------------------------
@dataclass
class Choice:
    """What validation chose, and every figure measured on the way (rows of schema_of("gold/model_metrics"))."""
    bias_reg: tuple[float, float]
    bias_min_item_ratings: int
    als_model: str                          # the served ALS variant: PLAIN_ALS or RESIDUAL_ALS
    als: dict[str, Any]                     # its point: rank, reg_param, max_iter, min_item_ratings (+ bias_reg_*)
    metrics: list[dict[str, Any]]
    counts: dict[str, dict[str, int]]

    def test_figures(self) -> dict[str, dict[str, float | None]]:
        return {m["model"]: {"rmse": m["rmse"], "precision_at_k": m["precision_at_k"], "ndcg_at_k": m["ndcg_at_k"]}
                for m in self.metrics if m["split"] == "test"}

    def chosen(self) -> dict[str, Any]:
        return {"als": {"model": self.als_model, **self.als},
                "baseline_biases": {"reg_item": self.bias_reg[0], "reg_user": self.bias_reg[1],
                                    "min_item_ratings": self.bias_min_item_ratings}}

    def als_beats_baselines(self) -> dict[str, bool]:
        """Per test metric: does the served ALS beat both baselines (lower RMSE; higher precision and NDCG)?"""
        test = self.test_figures()

        def better(metric: str, baseline: str) -> bool:
            ours, theirs = test[self.als_model][metric], test[baseline][metric]
            if theirs is None:  # the baseline has no such figure (most-popular predicts no ratings)
                return True
            return ours is not None and (ours < theirs if metric == "rmse" else ours > theirs)
        return {metric: better(metric, "baseline_biases") and better(metric, "most_popular")
                for metric in ("rmse", "precision_at_k", "ndcg_at_k")}

    def summary(self, k: int) -> list[str]:
        """Lines for the run's notes: the choice, the test figures, and where ALS does not win."""
        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.4f}"
        how = "chosen on validation" if any(m["split"] == "validation" for m in self.metrics) else \
            "the point an earlier full search chose (RECOMMEND_SEARCH=quick)"
        lines = [f"ALS served: {ALS_DESCRIPTIONS[self.als_model]}, {how}: rank {self.als['rank']}, "
                 f"regParam {self.als['reg_param']}, candidate films with >= {self.als['min_item_ratings']} ratings. "
                 "Test split: " + "; ".join(
                     f"{model} RMSE {fmt(v['rmse'])}, precision@{k} {fmt(v['precision_at_k'])}, "
                     f"NDCG@{k} {fmt(v['ndcg_at_k'])}" for model, v in self.test_figures().items())]
        losses = [metric for metric, wins in self.als_beats_baselines().items() if not wins]
        if losses:
            lines.append(f"The served ALS ({self.als_model}) does not beat both baselines on: " + ", ".join(losses))
        return lines


ALS_DESCRIPTIONS = {PLAIN_ALS: f"{PLAIN_ALS} (ALS on the ratings, non-negative factors)",
                    RESIDUAL_ALS: f"{RESIDUAL_ALS} (bias model mu + b_u + b_i plus ALS on its residuals)"}


def _row(model: str, split: str, params: dict, k: int, evs: EvalSet, rmse_value: float | None = None,
         ranking: dict | None = None, selected: bool = False, seconds: float | None = None) -> dict[str, Any]:
    """One schema_of("gold/model_metrics") row."""
    ranking = ranking or {}
    return {"model": model, "split": split, "params": json.dumps(params, sort_keys=True), "rmse": rmse_value,
            "precision_at_k": ranking.get("precision_at_k"), "ndcg_at_k": ranking.get("ndcg_at_k"), "k": k,
            "rated_pairs": evs.counts["rated_pairs"] if rmse_value is not None else 0,
            "ranked_users": evs.counts["ranked_users"] if ranking else 0, "selected": selected,
            "fit_seconds": None if seconds is None else round(seconds, 3)}


def _ranked(evs: EvalSet, scored: DataFrame, k: int) -> dict[str, float]:
    return ranking_quality(top_k(scored, k), evs.relevant, evs.users, k)


def _ranked_per_threshold(evs: EvalSet, scored: DataFrame, thresholds: tuple[int, ...],
                          k: int) -> dict[int, dict[str, float]]:
    """Ranking quality for every candidate threshold from one scoring of the widest candidate set, in one job."""
    widest = scored.join(evs.film_support, "movie_id")
    per = (widest.withColumn("min_item_ratings", F.explode(F.array(*[F.lit(t) for t in thresholds])))
           .filter(F.col("n") >= F.col("min_item_ratings")))
    return ranking_quality_per(top_k(per, k, per=("min_item_ratings",)), evs.relevant, evs.users, k,
                               "min_item_ratings", list(thresholds))


def tune_biases(evs: EvalSet, params: RecommendSettings) -> tuple[list[dict], tuple[float, float], int]:
    """Regularisation by validation RMSE (a rating predictor), then its candidate threshold by validation NDCG."""
    k, rows = params.eval_k, []
    for reg_item, reg_user in params.bias_reg_grid:
        rows.append(_row("baseline_biases", "validation", {"reg_item": reg_item, "reg_user": reg_user}, k, evs,
                         rmse(fit_biases(evs.train, reg_item, reg_user).predict(evs.rated))))
    best_reg_row = min(rows, key=lambda r: r["rmse"])
    reg = tuple(json.loads(best_reg_row["params"])[key] for key in ("reg_item", "reg_user"))
    item_scores = fit_biases(evs.train, *reg).item_bias.withColumnRenamed("b_i", "score")
    grid = params.min_item_ratings_grid
    quality = _ranked_per_threshold(evs, score_by_film(evs.candidates(min(grid)), item_scores), grid, k)
    ranked = [_row("baseline_biases", "validation", {"reg_item": reg[0], "reg_user": reg[1], "min_item_ratings": m},
                   k, evs, best_reg_row["rmse"], quality[m]) for m in grid]
    best = max(ranked, key=lambda r: r["ndcg_at_k"])  # the first (smallest threshold) on a tie
    best["selected"] = True
    return rows + ranked, reg, json.loads(best["params"])["min_item_ratings"]


def selection_key(params: RecommendSettings, bias_rmse: float) -> Callable[[dict], tuple]:
    """Sort key of validation rows, best first: points that predict ratings better than the bias baseline come
    first (when `served_must_beat_bias_rmse`), then the selection metric, then the other figure."""
    def key(row: dict) -> tuple:
        misses_rmse = params.served_must_beat_bias_rmse and not row["rmse"] < bias_rmse
        if params.selection_metric == "rmse":
            return (misses_rmse, row["rmse"], -row["ndcg_at_k"])
        return (misses_rmse, -row["ndcg_at_k"], row["rmse"])
    return key


def als_grid(params: RecommendSettings, model: str, bias_reg: tuple[float, float]) -> list[dict[str, Any]]:
    """The (rank, regParam) points tried for one ALS variant; a residual point also names its bias model."""
    if model == PLAIN_ALS:
        ranks, reg_params, bias = params.als_ranks, params.als_reg_params, {}
    else:
        ranks, reg_params = params.als_residual_ranks, params.als_residual_reg_params
        bias = {"bias_reg_item": bias_reg[0], "bias_reg_user": bias_reg[1]}
    return [{"rank": rank, "reg_param": reg_param, "max_iter": params.als_max_iter, **bias}
            for rank, reg_param in product(ranks, reg_params)]


def tune_als(evs: EvalSet, params: RecommendSettings, bias_reg: tuple[float, float], bias_rmse: float,
             log: "EventLogger | None" = None) -> tuple[list[dict], dict[str, dict], str]:
    """Every grid point of both ALS variants fitted once on the fit part; each candidate threshold ranked with it.

    Returns the validation rows, each variant's best point, and the variant to serve: the best point of all by
    `selection_key` (`bias_rmse`: the bias baseline's validation RMSE). The residual variant builds on the bias
    model that `tune_biases` chose.
    """
    k, grid, rows, best = params.eval_k, params.min_item_ratings_grid, [], {}
    best_first = selection_key(params, bias_rmse)
    biases = fit_biases(evs.train, *bias_reg).persist()
    try:
        for model in ALS_MODELS:
            model_rows = []
            for point in als_grid(params, model, bias_reg):
                t0 = time.perf_counter()
                fitted = fit_als_model(evs.train, model, point, params, biases)
                seconds = time.perf_counter() - t0
                value = rmse(fitted.transform(evs.rated))
                quality = _ranked_per_threshold(evs, als_scores(fitted, evs.candidates(min(grid))), grid, k)
                point_rows = [_row(model, "validation", {**point, "min_item_ratings": m}, k, evs, value, quality[m],
                                   seconds=seconds) for m in grid]
                if log:
                    log.info("als_grid_point", model=model, rank=point["rank"], reg_param=point["reg_param"],
                             rmse=round(value, 4), best_ndcg_at_k=round(max(r["ndcg_at_k"] for r in point_rows), 4),
                             fit_seconds=round(seconds, 1))
                model_rows += point_rows
            best[model] = min(model_rows, key=best_first)
            rows += model_rows
    finally:
        biases.unpersist()
    served = min(best.values(), key=best_first)
    served["selected"] = True
    return rows, {model: json.loads(row["params"]) for model, row in best.items()}, served["model"]


def score_on_test(test: EvalSet, params: RecommendSettings, bias_reg: tuple[float, float], bias_min: int,
                  als_points: dict[str, dict], served: str) -> list[dict[str, Any]]:
    """Refit the chosen configurations on the whole training part and score every model once on the test part.

    Both ALS variants are scored (each at its own best validation point); `selected` marks the served one.
    """
    k, rows = params.eval_k, []
    mu = test.train.agg(F.avg("rating")).first()[0]
    rows.append(_row("global_mean", "test", {}, k, test, rmse(test.rated.withColumn("prediction", F.lit(mu))),
                     selected=True))

    smallest = min(params.min_item_ratings_grid)
    popularity = test.film_support.withColumnRenamed("n", "score")
    rows.append(_row("most_popular", "test", {"min_item_ratings": smallest}, k, test, None,
                     _ranked(test, score_by_film(test.candidates(smallest), popularity), k), selected=True))

    t0 = time.perf_counter()
    biases = fit_biases(test.train, *bias_reg).persist()   # the baseline, and the base of the residual ALS
    seconds = time.perf_counter() - t0
    try:
        rows.append(_row("baseline_biases", "test", {"reg_item": bias_reg[0], "reg_user": bias_reg[1],
                                                     "min_item_ratings": bias_min}, k, test,
                         rmse(biases.predict(test.rated)),
                         _ranked(test, score_by_film(test.candidates(bias_min),
                                                     biases.item_bias.withColumnRenamed("b_i", "score")), k),
                         selected=True, seconds=seconds))
        for model in ALS_MODELS:
            point = als_points[model]
            t0 = time.perf_counter()
            fitted = fit_als_model(test.train, model, point, params, biases)
            seconds = time.perf_counter() - t0
            value = rmse(fitted.transform(test.rated))
            rows.append(_row(model, "test", point, k, test, value,
                             _ranked(test, als_scores(fitted, test.candidates(point["min_item_ratings"])), k),
                             selected=model == served, seconds=seconds))
            if model == served and params.tune_on_validation:
                # The served model ranking every unrated film, for the record: what the candidate threshold buys
                # (5.5 M pairs on the sample, a sixth of the quick search's time: only a full search records it).
                rows.append(_row(f"{model}_unfiltered", "test", {**point, "min_item_ratings": 1}, k, test, value,
                                 _ranked(test, als_scores(fitted, test.candidates(1)), k)))
    finally:
        biases.unpersist()
    return rows


def choose_and_evaluate(ratings: DataFrame, params: RecommendSettings, log: "EventLogger | None" = None) -> Choice:
    """Choose every model's settings on validation, then score each model once on the test split."""
    split = holdout_latest(params.holdout_fraction, params.min_ratings_to_hold_out)
    marked = ratings.transform(split).persist()
    train_all = marked.filter(~F.col("is_holdout")).drop("is_holdout")
    fit_part = train_all.transform(split).persist()
    validation = EvalSet.build(fit_part.filter(~F.col("is_holdout")), fit_part.filter("is_holdout"),
                               params.relevant_rating) if params.tune_on_validation else None
    test = EvalSet.build(train_all, marked.filter("is_holdout"), params.relevant_rating)
    parts = {"validation": validation, "test": test}
    if log:
        log.info("evaluation_split", **{f"{part}_{key}": value for part, evs in parts.items() if evs is not None
                                        for key, value in evs.counts.items()})
    try:
        if params.tune_on_validation:
            bias_rows, bias_reg, bias_min = tune_biases(validation, params)
            bias_rmse = min(row["rmse"] for row in bias_rows)   # the chosen regularisation's, by construction
            als_rows, als_points, served = tune_als(validation, params, bias_reg, bias_rmse, log)
        else:   # a point chosen by an earlier search (recommend_settings.QUICK): test figures only
            bias_rows, als_rows, bias_rmse = [], [], float("nan")
            bias_reg, bias_min = params.bias_reg_grid[0], params.min_item_ratings_grid[0]
            als_points = {model: {**als_grid(params, model, bias_reg)[0], "min_item_ratings": bias_min}
                          for model in ALS_MODELS}
            served = params.served_model
        if log:
            log.info("models_chosen", served=served, als=als_points, bias_reg=list(bias_reg),
                     bias_min_item_ratings=bias_min, bias_validation_rmse=round(bias_rmse, 4),
                     selection_metric=params.selection_metric,
                     served_must_beat_bias_rmse=params.served_must_beat_bias_rmse)
        test_rows = score_on_test(test, params, bias_reg, bias_min, als_points, served)
        if log:
            log.info("test_scored", models=sorted({row["model"] for row in test_rows}))
        counts = {part: evs.counts for part, evs in parts.items() if evs is not None}
    finally:
        for evs in parts.values():
            if evs is not None:
                evs.release()
        fit_part.unpersist()
        marked.unpersist()
    return Choice(bias_reg, bias_min, served, als_points[served], bias_rows + als_rows + test_rows, counts)


# --- serving ---------------------------------------------------------------------------------------------------------
def recommend_for_all_users(ratings: DataFrame, model: str, als: dict[str, Any],
                            params: RecommendSettings) -> DataFrame:
    """Top-N per user from the ALS variant `model` at point `als` (rank, reg_param, min_item_ratings, and for the
    residual variant its bias regularisation) fitted on every rating.

    Films with at least `min_item_ratings` ratings come first, as in the evaluation; a user who has rated nearly
    all of them gets the list topped up with the best-scored other films, so every user gets `top_n` when there
    are that many films left to recommend. Films the user rated are never recommended.
    Returns (user_id, movie_id, rank, predicted_rating).
    """
    fitted = fit_als_model(ratings, model, als, params)
    rated = ratings.select("user_id", "movie_id")
    films = ratings.groupBy("movie_id").agg(F.count("*").alias("n"))
    eligible = F.col("n") >= als["min_item_ratings"]
    unrated = ratings.select("user_id").distinct().crossJoin(films.filter(eligible)).join(
        rated, ["user_id", "movie_id"], "left_anti")
    # Only the few users left short by the threshold are scored against the whole catalogue.
    full_lists = unrated.groupBy("user_id").count().filter(F.col("count") >= params.top_n).select("user_id")
    top_up = (ratings.select("user_id").distinct().join(full_lists, "user_id", "left_anti")
              .crossJoin(films.filter(~eligible)).join(rated, ["user_id", "movie_id"], "left_anti"))
    return (top_k(als_scores(fitted, unrated.unionByName(top_up)), params.top_n, preferred=eligible)
            .select("user_id", "movie_id", "rank", clipped("score").alias("predicted_rating")))


def soundtracks_by_film(film_soundtracks: DataFrame) -> DataFrame:
    """Gold's film-soundtrack rows folded to one row per TMDB film: releases best match first, composers."""
    release = F.struct(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in SOUNDTRACK.fields])
    return film_soundtracks.groupBy("tmdb_id").agg(
        F.sort_array(F.collect_list(release), asc=False).alias("soundtracks"),
        F.max("composers").alias("composers"))


def with_films_and_soundtracks(recommendations: DataFrame, movies: DataFrame, links: DataFrame,
                               film_soundtracks: DataFrame) -> DataFrame:
    """Recommendations with title, year, genres and, through links.tmdb_id, the film's soundtracks from Gold."""
    empty = F.array().cast(ArrayType(SOUNDTRACK, True))
    return (recommendations
            .join(movies.select("movie_id", "title", "year", "genres"), "movie_id", "left")
            .join(links.select("movie_id", "tmdb_id"), "movie_id", "left")
            .join(soundtracks_by_film(film_soundtracks), "tmdb_id", "left")
            .withColumn("soundtracks", F.coalesce("soundtracks", empty))
            .withColumn("soundtrack_count", F.size("soundtracks"))
            .select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema_of("gold/recommendations").fields]))
