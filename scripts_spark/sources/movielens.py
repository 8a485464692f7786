"""MovieLens CSV files (GroupLens ml-latest / ml-latest-small): where they are, their published layout, reading them.

The header is checked, never trusted blindly; rows are read as text lines and parsed with the declared schema, so
the cleaning rules (`transforms/movielens.py`) can reject a row with its raw line.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, LongType, StringType, StructField, StructType

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

# The files as GroupLens publishes them: header names and types (the header is checked, never trusted blindly).
RAW_SCHEMAS: dict[str, StructType] = {
    "ratings": StructType([StructField("userId", IntegerType()), StructField("movieId", IntegerType()),
                           StructField("rating", DoubleType()), StructField("timestamp", LongType())]),
    "movies": StructType([StructField("movieId", IntegerType()), StructField("title", StringType()),
                          StructField("genres", StringType())]),
    "tags": StructType([StructField("userId", IntegerType()), StructField("movieId", IntegerType()),
                        StructField("tag", StringType()), StructField("timestamp", LongType())]),
    # imdbId as text: it has leading zeros (0114709) that belong to the IMDb id (tt0114709).
    "links": StructType([StructField("movieId", IntegerType()), StructField("imdbId", StringType()),
                         StructField("tmdbId", LongType())]),
}


class MovieLensFormatError(ValueError):
    """A MovieLens file is not in the published layout (wrong header): a contract break, not a bad row."""


# MovieLens writes RFC 4180 CSV: fields with commas are quoted and quotes inside are doubled ("11'09""01").
CSV_OPTIONS = {"quote": '"', "escape": '"', "mode": "PERMISSIVE"}


def csv_path(input_dir: str | Path, name: str) -> Path:
    return Path(input_dir) / "movielens" / f"{name}.csv"


def check_header(path: Path, name: str) -> None:
    expected = [f.name for f in RAW_SCHEMAS[name].fields]
    with open(path, encoding="utf-8", newline=None) as fh:
        found = fh.readline().strip().split(",")
    if found != expected:
        raise MovieLensFormatError(f"{path}: header {','.join(found)!r}, expected {','.join(expected)!r}")


def read_raw(spark: "SparkSession", path: Path, name: str) -> DataFrame:
    """One MovieLens CSV as (raw line, _source_uri, parsed columns with the file's names); header dropped."""
    check_header(path, name)
    schema = RAW_SCHEMAS[name]
    ddl = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in schema.fields)
    header = ",".join(f.name for f in schema.fields)
    lines = (spark.read.text(str(path))
             .select(F.col("value").alias("raw"), F.col("_metadata.file_path").alias("_source_uri"))
             .filter((F.col("raw") != header) & (F.trim("raw") != "")))
    return lines.withColumn("parsed", F.from_csv("raw", ddl, CSV_OPTIONS)).select("raw", "_source_uri", "parsed.*")
