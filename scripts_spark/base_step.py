"""BaseStep: the frame every numbered step runs in.

A step declares its inputs and outputs and implements `execute(ctx) -> StepResult` as
extract -> transforms -> load. The base class times it, logs structured start/finish events with
row counts, checks that its row accounting balances (read = kept + quarantined + rejected) when the
step says it should, and records everything in the run manifest. A failing step raises `StepFailed`
naming the step and the cause.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .config import Settings
from .lake import Lake
from .log import EventLogger, redact
from .tables import FAIL, schema_of, table

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession


class StepFailed(RuntimeError):
    def __init__(self, step: str, cause: str):
        super().__init__(f"step {step} failed: {cause}")
        self.step = step
        self.cause = cause


class StepSkipped(Exception):
    """Raised by a step whose inputs are absent by design (e.g. no discogs/ folder): recorded, not an error."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class StepContext:
    spark: "SparkSession"
    settings: Settings
    lake: Lake
    run_id: str
    log: EventLogger

    @property
    def input_dir(self) -> Path:
        return Path(self.settings.input_dir)

    def read(self, name: str) -> "DataFrame":
        """This run's rows of a declared table, with its declared schema (without the run_id column)."""
        return self.lake.read_table(self.spark, name, self.run_id, schema_of(name)).drop("run_id")

    def write(self, name: str, df: "DataFrame") -> None:
        """Write this run's partition of a declared table: exactly its declared columns and types. A table whose
        contract must hold (Gold) is read back and checked; a broken row removes the partition and fails the step,
        so a later step never builds on it."""
        from pyspark.sql import functions as F

        from .transforms.contracts import ContractViolation, enforce

        declared = table(name)
        self.lake.write_table(df.select(*[F.col(f.name).cast(f.dataType).alias(f.name)
                                          for f in declared.schema.fields]), name, self.run_id)
        if declared.enforce != FAIL:
            return
        references = {ref.table: self.read(ref.table) for ref in declared.references}
        try:
            enforce(self.read(name), declared, references)
        except ContractViolation:
            self.lake.delete(self.lake.partition_path(name, self.run_id), self.spark)
            raise


@dataclass
class StepResult:
    """What a step reports. `rows_in` counts what it read; every row read leaves as out, quarantined or rejected
    when `balances` is true (steps that fan out, such as blocking, set it false and explain their counts in metrics)."""
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    rejected: int = 0
    balances: bool = True
    tables: dict[str, int] = field(default_factory=dict)   # table -> rows written this run
    metrics: dict[str, Any] = field(default_factory=dict)  # step-specific figures (json-serialisable)
    notes: list[str] = field(default_factory=list)         # human-readable remarks (e.g. "discogs skipped: no input")


@dataclass
class StepRecord:
    number: str
    name: str
    status: str = "pending"  # pending | running | succeeded | skipped | failed
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    rejected: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class RunManifest:
    """`<lake root>/_runs/<run_id>/manifest.json`: steps, timings, row counts, config fingerprint, status."""

    def __init__(self, lake: Lake, run_id: str, settings: Settings, spark: "SparkSession | None" = None):
        self.lake = lake
        self.run_id = run_id
        self.spark = spark
        self.path = lake.run_file(run_id, "manifest.json")
        previous = lake.read_text(self.path, spark)
        self.doc: dict[str, Any] = json.loads(previous) if previous else {}
        self.doc.update({
            "run_id": run_id,
            "status": "running",
            "started_at": utc_now(),
            "finished_at": None,
            "config_fingerprint": settings.fingerprint(),
            "settings": settings.public_dict(),
            "lake_root": lake.root,
        })
        self.doc.setdefault("steps", {})

    def record(self, rec: StepRecord) -> None:
        self.doc["steps"][rec.number] = asdict(rec)
        self.save()

    def set(self, key: str, value: Any) -> None:
        self.doc[key] = value
        self.save()

    def finish(self, status: str) -> None:
        self.doc["status"] = status
        self.doc["finished_at"] = utc_now()
        self.save()

    def save(self) -> None:
        self.lake.write_text(self.path, json.dumps(self.doc, indent=2, sort_keys=True, default=str), self.spark)


class BaseStep:
    number: ClassVar[str] = "00"
    name: ClassVar[str] = "base"
    description: ClassVar[str] = ""
    inputs: ClassVar[tuple[str, ...]] = ()    # tables ('silver/films') or input globs ('input:tmdb/*.jsonl.gz')
    outputs: ClassVar[tuple[str, ...]] = ()

    @property
    def label(self) -> str:
        return f"{self.number}_{self.name}"

    def execute(self, ctx: StepContext) -> StepResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def preview(self, ctx: StepContext) -> list[str]:
        """Dry-run lines: what the step would read, with a parse of the first records. Writes nothing."""
        return []

    def run(self, ctx: StepContext, manifest: RunManifest | None = None) -> StepRecord:
        log = ctx.log.bind(step=self.number)
        rec = StepRecord(self.number, self.name, status="running", started_at=utc_now())
        if manifest:
            manifest.record(rec)
        log.info("step_started", name=self.name, inputs=list(self.inputs), outputs=list(self.outputs))
        t0 = time.perf_counter()
        try:
            result = self.execute(StepContext(ctx.spark, ctx.settings, ctx.lake, ctx.run_id, log))
            if result.balances and result.rows_in != result.rows_out + result.quarantined + result.rejected:
                raise StepFailed(self.label, (
                    f"row accounting does not balance: read {result.rows_in} != kept {result.rows_out} "
                    f"+ quarantined {result.quarantined} + rejected {result.rejected}"))
        except StepSkipped as skip:
            rec.status, rec.notes = "skipped", [str(skip)]
            log.warning("step_skipped", reason=str(skip))
        except Exception as exc:  # noqa: BLE001 - any failure stops the run with the step named
            rec.status = "failed"
            rec.error = redact(f"{type(exc).__name__}: {exc}")
            rec.finished_at, rec.seconds = utc_now(), round(time.perf_counter() - t0, 3)
            log.error("step_failed", error=rec.error, seconds=rec.seconds)
            if manifest:
                manifest.record(rec)
            if isinstance(exc, StepFailed):
                raise
            raise StepFailed(self.label, rec.error) from exc
        else:
            rec.status = "succeeded"
            rec.rows_in, rec.rows_out = result.rows_in, result.rows_out
            rec.quarantined, rec.rejected = result.quarantined, result.rejected
            rec.tables, rec.metrics, rec.notes = result.tables, result.metrics, result.notes
            for note in result.notes:
                log.info("step_note", note=note)
        rec.finished_at, rec.seconds = utc_now(), round(time.perf_counter() - t0, 3)
        log.info("step_finished", status=rec.status, seconds=rec.seconds, rows_in=rec.rows_in, rows_out=rec.rows_out,
                 quarantined=rec.quarantined, rejected=rec.rejected, tables=rec.tables)
        if manifest:
            manifest.record(rec)
        return rec
