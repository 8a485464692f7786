"""Discogs into Bronze: the monthly XML dumps, the saved `/database/search` pages, and the live API.

Dump reader (the choice and why)
--------------------------------
The releases dump is ~10 GB gzip (~56-67 GB of XML), one `<release id=..>` element after another under
`<releases>`, and only about 3% of it is soundtrack-like. Step 02 reads it with `read_dump_records`: one Spark task
per `.gz` file (gzip cannot be split anyway) runs a Python generator that streams the file in runs of about 1 MB of
whole records, cut on the element's opening tag, and finds the soundtrack markers (`SOUNDTRACK_MARKERS`) in them;
only marked records are decoded and handed to Spark with their text, the rest of each run of records is one row
that counts them as filtered (`_records`), so Spark handles about 3% of the rows (`run_rows`). The text
of every kept record is exactly as in the file (Bronze keeps it as `payload`) and is parsed in the JVM by
`from_xml` with a declared schema (never inferred). Memory is one block plus one record per task.

Why not Spark's text source split on the tag (`read_dump_chunks` + `dump_records`, kept as the reference
implementation the tests compare against): Hadoop's line reader with a custom separator managed about 20 MB/s per
core on the dump, and the whole 10% scale input's step 02 took 410 s with it against 81 s now
(bench/scale.py). Spark's `rowTag` XML reader parses just as well but drops the element's text, so the raw
fragment would need a second pass and a join.

Splitting on the opening tag rather than the closing one means a record is complete only when it ends
with its own `</release>`: a record cut short (a truncated file, a broken element) is rejected with that
reason instead of being silently closed. XML text cannot contain a literal `<`, so the tag only matches
real elements (`<release_date>` or `<master_id>` do not match `<release ` / `<master `).
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator

import requests

from .bronze import (FILTERED, KEPT, READ_ERRORS, REJECTED, UNREADABLE, InputUnreadable, open_input, read_some,
                     with_reader_columns)
from .checkpoint import Checkpoint, fetch_in_batches, record_line
from .http import Progress, RateLimitedSession
from .urls import strip_secrets_column, strip_text_secrets, strip_url_secrets

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

    from ..config import Settings

SOURCE_DUMP = "discogs_dump"
SOURCE_SEARCH = "discogs_search"
SOURCE_API = "discogs_api"

# Soundtrack-like records (the DISCOGS_SOUNDTRACK_FILTER setting): Discogs files film, TV, stage and game
# music under the genre "Stage & Screen" with styles such as Soundtrack, Score and Musical. Not every
# soundtrack carries them, but in the 2020-08 dump sample they pick 28 of 1,000 masters and 36 of 1,000
# releases, and the dev labels' Discogs positives all carry one.
SOUNDTRACK_GENRES = ("Stage & Screen",)
SOUNDTRACK_STYLES = ("Soundtrack", "Score", "Musical")

DUMP_KINDS = {"releases": "release", "masters": "master"}     # dump file kind -> element (row tag)
_DUMP_KIND_RE = re.compile(r"_(releases|masters)[._]")

_ARTISTS = "STRUCT<artist: ARRAY<STRUCT<id: LONG, name: STRING, anv: STRING, join: STRING, role: STRING>>>"
RELEASE_XML_DDL = (
    f"_id LONG, _status STRING, artists {_ARTISTS}, title STRING, "
    "labels STRUCT<label: ARRAY<STRUCT<_name: STRING, _catno: STRING, _id: LONG>>>, "
    f"extraartists {_ARTISTS}, "
    "formats STRUCT<format: ARRAY<STRUCT<_name: STRING, _qty: STRING, _text: STRING, "
    "descriptions: STRUCT<description: ARRAY<STRING>>>>>, "
    "genres STRUCT<genre: ARRAY<STRING>>, styles STRUCT<style: ARRAY<STRING>>, country STRING, released STRING, "
    "data_quality STRING, master_id STRUCT<_VALUE: LONG, _is_main_release: BOOLEAN>, _corrupt_record STRING")
MASTER_XML_DDL = (
    f"_id LONG, main_release LONG, artists {_ARTISTS}, genres STRUCT<genre: ARRAY<STRING>>, "
    "styles STRUCT<style: ARRAY<STRING>>, year INT, title STRING, data_quality STRING, _corrupt_record STRING")
XML_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record", "excludeAttribute": "false"}

SEARCH_PAGE_DDL = ("pagination STRUCT<page: INT, pages: INT, per_page: INT, items: LONG, urls: MAP<STRING, STRING>>, "
                   "results ARRAY<STRING>, _corrupt_record STRING")
SEARCH_RESULT_DDL = ("id LONG, type STRING, master_id LONG, title STRING, year STRING, country STRING, "
                     "genre ARRAY<STRING>, style ARRAY<STRING>, format ARRAY<STRING>, label ARRAY<STRING>, "
                     "_corrupt_record STRING")
API_RELEASE_DDL = ("id LONG, status STRING, master_id LONG, title STRING, artists ARRAY<STRUCT<name: STRING>>, "
                   "extraartists ARRAY<STRUCT<name: STRING, role: STRING>>, genres ARRAY<STRING>, styles ARRAY<STRING>, "
                   "formats ARRAY<STRUCT<name: STRING, qty: STRING, text: STRING, descriptions: ARRAY<STRING>>>, "
                   "country STRING, released STRING, labels ARRAY<STRUCT<name: STRING>>, data_quality STRING, "
                   "_corrupt_record STRING")
API_MASTER_DDL = ("id LONG, main_release LONG, title STRING, artists ARRAY<STRUCT<name: STRING>>, year INT, "
                  "genres ARRAY<STRING>, styles ARRAY<STRING>, data_quality STRING, _corrupt_record STRING")
JSON_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"}

# Discogs search defaults for soundtracks (docs/sources.md) and its largest page size.
SEARCH_GENRE = "Stage & Screen"
SEARCH_STYLE = "Soundtrack"
SEARCH_TYPES = ("master", "release")
SEARCH_PER_PAGE = 100
# Discogs' limit is a moving 60 s window reported in X-Discogs-Ratelimit-* headers. When the server says
# this few requests are left (other clients may share the IP), slow down by one spacing interval per
# missing request rather than run into 429s.
RATELIMIT_WINDOW_S = 60.0
RATELIMIT_RESERVE = 2
# Detail calls per checkpoint unit: at 55 requests a minute a kill loses at most ~1 minute of calls.
DETAIL_BATCH = 50
# Streaming reader block: large enough that per-block overhead vanishes, small against any record limit.
STREAM_BLOCK_BYTES = 1 << 20


# --- dump files ------------------------------------------------------------------------------------
def dump_kind(path: str) -> str | None:
    """'releases' or 'masters' from a dump file name (discogs_20200806_releases.xml.gz); None for others."""
    m = _DUMP_KIND_RE.search(path.rsplit("/", 1)[-1])
    return m.group(1) if m else None


def is_soundtrack(genres: list[str] | None, styles: list[str] | None) -> bool:
    return bool(set(genres or ()) & set(SOUNDTRACK_GENRES) or set(styles or ()) & set(SOUNDTRACK_STYLES))


def soundtrack_column(genres: "Column", styles: "Column") -> "Column":
    from pyspark.sql import functions as F

    return (F.arrays_overlap(F.coalesce(genres, F.array()), F.array(*map(F.lit, SOUNDTRACK_GENRES)))
            | F.arrays_overlap(F.coalesce(styles, F.array()), F.array(*map(F.lit, SOUNDTRACK_STYLES))))


# Text a dump record must contain to possibly be soundtrack-like: the end of each soundtrack genre element
# ('Stage &amp; Screen' is escaped in the dump, so only its last word is matched) and each whole style element.
# The dump writes values without surrounding whitespace, so these are exact; a record lacking all of them cannot
# pass `soundtrack_column`, and the XML parser (about 97% of the full dump's cost) is skipped for it.
SOUNDTRACK_MARKERS = (tuple(f"{g.split()[-1]}</genre>" for g in SOUNDTRACK_GENRES)
                      + tuple(f">{s}</style>" for s in SOUNDTRACK_STYLES))


def may_be_soundtrack(payload: "Column") -> "Column":
    """A cheap superset of `soundtrack_column` on the raw record text (plain substring search, no parsing)."""
    from functools import reduce

    return reduce(lambda a, b: a | b, [payload.contains(m) for m in SOUNDTRACK_MARKERS])


def read_dump_chunks(spark, paths: list[str], element: str) -> "DataFrame":
    """(chunk, _source_uri): the file's text between consecutive `<element ` tags, streamed by Spark."""
    from pyspark.sql import functions as F

    return (spark.read.option("lineSep", f"<{element} ").text(paths)
            .select(F.col("value").alias("chunk"), F.col("_metadata.file_path").alias("_source_uri")))


