"""Step 04: validate the staged Silver tables against their contracts; valid rows go on, the rest to quarantine."""
from __future__ import annotations

from pyspark import StorageLevel

from ..base_step import BaseStep, StepContext, StepResult
from ..schemas import schema_of
from ..transforms.contracts import (CONTRACTS, ContractViolation, check_rows, check_schema, contract_counts,
                                    quarantine_rows, systemic_faults, valid_rows)
from .s03_candidates import table_presence

# Validated in this order: candidate pairs must reference valid films and releases.
TABLES = ("silver/films", "silver/releases", "silver/candidate_pairs")


def staged(table: str) -> str:
    return "silver/staged/" + table.split("/", 1)[1]


def quarantine(table: str) -> str:
    return "silver/quarantine/" + table.split("/", 1)[1]


class Validate(BaseStep):
    number = "04"
    name = "validate"
    description = ("Check every staged Silver row against its table's contract; write valid rows to Silver and the "
                   "rest, with rule and reason, to silver/quarantine; fail loudly on a systemic fault")
    inputs = tuple(staged(t) for t in TABLES)
    outputs = TABLES + tuple(quarantine(t) for t in TABLES)

    def preview(self, ctx: StepContext) -> list[str]:
        return table_presence(ctx.lake, self.inputs, ctx.run_id) + [
            f"contract {t}: key ({', '.join(CONTRACTS[t].key)}), max quarantined share "
            f"{ctx.settings.max_quarantine_share:.0%}" for t in TABLES]

    def execute(self, ctx: StepContext) -> StepResult:
        checked, counts = {}, {}
        try:
            for table in TABLES:
                contract = CONTRACTS[table]
                rows = ctx.lake.read_table(ctx.spark, staged(table), ctx.run_id, schema_of(staged(table)))
                check_schema(rows, contract)
                valid_refs = {ref.table: valid_rows(checked[ref.table], CONTRACTS[ref.table])
                              for ref in contract.references}
                checked[table] = check_rows(rows, contract, valid_refs).persist(StorageLevel.MEMORY_AND_DISK)
                counts[table] = contract_counts(checked[table], contract)
                ctx.lake.write_table(quarantine_rows(checked[table], contract), quarantine(table), ctx.run_id)
                ctx.log.info("contract_checked", table=table, **counts[table].as_metrics())

            faults = [f for c in counts.values() for f in systemic_faults(c, ctx.settings.max_quarantine_share)]
            if faults:
                ctx.log.error("contract_systemic_fault", faults=faults)
                for table in TABLES:  # a failed validation must not leave an earlier attempt's Silver behind
                    ctx.lake.delete(ctx.lake.partition_path(table, ctx.run_id), ctx.spark)
                raise ContractViolation("systemic fault: " + " | ".join(faults))
            for table in TABLES:
                ctx.lake.write_table(valid_rows(checked[table], CONTRACTS[table]), table, ctx.run_id)
        finally:
            for df in checked.values():
                df.unpersist()

        return StepResult(
            rows_in=sum(c.rows for c in counts.values()),
            rows_out=sum(c.valid for c in counts.values()),
            quarantined=sum(c.quarantined for c in counts.values()),
            tables={**{t: c.valid for t, c in counts.items()},
                    **{quarantine(t): c.quarantined for t, c in counts.items()}},
            metrics={"max_quarantine_share": ctx.settings.max_quarantine_share,
                     **{t.split("/", 1)[1]: c.as_metrics() for t, c in counts.items()}},
            notes=[f"{t}: {c.valid} valid, {c.quarantined} quarantined" for t, c in counts.items()],
        )
