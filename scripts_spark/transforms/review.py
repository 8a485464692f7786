"""People's verdicts in step 05: accepted pairs become matches, rejected pairs are never linked again.

The verdicts in force come from the decisions store (review/store.py `effective_verdicts`: latest per pair, one
accepted film per release); here they are a small frame of (source, release_kind, release_id, tmdb_id, verdict).
"""
from __future__ import annotations

from typing import Iterable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from .blocking import RELEASE_KEY

PAIR = [*RELEASE_KEY, "tmdb_id"]
VERDICT_SCHEMA = StructType([StructField("source", StringType()), StructField("release_kind", StringType()),
                             StructField("release_id", StringType()), StructField("tmdb_id", LongType()),
                             StructField("verdict", StringType()), StructField("decided_at", StringType())])
HUMAN, MODEL = "human", "model"
# Blocking rule name recorded for an accepted pair that blocking did not propose (a film picked by hand).
REVIEW_RULE = "review_decision"


def verdict_frame(spark: SparkSession, verdicts: Iterable) -> DataFrame:
    """`verdicts`: the review/store.PairVerdict values in force (effective_verdicts(...).values())."""
    rows = [(v.pair.source, v.pair.release_kind, v.pair.release_id, v.pair.tmdb_id, v.verdict, v.decided_at)
            for v in verdicts]
    return spark.createDataFrame(rows, VERDICT_SCHEMA)


def existing_verdicts(verdicts: DataFrame, films: DataFrame, releases: DataFrame) -> DataFrame:
    """Verdicts whose film and release (of the same kind) are in this run's Silver."""
    return (verdicts.join(films.select("tmdb_id"), "tmdb_id", "left_semi")
            .join(releases.select(*RELEASE_KEY), RELEASE_KEY, "left_semi"))


def missing_verdicts(verdicts: DataFrame, films: DataFrame, releases: DataFrame) -> DataFrame:
    """Verdicts whose pair no longer exists (the film or the release is gone upstream, or changed kind)."""
    return verdicts.join(existing_verdicts(verdicts, films, releases), PAIR, "left_anti")


def with_accepted_pairs(candidates: DataFrame, verdicts: DataFrame, films: DataFrame, releases: DataFrame) -> DataFrame:
    """Candidate pairs plus every accepted pair blocking did not propose, so a film chosen by hand gets features."""
    accepted = (existing_verdicts(verdicts, films, releases).filter(F.col("verdict") == "accept")
                .select(*PAIR))
    added = (accepted.join(candidates, PAIR, "left_anti")
             .withColumn("rules", F.array(F.lit(REVIEW_RULE))))
    return candidates.unionByName(added.select(*candidates.columns))


def apply_verdicts(scored: DataFrame, verdicts: DataFrame | None) -> DataFrame:
    """Drop rejected pairs; `decision_source` = human on each release's accepted pair, model elsewhere."""
    if verdicts is None:
        return scored.withColumn("decision_source", F.lit(MODEL))
    rejected = verdicts.filter(F.col("verdict") == "reject").select(*PAIR)
    accepted = verdicts.filter(F.col("verdict") == "accept").select(*PAIR, F.lit(HUMAN).alias("_human"))
    return (scored.join(F.broadcast(rejected), PAIR, "left_anti")
            .join(F.broadcast(accepted), PAIR, "left")
            .withColumn("decision_source", F.coalesce(F.col("_human"), F.lit(MODEL)))
            .drop("_human"))