DUMP_RECORDS_DDL = ("payload string, _source_uri string, _complete boolean, _marked boolean, _source_pos long, "
                    "_pre string, _reject_hint string, _records int")
# Rows per Arrow batch handed from the Python reader to Spark (each a record with its text, or a run's counting row).
READER_BATCH_ROWS = 50_000


def read_dump_records(spark, paths: list[str], element: str, keep_unmarked: bool) -> "DataFrame":
    """DUMP_RECORDS_DDL rows: every record of the dump files, split in Python workers.

    One Spark task per file (a .gz file cannot be split anyway). Inflating and `bytes.find` cut a 336 MB file
    into 90,000 records and mark them in 5.7 s, against 13.7 s for Hadoop's text reader with a custom record
    separator on the same file (same loaded machine). A marked record (`_marked`: it holds a soundtrack marker), a
    record cut short and, with the soundtrack filter off (`keep_unmarked`), every record is one row with its text;
    the unmarked complete records of a run of records are one row without text that counts them (`_records`, 1 on
    every other row), so Spark handles about 3% of the rows. A truncated record keeps its text for the reject.
    `_source_pos` is the record's byte offset in the decompressed file (a counting row's: its run's first record). A
    record whose bytes are not UTF-8 is rejected (`_pre`) with its text backslash-escaped, never replaced; a file
    that cannot be read to its end (a truncated gzip) ends with an `unreadable` row naming the position and cause.
    """
    from functools import partial

    files = spark.sparkContext.parallelize([(p,) for p in paths], max(1, len(paths))).toDF("path string")
    return files.mapInPandas(partial(_records_of_files, element=element, keep_unmarked=keep_unmarked),
                             DUMP_RECORDS_DDL)


