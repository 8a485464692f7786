"""Score candidate pairs with the fitted matcher, keep one film per release, and decide match / review.

Two logistic regressions over the same features come from the versioned `match_settings.json` (read by
`scripts_spark/match_settings.py`, written by `python -m scripts_spark.fit_matcher`) (grouped cross-validation on the dev labels): the ranker orders each
release's candidate films, and the decision weights give `match_score`, a calibrated probability that the
release's best film is its film. Both thresholds come from the same file. Every link carries its reasons: the
feature values and the signed contribution (weight x value, in log-odds) of each one.

An exact identifier outranks every score: a release that names a film's IMDb id (`imdb_bridge`, a MusicBrainz IMDb
URL relationship) is linked to that film as a match, and its reasons say `exact_identifier: imdb`. Only a person's
verdict outranks it (a rejected pair is gone before the choice; an accepted one comes first).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ..tables import schema_of
from .blocking import RELEASE_KEY
from .review import apply_verdicts
from .history import link_id


CLEAR_BEST_FILM = "clear_best_film"


@dataclass(frozen=True)
class MatchSettings:
    """The fitted matcher: decision weights (log-odds per unit) and intercept, the ranker's, two thresholds and the
    rank-share guard."""
    version: str
    feature_version: str
    weights: Mapping[str, float]
    intercept: float
    ranker_weights: Mapping[str, float]
    ranker_intercept: float
    match_threshold: float
    review_threshold: float
    # The ranked-first film's share of the release's ranker odds an automatic match needs (the `guards` section of
    # match_settings.json says how it was chosen): look-alike films that tie go to review, not to a coin flip.
    min_rank_share: float
    # Features that must be 1 for an automatic match; a link that misses one stays in the review band at best.
    match_requires: tuple[str, ...] = ()
    # Features that must be 0 for an automatic match; a link that has one is named `not_<feature>` in its
    # unmet_requirements and stays in the review band at best.
    match_forbids: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.weights)

    def __post_init__(self) -> None:
        if not 0.0 < self.review_threshold <= self.match_threshold < 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 < review ({self.review_threshold}) <= match ({self.match_threshold}) < 1")


def _contribution(name: str, weight: float) -> Column:
    return F.coalesce(F.col(name), F.lit(0.0)) * F.lit(weight)


def _linear(intercept: float, weights: Mapping[str, float]) -> Column:
    total = F.lit(intercept)
    for name, weight in weights.items():
        total = total + _contribution(name, weight)
    return total


def score_pairs(features: DataFrame, settings: MatchSettings) -> DataFrame:
    """Add `rank_logit` (the ranker), `logit` and `match_score` (sigmoid of intercept + sum of weight x feature)."""
    return (features
            .withColumn("rank_logit", _linear(settings.ranker_intercept, settings.ranker_weights))
            .withColumn("logit", _linear(settings.intercept, settings.weights))
            .withColumn("match_score", F.lit(1.0) / (F.lit(1.0) + F.exp(-F.col("logit")))))


def feature_contributions(settings: MatchSettings) -> Column:
    """Each feature's value and contribution to the logit, an array of {feature, value, contribution}, largest effect
    first. Built for the decided links only (with_reasons), never for every candidate pair: a sorted array of
    structs per pair made the per-release window carry it through its shuffle, and step 05 on the 10% input spent
    twice as long deciding (bench: 6.2 s vs 2.8 s on cached features, same links)."""
    contributions = F.array(*[
        F.struct(F.lit(name).alias("feature"), F.col(name).cast("double").alias("value"),
                 F.round(_contribution(name, weight), 4).alias("contribution"))
        for name, weight in settings.weights.items()])
    return F.array_sort(contributions, lambda a, b: F.signum(F.abs(b["contribution"]) - F.abs(a["contribution"]))
                        .cast("int"))


def _exact() -> Column:
    """The pair is bridged by an exact identifier (features.add_imdb_bridge)."""
    return F.coalesce(F.col("imdb_bridge"), F.lit(0.0)) >= 1.0


def pick_best_film_per_release(scored: DataFrame) -> DataFrame:
    """One row per release: the film a person accepted (`decision_source` = human), else a film the release names
    by an exact identifier, else the film the ranker puts first. Ties go to the higher match score, the closer year
    (undated last), then the smaller tmdb_id, so a rerun picks the same film. Adds the runner-up film and its match
    score for the reasons."""
    per_release = Window.partitionBy(*RELEASE_KEY)
    ranked = per_release.orderBy((F.col("decision_source") == "human").desc(), _exact().desc(),
                                 F.col("rank_logit").desc(),
                                 F.col("match_score").desc(),
                                 F.col("year_diff").asc_nulls_last(), F.col("tmdb_id").asc())
    return (scored
            .withColumn("_top_logit", F.max("rank_logit").over(per_release))
            # the first film's share of the release's odds (see MatchSettings.min_rank_share); exp of a difference cannot overflow
            .withColumn("rank_share", F.lit(1.0) / F.sum(F.exp(F.col("rank_logit") - F.col("_top_logit")))
                        .over(per_release))
            .drop("_top_logit")
            .withColumn("_rank", F.row_number().over(ranked))
            .withColumn("runner_up_score", F.lead("match_score").over(ranked))
            .withColumn("runner_up_tmdb_id", F.lead("tmdb_id").over(ranked))
            .filter(F.col("_rank") == 1)
            .drop("_rank"))


def decide_links(best: DataFrame, settings: MatchSettings) -> DataFrame:
    """Keep links at or above the review threshold; `decision` is match at or above the match threshold when every
    `match_requires` feature is 1, no `match_forbids` feature is, and the film stands clear of the other candidates
    (`min_rank_share`), else review. `unmet_requirements` lists what a link lacks (required features,
    `not_<feature>` for a forbidden one it has, `clear_best_film`). A link a person accepted
    (`decision_source` = human), and a link by an exact identifier, is a match whatever its score."""
    human = F.col("decision_source") == "human"
    certain = human | _exact()
    unclear = F.when(F.coalesce(F.col("rank_share"), F.lit(1.0)) < settings.min_rank_share, F.lit(CLEAR_BEST_FILM))
    unmet = F.filter(F.array(*[F.when(F.coalesce(F.col(name), F.lit(0.0)) < 1.0, F.lit(name))
                               for name in settings.match_requires],
                             *[F.when(F.coalesce(F.col(name), F.lit(0.0)) >= 1.0, F.lit(f"not_{name}"))
                               for name in settings.match_forbids], unclear), lambda x: x.isNotNull())
    return (best
            .filter((F.col("match_score") >= settings.review_threshold) | certain)
            .withColumn("unmet_requirements", unmet)
            .withColumn("decision", F.when(certain | ((F.col("match_score") >= settings.match_threshold)
                                                      & (F.size("unmet_requirements") == 0)), F.lit("match"))
                        .otherwise(F.lit("review"))))


def with_reasons(links: DataFrame, settings: MatchSettings) -> DataFrame:
    """`reasons` JSON: score, log-odds, intercept, thresholds, the descriptive values, the runner-up film, and
    each feature's value and signed contribution (largest effect first; zero contributions left out)."""
    reasons = F.struct(
        F.round("match_score", 4).alias("score"),
        F.round("logit", 4).alias("logit"),
        F.round("rank_logit", 4).alias("rank_logit"),
        F.round("rank_share", 4).alias("rank_share"),
        F.lit(settings.intercept).alias("intercept"),
        F.col("decision"),
        F.col("decision_source"),
        F.struct(F.lit(settings.match_threshold).alias("match"), F.lit(settings.review_threshold).alias("review"))
        .alias("thresholds"),
        F.col("unmet_requirements"),
        F.when(_exact(), F.lit("imdb")).alias("exact_identifier"),
        F.col("year_diff"),
        F.round("composer_sim", 3).alias("composer_sim"),
        F.struct(F.col("runner_up_tmdb_id").alias("tmdb_id"), F.round("runner_up_score", 4).alias("score"))
        .alias("runner_up"),
        F.filter(feature_contributions(settings), lambda c: c["contribution"] != 0).alias("contributions"),
        F.lit(settings.version).alias("settings_version"),
    )
    # Nulls are kept: a missing year_diff or runner-up is part of the explanation.
    return links.withColumn("reasons", F.to_json(reasons, {"ignoreNullFields": "false"}))


