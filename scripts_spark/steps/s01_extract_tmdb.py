"""Step 01: TMDB films into Bronze, from `tmdb/*.jsonl.gz` (file mode) or the TMDB API (api mode).

read (JSON lines, or the API extract staged under the run's checkpoints) -> parse_tmdb_movies ->
bronze/tmdb_movies (kept) + bronze/tmdb_rejects (unparseable lines, films gone between discover and details).
A file that cannot be read to its end fails the step before anything is written, naming file and position, unless
ALLOW_PARTIAL_INPUT (then the loss is a reject row and a note). `rows_in` counts the records read; kept and rejected
are the rows the tables hold, read back, so the accounting checks the writes. An incremental run whose input files
are those the state was built from reads none (incremental/extract.feed_records): its tables are empty, `rows_in` is
0 and the metrics' `feeds.tmdb` carries what the state holds.
"""
from __future__ import annotations

from datetime import datetime, timezone

from ..base_step import BaseStep, StepContext, StepResult, StepSkipped
from ..sources.inputs import input_files
from ..tables import schema_of
from ..sources import tmdb
from ..sources.bronze import (KEPT, READ_DDL, REJECTED, UNREADABLE, check_unreadable, json_reject_reason, kept_rows,
                              preview_json_lines, read_json_lines, reject_rows, status_counts)
from ..incremental import tmdb_changes
from ..incremental.extract import feed_records, select_changed
from ..sources.checkpoint import Checkpoint, read_envelopes, staged_records, staged_rejects

MOVIES_TABLE = "bronze/tmdb_movies"
REJECTS_TABLE = "bronze/tmdb_rejects"


class ExtractTmdb(BaseStep):
    number = "01"
    name = "extract_tmdb"
    description = ("TMDB films (details + credits) into Bronze: bundled JSON lines, or the API "
                   "(/discover/movie in date windows under the 500-page cap, then /movie/{id}?append_to_response=credits)")
    inputs = ("input:tmdb/*.jsonl.gz", "api:tmdb")
    outputs = (MOVIES_TABLE, REJECTS_TABLE)

    def preview(self, ctx: StepContext) -> list[str]:
        s = ctx.settings
        if s.tmdb_mode == "api":
            auth = "bearer token header" if s.tmdb_bearer_token else ("api_key parameter" if s.tmdb_api_key else "NO TOKEN")
            return [f"api mode: {s.tmdb_base_url} ({auth}), {s.tmdb_rate_limit_per_s} requests/s, "
                    f"films {s.tmdb_date_from}..{s.tmdb_date_to or 'today'}"
                    + (f", ids from {s.tmdb_id_export}" if s.tmdb_id_export else "")
                    + (f", at most {s.tmdb_max_films} films" if s.tmdb_max_films else ""),
                    f"checkpoints: {ctx.lake.run_file(ctx.run_id, 'checkpoints/tmdb')}"]
        files = input_files(s.input_dir, "tmdb")
        if not files:
            return [f"would be skipped: no {s.input_dir}/tmdb/*.jsonl.gz"]
        return [f"{len(files)} file(s)"] + preview_json_lines(files, tmdb.parse_details)

    def execute(self, ctx: StepContext) -> StepResult:
        spark, s, log = ctx.spark, ctx.settings, ctx.log
        ingested_at = datetime.now(timezone.utc)
        metrics: dict = {"mode": s.tmdb_mode}
        unread_notes: list[str] = []
        unread = None   # an incremental run's TMDB files unchanged since the state read them (file mode)
        if s.tmdb_mode == "api":
            checkpoint = Checkpoint(ctx.lake, ctx.run_id, "tmdb", spark)
            client = tmdb.TmdbClient(s, log=log)
            try:   # the full walk, or in an incremental run the changes since the last one (docs/incremental.md)
                extract, delta = tmdb_changes.extract_api(ctx, client, checkpoint)
                metrics.update(extract)
            finally:
                client.http.close()
            envelopes = read_envelopes(spark, checkpoint.staged_paths("details"))
            raw = select_changed(ctx, "tmdb", staged_records(envelopes), delta)
            extract_rejects = staged_rejects(envelopes, tmdb.SOURCE, ctx.run_id, ingested_at)
        else:
            files = input_files(s.input_dir, "tmdb")
            if not files:
                raise StepSkipped(f"no TMDB input: {s.input_dir}/tmdb/*.jsonl.gz not found (and TMDB_MODE=file)")
            metrics["files"] = len(files)
            raw, unread = feed_records(ctx, "tmdb", files, lambda: read_json_lines(spark, files), READ_DDL)
            extract_rejects = None
            if unread is not None:   # an incremental run found the files the state was built from
                metrics["feeds"], unread_notes = {"tmdb": unread.metrics()}, [unread.note]

        if unread is not None:   # nothing to parse, so no Spark job: this run's Bronze holds no TMDB rows
            for name in (MOVIES_TABLE, REJECTS_TABLE):
                ctx.write_no_rows(name)
            metrics.update({"records_read": 0, "parse_rejected": 0, "extract_rejected": 0, "unreadable_files": 0,
                            "classified_kept": 0})
            log.info("bronze_written", table=MOVIES_TABLE, rows=0, rejected=0)
            return StepResult(tables={MOVIES_TABLE: 0, REJECTS_TABLE: 0}, metrics=metrics, notes=unread_notes)

        from pyspark import StorageLevel

        classified = tmdb.parse_tmdb_movies(raw).persist(StorageLevel.DISK_ONLY)
        counts = status_counts(classified)
        notes = unread_notes + check_unreadable(classified, counts, s.allow_partial_input)
        ctx.write(MOVIES_TABLE, kept_rows(classified, schema_of(MOVIES_TABLE), tmdb.SOURCE, ctx.run_id, ingested_at))
        rejects = reject_rows(classified, tmdb.SOURCE, ctx.run_id, ingested_at, json_reject_reason,
                              counts[REJECTED] + counts.get(UNREADABLE, 0))
        extract_rejected = 0
        if extract_rejects is not None:
            extract_rejected = extract_rejects.count()
            rejects = rejects.unionByName(extract_rejects)
        ctx.write(REJECTS_TABLE, rejects)
        classified.unpersist()

        kept, rejected = ctx.read(MOVIES_TABLE).count(), ctx.read(REJECTS_TABLE).count()
        metrics.update({"records_read": sum(counts.values()), "parse_rejected": counts[REJECTED],
                        "extract_rejected": extract_rejected, "unreadable_files": counts.get(UNREADABLE, 0),
                        "classified_kept": counts[KEPT]})
        log.info("bronze_written", table=MOVIES_TABLE, rows=kept, rejected=rejected)
        return StepResult(rows_in=sum(counts.values()) + extract_rejected, rows_out=kept, rejected=rejected,
                          tables={MOVIES_TABLE: kept, REJECTS_TABLE: rejected}, metrics=metrics, notes=notes)
