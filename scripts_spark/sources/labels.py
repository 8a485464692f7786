"""Match labels (`data/eval/*.csv`): source, tmdb_id, release_id, label 1/0, note (the evidence that decided it),
and in generated truth (bench/generate_scale.py) release_kind.

A release is (source, release_kind, release_id) in the lake, but the dev labels name no kind: a Discogs label names a
master id, or the id of a release without a master, and the reference scorer (shared/eval/score_gold.py) matches
labels on (source, release_id). So labels without a `release_kind` column are matched on (source, release_id), and
labels with one on the whole release key, which tells a master from a master-less release of the same number
(docs/scale.md, "Discogs id collisions").
"""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

LABELS_SCHEMA = StructType([
    StructField("source", StringType(), True),
    StructField("tmdb_id", LongType(), True),
    StructField("release_id", StringType(), True),
    StructField("label", IntegerType(), True),
    StructField("note", StringType(), True),
])
RELEASE_KIND = StructField("release_kind", StringType(), True)
_TYPES = {f.name: f.dataType for f in (*LABELS_SCHEMA.fields, RELEASE_KIND)}


def _csv(spark: SparkSession):
    return spark.read.option("header", True).option("escape", '"')


def read_labels(spark: SparkSession, labels_path: str) -> DataFrame:
    """Labelled pairs (LABELS_SCHEMA, plus `release_kind` when the file has that column); rows without a source, a
    release or a 0/1 label are left out (comments, blank lines)."""
    # Spark's CSV reader maps a schema onto the columns by position, so the schema follows the file's header.
    header = _csv(spark).csv(str(labels_path)).columns
    schema = StructType([StructField(name, _TYPES.get(name, StringType()), True) for name in header])
    wanted = [f.name for f in LABELS_SCHEMA.fields] + (["release_kind"] if "release_kind" in header else [])
    return (_csv(spark).schema(schema).csv(str(labels_path)).select(*wanted)
            .filter(F.col("source").isNotNull() & F.col("release_id").isNotNull() & F.col("label").isin(0, 1)))


def label_release_key(labels) -> list[str]:
    """The columns labels name a release by: the whole release key when they carry the kind, else (source,
    release_id), as the reference scorer does. `labels`: a Spark or a pandas frame (fit_matcher's CSV merge)."""
    return ["source", "release_kind", "release_id"] if "release_kind" in labels.columns else ["source", "release_id"]


def with_release_kinds(labels: DataFrame, releases: DataFrame) -> DataFrame:
    """Labels with the kind of the Silver release they name. A label without a kind (no column, or an empty value)
    names every release of its id, so a master and a master-less release sharing the number both get it; a label
    whose release is not in Silver is left out."""
    kinds = releases.select("source", "release_id", F.col("release_kind").alias("_kind"))
    stated = F.col("release_kind") if "release_kind" in labels.columns else F.lit(None).cast("string")
    return (labels.withColumn("release_kind", stated)
            .join(kinds, ["source", "release_id"])
            .filter(F.col("release_kind").isNull() | (F.col("release_kind") == F.col("_kind")))
            .withColumn("release_kind", F.col("_kind")).drop("_kind"))
