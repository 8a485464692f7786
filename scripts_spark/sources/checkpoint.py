"""Checkpoints of an API extract: what a killed run has already fetched, so a restart resumes from there.

Everything lives under `<lake>/_runs/<run_id>/checkpoints/<source>/`: one staged file per completed unit
of work (a discover window's ids, a batch of detail payloads, a search page) and a small `state.json`
naming the completed units in order. A unit's file is written completely (write-then-rename locally)
before the state names it, so a kill at any moment leaves either a finished unit or one that is redone;
a redone unit overwrites its own file under the same name, which is why a resumed run yields the same
Bronze rows with no duplicates. Staged lines are envelopes: `{"uri", "payload"}` for a record (payload =
the response text as received) or `{"uri", "ref", "reason", "raw"}` for a reject.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from ..lake import Lake

ENVELOPE_DDL = "uri STRING, payload STRING, ref STRING, reason STRING, raw STRING"


def record_line(uri: str, payload: str) -> str:
    return json.dumps({"uri": uri, "payload": payload}, ensure_ascii=False)


def reject_line(uri: str, ref: str, reason: str, raw: str | None = None) -> str:
    return json.dumps({"uri": uri, "ref": ref, "reason": reason, "raw": raw}, ensure_ascii=False)


class Checkpoint:
    """Completed units of one source's extract for one run, and their staged files."""

    def __init__(self, lake: "Lake", run_id: str, source: str, spark: "SparkSession | None" = None):
        self.lake, self.spark = lake, spark
        self.root = lake.run_file(run_id, f"checkpoints/{source}")
        text = lake.read_text(self._path("state.json"), spark)
        self.state: dict[str, Any] = json.loads(text) if text else {}
        self.resumed = bool(self.state)

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    # --- state ---------------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        return self.state.get(key, default)

    def set(self, **values: Any) -> None:
        self.state.update(values)
        self.lake.write_text(self._path("state.json"), json.dumps(self.state, sort_keys=True), self.spark)

    def units(self, phase: str) -> list[str]:
        return list(self.state.get(f"{phase}_done", []))

    def is_done(self, phase: str, unit: str) -> bool:
        return unit in self.state.get(f"{phase}_done", [])

    # --- staged files ---------------------------------------------------------------------------
    def stage(self, phase: str, unit: str, lines: Iterable[str], **state: Any) -> str:
        """Write a unit's file completely, then record the unit as done (with any extra state) in one save."""
        path = self.unit_path(phase, unit)
        self.lake.write_text(path, "".join(line + "\n" for line in lines), self.spark)
        done = self.units(phase)
        if unit not in done:
            done.append(unit)
        self.set(**{f"{phase}_done": done}, **state)
        return path

    def unit_path(self, phase: str, unit: str) -> str:
        return self._path(f"{phase}/{unit}.jsonl")

    def read_unit(self, phase: str, unit: str) -> list[str]:
        text = self.lake.read_text(self.unit_path(phase, unit), self.spark) or ""
        return [line for line in text.splitlines() if line]

    def staged_paths(self, phase: str) -> list[str]:
        return [self.unit_path(phase, unit) for unit in self.units(phase)]


def read_envelopes(spark: "SparkSession", paths: list[str]) -> "DataFrame":
    """Staged envelope lines of the given files (an empty frame when nothing was staged)."""
    if not paths:
        return spark.createDataFrame([], ENVELOPE_DDL)
    return spark.read.schema(ENVELOPE_DDL).option("mode", "FAILFAST").json(paths)


def staged_records(envelopes: "DataFrame") -> "DataFrame":
    """(payload, _source_uri) of the staged records: the shape every source parser takes."""
    from pyspark.sql import functions as F

    return envelopes.where(F.col("reason").isNull()).select("payload", F.col("uri").alias("_source_uri"))


def staged_rejects(envelopes: "DataFrame", source: str, run_id: str, ingested_at) -> "DataFrame":
    """Rejects recorded during the extract (a 404 detail call) in the schema_of("bronze/tmdb_rejects") shape."""
    from pyspark.sql import functions as F

    from ..tables import schema_of

    return envelopes.where(F.col("reason").isNotNull()).select(
        F.lit(source).alias("source"), F.col("uri").alias("_source_uri"), F.col("ref").alias("record_ref"),
        "reason", "raw", F.lit(ingested_at).alias("_ingested_at"), F.lit(run_id).alias("_run_id"),
    ).select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema_of("bronze/tmdb_rejects").fields])


def fetch_in_batches(checkpoint: Checkpoint, phase: str, ids: list[int], fetch: Callable[[int], Any], log, *,
                     what: str, batch_size: int, workers: int = 1) -> dict[str, int]:
    """Call `fetch(id)` for every id, staging each batch as one checkpoint unit (a done batch is skipped).

    `fetch` returns an `ApiResponse`; an `ApiNotFound` becomes a reject line (a record that vanished between
    listing and fetching is counted, not fatal). Any other error stops the extract with the batch unstaged,
    so the restarted run fetches that batch again. Order inside a batch is the id order (stable files).
    """
    from .http import ApiNotFound, Progress

    batches = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
    units = [f"batch-{n:06d}" for n in range(len(batches))]
    done_before = sum(len(b) for unit, b in zip(units, batches) if checkpoint.is_done(phase, unit))
    progress = Progress(log, what, total=len(ids), done=done_before)
    not_found = 0

    def one(record_id: int) -> tuple[str, bool]:
        try:
            resp = fetch(record_id)
        except ApiNotFound as exc:
            return reject_line(exc.url, str(record_id), str(exc)), True
        return record_line(resp.url, resp.text), False

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for unit, batch in zip(units, batches):
            if checkpoint.is_done(phase, unit):
                continue
            fetched = list(pool.map(one, batch))
            not_found += sum(missing for _, missing in fetched)
            checkpoint.stage(phase, unit, [line for line, _ in fetched])
            progress.advance(len(batch))
    progress.report(final=True)
    return {f"{phase}_requested": len(ids), f"{phase}_fetched_this_run": len(ids) - done_before,
            f"{phase}_not_found_this_run": not_found, f"{phase}_batches": len(batches)}
