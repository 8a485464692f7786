"""Runs the chosen steps of one run_id as one attempt: lock the lake, recover what a dead writer left, run the steps
on staged tables, commit, and keep the run manifest truthful whatever happens (docs/reliability.md).

    lock (one writer per lake) -> recover stale attempts -> begin attempt -> steps 01..07 (staged writes)
      -> plan the commit (invalidate steps whose inputs were re-run) -> commit (switch partitions, manifest)

A failing step, SIGTERM or SIGINT ends the attempt: its staged tables are dropped, the manifest records the attempt
as `failed` or `interrupted`, and the lake keeps the run's last committed data. SIGKILL leaves the attempt's folder
and a `running` manifest; readers report it `interrupted` (runs.py) and the next writer cleans it up.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterator

from .base_step import Interrupted, RunManifest, StepContext, StepFailed, utc_now
from .incremental import plan as incremental
from .incremental.carry import carrier
from .config import Settings
from .lake import LAYERS, Lake, validate_run_id
from .lake_lock import LakeLock, process_start_ticks
from .log import get_logger, redact
from .runs import read_manifest
from .sources.inputs import describe_inputs
from .steps import STEP_CLASSES, load_step, parse_step_range

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class CommitFailed(RuntimeError):
    """The commit started and could not finish; the next writer completes it from the attempt's journal."""


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


# --- lineage: which step's tables each step reads -------------------------------------------------------------
def _lake_tables(names) -> list[str]:
    return [n for n in names if "/" in n and n.split("/", 1)[0] in LAYERS]


@lru_cache(maxsize=None)
def _producers() -> dict[str, str]:
    return {table: number for number in STEP_CLASSES for table in _lake_tables(load_step(number).outputs)}


def upstream_steps(number: str) -> set[str]:
    """Steps whose tables step `number` reads (from the steps' declared inputs and outputs)."""
    return {_producers()[t] for t in _lake_tables(load_step(number).inputs) if t in _producers()} - {number}


def table_outputs(number: str) -> list[str]:
    return _lake_tables(load_step(number).outputs)


# --- signals ----------------------------------------------------------------------------------------------
class _Stops:
    """SIGTERM/SIGINT raise `Interrupted` where the run is, except inside `deferred()` (the commit), after which a
    stop asked for meanwhile is honoured."""

    def __init__(self) -> None:
        self.deferring = False
        self.pending: str | None = None

    def handler(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.deferring:
            self.pending = name
            return
        raise Interrupted(name)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False


@contextmanager
def _stop_signals() -> Iterator[_Stops]:
    stops = _Stops()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, stops.handler)
    try:
        yield stops
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- the run ----------------------------------------------------------------------------------------------
def run_pipeline(settings: Settings, run_id: str, steps: str | None = None, spark=None) -> dict[str, Any]:
    """Run steps for `run_id` as one attempt; returns the manifest document.

    Raises LakeBusy when another writer holds the lake, StepFailed on the first failing step, Interrupted on
    SIGTERM/SIGINT, CommitFailed when a commit could not finish.
    """
    from .spark_session import get_spark

    validate_run_id(run_id)
    numbers = parse_step_range(steps)
    log = get_logger(run_id)
    lake = Lake(settings.lake_root)
    with _stop_signals() as stops:
        if lake.is_remote and spark is None:
            spark = get_spark(settings)   # the lock of a remote lake is a file reached through Hadoop
        lock = LakeLock(lake, run_id=run_id, command=f"run --steps {','.join(numbers)}", spark=spark,
                        stale_after_s=settings.lake_lock_stale_s, heartbeat_s=settings.lake_lock_stale_s / 10)
        lock.acquire()
        try:
            spark = spark or get_spark(settings)
            lock.spark = spark
            doc = _run_attempt(settings, run_id, numbers, spark, lake, lock, log, stops)
        finally:
            lock.release()
        if stops.pending:
            raise Interrupted(stops.pending)
    return doc


