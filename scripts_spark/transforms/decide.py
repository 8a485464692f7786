"""Score candidate pairs with the fitted matcher, keep one film per release, and decide match / review.

Two logistic regressions over the same features come from the versioned `match_settings.json` written by
`python -m scripts_spark.fit_matcher` (grouped cross-validation on the dev labels): the ranker orders each
release's candidate films, and the decision weights give `match_score`, a calibrated probability that the
release's best film is its film. Both thresholds come from the same file. Every link carries its reasons: the
feature values and the signed contribution (weight x value, in log-odds) of each one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ..tables import schema_of


# An automatic match also needs the ranked-first film to stand clear of the release's other candidates: its share of
# the ranker's odds over them (exp(rank_logit), normalised per release: the probability that it is the film, given
# that one of them is) must reach this. Two films alike in every feature (same title, year and composer: 'Smoke'
# 1995 and 2021 by the same composer against an undated album) share it half and half; the link goes to review
# instead of to a coin flip. At full scale such ties were 84 of the 1,059 false MusicBrainz matches on planted
# releases (bench/scale.py, 100%).
MIN_RANK_SHARE = 0.9
CLEAR_BEST_FILM = "clear_best_film"


class MatchSettingsError(ValueError):
    """match_settings.json is missing, unreadable, or does not fit the features this code computes."""


@dataclass(frozen=True)
class MatchSettings:
    """The fitted matcher: decision weights (log-odds per unit) and intercept, the ranker's, and two thresholds."""
    version: str
    feature_version: str
    weights: Mapping[str, float]
    intercept: float
    ranker_weights: Mapping[str, float]
    ranker_intercept: float
    match_threshold: float
    review_threshold: float
    # Features that must be 1 for an automatic match; a link that misses one stays in the review band at best.
    match_requires: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.weights)

    def __post_init__(self) -> None:
        if not 0.0 < self.review_threshold <= self.match_threshold < 1.0:
            raise MatchSettingsError(
                f"thresholds must satisfy 0 < review ({self.review_threshold}) <= match ({self.match_threshold}) < 1")