def _records_of_files(batches, element: str, keep_unmarked: bool):
    import pandas as pd

    columns = ("payload", "_source_uri", "_complete", "_marked", "_source_pos", "_pre", "_reject_hint", "_records")
    for batch in batches:
        for path in batch["path"]:
            uri = Path(path).absolute().as_uri()
            rows: list[tuple] = []
            try:
                with open_dump(path) as stream:
                    for offset, run in iter_dump_record_runs(stream, element, path=path):
                        rows.extend(run_rows(run, offset, uri, element, keep_unmarked))
                        if len(rows) >= READER_BATCH_ROWS:
                            yield pd.DataFrame.from_records(rows, columns=columns)
                            rows = []
            except InputUnreadable as exc:
                rows.append((exc.partial[:MAX_REJECT_RAW_BYTES].decode("utf-8", "backslashreplace") or None, uri, False,
                             False, exc.position, UNREADABLE, exc.reason, 1))
            if rows:
                yield pd.DataFrame.from_records(rows, columns=columns)


_MARKER_BYTES = tuple(m.encode() for m in SOUNDTRACK_MARKERS)


def run_rows(run: bytes, offset: int, uri: str, element: str, keep_unmarked: bool) -> list[tuple]:
    """DUMP_RECORDS_DDL rows of one run of whole records (`iter_dump_record_runs`) starting at byte `offset`.

    The per-record loop in Python was most of step 02's time (about 9 us a record, 18 million records at full size)
    for the 97% of records that only need counting. So a run whose records all end with their closing tag is judged
    with a few scans of the whole run in C (`bytes.count`, `bytes.find`, one regex): only the records holding a
    marker are cut out, the others are one counting row. Any record cut short sends the run through the per-record
    path, which says which one."""
    sep, close, close_root = f"<{element} ".encode(), f"</{element}>".encode(), f"</{element}s>".encode()
    records = run.count(sep)
    last = run.rfind(sep)
    whole = (not keep_unmarked and _closed_before_each_next(run, records, sep, close)
             and _finish_fragment(run[last:], close_root).endswith(close))
    if not whole:
        return [_record_row(raw, at, uri, close, keep_unmarked) for at, raw in _record_spans(run, offset, sep, close_root)]
    rows = []
    for start in _marked_starts(run, sep):
        end = run.find(sep, start + 1)
        raw = _finish_fragment(run[start:end] if end >= 0 else run[start:], close_root)
        rows.append(_record_row(raw, offset + start, uri, close, keep_unmarked))
    if records > len(rows):
        rows.append((None, uri, True, False, offset, None, None, records - len(rows)))
    return rows


def _record_row(raw: bytes, at: int, uri: str, close: bytes, keep_unmarked: bool) -> tuple:
    complete = raw.endswith(close)
    marked = any(m in raw for m in _MARKER_BYTES)
    text, pre, hint = _decoded(raw, at) if (marked or keep_unmarked or not complete) else (None, None, None)
    return text, uri, complete, marked, at, pre, hint, 1


def _closed_before_each_next(run: bytes, records: int, sep: bytes, close: bytes) -> bool:
    """Whether each of the run's `records` but the last ends with `close` before the next one's `sep`, whitespace
    between them allowed. Every `close`, whitespace, `sep` takes one record's end and the next one's opening tag, so
    the occurrences cannot overlap and there are `records - 1` of them exactly when every record is closed. A dump
    puts the same whitespace between all its records: that joint is counted with `bytes.count` (a third of the
    regex's time), the regex is the fallback."""
    if records < 2:
        return True
    second = run.find(sep, 1)
    first_end = len(run[:second].rstrip())
    joint = run[first_end - len(close):second + len(sep)]
    if joint.startswith(close) and not joint[len(close):-len(sep)].strip() and run.count(joint) == records - 1:
        return True
    pattern = re.escape(close) + rb"\s*" + re.escape(sep)   # re caches the compiled pattern
    return len(re.findall(pattern, run)) == records - 1


def _marked_starts(run: bytes, sep: bytes) -> list[int]:
    """Offsets in `run` of the records that hold a soundtrack marker, in order."""
    starts = set()
    for marker in _MARKER_BYTES:
        at = run.find(marker)
        while at >= 0:
            starts.add(max(run.rfind(sep, 0, at), 0))
            after = run.find(sep, at)
            at = run.find(marker, after) if after >= 0 else -1
    return sorted(starts)


# The partial record kept with an unreadable file's reject (bronze.MAX_REJECT_RAW_CHARS bounds the stored text too).
MAX_REJECT_RAW_BYTES = 1_000_000


def _decoded(raw: bytes, offset: int) -> tuple[str, str | None, str | None]:
    """(text, _pre, _reject_hint): the record's text, or its backslash-escaped bytes and a reject when not UTF-8."""
    try:
        return raw.decode("utf-8"), None, None
    except UnicodeDecodeError as exc:
        return (raw.decode("utf-8", "backslashreplace"), REJECTED,
                f"not UTF-8: byte 0x{raw[exc.start]:02x} at position {exc.start} of the record "
                f"(byte {offset + exc.start:,} of the decompressed file)")


def dump_records(chunks: "DataFrame", element: str) -> "DataFrame":
    """Chunks -> one row per record (payload = the element's text as in the file, `_complete` flag).

    The first chunk of a file is its prolog (`<?xml ..?>`, `<releases>`); it and the whitespace between
    records are not records. The root's closing tag ends the last chunk and is cut off.
    """
    from pyspark.sql import functions as F

    root = f"{element}s"
    prolog = rf"^\s*(<\?xml[^>]*\?>)?\s*(<{root}(\s[^>]*)?>)?\s*$"
    # Trailing whitespace and the root's closing tag are cut with trims and a suffix test, not a regex: a `\s*...$`
    # pattern is retried at every whitespace run of a record and made a 1% run's dump parse take 20 minutes.
    trimmed = _rtrim_space(F.col("chunk"))
    close = f"</{root}>"
    body = (F.when(trimmed.endswith(close), _rtrim_space(trimmed.substr(F.lit(1), F.length(trimmed) - len(close))))
            .otherwise(trimmed))
    is_prolog = (F.length("chunk") < PROLOG_MAX_CHARS) & F.col("chunk").rlike(prolog)
    return (chunks.where(~is_prolog)
            .select(F.concat(F.lit(f"<{element} "), body).alias("payload"), "_source_uri")
            .withColumn("_complete", F.col("payload").endswith(f"</{element}>")))


