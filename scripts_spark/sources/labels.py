"""Match labels (`data/eval/*.csv`): source, tmdb_id, release_id, label 1/0, note (the evidence that decided it)."""
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


def read_labels(spark: SparkSession, labels_path: str) -> DataFrame:
    """Labelled pairs; rows without a source, a release or a 0/1 label are left out (comments, blank lines)."""
    return (spark.read.schema(LABELS_SCHEMA).option("header", True).option("escape", '"').csv(str(labels_path))
            .filter(F.col("source").isNotNull() & F.col("release_id").isNotNull() & F.col("label").isin(0, 1)))
