"""What every Bronze table shares: reading input files, provenance columns, the split into kept rows and rejects,
row accounting.

A source parser (tmdb.py, musicbrainz.py, discogs.py) turns raw records into a frame with its parsed key
columns plus `payload` (the record as received), `_source_uri`, `_source_pos` (the record's line, or byte offset,
in its file), `_record_ref` (its id) and `_status`: `kept`, `rejected` (broken: stored with a reason) or `filtered`
(out of scope by a setting: counted, not stored); `unreadable` marks where a file could not be read any further.
A reject carries `_reject_hint` (a reason known before the parse, or null when only the parser can tell); the
parser's message is then worked out in Python for the rejected rows only, so the cost of a helpful reason does not
grow with the kept rows.

Input files are read in Python workers, one Spark task per file (a .gz file cannot be split anyway), so that every
record keeps its line number, bytes that are not UTF-8 reject their record instead of being replaced, and a file cut
short (a truncated gzip) is reported with its position instead of failing behind a JVM trace.
"""
from __future__ import annotations

import gzip
import json
import os
import zlib
from datetime import datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator

from ..tables import schema_of

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

KEPT, REJECTED, FILTERED, UNREADABLE = "kept", "rejected", "filtered", "unreadable"
STATUSES = (KEPT, REJECTED, FILTERED)
# Reject rows keep the raw record for replay; a pathological multi-megabyte record is cut to this many
# characters so that one bad element cannot blow up the reject table (the full record stays in the input).
MAX_REJECT_RAW_CHARS = 1_000_000
PREVIEW_RECORDS = 3  # records per input file shown by the dry run


# What the readers hand to the parsers: the record's text, where it came from, and what the reader already knows
# (`_pre`: null = parse it; filtered / rejected / unreadable, with `_reject_hint` saying why).
READ_DDL = "payload string, _source_uri string, _source_pos long, _pre string, _reject_hint string"
READ_BLOCK_BYTES = 1 << 20      # decompressed bytes per read: per-read overhead vanishes, memory stays flat
READER_BATCH_ROWS = 50_000      # rows per Arrow batch handed from a reader to Spark


class InputUnreadable(Exception):
    """A file could not be read past a point (truncated or corrupt gzip, I/O error): what was lost and where."""

    def __init__(self, path: str, where: str, offset: int, cause: BaseException, partial: bytes = b"",
                 position: int | None = None):
        size = f"; the file has {os.path.getsize(path):,} bytes" if os.path.exists(path) else ""
        self.path, self.offset, self.partial, self.position = path, offset, partial, position
        self.reason = (f"unreadable from {where} (byte {offset:,} of the decompressed data{size}): "
                       f"{type(cause).__name__}: {cause}; everything from there on is lost")
        super().__init__(f"input file {path}: {self.reason}")


try:
    # ISA-L inflates a Discogs dump part 2.7x as fast as Python's zlib, with the same gzip checks and errors
    # (bench/results/dump_reader.json: 0.22 s vs 0.59 s for 322 MB of XML); a cluster without it falls back to zlib.
    from isal import igzip as _gzip
    from isal.igzip_lib import IsalError as _InflateError
except ImportError:  # pragma: no cover - isal is pinned in requirements_stable.txt
    _gzip, _InflateError = gzip, zlib.error


# gzip.BadGzipFile is an OSError; a corrupt deflate stream raises zlib.error, or IsalError under ISA-L.
READ_ERRORS = (EOFError, OSError, zlib.error, _InflateError)


class _InflatedInput:
    """A .gz input read with ISA-L that hands over every good byte of a damaged file, as Python's gzip does: at a
    truncated or corrupt stream ISA-L raises without returning what it inflated before that point, so on the first
    read error the file is reopened with Python's gzip, the bytes already handed over are skipped, and reading goes
    on to the same error (the readers keep each complete record before it and report where it stopped)."""

    def __init__(self, path: str):
        self.path, self.handed, self.stream = path, 0, _gzip.open(path, "rb")
        self.fell_back = _gzip is gzip

    def read1(self, size: int = -1) -> bytes:
        try:
            block = self.stream.read1(size)
        except READ_ERRORS:
            if self.fell_back:
                raise
            self._fall_back()
            block = self.stream.read1(size)
        self.handed += len(block)
        return block

    def read(self, size: int = -1) -> bytes:
        blocks, wanted = [], size
        while wanted != 0 and (block := self.read1(wanted if wanted > 0 else READ_BLOCK_BYTES)):
            blocks.append(block)
            wanted -= len(block) if wanted > 0 else 0
        return b"".join(blocks)

    def _fall_back(self) -> None:
        self.stream.close()
        self.stream, self.fell_back = gzip.open(self.path, "rb"), True
        skip = self.handed
        while skip:
            skip -= len(self.stream.read1(min(skip, READ_BLOCK_BYTES)))

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> "_InflatedInput":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_input(path: str) -> IO[bytes]:
    """An input file as bytes, inflated when it ends in .gz (every reader of input files opens them here)."""
    return _InflatedInput(path) if path.endswith(".gz") else open(path, "rb")  # type: ignore[return-value]


