"""Step 02: soundtrack releases into Bronze: MusicBrainz release groups, Discogs dumps and search results.

read each source that is present (file mode: musicbrainz/*.jsonl.gz, discogs/*_{masters,releases}*.xml.gz,
discogs/search/**/*.json; api mode: the APIs, staged under the run's checkpoints) -> its parser in
sources/ -> one Bronze table per source + bronze/release_rejects. Dump records and release groups outside the
soundtrack filters (DISCOGS_SOUNDTRACK_FILTER, MUSICBRAINZ_SOUNDTRACK_FILTER) are counted as filtered, not stored; a
dump record without any soundtrack marker in its text is counted without being parsed (a MusicBrainz line without
the word is parsed by the reader, so a broken line is a reject, never filtered). A missing source is skipped with a
note. Every file is read to its end before anything is written: an unreadable one fails the step naming file and
position, unless ALLOW_PARTIAL_INPUT. `rows_in` counts the records read; kept and rejected are the rows written.
In an incremental run a source whose input files are those the state was built from is not read
(incremental/extract.feed_records): it adds nothing to the counts, and the metrics' `feeds.<feed>` carry what the
state holds for it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial, reduce
from itertools import islice
from typing import Callable

from ..base_step import BaseStep, StepContext, StepResult, StepSkipped
from ..sources.inputs import input_files
from ..tables import schema_of
from ..sources import discogs, musicbrainz
from ..sources.bronze import (FILTERED, PREVIEW_RECORDS, READ_DDL, REJECTED, UNREADABLE, check_unreadable,
                              json_reject_reason, kept_rows, preview_json_lines, read_json_lines, reject_rows,
                              status_counts)
from ..incremental.extract import UnreadFeed, feed_records, note_no_files
from ..sources.checkpoint import Checkpoint, read_envelopes, staged_records, staged_rejects

MB_TABLE = "bronze/musicbrainz_release_groups"
MASTERS_TABLE = "bronze/discogs_masters"
RELEASES_TABLE = "bronze/discogs_releases"
SEARCH_TABLE = "bronze/discogs_search_results"
REJECTS_TABLE = "bronze/release_rejects"
SCHEMAS = {table: schema_of(table) for table in (MB_TABLE, MASTERS_TABLE, RELEASES_TABLE, SEARCH_TABLE)}


@dataclass
class Part:
    """One source feeding one Bronze table: its classified records and how to explain its rejects."""
    name: str
    table: str
    source: str
    classified: object  # DataFrame
    explain: Callable[[str], str]
    extract_rejects: object = None  # DataFrame of rejects recorded while calling an API
    position: str = "line"          # what `_source_pos` counts in this source's files: line, or byte (dumps)
    unread: UnreadFeed | None = None  # not read: its files are those the incremental state was built from


class ExtractReleases(BaseStep):
    number = "02"
    name = "extract_releases"
    description = ("Soundtrack releases into Bronze: MusicBrainz release groups (JSON dump or API), Discogs "
                   "masters/releases (XML dumps, streamed; soundtrack filter) and search results (saved pages or API)")
    inputs = ("input:musicbrainz/*.jsonl.gz", "input:discogs/*.xml.gz", "input:discogs/search/**/*.json",
              "api:discogs", "api:musicbrainz")
    outputs = (MB_TABLE, MASTERS_TABLE, RELEASES_TABLE, SEARCH_TABLE, REJECTS_TABLE)

    # --- dry run ------------------------------------------------------------------------------------
    def preview(self, ctx: StepContext) -> list[str]:
        s = ctx.settings
        lines: list[str] = []
        if s.musicbrainz_mode == "api":
            lines.append(f"musicbrainz: api {s.musicbrainz_base_url} at {s.musicbrainz_rate_limit_per_s} requests/s")
        else:
            files = input_files(s.input_dir, "musicbrainz")
            lines += preview_json_lines(files, musicbrainz.parse_release_group) or ["musicbrainz: would be skipped (no input)"]
        if s.discogs_mode == "api":
            lines.append(f"discogs: api {s.discogs_base_url} at {s.discogs_rate_limit_per_min} requests/min, "
                         f"{'token set' if s.discogs_token else 'NO TOKEN'}, search genre {discogs.SEARCH_GENRE!r} "
                         f"style {discogs.SEARCH_STYLE!r}")
            return lines
        dumps = input_files(s.input_dir, "discogs_dump")
        for path in dumps:
            kind = discogs.dump_kind(path)
            if kind is None:
                lines.append(f"{path}: not a masters/releases dump, would be ignored")
                continue
            parse = discogs.parse_release_xml if kind == "releases" else discogs.parse_master_xml
            with discogs.open_dump(path) as stream:
                for n, fragment in enumerate(islice(discogs.iter_dump_records(stream, discogs.DUMP_KINDS[kind]),
                                                    PREVIEW_RECORDS), start=1):
                    try:
                        record = parse(fragment)
                        keep = discogs.is_soundtrack(record["genres"], record["styles"]) or not s.discogs_soundtrack_filter
                        lines.append(f"{path} #{n} ({'kept' if keep else 'filtered: not soundtrack-like'}): {record}")
                    except Exception:  # noqa: BLE001 - preview reports the reason the run would record
                        lines.append(f"{path} #{n}: would be rejected: {discogs.xml_reject_reason(fragment)}")
        searches = input_files(s.input_dir, "discogs_search")
        for path in searches[:PREVIEW_RECORDS]:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            try:
                page = json.loads(text)
                first = (page.get("results") or [None])[0]
                lines.append(f"{path}: {len(page.get('results') or [])} results, first: "
                             f"{discogs.parse_search_result(first) if first else '-'}")
            except ValueError as exc:
                lines.append(f"{path}: would be rejected: malformed JSON ({exc})")
        if not dumps and not searches:
            lines.append("discogs: would be skipped (no input)")
        return lines

    # --- run ------------------------------------------------------------------------------------------
    def execute(self, ctx: StepContext) -> StepResult:
        ingested_at = datetime.now(timezone.utc)
        parts, notes, metrics = [], [], {"modes": {"musicbrainz": ctx.settings.musicbrainz_mode,
                                                   "discogs": ctx.settings.discogs_mode}}
        for read in (self._musicbrainz, self._discogs):
            found, note, extract_metrics = read(ctx, ingested_at)
            parts += found
            notes += [note] if note else []
            metrics.update(extract_metrics)
        if not parts:
            raise StepSkipped("no release source: " + "; ".join(notes))
        return self._load(ctx, parts, ingested_at, notes, metrics)

    def _musicbrainz(self, ctx: StepContext, ingested_at: datetime):
        s = ctx.settings
        if s.musicbrainz_mode == "api":
            checkpoint = Checkpoint(ctx.lake, ctx.run_id, "musicbrainz", ctx.spark)
            client = musicbrainz.MusicBrainzClient(s, log=ctx.log)
            try:
                extract = musicbrainz.extract_api(client, checkpoint, ctx.log)
            finally:
                client.http.close()
            raw = staged_records(read_envelopes(ctx.spark, checkpoint.staged_paths("pages")))
            return [Part("musicbrainz", MB_TABLE, musicbrainz.SOURCE, musicbrainz.parse_release_groups(
                raw, s.musicbrainz_soundtrack_filter), json_reject_reason)], None, {"musicbrainz_api": extract}
        files = input_files(s.input_dir, "musicbrainz")
        if not files:
            note_no_files(ctx, "musicbrainz")
            return [], f"musicbrainz skipped: no {s.input_dir}/musicbrainz/*.jsonl.gz", {}
        raw, unread = feed_records(ctx, "musicbrainz", files, partial(
            read_json_lines, ctx.spark, files,
            prefilter=musicbrainz.PREFILTER_WORD if s.musicbrainz_soundtrack_filter else None), READ_DDL)
        return [Part("musicbrainz", MB_TABLE, musicbrainz.SOURCE,
                     musicbrainz.parse_release_groups(raw, s.musicbrainz_soundtrack_filter),
                     json_reject_reason, unread=unread)], None, {"musicbrainz_files": len(files)}

    def _discogs(self, ctx: StepContext, ingested_at: datetime):
        s, spark = ctx.settings, ctx.spark
        if s.discogs_mode == "api":
            checkpoint = Checkpoint(ctx.lake, ctx.run_id, "discogs", spark)
            client = discogs.DiscogsClient(s, log=ctx.log)
            try:
                extract = discogs.extract_api(client, checkpoint, s, ctx.log)
            finally:
                client.http.close()
            pages = staged_records(read_envelopes(spark, checkpoint.staged_paths("search")))
            masters = read_envelopes(spark, checkpoint.staged_paths("masters"))
            releases = read_envelopes(spark, checkpoint.staged_paths("releases"))
            return [
                Part("discogs_search", SEARCH_TABLE, discogs.SOURCE_API, discogs.parse_search_pages(
                    pages.withColumn("_request_url", pages["_source_uri"])), json_reject_reason),
                Part("discogs_masters", MASTERS_TABLE, discogs.SOURCE_API,
                     discogs.parse_api_masters(staged_records(masters)), json_reject_reason,
                     staged_rejects(masters, discogs.SOURCE_API, ctx.run_id, ingested_at)),
                Part("discogs_releases", RELEASES_TABLE, discogs.SOURCE_API,
                     discogs.parse_api_releases(staged_records(releases)), json_reject_reason,
                     staged_rejects(releases, discogs.SOURCE_API, ctx.run_id, ingested_at)),
            ], None, {"discogs_api": extract}
        parts, notes, metrics = [], [], {}
        dumps = input_files(s.input_dir, "discogs_dump")
        by_kind = {kind: [p for p in dumps if discogs.dump_kind(p) == kind] for kind in discogs.DUMP_KINDS}
        ignored = [p for p in dumps if discogs.dump_kind(p) is None]
        if ignored:
            notes.append(f"discogs dumps ignored (not masters/releases): {', '.join(ignored)}")
        for kind, table, parse in (("masters", MASTERS_TABLE, discogs.parse_dump_masters),
                                   ("releases", RELEASES_TABLE, discogs.parse_dump_releases)):
            if not by_kind[kind]:
                note_no_files(ctx, f"discogs_{kind}")
                notes.append(f"discogs {kind} dump skipped: no {s.input_dir}/discogs/*_{kind}*.xml.gz")
                continue
            records, unread = feed_records(ctx, f"discogs_{kind}", by_kind[kind], partial(
                discogs.read_dump_records, spark, by_kind[kind], discogs.DUMP_KINDS[kind],
                keep_unmarked=not s.discogs_soundtrack_filter), discogs.DUMP_RECORDS_DDL)
            parts.append(Part(f"discogs_{kind}", table, discogs.SOURCE_DUMP,
                              parse(records, s.discogs_soundtrack_filter), discogs.xml_reject_reason, position="byte",
                              unread=unread))
            metrics[f"discogs_{kind}_files"] = len(by_kind[kind])
        searches = input_files(s.input_dir, "discogs_search")
        if searches:
            pages, unread = feed_records(ctx, "discogs_search", searches,
                                         partial(discogs.read_search_pages, spark, searches), discogs.SEARCH_PAGES_DDL)
            parts.append(Part("discogs_search", SEARCH_TABLE, discogs.SOURCE_SEARCH,
                              discogs.parse_search_pages(pages), json_reject_reason, unread=unread))
            metrics["discogs_search_pages"] = len(searches)
        else:
            note_no_files(ctx, "discogs_search")
            notes.append(f"discogs search results skipped: no {s.input_dir}/discogs/search/**/*.json")
        metrics["discogs_soundtrack_filter"] = s.discogs_soundtrack_filter
        return parts, "; ".join(notes) or None, metrics

    @staticmethod
    def _none_read(ctx: StepContext, parts: list[Part], notes: list[str], metrics: dict) -> StepResult:
        """Every source's files are those the state was built from (incremental/extract.feed_records): this run's
        Bronze holds none of their rows, and the state carries them."""
        tables = (*SCHEMAS, REJECTS_TABLE)
        for table in tables:
            ctx.write_no_rows(table)
        for part in parts:
            ctx.log.info("bronze_written", table=part.table, source=part.name, read=0)
        metrics.update({"feeds": {part.name: part.unread.metrics() for part in parts},
                        "accounting": {part.name: {"read": 0} for part in parts}, "filtered_not_soundtrack": 0,
                        "parse_rejected": 0, "not_found": 0, "unreadable_files": 0,
                        "musicbrainz_soundtrack_filter": ctx.settings.musicbrainz_soundtrack_filter})
        return StepResult(tables={table: 0 for table in tables}, metrics=metrics,
                          notes=notes + [part.unread.note for part in parts])

    def _load(self, ctx: StepContext, parts: list[Part], ingested_at, notes: list[str], metrics: dict) -> StepResult:
        from pyspark import StorageLevel

        if all(part.unread is not None for part in parts):   # nothing to parse, so no Spark job: no rows this run
            return self._none_read(ctx, parts, notes, metrics)
        accounting: dict[str, dict[str, int]] = {}
        classified = {}
        for part in parts:   # every source read and counted before anything is written
            classified[part.name] = part.classified.persist(StorageLevel.DISK_ONLY)
            counts = status_counts(classified[part.name])
            notes += check_unreadable(classified[part.name], counts, ctx.settings.allow_partial_input)
            if part.extract_rejects is not None:
                counts["not_found"] = part.extract_rejects.count()
            accounting[part.name] = {"read": sum(counts.values()), **counts}
        rejects = []
        for part in parts:
            counts = accounting[part.name]
            ctx.write(part.table, kept_rows(classified[part.name], SCHEMAS[part.table], part.source, ctx.run_id,
                                            ingested_at))
            part_rejects = reject_rows(classified[part.name], part.source, ctx.run_id, ingested_at, part.explain,
                                       counts[REJECTED] + counts.get(UNREADABLE, 0), position=part.position)
            if part.extract_rejects is not None:
                part_rejects = part_rejects.unionByName(part.extract_rejects)
            rejects.append(part_rejects)
            ctx.log.info("bronze_written", table=part.table, source=part.name, **counts)
        for table in set(SCHEMAS) - {p.table for p in parts}:  # a source absent this time leaves no stale rows
            ctx.write(table, ctx.spark.createDataFrame([], SCHEMAS[table]))
        ctx.write(REJECTS_TABLE, reduce(lambda a, b: a.unionByName(b), rejects))
        for df in classified.values():
            df.unpersist()

        written = {table: ctx.read(table).count() for table in (*SCHEMAS, REJECTS_TABLE)}
        read = sum(a["read"] for a in accounting.values())
        filtered = sum(a[FILTERED] for a in accounting.values())
        for name, flag in (("musicbrainz", "MUSICBRAINZ_SOUNDTRACK_FILTER"), ("discogs", "DISCOGS_SOUNDTRACK_FILTER")):
            n = sum(a[FILTERED] for part, a in accounting.items() if part.startswith(name))
            if n:
                notes.append(f"{n} {name} records outside the soundtrack filter were filtered (counted, not stored); "
                             f"set {flag}=false to keep them")
        unread = {p.name: p.unread for p in parts if p.unread is not None}
        if unread:
            metrics["feeds"] = {name: feed.metrics() for name, feed in unread.items()}
            notes += [feed.note for feed in unread.values()]
        metrics.update({"accounting": accounting, "filtered_not_soundtrack": filtered,
                        "parse_rejected": sum(a[REJECTED] for a in accounting.values()),
                        "not_found": sum(a.get("not_found", 0) for a in accounting.values()),
                        "unreadable_files": sum(a.get(UNREADABLE, 0) for a in accounting.values()),
                        "musicbrainz_soundtrack_filter": ctx.settings.musicbrainz_soundtrack_filter})
        return StepResult(rows_in=read, rows_out=sum(written[t] for t in SCHEMAS), rejected=written[REJECTS_TABLE],
                          filtered=filtered, tables=written, metrics=metrics, notes=notes)
