"""What every Bronze table shares: provenance columns, the split into kept rows and rejects, row accounting.

A source parser (tmdb.py, musicbrainz.py, discogs.py) turns raw records into a frame with its parsed key
columns plus `payload` (the record as received), `_source_uri`, `_record_ref` (where to find the record) and
`_status`: `kept`, `rejected` or `filtered` (out of scope by a setting, counted, not stored). A reject carries
`_reject_hint` (a reason known in SQL, or null when only the parser can tell); the parser's message is then
worked out in Python for the rejected rows only, so the cost of a helpful reason does not grow with the kept rows.
"""
from __future__ import annotations

import gzip
import json
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Callable

from ..tables import schema_of

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

KEPT, REJECTED, FILTERED = "kept", "rejected", "filtered"
STATUSES = (KEPT, REJECTED, FILTERED)
# Reject rows keep the raw record for replay; a pathological multi-megabyte record is cut to this many
# characters so that one bad element cannot blow up the reject table (the full record stays in the input).
MAX_REJECT_RAW_CHARS = 1_000_000
PREVIEW_RECORDS = 3  # records per input file shown by the dry run


def read_json_lines(spark: "SparkSession", files: list[str]) -> "DataFrame":
    """(payload, _source_uri) for every non-blank line of JSON-lines files, streamed by Spark's text source."""
    from pyspark.sql import functions as F

    return (spark.read.text(files)
            .where(F.trim("value") != "")
            .select(F.col("value").alias("payload"), F.col("_metadata.file_path").alias("_source_uri")))


def preview_json_lines(files: list[str], parse: Callable[[dict], dict[str, Any]], n: int = PREVIEW_RECORDS) -> list[str]:
    """The first parsed records of each file, in plain Python (dry run: no Spark, nothing written)."""
    lines = []
    for path in files:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for number, line in enumerate(islice((ln for ln in fh if ln.strip()), n), start=1):
                try:
                    lines.append(f"{path} #{number}: {parse(json.loads(line))}")
                except ValueError:
                    lines.append(f"{path} #{number}: would be rejected: {json_reject_reason(line)}")
    return lines


def json_reject_reason(text: str | None, required: str = "id") -> str:
    """Why a JSON record could not be taken: the parser's own message, or the missing/mistyped field."""
    if text is None or not text.strip():
        return "empty record"
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return f"malformed JSON: {exc}"
    if not isinstance(doc, dict):
        return f"not a JSON object but {type(doc).__name__}"
    if doc.get(required) in (None, ""):
        return f"missing {required}"
    return "a value does not fit the declared Bronze schema (e.g. text where a number is expected)"


def with_provenance(df: "DataFrame", source: str, run_id: str, ingested_at: datetime) -> "DataFrame":
    from pyspark.sql import functions as F

    return (df.withColumn("_source", F.lit(source))
              .withColumn("_ingested_at", F.lit(ingested_at))
              .withColumn("_run_id", F.lit(run_id))
              .withColumn("_payload_sha256", F.sha2(F.col("payload"), 256)))


def kept_rows(classified: "DataFrame", schema: "StructType", source: str, run_id: str,
              ingested_at: datetime) -> "DataFrame":
    """The kept records in exactly the declared Bronze schema (column order and types)."""
    from pyspark.sql import functions as F

    kept = with_provenance(classified.where(F.col("_status") == KEPT), source, run_id, ingested_at)
    return kept.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def reject_rows(classified: "DataFrame", source: str, run_id: str, ingested_at: datetime,
                explain: Callable[[str], str], expected: int | None = None) -> "DataFrame":
    """Rejected records in the schema_of("bronze/tmdb_rejects") shape; `explain(raw)` gives the precise reason (Python, rejects only).

    With `expected=0` (the caller has counted no rejects) no Python worker is started at all.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    if expected == 0:
        return classified.sparkSession.createDataFrame([], schema_of("bronze/tmdb_rejects"))
    explain_udf = F.udf(lambda raw, hint: hint or explain(raw), StringType())
    rejected = classified.where(F.col("_status") == REJECTED)
    return rejected.select(
        F.lit(source).alias("source"),
        F.col("_source_uri"),
        F.col("_record_ref").cast("string").alias("record_ref"),
        explain_udf(F.col("payload"), F.col("_reject_hint")).alias("reason"),
        F.substring(F.col("payload"), 1, MAX_REJECT_RAW_CHARS).alias("raw"),
        F.lit(ingested_at).alias("_ingested_at"),
        F.lit(run_id).alias("_run_id"),
    ).select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema_of("bronze/tmdb_rejects").fields])


def status_counts(classified: "DataFrame") -> dict[str, int]:
    """kept / rejected / filtered counts (one small aggregation; the result has at most three rows)."""
    counts = {status: 0 for status in STATUSES}
    for row in classified.groupBy("_status").count().collect():
        counts[row["_status"]] = row["count"]
    return counts