# A dump's prolog (`<?xml ...?>` and the root's opening tag) is well under this; records are longer or are not prologs.
PROLOG_MAX_CHARS = 512


def _rtrim_space(col: "Column") -> "Column":
    """`col` without trailing whitespace (spaces, tabs, newlines): a linear trim, unlike a `\\s*$` regex."""
    from pyspark.sql import functions as F

    return F.rtrim(col, F.lit(" \t\r\n"))


def _names(col: "Column") -> "Column":
    from pyspark.sql import functions as F

    return F.transform(F.coalesce(col, F.array()), lambda a: a["name"])


def _classify(parsed: "DataFrame", bad: "Column", soundtrack: "Column", soundtrack_filter: bool) -> "Column":
    """kept | filtered | rejected. With the filter on, a complete record without any soundtrack marker in its text
    is filtered unparsed (`_parse` false): whether it would also have failed to parse is not worth the parse."""
    from pyspark.sql import functions as F

    pre = F.col("_pre")
    status = F.when(pre == UNREADABLE, F.lit(UNREADABLE)).when(pre == REJECTED, F.lit(REJECTED))
    status = status.when(~F.col("_complete"), F.lit(REJECTED))
    if soundtrack_filter:
        status = status.when(~F.col("_parse"), F.lit(FILTERED))
    status = status.when(bad, F.lit(REJECTED))
    if soundtrack_filter:
        status = status.when(~soundtrack, F.lit(FILTERED))
    return status.otherwise(F.lit(KEPT))


def _parsed_xml(records: "DataFrame", ddl: str, soundtrack_filter: bool) -> "DataFrame":
    """records + `_parse` (worth parsing) + `x` (the parsed struct, null when not parsed)."""
    from pyspark.sql import functions as F

    marked = F.col("_marked") if "_marked" in records.columns else may_be_soundtrack(F.col("payload"))
    worth = F.col("_complete") & F.col("_pre").isNull() & (marked if soundtrack_filter else F.lit(True))
    records = with_reader_columns(records)
    return (records.withColumn("_parse", worth)
            .withColumn("x", F.when(F.col("_parse"), F.from_xml("payload", ddl, XML_OPTIONS))))


def parse_dump_releases(records: "DataFrame", soundtrack_filter: bool) -> "DataFrame":
    """Release records -> BRONZE_DISCOGS_RELEASES columns + payload + `_status` (kept|filtered|rejected)."""
    from pyspark.sql import functions as F

    x = _parsed_xml(records, RELEASE_XML_DDL, soundtrack_filter)
    formats = F.flatten(F.transform(F.coalesce(F.col("x.formats.format"), F.array()), lambda f: F.concat(
        F.array(f["_name"]), F.coalesce(f["descriptions"]["description"], F.array().cast("array<string>")))))
    out = x.select(
        F.col("x._id").alias("release_id"),
        F.col("x.master_id._VALUE").alias("master_id"),
        F.col("x.master_id._is_main_release").alias("is_main_release"),
        F.col("x._status").alias("status"),
        F.col("x.title").alias("title"),
        _names(F.col("x.artists.artist")).alias("artists"),
        F.transform(F.coalesce(F.col("x.extraartists.artist"), F.array()),
                    lambda a: F.struct(a["name"].alias("name"), a["role"].alias("role"))).alias("extra_artists"),
        F.coalesce(F.col("x.genres.genre"), F.array()).alias("genres"),
        F.coalesce(F.col("x.styles.style"), F.array()).alias("styles"),
        F.filter(formats, lambda v: v.isNotNull() & (v != "")).alias("formats"),
        F.col("x.country").alias("country"),
        F.col("x.released").alias("released"),
        F.transform(F.coalesce(F.col("x.labels.label"), F.array()), lambda lb: lb["_name"]).alias("labels"),
        F.col("x.data_quality").alias("data_quality"),
        "payload", "_source_uri", "_complete", "_parse", "_source_pos", "_pre", "_reject_hint", "_records",
        F.coalesce(F.col("x._id").cast("string"), F.regexp_extract("payload", r'^<release id="([^"]*)"', 1))
         .alias("_record_ref"),
        (F.col("x").isNull() | F.col("x._corrupt_record").isNotNull() | F.col("x._id").isNull()).alias("_bad"))
    return _finish_dump(out, "release", soundtrack_filter)