def soundtrack_matches(links: DataFrame) -> DataFrame:
    """The gold/soundtrack_matches columns (schema_of("gold/soundtrack_matches")), in contract order and types."""
    return links.withColumn("link_id", link_id()).select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema_of("gold/soundtrack_matches").fields])


def link_pairs(features: DataFrame, settings: MatchSettings, verdicts: DataFrame | None = None) -> DataFrame:
    """features -> scored -> people's verdicts applied (transforms/review.py) -> best film per release -> decided
    links with reasons (one row per linked release). `features` are a pair's features with the guards and
    release-context features (features.add_film_guards) the settings name."""
    named = dict.fromkeys([*settings.weights, *settings.ranker_weights, *settings.match_requires,
                           *settings.match_forbids])
    missing = [name for name in named if name not in features.columns]
    if missing:   # a missing weighted column would otherwise fail deep in Spark's analysis, naming no cause
        raise ValueError(f"the matcher's features {missing} are not among the pairs' columns: the guards and "
                         f"release-context features come from features.add_film_guards")
    return (features
            .transform(lambda df: score_pairs(df, settings))
            .transform(lambda df: apply_verdicts(df, verdicts))
            .transform(pick_best_film_per_release)
            .transform(lambda df: decide_links(df, settings))
            .transform(lambda df: with_reasons(df, settings)))
