"""BaseStep: the frame every numbered step runs in, and the run manifest.

A step declares its inputs and outputs and implements `execute(ctx) -> StepResult` as
extract -> transforms -> load. The base class times it, logs structured start/finish events with
row counts, checks that its row accounting balances (read = kept + quarantined + rejected + filtered)
when the step says it should, and records everything in the run manifest. A failing step raises
`StepFailed` naming the step and the cause (the full trace goes to the log).

Inside a pipeline run, `ctx.lake` is bound to the run's attempt (lake.py): a step's writes are staged and
become visible when the attempt commits; its reads see what earlier steps of the attempt staged.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable

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


class Interrupted(BaseException):
    """The process was asked to stop (SIGTERM, SIGINT) during a run; raised where the run was."""

    def __init__(self, signal_name: str):
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name


def interruption_behind(exc: BaseException) -> Interrupted | None:
    """The stop signal an exception arose while handling, if any. A signal can land inside a py4j call; PySpark's own
    cleanup then talks over the half-read connection and fails (seen in CI: `KeyError: 'm'` from py4j's protocol,
    raised in a `finally` of pyspark's error wrapper), hiding the Interrupted behind an ordinary error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, Interrupted):
            return current
        seen.add(id(current))
        current = current.__context__ or current.__cause__
    return None


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
        self._write(name, df)

    def write_no_rows(self, name: str) -> None:
        """This run's partition of a declared table holds no rows (what writing an empty frame does, without Spark)."""
        table(name)
        self.lake.write_no_rows(name, self.run_id, self.spark)

    def write_checked(self, name: str, df: "DataFrame") -> int:
        """`write` a table whose contract is checked on write (Gold) and return its rows, which the check counted:
        a step need not read the table again to count it."""
        if table(name).enforce != FAIL:
            raise ValueError(f"{name} is not checked on write (its contract is {table(name).enforce!r}); use write()")
        rows = self._write(name, df)
        assert rows is not None
        return rows

    def _write(self, name: str, df: "DataFrame") -> int | None:
        from pyspark.sql import functions as F

        from .transforms.contracts import ContractViolation, enforce

        declared = table(name)
        self.lake.write_table(df.select(*[F.col(f.name).cast(f.dataType).alias(f.name)
                                          for f in declared.schema.fields]), name, self.run_id)
        if declared.enforce != FAIL:
            return None
        references = {ref.table: self.read(ref.table) for ref in declared.references}
        try:
            return enforce(self.read(name), declared, references)
        except ContractViolation:
            # Inside an attempt this drops the staged copy only: the committed partition stays until a commit.
            self.lake.delete(self.lake.partition_path(name, self.run_id), self.spark)
            raise


@dataclass
class StepResult:
    """What a step reports. `rows_in` counts what it read; every row read leaves as out, quarantined, rejected (broken:
    stored with a reason) or filtered (out of scope by design: counted, not stored) when `balances` is true (steps
    that fan out, such as blocking, set it false and explain their counts in metrics)."""
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    rejected: int = 0
    filtered: int = 0
    balances: bool = True
    tables: dict[str, int] = field(default_factory=dict)   # table -> rows written this run
    metrics: dict[str, Any] = field(default_factory=dict)  # step-specific figures (json-serialisable)
    notes: list[str] = field(default_factory=list)         # human-readable remarks (e.g. "discogs skipped: no input")


@dataclass
class StepRecord:
    number: str
    name: str
    status: str = "pending"  # pending | running | succeeded | skipped | failed | interrupted | invalidated
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    rejected: int = 0
    filtered: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    attempt: str | None = None                                # the attempt that ran the step
    upstream: dict[str, str | None] = field(default_factory=dict)   # step -> attempt whose output this step read


OK_STATUSES = ("succeeded", "skipped")   # a step whose state is a valid part of the run's data


class RunManifest:
    """`<lake root>/_runs/<run_id>/manifest.json`: the run's status, its attempts, and its steps.

    - `status`: running | succeeded | incomplete | failed | interrupted (the latest attempt's outcome; `incomplete`
      = committed, but steps whose inputs were re-run were invalidated and their tables removed);
    - `attempts`: one record per attempt (start, end, pid, host, command, steps requested and run, exit reason,
      whether it committed), never overwritten;
    - `committed`: what the lake holds for this run (the attempt that committed it, its status, every step record
      behind the data, the steps invalidated and why); absent until a first commit;
    - `steps`: the committed steps, overlaid with the records of the latest attempt's steps.
    Used directly (tests, tools) it records steps and a status as it always did; the pipeline adds the attempts.
    """

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
        self.attempt_id: str | None = None

    # --- attempts (the pipeline) --------------------------------------------------------------------
    def begin_attempt(self, attempt_id: str, info: dict[str, Any]) -> None:
        """Start from what is committed (never from an earlier attempt's uncommitted records) and add the attempt."""
        committed = self.doc.get("committed")
        if committed:
            self.doc["steps"] = copy.deepcopy(committed["steps"])
        elif "attempts" in self.doc:
            self.doc["steps"] = {}
        else:  # written before attempts existed: its finished steps are what the lake holds
            self.doc["steps"] = {n: r for n, r in self.doc["steps"].items() if r.get("status") in OK_STATUSES}
        self.attempt_id = attempt_id
        self.doc["attempt"] = attempt_id
        self.doc.setdefault("first_started_at", self.doc["started_at"])
        self.doc.setdefault("attempts", []).append({
            "attempt": attempt_id, "status": "running", "started_at": self.doc["started_at"], "finished_at": None,
            "committed": False, "exit_reason": None, "steps_run": {}, **info})
        self.save()

    def current_attempt(self) -> dict[str, Any]:
        return self.doc["attempts"][-1]

    def attempt_of(self, number: str) -> str | None:
        """The attempt whose output of step `number` a step running now reads (None: the step has no output)."""
        rec = self.doc["steps"].get(number)
        return rec.get("attempt") if rec and rec.get("status") in OK_STATUSES else None

    def end_attempt(self, status: str, reason: str | None) -> None:
        """A failed or interrupted attempt: nothing was committed, the data is what `committed` says."""
        attempt = self.current_attempt()
        attempt.update(status=status, finished_at=utc_now(), exit_reason=reason)
        self.doc["status"], self.doc["finished_at"] = status, attempt["finished_at"]
        self.save()

    def plan_commit(self, upstream_of: Callable[[str], Iterable[str]],
                    outputs_of: Callable[[str], Iterable[str]]) -> tuple[dict[str, Any], list[str]]:
        """The manifest as it will be once the attempt commits, and the committed partitions to remove with it.

        A step stays valid only while every step it read from still holds the output it read: re-running 01-03
        invalidates 04-06 (and what follows them), whose tables are removed in the same commit, and the run is
        `incomplete` until they are run again. A step skipped by this attempt leaves no tables of an earlier one.
        """
        steps = {n: dict(r) for n, r in self.doc["steps"].items() if r.get("status") in (*OK_STATUSES, "invalidated")}
        remove: set[str] = set()
        for n, rec in steps.items():
            if rec.get("attempt") == self.attempt_id and rec["status"] == "skipped":
                remove.update(outputs_of(n))
        changed = True
        while changed:
            changed = False
            for n in sorted(steps):
                rec = steps[n]
                if rec["status"] not in OK_STATUSES:
                    continue
                for up in sorted(upstream_of(n)):
                    have = steps.get(up)
                    holds = have.get("attempt") if have and have["status"] in OK_STATUSES else None
                    read = (rec.get("upstream") or {}).get(up)
                    if read == holds:
                        continue
                    reason = (f"invalidated by attempt {self.attempt_id}: step {up} now holds "
                              f"{'the output of attempt ' + holds if holds else 'no valid output'}, this step read "
                              f"{'attempt ' + read if read else 'an earlier version'}; run --steps {n} again")
                    steps[n] = {**rec, "status": "invalidated", "notes": [*rec.get("notes", []), reason]}
                    remove.update(outputs_of(n))
                    changed = True
                    break
        invalidated = {n: r["notes"][-1] for n, r in steps.items() if r["status"] == "invalidated"}
        status = "incomplete" if invalidated else "succeeded"
        now = utc_now()
        doc = copy.deepcopy(self.doc)
        doc["steps"] = steps
        doc["status"], doc["finished_at"] = status, now
        doc["committed"] = {"attempt": self.attempt_id, "committed_at": now, "status": status,
                            "steps": copy.deepcopy(steps), "invalidated": invalidated}
        doc["attempts"][-1].update(status=status, finished_at=now, committed=True, exit_reason="committed")
        return doc, sorted(remove)

    @staticmethod
    def text_of(doc: dict[str, Any]) -> str:
        return json.dumps(doc, indent=2, sort_keys=True, default=str)

    # --- records -------------------------------------------------------------------------------------
    def record(self, rec: StepRecord) -> None:
        self.doc["steps"][rec.number] = asdict(rec)
        if self.attempt_id:
            self.current_attempt()["steps_run"][rec.number] = rec.status
        self.save()

    def set(self, key: str, value: Any) -> None:
        self.doc[key] = value
        self.save()

    def finish(self, status: str) -> None:
        self.doc["status"] = status
        self.doc["finished_at"] = utc_now()
        self.save()

    def save(self) -> None:
        self.lake.write_text(self.path, self.text_of(self.doc), self.spark)


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

    def inputs_key(self, ctx: StepContext) -> str | None:
        """A hash of what the step reads besides lake tables (input files, its own settings), recorded in its metrics
        so that a later run can tell they did not change (incremental/carry.py); None: nothing to compare."""
        return None

    def after_carry(self, ctx: StepContext, tables: dict[str, int]) -> dict[str, Any]:
        """What a step carried over by incremental/carry.py still does outside the lake (step 07 serves the carried
        tables from PostgreSQL); `tables`: their rows, as the run they came from counted them. Returns metrics to add
        to the carried ones."""
        return {}

    def run(self, ctx: StepContext, manifest: RunManifest | None = None,
            upstream: dict[str, str | None] | None = None,
            execute: Callable[[StepContext], StepResult] | None = None) -> StepRecord:
        """Run the step; `upstream` names the attempt whose output of each step this one reads (the manifest's
        lineage, set by the pipeline); `execute` replaces the step's own work (incremental/carry.py: an earlier run's
        tables carried over), with the same timing, logging and accounting."""
        log = ctx.log.bind(step=self.number)
        rec = StepRecord(self.number, self.name, status="running", started_at=utc_now(),
                         attempt=manifest.attempt_id if manifest else None, upstream=dict(upstream or {}))
        if manifest:
            manifest.record(rec)
        log.info("step_started", name=self.name, inputs=list(self.inputs), outputs=list(self.outputs))
        t0 = time.perf_counter()
        try:
            result = (execute or self.execute)(StepContext(ctx.spark, ctx.settings, ctx.lake, ctx.run_id, log))
            accounted = result.rows_out + result.quarantined + result.rejected + result.filtered
            if result.balances and result.rows_in != accounted:
                raise StepFailed(self.label, (
                    f"row accounting does not balance: read {result.rows_in} != kept {result.rows_out} "
                    f"+ quarantined {result.quarantined} + rejected {result.rejected} + filtered {result.filtered}"))
        except StepSkipped as skip:
            rec.status, rec.notes = "skipped", [str(skip)]
            log.warning("step_skipped", reason=str(skip))
        except Exception as exc:  # noqa: BLE001 - any failure stops the run with the step named
            stop = interruption_behind(exc)
            if stop is not None:
                rec.status, rec.error = "interrupted", f"{type(stop).__name__}: {stop}"
                rec.finished_at, rec.seconds = utc_now(), round(time.perf_counter() - t0, 3)
                log.error("step_interrupted", error=rec.error, seconds=rec.seconds, hidden_by=type(exc).__name__)
                if manifest:
                    manifest.record(rec)
                raise stop from exc
            rec.status = "failed"
            rec.error = redact(f"{type(exc).__name__}: {exc}")
            rec.finished_at, rec.seconds = utc_now(), round(time.perf_counter() - t0, 3)
            log.error("step_failed", exc_info=True, error=rec.error, seconds=rec.seconds)
            if manifest:
                manifest.record(rec)
            if isinstance(exc, StepFailed):
                raise
            raise StepFailed(self.label, rec.error) from exc
        except BaseException as exc:  # Interrupted, KeyboardInterrupt: record where the run stopped, then stop
            rec.status, rec.error = "interrupted", f"{type(exc).__name__}: {exc}"
            rec.finished_at, rec.seconds = utc_now(), round(time.perf_counter() - t0, 3)
            log.error("step_interrupted", error=rec.error, seconds=rec.seconds)
            if manifest:
                manifest.record(rec)
            raise
        else:
            rec.status = "succeeded"
            rec.rows_in, rec.rows_out = result.rows_in, result.rows_out
            rec.quarantined, rec.rejected, rec.filtered = result.quarantined, result.rejected, result.filtered
            rec.tables, rec.metrics, rec.notes = result.tables, result.metrics, result.notes
            for note in result.notes:
                log.info("step_note", note=note)
        rec.finished_at, rec.seconds = utc_now(), round(time.perf_counter() - t0, 3)
        log.info("step_finished", status=rec.status, seconds=rec.seconds, rows_in=rec.rows_in, rows_out=rec.rows_out,
                 quarantined=rec.quarantined, rejected=rec.rejected, filtered=rec.filtered, tables=rec.tables)
        if manifest:
            manifest.record(rec)
        return rec