def parse_dump_masters(records: "DataFrame", soundtrack_filter: bool) -> "DataFrame":
    """Master records -> BRONZE_DISCOGS_MASTERS columns + payload + `_status`."""
    from pyspark.sql import functions as F

    x = _parsed_xml(records, MASTER_XML_DDL, soundtrack_filter)
    out = x.select(
        F.col("x._id").alias("master_id"),
        F.col("x.main_release").alias("main_release"),
        F.col("x.title").alias("title"),
        _names(F.col("x.artists.artist")).alias("artists"),
        F.col("x.year").alias("year"),
        F.coalesce(F.col("x.genres.genre"), F.array()).alias("genres"),
        F.coalesce(F.col("x.styles.style"), F.array()).alias("styles"),
        F.col("x.data_quality").alias("data_quality"),
        "payload", "_source_uri", "_complete", "_parse", "_source_pos", "_pre", "_reject_hint", "_records",
        F.coalesce(F.col("x._id").cast("string"), F.regexp_extract("payload", r'^<master id="([^"]*)"', 1))
         .alias("_record_ref"),
        (F.col("x").isNull() | F.col("x._corrupt_record").isNotNull() | F.col("x._id").isNull()).alias("_bad"))
    return _finish_dump(out, "master", soundtrack_filter)


def _finish_dump(out: "DataFrame", element: str, soundtrack_filter: bool) -> "DataFrame":
    from pyspark.sql import functions as F

    status = _classify(out, F.col("_bad"), soundtrack_column(F.col("genres"), F.col("styles")), soundtrack_filter)
    hint = F.coalesce(F.col("_reject_hint"),
                      F.when(~F.col("_complete"), F.lit(f"truncated record: no closing </{element}> tag")))
    return (out.withColumn("_status", status).withColumn("_reject_hint", hint)
            # A filtered record is only counted: dropping its text here keeps a persisted copy of a
            # 56 GB dump down to the soundtrack share.
            .withColumn("payload", F.when(F.col("_status") != FILTERED, F.col("payload")))
            .drop("_bad", "_complete", "_parse", "_pre"))


def xml_reject_reason(fragment: str | None) -> str:
    """Why an XML record could not be taken: the XML parser's message, or a value that does not fit the schema."""
    if not fragment or not fragment.strip():
        return "empty record"
    try:
        root = ET.fromstring(fragment)
    except ET.ParseError as exc:
        return f"malformed XML: {exc}"
    if not (root.get("id") or "").strip().isdigit():
        return f"id attribute {root.get('id')!r} is not a number"
    return "a value does not fit the declared Bronze schema (e.g. text where a number is expected)"


# --- the same parse in plain Python (dry run, tests, bench) ------------------------------------------
def iter_dump_records(stream: IO[bytes], element: str, block_bytes: int = STREAM_BLOCK_BYTES) -> Iterator[str]:
    """Records of a dump stream, split like the Spark reader (on `<element `), one at a time.

    Memory holds one block plus the record being assembled, whatever the file size.
    """
    for raw in iter_dump_record_bytes(stream, element, block_bytes):
        yield raw.decode("utf-8")


def iter_dump_record_bytes(stream: IO[bytes], element: str, block_bytes: int = STREAM_BLOCK_BYTES) -> Iterator[bytes]:
    """`iter_dump_records` without decoding: the bytes of each record, trailing whitespace and root tag cut."""
    for _offset, raw in iter_dump_record_spans(stream, element, block_bytes):
        yield raw


def iter_dump_record_spans(stream: IO[bytes], element: str, block_bytes: int = STREAM_BLOCK_BYTES,
                           path: str = "") -> Iterator[tuple[int, bytes]]:
    """(byte offset in the decompressed stream, bytes) of each record, trailing whitespace and root tag cut; raises
    InputUnreadable (with the partial record) where the stream stops being readable, after yielding every complete
    record before that point."""
    sep, close_root = f"<{element} ".encode(), f"</{element}s>".encode()
    for offset, run in iter_dump_record_runs(stream, element, block_bytes, path):
        yield from _record_spans(run, offset, sep, close_root)


def _record_spans(run: bytes, offset: int, sep: bytes, close_root: bytes) -> Iterator[tuple[int, bytes]]:
    start = 0
    while True:
        at = run.find(sep, start + 1)
        if at < 0:
            break
        yield offset + start, _finish_fragment(run[start:at], close_root)
        start = at
    yield offset + start, _finish_fragment(run[start:], close_root)


def iter_dump_record_runs(stream: IO[bytes], element: str, block_bytes: int = STREAM_BLOCK_BYTES,
                          path: str = "") -> Iterator[tuple[int, bytes]]:
    """(byte offset in the decompressed stream, bytes) of runs of whole records, about a block each: a run starts
    at a record's `<element ` and ends where the next run starts (the last one at the end of the stream, the root's
    closing tag included). Raises InputUnreadable (with the partial record) where the stream stops being readable,
    after yielding every record before that point.

    The buffer is cut once per block, not once per record: cutting per record copied the whole block for every
    record (quadratic in records per block).
    """
    sep = f"<{element} ".encode()
    buffer = b""
    base = 0    # offset of buffer[0] in the decompressed stream
    start = -1  # offset in buffer of the record being assembled; -1 while still in the prolog
    while True:
        try:
            block = read_some(stream, block_bytes)
        except READ_ERRORS as exc:
            at = base + (start if start >= 0 else len(buffer))
            raise InputUnreadable(path or getattr(stream, "name", "?"), f"the record at byte {at:,}", at, exc,
                                  buffer[start:] if start >= 0 else b"", position=at) from None
        if start > 0:
            base += start
            buffer = buffer[start:] + block
            start = 0
        else:
            buffer = buffer + block
        if start < 0:
            start = buffer.find(sep)
            if start < 0:
                if not block:
                    return
                keep = buffer[-len(sep):]  # prolog: keep only what could be the start of a separator
                base += len(buffer) - len(keep)
                buffer = keep
                continue
        if not block:
            break
        last = buffer.rfind(sep, start + 1)
        if last > start:
            yield base + start, buffer[start:last]
            start = last
    if buffer[start:].strip():
        yield base + start, buffer[start:]