def _run_attempt(settings: Settings, run_id: str, numbers: list[str], spark, lake: Lake, lock: LakeLock, log,
                 stops: _Stops) -> dict[str, Any]:
    recovered = recover(lake, spark, lock)
    for line in recovered:
        log.info("recovered", what=line)
    manifest = RunManifest(lake, run_id, settings, spark)
    inputs = {"input_dir": settings.input_dir, **describe_inputs(settings.input_dir)}
    info = {"pid": os.getpid(), "pid_start": process_start_ticks(os.getpid()), "host": socket.gethostname(),
            "command": redact(" ".join(sys.argv)), "steps_requested": numbers,
            "config_fingerprint": settings.fingerprint(), "allow_partial_input": settings.allow_partial_input,
            "inputs": inputs,
            # What the session compiles (spark_session.spark_profile): run times are comparable only within one.
            "spark_codegen": {key: spark.conf.get(f"spark.sql.codegen.{key}")
                              for key in ("wholeStage", "factoryMode")}}
    attempt_lake = lake.start_attempt(run_id, info, spark)
    attempt_id = attempt_lake.attempt.attempt_id
    lock.update(attempt=attempt_id)
    plan = incremental.begin(lake, settings, run_id, numbers, attempt_id, spark, log)
    manifest.doc["inputs"], manifest.doc["steps_requested"] = inputs, numbers
    manifest.begin_attempt(attempt_id, info)
    log.info("run_started", steps=numbers, step_names={n: load_step(n).name for n in numbers}, attempt=attempt_id,
             lake_root=lake.root, input_dir=settings.input_dir, config_fingerprint=settings.fingerprint(),
             recovered=len(recovered))
    ctx = StepContext(spark, settings, attempt_lake, run_id, log)
    try:
        try:
            for number in numbers:
                upstream = {u: manifest.attempt_of(u) for u in upstream_steps(number)}
                step = load_step(number)
                # nothing changed since the state's run: its tables are carried over (incremental/carry.py)
                step.run(ctx, manifest, upstream=upstream, execute=carrier(plan, step, ctx))
        except BaseException:
            incremental.abandon(plan)   # the state stays at its last version
            raise
    except StepFailed as exc:
        _end(attempt_lake, manifest, spark, "failed", f"step {exc.step} failed: {exc.cause}", log)
        log.error("run_failed", failed_step=exc.step, cause=exc.cause, attempt=attempt_id)
        raise
    except Interrupted as exc:
        _end(attempt_lake, manifest, spark, "interrupted", str(exc), log)
        log.error("run_interrupted", signal=exc.signal_name, attempt=attempt_id)
        raise
    except BaseException as exc:  # import errors, a lost JVM: still leave an honest manifest
        _end(attempt_lake, manifest, spark, "failed", redact(f"{type(exc).__name__}: {exc}"), log)
        log.error("run_failed", cause=redact(f"{type(exc).__name__}: {exc}"), attempt=attempt_id)
        raise

    doc, remove = manifest.plan_commit(upstream_steps, table_outputs)
    doc["incremental"] = plan.summary()
    try:
        with stops.deferred():
            result = attempt_lake.commit(remove=remove, manifest=(manifest.path, manifest.text_of(doc)), spark=spark)
    except Exception as exc:
        incremental.abandon(plan)
        reason = redact(f"commit did not finish ({type(exc).__name__}: {exc}); the next writer completes it from "
                        f"the journal of attempt {attempt_id}")
        log.error("commit_failed", exc_info=True, cause=reason)
        try:
            manifest.end_attempt("failed", reason)
        except Exception:  # noqa: BLE001 - the disk may be full; the journal still holds the commit
            log.error("manifest_not_written", exc_info=True)
        raise CommitFailed(reason) from exc
    manifest.doc = doc
    manifest.doc["incremental"] = _advance_state(plan, doc["status"], log)
    manifest.current_attempt().update(commit_seconds=result.seconds, tables_replaced=len(result.replaced),
                                      tables_removed=result.removed)
    if stops.pending:
        manifest.current_attempt()["stop_requested_during_commit"] = stops.pending
    manifest.save()
    for number, reason in doc["committed"]["invalidated"].items():
        log.warning("step_invalidated", step=number, reason=reason)
    log.info("run_finished", status=doc["status"], attempt=attempt_id, manifest=manifest.path,
             commit_seconds=result.seconds, tables_replaced=len(result.replaced), tables_removed=result.removed)
    return manifest.doc