def load_match_settings(path: str | Path, expected_features: tuple[str, ...] | None = None,
                        expected_feature_version: str | None = None) -> MatchSettings:
    """Read the `matcher` section of match_settings.json; fail with the file named when it does not fit the code."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        matcher = doc["matcher"]
        settings = MatchSettings(
            version=str(matcher["version"]),
            feature_version=str(matcher["feature_version"]),
            weights={name: float(w) for name, w in matcher["weights"].items()},
            intercept=float(matcher["intercept"]),
            ranker_weights={name: float(w) for name, w in matcher["ranker"]["weights"].items()},
            ranker_intercept=float(matcher["ranker"]["intercept"]),
            match_threshold=float(matcher["thresholds"]["match"]),
            review_threshold=float(matcher["thresholds"]["review"]),
            match_requires=tuple(matcher.get("match_requires", ())),
        )
    except FileNotFoundError:
        raise MatchSettingsError(f"{path}: matcher settings not found; fit them with "
                                 "`python -m scripts_spark.fit_matcher`") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise MatchSettingsError(f"{path}: not a valid matcher settings file ({type(exc).__name__}: {exc})") from None
    if set(settings.ranker_weights) != set(settings.weights):
        raise MatchSettingsError(f"{path}: the ranker and the decision weights cover different features")
    unknown_required = sorted(set(settings.match_requires) - set(settings.features))
    if unknown_required:
        raise MatchSettingsError(f"{path}: match_requires names features without weights: {unknown_required}")
    if expected_features is not None and tuple(sorted(settings.features)) != tuple(sorted(expected_features)):
        missing = sorted(set(expected_features) - set(settings.features))
        extra = sorted(set(settings.features) - set(expected_features))
        raise MatchSettingsError(f"{path}: weights do not fit the computed features (missing {missing}, unknown {extra});"
                                 " refit with `python -m scripts_spark.fit_matcher`")
    if expected_feature_version is not None and settings.feature_version != expected_feature_version:
        raise MatchSettingsError(f"{path}: fitted for feature version {settings.feature_version}, code computes "
                                 f"{expected_feature_version}; refit with `python -m scripts_spark.fit_matcher`")
    return settings


def _contribution(name: str, weight: float) -> Column:
    return F.coalesce(F.col(name), F.lit(0.0)) * F.lit(weight)


def _linear(intercept: float, weights: Mapping[str, float]) -> Column:
    total = F.lit(intercept)
    for name, weight in weights.items():
        total = total + _contribution(name, weight)
    return total


def score_pairs(features: DataFrame, settings: MatchSettings) -> DataFrame:
    """Add `rank_logit` (the ranker), `logit` and `match_score` (sigmoid of intercept + sum of weight x feature)
    and the per-feature contributions to the logit (an array of {feature, value, contribution}, largest first)."""
    contributions = F.array(*[
        F.struct(F.lit(name).alias("feature"), F.col(name).cast("double").alias("value"),
                 F.round(_contribution(name, weight), 4).alias("contribution"))
        for name, weight in settings.weights.items()])
    by_effect = F.array_sort(contributions, lambda a, b: F.signum(F.abs(b["contribution"]) - F.abs(a["contribution"]))
                             .cast("int"))
    return (features
            .withColumn("rank_logit", _linear(settings.ranker_intercept, settings.ranker_weights))
            .withColumn("logit", _linear(settings.intercept, settings.weights))
            .withColumn("match_score", F.lit(1.0) / (F.lit(1.0) + F.exp(-F.col("logit"))))
            .withColumn("contributions", by_effect))


def pick_best_film_per_release(scored: DataFrame) -> DataFrame:
    """One row per release: the film the ranker puts first. Ties go to the higher match score, the closer year
    (undated last), then the smaller tmdb_id, so a rerun picks the same film. Adds the runner-up film and its
    match score for the reasons."""
    per_release = Window.partitionBy("source", "release_id")
    ranked = per_release.orderBy(F.col("rank_logit").desc(), F.col("match_score").desc(),
                                 F.col("year_diff").asc_nulls_last(), F.col("tmdb_id").asc())
    return (scored
            .withColumn("_top_logit", F.max("rank_logit").over(per_release))
            # the first film's share of the release's odds (see MIN_RANK_SHARE); exp of a difference cannot overflow
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
    `match_requires` feature is 1 and the film stands clear of the other candidates (MIN_RANK_SHARE), else review.
    `unmet_requirements` lists what a link lacks (required features, `clear_best_film`)."""
    unclear = F.when(F.coalesce(F.col("rank_share"), F.lit(1.0)) < MIN_RANK_SHARE, F.lit(CLEAR_BEST_FILM))
    unmet = F.filter(F.array(*[F.when(F.coalesce(F.col(name), F.lit(0.0)) < 1.0, F.lit(name))
                               for name in settings.match_requires], unclear), lambda x: x.isNotNull())
    return (best
            .filter(F.col("match_score") >= settings.review_threshold)
            .withColumn("unmet_requirements", unmet)
            .withColumn("decision", F.when((F.col("match_score") >= settings.match_threshold)
                                           & (F.size("unmet_requirements") == 0), F.lit("match"))
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
        F.struct(F.lit(settings.match_threshold).alias("match"), F.lit(settings.review_threshold).alias("review"))
        .alias("thresholds"),
        F.col("unmet_requirements"),
        F.col("year_diff"),
        F.round("composer_sim", 3).alias("composer_sim"),
        F.struct(F.col("runner_up_tmdb_id").alias("tmdb_id"), F.round("runner_up_score", 4).alias("score"))
        .alias("runner_up"),
        F.filter("contributions", lambda c: c["contribution"] != 0).alias("contributions"),
        F.lit(settings.version).alias("settings_version"),
    )
    # Nulls are kept: a missing year_diff or runner-up is part of the explanation.
    return links.withColumn("reasons", F.to_json(reasons, {"ignoreNullFields": "false"}))


def soundtrack_matches(links: DataFrame) -> DataFrame:
    """The gold/soundtrack_matches columns (schema_of("gold/soundtrack_matches")), in contract order and types."""
    return links.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema_of("gold/soundtrack_matches").fields])


def link_pairs(features: DataFrame, settings: MatchSettings) -> DataFrame:
    """features -> scored -> best film per release -> decided links with reasons (one row per linked release)."""
    return (features
            .transform(lambda df: score_pairs(df, settings))
            .transform(pick_best_film_per_release)
            .transform(lambda df: decide_links(df, settings))
            .transform(lambda df: with_reasons(df, settings)))