def _finish_fragment(raw: bytes, close_root: bytes) -> bytes:
    raw = raw.rstrip()
    if raw.endswith(close_root):
        raw = raw[: -len(close_root)].rstrip()
    return raw


def open_dump(path: str) -> IO[bytes]:
    return open_input(path)


def _texts(parent: ET.Element | None, tag: str) -> list[str]:
    return [e.text or "" for e in parent.findall(tag)] if parent is not None else []


def _artist_names(parent: ET.Element | None) -> list[str]:
    return [a.findtext("name") or "" for a in parent.findall("artist")] if parent is not None else []


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().lstrip("-").isdigit() else None


def parse_release_xml(fragment: str) -> dict[str, Any]:
    """Bronze key columns of one `<release>` fragment (ElementTree; mirrors `parse_dump_releases`)."""
    root = ET.fromstring(fragment)
    master = root.find("master_id")
    formats: list[str] = []
    for f in root.findall("formats/format"):
        formats += [v for v in [f.get("name"), *_texts(f.find("descriptions"), "description")] if v]
    extra = root.find("extraartists")
    return {
        "release_id": _int(root.get("id")),
        "master_id": _int(master.text) if master is not None else None,
        "is_main_release": (master.get("is_main_release") == "true") if master is not None else None,
        "status": root.get("status"),
        "title": root.findtext("title"),
        "artists": _artist_names(root.find("artists")),
        "extra_artists": [{"name": a.findtext("name"), "role": a.findtext("role")}
                          for a in (extra.findall("artist") if extra is not None else [])],
        "genres": _texts(root.find("genres"), "genre"),
        "styles": _texts(root.find("styles"), "style"),
        "formats": formats,
        "country": root.findtext("country"),
        "released": root.findtext("released"),
        "labels": [lb.get("name") for lb in root.findall("labels/label")],
        "data_quality": root.findtext("data_quality"),
    }


def parse_master_xml(fragment: str) -> dict[str, Any]:
    """Bronze key columns of one `<master>` fragment (ElementTree; mirrors `parse_dump_masters`)."""
    root = ET.fromstring(fragment)
    return {
        "master_id": _int(root.get("id")),
        "main_release": _int(root.findtext("main_release")),
        "title": root.findtext("title"),
        "artists": _artist_names(root.find("artists")),
        "year": _int(root.findtext("year")),
        "genres": _texts(root.find("genres"), "genre"),
        "styles": _texts(root.find("styles"), "style"),
        "data_quality": root.findtext("data_quality"),
    }


# --- saved and live search pages -------------------------------------------------------------------
def _query_of(url: "Column") -> "Column":
    """The search a page belongs to: its URL's query without credentials and without the page number."""
    from pyspark.sql import functions as F

    query = F.parse_url(url, F.lit("QUERY"))
    no_page = F.regexp_replace(query, r"(^|&)page=\d+", "")
    return F.regexp_replace(no_page, r"^&", "")


# A saved search page is one record: the whole file.
SEARCH_PAGES_DDL = "payload string, _source_uri string"


def read_search_pages(spark, paths: list[str]) -> "DataFrame":
    """SEARCH_PAGES_DDL rows: one per saved search page file, its whole text."""
    from pyspark.sql import functions as F

    return spark.read.text(paths, wholetext=True).select(F.col("value").alias("payload"),
                                                         F.col("_metadata.file_path").alias("_source_uri"))


def parse_search_pages(pages: "DataFrame") -> "DataFrame":
    """(payload = whole page text, _source_uri[, _request_url]) -> one row per result; a bad page is one reject."""
    from pyspark.sql import functions as F

    if "_request_url" not in pages.columns:
        pages = pages.withColumn("_request_url", F.lit(None).cast("string"))
    page = pages.withColumn("p", F.from_json("payload", SEARCH_PAGE_DDL, JSON_OPTIONS))
    bad_page = F.col("p").isNull() | F.col("p._corrupt_record").isNotNull() | F.col("p.results").isNull()
    page = (page.withColumn("_bad_page", bad_page)
            .withColumn("query", _query_of(strip_secrets_column(F.coalesce(
                F.col("_request_url"), F.col("p.pagination.urls")["next"], F.col("p.pagination.urls")["last"]))))
            .withColumn("_page_no", F.coalesce(F.col("p.pagination.page").cast("string"), F.lit("?"))))
    good = (page.where(~F.col("_bad_page"))
            .select("_source_uri", "query", "_page_no", F.posexplode("p.results").alias("_pos", "result")))
    r = good.withColumn("r", F.from_json("result", SEARCH_RESULT_DDL, JSON_OPTIONS))
    bad_result = F.col("r").isNull() | F.col("r._corrupt_record").isNotNull() | F.col("r.id").isNull()
    results = r.select(
        F.col("r.id").alias("result_id"),
        F.col("r.type").alias("result_type"),
        F.col("r.master_id").alias("master_id"),
        F.col("r.title").alias("title"),
        F.col("r.year").alias("year"),
        F.col("r.country").alias("country"),
        F.coalesce(F.col("r.genre"), F.array()).alias("genres"),
        F.coalesce(F.col("r.style"), F.array()).alias("styles"),
        F.coalesce(F.col("r.format"), F.array()).alias("formats"),
        F.coalesce(F.col("r.label"), F.array()).alias("labels"),
        "query",
        strip_secrets_column(F.col("result")).alias("payload"),
        "_source_uri",
        F.col("_pos").cast("long").alias("_source_pos"),
        F.concat(F.lit("page "), F.col("_page_no"), F.lit(" result "), F.col("_pos").cast("string")).alias("_record_ref"),
        F.when(bad_result, F.lit(REJECTED)).otherwise(F.lit(KEPT)).alias("_status"),
        F.lit(None).cast("string").alias("_reject_hint"))
    bad_pages = page.where(F.col("_bad_page")).select(
        *[F.lit(None).cast(t).alias(c) for c, t in (
            ("result_id", "long"), ("result_type", "string"), ("master_id", "long"), ("title", "string"),
            ("year", "string"), ("country", "string"))],
        *[F.array().cast("array<string>").alias(c) for c in ("genres", "styles", "formats", "labels")],
        "query", strip_secrets_column(F.col("payload")).alias("payload"), "_source_uri",
        F.lit(None).cast("long").alias("_source_pos"),
        F.lit("whole page").alias("_record_ref"), F.lit(REJECTED).alias("_status"),
        F.lit(None).cast("string").alias("_reject_hint"))
    return results.unionByName(bad_pages)


