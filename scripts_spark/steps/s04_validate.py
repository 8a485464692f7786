"""Step 04: validate the staged Silver tables against their contracts; valid rows go on, the rest to quarantine."""
from __future__ import annotations

from pyspark import StorageLevel

from ..base_step import BaseStep, StepContext, StepResult
from ..incremental import relink
from ..incremental.plan import FULL, plan_of
from ..tables import quarantine, staged, table
from ..tables.silver import CHECKED
from ..transforms.contracts import (ContractViolation, check_rows, check_schema, contract_counts, quarantine_rows,
                                    systemic_faults, valid_rows)

# Validated in this order: candidate pairs must reference valid films and releases.
TABLES = tuple(t.name for t in CHECKED)


class Validate(BaseStep):
    number = "04"
    name = "validate"
    description = ("Check every staged Silver row against its table's contract; write valid rows to Silver and the "
                   "rest, with rule and reason, to silver/quarantine; fail loudly on a systemic fault")
    inputs = tuple(staged(t) for t in TABLES)
    outputs = TABLES + tuple(quarantine(t) for t in TABLES)

    def preview(self, ctx: StepContext) -> list[str]:
        return ctx.lake.presence(self.inputs, ctx.run_id) + [
            f"contract {t}: key ({', '.join(table(t).key)}), max quarantined share "
            f"{ctx.settings.max_quarantine_share:.0%}" for t in TABLES]

    def execute(self, ctx: StepContext) -> StepResult:
        plan = plan_of(ctx)
        if plan is not None and plan.incremental:
            return self._incremental(ctx, plan)
        checked, counts = {}, {}
        try:
            for name in TABLES:
                contract = table(name)
                rows = ctx.read(staged(name))
                check_schema(rows, contract)
                valid_refs = {ref.table: valid_rows(checked[ref.table], table(ref.table))
                              for ref in contract.references}
                checked[name] = check_rows(rows, contract, valid_refs).persist(StorageLevel.MEMORY_AND_DISK)
                counts[name] = contract_counts(checked[name], contract)
                if plan is not None and plan.mode == FULL:
                    relink.capture_checked(plan, name, checked[name])
                ctx.write(quarantine(name), quarantine_rows(checked[name], contract))
                ctx.log.info("contract_checked", table=name, **counts[name].as_metrics())

            faults = [f for c in counts.values() for f in systemic_faults(c, ctx.settings.max_quarantine_share)]
            if faults:
                ctx.log.error("contract_systemic_fault", faults=faults)
                for name in TABLES:  # a failed validation must not leave an earlier attempt's Silver behind
                    ctx.lake.delete(ctx.lake.partition_path(name, ctx.run_id), ctx.spark)
                raise ContractViolation("systemic fault: " + " | ".join(faults))
            for name in TABLES:
                ctx.write(name, valid_rows(checked[name], table(name)))
        finally:
            for df in checked.values():
                df.unpersist()

        return _result(counts, ctx.settings.max_quarantine_share)

    def _incremental(self, ctx: StepContext, plan) -> StepResult:
        """The changed rows are checked, the rest carried with their earlier result (incremental/relink.py); the
        Silver and quarantine tables written are complete, as in a full run."""
        found = relink.validate(ctx, plan, ctx.settings.max_quarantine_share)
        result = _result(found["counts"], ctx.settings.max_quarantine_share)
        result.balances = False   # read: this run's changed rows; written: the complete tables
        result.rows_in = sum(found["rechecked"].values())
        result.metrics.update(mode="incremental", rechecked=found["rechecked"])
        return result


def _result(counts: dict, max_quarantine_share: float) -> StepResult:
    return StepResult(
        rows_in=sum(c.rows for c in counts.values()),
        rows_out=sum(c.valid for c in counts.values()),
        quarantined=sum(c.quarantined for c in counts.values()),
        tables={**{t: c.valid for t, c in counts.items()},
                **{quarantine(t): c.quarantined for t, c in counts.items()}},
        metrics={"max_quarantine_share": max_quarantine_share,
                 **{t.split("/", 1)[1]: c.as_metrics() for t, c in counts.items()}},
        notes=[f"{t}: {c.valid} valid, {c.quarantined} quarantined" for t, c in counts.items()],
    )
