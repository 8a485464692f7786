"""Carry over: a night on which nothing changed costs its extract and a file copy, not a pass over every pair.

An incremental run whose steps 01-02 left every feed unread (each feed's input files are byte for byte those the
state was built from, or it has none and had none) would spend steps 03-06 recomputing, table by table, exactly what
the state's run committed: the complete Silver and Gold tables depend only on the inputs, the code, the settings
(`plan.carry_settings`: the two settings the steps read, and the whole package's code, which the state's own
fingerprint covers only in part) and, from step 05 on, people's verdicts. So when all of those are as they were, each
of steps 03-06 is replaced by a copy of the state's run's committed partitions (`Lake.copy_partition`: linked on a
local disk), staged and committed like any write; the step's record repeats that run's figures and says where they
came from. Step 03's tables are this run's changes (staged rows to check), of which there are none: it stages no rows.

A change to the verdicts alone (a review since the last run) still carries 03 and 04; step 05 then decides again the
releases people judged (its incremental path, with no film or release changed) and 06 follows. Step 07 (the
recommender) is carried after 06 when its MovieLens files and settings are those the state's run recorded
(`BaseStep.inputs_key`); it still serves the carried tables from PostgreSQL (`BaseStep.after_carry`). A step is carried
only after the one before it was (a run of steps 01-05 carries 03-05), and never when the state's run no longer holds a
partition its manifest counted rows in (deleted by hand or by a cleanup): then the step runs as usual.
"""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Callable

from ..lake import LAYERS
from .extract import FEEDS
from .plan import Plan, carry_settings

if TYPE_CHECKING:  # pragma: no cover
    from ..base_step import BaseStep, StepContext, StepResult

CARRIED_STEPS = ("03", "04", "05", "06", "07")
STAGING_STEP = "03"                 # its tables hold the run's changes, not the complete set: carried as no rows
READS_VERDICTS = ("05", "06")       # 05 reads review/decisions, 06 what 05 made of them
CARRIED_NOTE = "carried"            # the plan's note (and the manifest's incremental section): from which run, which steps


def verdicts_fingerprint(records: list[dict[str, Any]]) -> str:
    """Which verdicts the store holds: a verdict file is never rewritten, so its id names its content."""
    ids = "\n".join(sorted(str(r.get("decision_id")) for r in records))
    return hashlib.sha256(ids.encode()).hexdigest()[:16]


def carrier(plan: Plan | None, step: "BaseStep", ctx: "StepContext") -> "Callable[[StepContext], StepResult] | None":
    """The work that replaces `step` in this run when its tables would be those of the state's run, else None (the
    step runs as usual). Call it before the step starts: the run's manifest may be the state run's (same run id). A
    check that fails (an unreadable manifest or verdict store) is logged and the step runs: carrying is a shortcut,
    never a reason to fail a run."""
    try:
        return _carrier(plan, step, ctx)
    except Exception as exc:  # noqa: BLE001
        ctx.log.warning("carry_not_checked", step=step.number, error=f"{type(exc).__name__}: {exc}")
        return None


def _carrier(plan: Plan | None, step: "BaseStep", ctx: "StepContext") -> "Callable[[StepContext], StepResult] | None":
    if plan is None or not plan.incremental or plan.base is None or step.number not in CARRIED_STEPS:
        return None
    before = CARRIED_STEPS[:CARRIED_STEPS.index(step.number)]
    if before and before[-1] not in plan.notes.get(CARRIED_NOTE, {}).get("steps", []):
        return None
    if not plan.left_unread(*FEEDS):
        return None
    meta = plan.base.meta
    if meta.get("carry_settings") != carry_settings(ctx.settings):
        return None
    verdicts = None
    if step.number in READS_VERDICTS:
        from ..review.store import read_lake_decisions

        verdicts = verdicts_fingerprint(read_lake_decisions(ctx.lake, ctx.spark))
        if meta.get("decisions") != verdicts:
            return None
    source = plan.base.run_id
    record = _committed_record(ctx, source, step.number)
    outputs = [t for t in step.outputs if t.split("/", 1)[0] in LAYERS]
    if record is None or any(record.get("tables", {}).get(t) and not ctx.lake.exists(
            ctx.lake.committed_partition_path(t, source), ctx.spark) for t in outputs):
        return None
    key = step.inputs_key(ctx)   # step 07: the MovieLens files and the recommender's settings
    if key is not None and record.get("metrics", {}).get("inputs_key") != key:
        return None

    def carry(step_ctx: "StepContext") -> "StepResult":
        from ..base_step import StepResult

        staging = step.number == STAGING_STEP
        for name in outputs:
            if staging:
                step_ctx.write_no_rows(name)
            else:
                step_ctx.lake.copy_partition(name, source, step_ctx.spark)
        done = plan.notes.get(CARRIED_NOTE, {}).get("steps", [])
        plan.note(CARRIED_NOTE, {"from_run": source, "steps": [*done, step.number]})
        if verdicts is not None:
            plan.note("decisions", verdicts)
        if step.number == "05":
            plan.note("link_events", {})
        outside = {} if staging else step.after_carry(step_ctx, dict(record.get("tables", {})))
        note = (f"nothing changed since run {source} (every input file as it read them"
                + (", the same review verdicts" if verdicts is not None else "")
                + (", the same MovieLens files and recommender settings" if key is not None else "") + "): "
                + ("no rows to stage" if staging else "its tables carried over by file copy"))
        if staging:
            return StepResult(tables={name: 0 for name in outputs}, metrics={"carried_from": source}, notes=[note])
        return StepResult(rows_in=record.get("rows_in", 0), rows_out=record.get("rows_out", 0),
                          quarantined=record.get("quarantined", 0), rejected=record.get("rejected", 0),
                          filtered=record.get("filtered", 0), balances=False, tables=dict(record.get("tables", {})),
                          metrics={**record.get("metrics", {}), **outside, "carried_from": source}, notes=[note])

    return carry


def _committed_record(ctx: "StepContext", run_id: str, number: str) -> dict[str, Any] | None:
    """Step `number`'s record as run `run_id` committed it, if it succeeded."""
    text = ctx.lake.read_text(ctx.lake.run_file(run_id, "manifest.json"), ctx.spark)
    if not text:
        return None
    record = (json.loads(text).get("committed") or {}).get("steps", {}).get(number)
    return record if record and record.get("status") == "succeeded" else None