def parse_search_result(doc: dict[str, Any]) -> dict[str, Any]:
    """Bronze key columns of one search result (plain Python: dry run and tests)."""
    return {"result_id": doc.get("id"), "result_type": doc.get("type"), "master_id": doc.get("master_id"),
            "title": doc.get("title"), "year": doc.get("year"), "country": doc.get("country"),
            "genres": doc.get("genre") or [], "styles": doc.get("style") or [], "formats": doc.get("format") or [],
            "labels": doc.get("label") or []}


# --- API detail payloads ---------------------------------------------------------------------------
def parse_api_releases(raw: "DataFrame") -> "DataFrame":
    """`/releases/{id}` JSON (payload, _source_uri) -> BRONZE_DISCOGS_RELEASES columns + `_status`."""
    from pyspark.sql import functions as F

    j = raw.withColumn("j", F.from_json("payload", API_RELEASE_DDL, JSON_OPTIONS))
    formats = F.flatten(F.transform(F.coalesce(F.col("j.formats"), F.array()), lambda f: F.concat(
        F.array(f["name"]), F.coalesce(f["descriptions"], F.array().cast("array<string>")))))
    bad = F.col("j").isNull() | F.col("j._corrupt_record").isNotNull() | F.col("j.id").isNull()
    return j.select(
        F.col("j.id").alias("release_id"),
        F.when(F.col("j.master_id") > 0, F.col("j.master_id")).alias("master_id"),
        F.lit(None).cast("boolean").alias("is_main_release"),
        F.col("j.status").alias("status"),
        F.col("j.title").alias("title"),
        _names(F.col("j.artists")).alias("artists"),
        F.transform(F.coalesce(F.col("j.extraartists"), F.array()),
                    lambda a: F.struct(a["name"].alias("name"), a["role"].alias("role"))).alias("extra_artists"),
        F.coalesce(F.col("j.genres"), F.array()).alias("genres"),
        F.coalesce(F.col("j.styles"), F.array()).alias("styles"),
        F.filter(formats, lambda v: v.isNotNull() & (v != "")).alias("formats"),
        F.col("j.country").alias("country"),
        F.col("j.released").alias("released"),
        _names(F.col("j.labels")).alias("labels"),
        F.col("j.data_quality").alias("data_quality"),
        "payload", "_source_uri", F.lit(None).cast("long").alias("_source_pos"),
        F.coalesce(F.col("j.id").cast("string"), F.col("_source_uri")).alias("_record_ref"),
        F.when(bad, F.lit(REJECTED)).otherwise(F.lit(KEPT)).alias("_status"),
        F.lit(None).cast("string").alias("_reject_hint"))


def parse_api_masters(raw: "DataFrame") -> "DataFrame":
    """`/masters/{id}` JSON (payload, _source_uri) -> BRONZE_DISCOGS_MASTERS columns + `_status`."""
    from pyspark.sql import functions as F

    j = raw.withColumn("j", F.from_json("payload", API_MASTER_DDL, JSON_OPTIONS))
    bad = F.col("j").isNull() | F.col("j._corrupt_record").isNotNull() | F.col("j.id").isNull()
    return j.select(
        F.col("j.id").alias("master_id"),
        F.col("j.main_release").alias("main_release"),
        F.col("j.title").alias("title"),
        _names(F.col("j.artists")).alias("artists"),
        F.col("j.year").alias("year"),
        F.coalesce(F.col("j.genres"), F.array()).alias("genres"),
        F.coalesce(F.col("j.styles"), F.array()).alias("styles"),
        F.col("j.data_quality").alias("data_quality"),
        "payload", "_source_uri", F.lit(None).cast("long").alias("_source_pos"),
        F.coalesce(F.col("j.id").cast("string"), F.col("_source_uri")).alias("_record_ref"),
        F.when(bad, F.lit(REJECTED)).otherwise(F.lit(KEPT)).alias("_status"),
        F.lit(None).cast("string").alias("_reject_hint"))