def read_some(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes, from as few reads of the file as possible. `read1`, not `read`: a gzip `read(size)` that
    meets the end of a truncated file raises and drops what it had decompressed, losing up to `size` good bytes."""
    read1 = getattr(stream, "read1", None)
    return read1(size) if read1 else stream.read(size)


def iter_lines(path: str, block_bytes: int = READ_BLOCK_BYTES) -> Iterator[tuple[int, int, bytes]]:
    """(line number from 1, byte offset, bytes without the newline) of each line; raises InputUnreadable where the
    file stops being readable (complete lines before that point have been yielded)."""
    number, offset, pending = 0, 0, b""
    with open_input(path) as stream:
        while True:
            try:
                block = read_some(stream, block_bytes)
            except READ_ERRORS as exc:
                raise InputUnreadable(path, f"line {number + 1}", offset, exc, pending, position=number + 1) from None
            if not block:
                break
            lines = (pending + block).split(b"\n")
            pending = lines.pop()
            for line in lines:
                number += 1
                yield number, offset, line
                offset += len(line) + 1
    if pending:
        yield number + 1, offset, pending


def classify_line(raw: bytes, offset: int, prefilter: str | None) -> tuple[str | None, str | None, str | None]:
    """(payload, _pre, _reject_hint) of one non-blank line.

    Bytes that are not UTF-8 reject the line (kept with backslash escapes in the reject's raw text, never replaced).
    With a `prefilter` word, a line without it is parsed here: a JSON object is filtered (counted, text dropped),
    anything else rejected with the parser's reason, so a broken line is never counted as out of scope.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (raw.decode("utf-8", "backslashreplace"), REJECTED,
                f"not UTF-8: byte 0x{raw[exc.start]:02x} at position {exc.start} of the line "
                f"(byte {offset + exc.start:,} of the file)")
    if prefilter and prefilter not in text.lower():
        try:
            doc = json.loads(text)
        except ValueError as exc:
            return text, REJECTED, f"malformed JSON: {exc}"
        if not isinstance(doc, dict):
            return text, REJECTED, f"not a JSON object but {type(doc).__name__}"
        return None, FILTERED, None
    return text, None, None


def read_json_lines(spark: "SparkSession", files: list[str], prefilter: str | None = None) -> "DataFrame":
    """READ_DDL rows for every non-blank line of JSON-lines files (.gz or plain), read in Python workers.

    `prefilter` (a lower-case word): lines without it are checked here and only counted (see `classify_line`).
    A file that cannot be read to its end ends with one `unreadable` row naming the position and the cause.
    """
    paths = spark.sparkContext.parallelize([(p,) for p in files], max(1, len(files))).toDF("path string")
    return paths.mapInPandas(partial(_lines_of_files, prefilter=prefilter), READ_DDL)


def _lines_of_files(batches, prefilter: str | None):
    import pandas as pd

    columns = ("payload", "_source_uri", "_source_pos", "_pre", "_reject_hint")
    for batch in batches:
        for path in batch["path"]:
            uri = Path(path).absolute().as_uri()
            rows: list[tuple] = []
            try:
                for number, offset, raw in iter_lines(path):
                    if raw.strip():
                        rows.append(_row(raw, offset, prefilter, uri, number))
                    if len(rows) >= READER_BATCH_ROWS:
                        yield pd.DataFrame.from_records(rows, columns=columns)
                        rows = []
            except InputUnreadable as exc:
                rows.append((exc.partial[:MAX_REJECT_RAW_CHARS].decode("utf-8", "backslashreplace") or None, uri,
                             exc.position, UNREADABLE, exc.reason))
            if rows:
                yield pd.DataFrame.from_records(rows, columns=columns)


def _row(raw: bytes, offset: int, prefilter: str | None, uri: str, number: int) -> tuple:
    payload, pre, hint = classify_line(raw, offset, prefilter)
    return payload, uri, number, pre, hint


def with_reader_columns(raw: "DataFrame") -> "DataFrame":
    """A raw frame from any origin (reader, API staging, tests) with every READ_DDL column (missing ones null)."""
    from pyspark.sql import functions as F

    for name, kind in (("_source_pos", "long"), ("_pre", "string"), ("_reject_hint", "string")):
        if name not in raw.columns:
            raw = raw.withColumn(name, F.lit(None).cast(kind))
    if "_records" not in raw.columns:   # the records a row stands for: more than 1 only on a dump's counting rows
        raw = raw.withColumn("_records", F.lit(1))
    return raw


def unreadable_inputs(classified: "DataFrame") -> list[str]:
    """One line per file the reader could not read to its end (`unreadable` rows carry the reason)."""
    from pyspark.sql import functions as F

    return [f"input file {r['_source_uri']}: {r['_reject_hint']}"
            for r in classified.where(F.col("_status") == UNREADABLE).select("_source_uri", "_reject_hint").collect()]


def check_unreadable(classified: "DataFrame", counts: dict[str, int], allow_partial: bool) -> list[str]:
    """Stop the step on a file that could not be read, unless partial input is allowed: then the loss is a reject
    (its row is counted with the rejects) and the returned notes say so, for the manifest and the report."""
    if not counts.get(UNREADABLE):
        return []
    lost = unreadable_inputs(classified)
    if not allow_partial:
        raise InputUnreadableError(lost[0] + (f" (and {len(lost) - 1} more file(s))" if len(lost) > 1 else "")
                                   + "; nothing was committed. Fix or replace the file, or run with "
                                   "--allow-partial-input to keep the records before that point")
    return [f"PARTIAL INPUT (--allow-partial-input): {line}; the records read before it were kept and the loss is "
            f"a reject row" for line in lost]


class InputUnreadableError(RuntimeError):
    """A step's input file could not be read to its end (and partial input is not allowed)."""


def preview_json_lines(files: list[str], parse: Callable[[dict], dict[str, Any]], n: int = PREVIEW_RECORDS) -> list[str]:
    """The first parsed records of each file, in plain Python (dry run: no Spark, nothing written)."""
    lines = []
    for path in files:
        try:
            records = islice(((number, offset, raw) for number, offset, raw in iter_lines(path) if raw.strip()), n)
            for shown, (number, offset, raw) in enumerate(records, start=1):
                payload, pre, hint = classify_line(raw, offset, None)
                if pre == REJECTED:
                    lines.append(f"{path} #{shown} (line {number}): would be rejected: {hint}")
                    continue
                try:
                    lines.append(f"{path} #{shown}: {parse(json.loads(payload))}")
                except (ValueError, AttributeError):
                    lines.append(f"{path} #{shown} (line {number}): would be rejected: {json_reject_reason(payload)}")
        except InputUnreadable as exc:
            lines.append(f"{path}: UNREADABLE: {exc.reason}")
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
                explain: Callable[[str], str], expected: int | None = None, position: str = "line") -> "DataFrame":
    """Rejected records (and, with partial input allowed, the unreadable rest of a file) in the
    schema_of("bronze/tmdb_rejects") shape; `explain(raw)` gives the precise reason (Python, rejects only).

    `record_ref` says where the record is: '<position> <_source_pos>' (line, or byte offset for dumps) and its id.
    With `expected=0` (the caller has counted no rejects) no Python worker is started at all.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    if expected == 0:
        return classified.sparkSession.createDataFrame([], schema_of("bronze/tmdb_rejects"))
    explain_udf = F.udf(lambda raw, hint: hint or explain(raw), StringType())
    rejected = with_reader_columns(classified).where(F.col("_status").isin(REJECTED, UNREADABLE))
    where = F.when(F.col("_source_pos").isNotNull(), F.concat(F.lit(f"{position} "), F.col("_source_pos").cast("string")))
    record_id = F.col("_record_ref").cast("string")
    ref = F.concat_ws(", ", where, F.when(record_id != "", record_id))
    return rejected.select(
        F.lit(source).alias("source"),
        F.col("_source_uri"),
        F.when(ref != "", ref).alias("record_ref"),
        explain_udf(F.col("payload"), F.col("_reject_hint")).alias("reason"),
        F.substring(F.col("payload"), 1, MAX_REJECT_RAW_CHARS).alias("raw"),
        F.lit(ingested_at).alias("_ingested_at"),
        F.lit(run_id).alias("_run_id"),
    ).select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema_of("bronze/tmdb_rejects").fields])


def status_counts(classified: "DataFrame") -> dict[str, int]:
    """kept / rejected / filtered (and unreadable, when a file was cut short) counts: one small aggregation."""
    from pyspark.sql import functions as F

    counts = {status: 0 for status in STATUSES}
    # A Discogs dump's unmarked records come as counting rows (`_records`, discogs.run_rows); other readers' rows are
    # one record each.
    records = F.sum("_records") if "_records" in classified.columns else F.count(F.lit(1))
    for row in classified.groupBy("_status").agg(records.alias("n")).collect():
        counts[row["_status"]] = row["n"]
    return counts