def _advance_state(plan: "incremental.Plan", status: str, log) -> dict[str, Any]:
    """After the commit: the run's state becomes current (incremental/plan.py). A failure here leaves the state one
    version behind, which the next run handles (it diffs against that version); the run itself stands."""
    summary = plan.summary()
    try:
        version = incremental.advance(plan, status, log)
    except Exception as exc:  # noqa: BLE001 - the run is committed; say why the state did not move
        log.error("state_not_advanced", exc_info=True)
        return {**summary, "state_error": redact(f"{type(exc).__name__}: {exc}")}
    return {**summary, "state_version": version.version if version else None}


def _end(attempt_lake: Lake, manifest: RunManifest, spark, status: str, reason: str, log) -> None:
    """A failed or interrupted attempt: say so in the manifest, then drop its staged tables."""
    if status == "interrupted" and spark is not None:
        try:
            spark.sparkContext.cancelAllJobs()
        except Exception:  # noqa: BLE001 - the JVM may be going down with us
            pass
    manifest.end_attempt(status, reason)
    try:
        attempt_lake.abandon(spark)
    except Exception:  # noqa: BLE001 - left for the next writer's recovery
        log.warning("attempt_not_cleaned", exc_info=True, attempt=attempt_lake.attempt.attempt_id)


# --- recovery ------------------------------------------------------------------------------------------
def recover(lake: Lake, spark=None, lock: LakeLock | None = None) -> list[str]:
    """Finish or drop what writers that are gone left behind, and mark their attempts `interrupted`.

    Holds only under the lake lock. Also called by `clean`.
    """
    def on_stale(journal: dict[str, Any], outcome: str) -> None:
        if journal.get("run_id") and journal.get("attempt"):
            mark_gone(lake, journal["run_id"], journal["attempt"], outcome, spark)

    done = lake.recover(spark, on_stale)
    previous = lock.previous if lock else None
    if previous and previous.get("run_id") and previous.get("attempt"):
        if mark_gone(lake, previous["run_id"], previous["attempt"], "discarded", spark):
            done.append(f"attempt {previous['attempt']} of run {previous['run_id']}: marked interrupted "
                        f"(its writer, pid {previous.get('pid')} on {previous.get('host')}, is gone)")
    return done


def mark_gone(lake: Lake, run_id: str, attempt_id: str, outcome: str, spark=None) -> bool:
    """Record in the run's manifest that an attempt's process is gone; True when the manifest changed."""
    doc = read_manifest(lake, run_id, spark)
    if not doc:
        return False
    now, changed = utc_now(), False
    for attempt in doc.get("attempts", []):
        if attempt.get("attempt") == attempt_id and attempt.get("status") == "running":
            reason = ("its process stopped during the commit; the next writer completed the commit"
                      if outcome == "committed" else "its process stopped (killed, or the machine went down); "
                      "found and cleaned up by the next writer")
            attempt.update(status="interrupted", finished_at=now, exit_reason=reason)
            changed = True
    if doc.get("status") == "running" and doc.get("attempt") == attempt_id:
        doc["status"], doc["finished_at"], changed = "interrupted", now, True
        for rec in doc.get("steps", {}).values():
            if rec.get("status") == "running" and rec.get("attempt") == attempt_id:
                rec.update(status="interrupted", finished_at=now, error="the process stopped during this step")
    if changed:
        lake.write_text(lake.run_file(run_id, "manifest.json"), RunManifest.text_of(doc), spark)
    return changed