class DiscogsClient:
    """Discogs API: token in the Authorization header, a descriptive User-Agent (mandatory: without one the
    answers are empty), requests spaced under the per-minute limit and slowed further from the rate headers."""

    def __init__(self, settings: "Settings", session: RateLimitedSession | None = None, log=None):
        self.base_url = settings.discogs_base_url.rstrip("/")
        self.last_rate: dict[str, int] = {}
        headers = {"User-Agent": settings.discogs_user_agent, "Accept": "application/json"}
        if settings.discogs_token:
            headers["Authorization"] = f"Discogs token={settings.discogs_token.reveal()}"
        self.http = session or RateLimitedSession.from_settings(
            settings, name="discogs", max_requests=settings.discogs_rate_limit_per_min, per_seconds=RATELIMIT_WINDOW_S,
            headers=headers, log=log, on_response=self._pace_from_headers)

    def _pace_from_headers(self, resp: "requests.Response", http: RateLimitedSession) -> None:
        rate = {name: int(resp.headers[header]) for name, header in (
            ("limit", "X-Discogs-Ratelimit"), ("used", "X-Discogs-Ratelimit-Used"),
            ("remaining", "X-Discogs-Ratelimit-Remaining")) if str(resp.headers.get(header, "")).isdigit()}
        self.last_rate = rate
        remaining, limit = rate.get("remaining"), rate.get("limit")
        if remaining is not None and remaining <= RATELIMIT_RESERVE:
            spacing = RATELIMIT_WINDOW_S / (limit or 60)
            http.limiter.pause(spacing * (RATELIMIT_RESERVE - remaining + 1))

    def first_search_url(self, result_type: str) -> str:
        params = {"type": result_type, "genre": SEARCH_GENRE, "style": SEARCH_STYLE, "per_page": SEARCH_PER_PAGE}
        return requests.Request("GET", f"{self.base_url}/database/search", params=params).prepare().url

    def search_page(self, url: str):
        """One search page; its `pagination.urls.next` (credentials stripped) is the next page to fetch."""
        return self.http.get_json(url)

    def master(self, master_id: int):
        return self.http.get_json(f"{self.base_url}/masters/{int(master_id)}")

    def release(self, release_id: int):
        return self.http.get_json(f"{self.base_url}/releases/{int(release_id)}")


def next_page_url(page: dict[str, Any]) -> str | None:
    return strip_url_secrets(((page.get("pagination") or {}).get("urls") or {}).get("next"))


def search_ids(checkpoint: Checkpoint) -> tuple[list[int], list[int]]:
    """(master ids, ids of releases without a master) named by the staged search pages, sorted.

    A soundtrack is linked at the master level (docs/sources.md), so every master found is fetched, and
    a release only when it has no master: a mastered release is already described by its search result
    and folded into its master in Silver. This keeps a full walk within hours at 60 requests a minute.
    """
    masters: set[int] = set()
    releases: set[int] = set()
    for unit in checkpoint.units("search"):
        for line in checkpoint.read_unit("search", unit):
            page = json.loads(json.loads(line)["payload"])
            for result in page.get("results") or []:
                if result.get("id") is None:
                    continue
                if result.get("type") == "master":
                    masters.add(int(result["id"]))
                elif result.get("type") == "release":
                    if result.get("master_id"):
                        masters.add(int(result["master_id"]))
                    else:
                        releases.add(int(result["id"]))
    return sorted(masters), sorted(releases)


def walk_search(client: DiscogsClient, checkpoint: Checkpoint, log, max_pages: int = 0) -> dict[str, int]:
    """Every page of the soundtrack searches (type master and release), following `pagination.urls.next`.

    Each page is one checkpoint unit; the state keeps the next URL of each search (credentials stripped),
    so a restarted run continues with the page after the last one staged.
    """
    progress = Progress(log, "discogs search pages")
    nexts: dict[str, str | None] = dict(checkpoint.get("search_next", {}))
    pages: dict[str, int] = dict(checkpoint.get("search_pages", {}))
    for result_type in SEARCH_TYPES:
        url = nexts.get(result_type, client.first_search_url(result_type))
        while url and not (max_pages and pages.get(result_type, 0) >= max_pages):
            resp = client.search_page(url)
            pages[result_type] = pages.get(result_type, 0) + 1
            url = nexts[result_type] = next_page_url(resp.data)
            if pages[result_type] == 1:
                log.info("discogs_search_size", type=result_type,
                         **{k: (resp.data.get("pagination") or {}).get(k) for k in ("pages", "items")})
            checkpoint.stage("search", f"{result_type}-page-{pages[result_type]:05d}",
                             [record_line(resp.url, strip_text_secrets(resp.text) or "")],
                             search_next=nexts, search_pages=pages)
            progress.advance()
    progress.report(final=True)
    return {f"search_pages_{t}": pages.get(t, 0) for t in SEARCH_TYPES}


def extract_api(client: DiscogsClient, checkpoint: Checkpoint, settings: "Settings", log) -> dict[str, Any]:
    """Search pages, then the masters and master-less releases they name, into checkpoint files."""
    metrics: dict[str, Any] = {"resumed": checkpoint.resumed}
    metrics.update(walk_search(client, checkpoint, log, settings.discogs_max_pages))
    master_ids, release_ids = search_ids(checkpoint)
    metrics.update(fetch_in_batches(checkpoint, "masters", master_ids, client.master, log, what="discogs masters",
                                    batch_size=DETAIL_BATCH))
    metrics.update(fetch_in_batches(checkpoint, "releases", release_ids, client.release, log,
                                    what="discogs releases", batch_size=DETAIL_BATCH))
    metrics["http_requests_this_run"] = client.http.requests_sent
    metrics["http_retries_this_run"] = client.http.retries
    metrics["last_ratelimit_headers"] = client.last_rate
    return metrics
