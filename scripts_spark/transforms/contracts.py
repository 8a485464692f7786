"""Checking a table against its declared contract (`scripts_spark/tables`), and the split into valid and
quarantined rows.

A contract says: the declared schema (column names and types), the key (not null, unique), the columns that
must be present, value ranges, allowed values, table-specific row rules, and the tables its keys must reference.
`check_rows` evaluates every rule as a Spark column expression in one pass and lists the rules each row breaks;
`valid_rows` / `quarantine_rows` split on that (Silver, step 04); `enforce` fails a write whose rows break any
rule (Gold); `systemic_faults` names the table, rule and counts when a table is broken as a whole (empty, mostly
null keys, more than MAX_QUARANTINE_SHARE of its rows quarantined), because quarantining 100% of a table row by
row would hide the fault (the original's Silver had 100% null ids).

Why the checks are declared as data rather than with pandera: pandera 0.35's PySpark backend (tried with pyspark
4.3 and pandas 2.3) validates columns and reports error counts per check, but it does not say which rows failed and
its `unique` check is not implemented for PySpark. Quarantine needs the failing rows with their reasons, so the
checks are data, evaluated by plain Spark expressions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ..tables import Table, schema_of
from ..tables.core import RowRule

# Share of null keys above which a table counts as having "mostly null keys" whatever MAX_QUARANTINE_SHARE says:
# a table whose keys are mostly null is broken upstream (a renamed field), not dirty.
MAX_NULL_KEY_SHARE = 0.5
# Broken rows listed in a failed write's message (the rest are counted).
EXAMPLES_SHOWN = 3

FAILED = "_failed"   # array<struct<rule, reason>> added by check_rows
SOURCE_ORDER = "_source_order"   # where a Silver row's Bronze record was read (tables/silver.py)
QUARANTINE_SCHEMA = schema_of("silver/quarantine")


class ContractViolation(RuntimeError):
    """A table is broken as a whole; the message names the table, the rule and the counts."""


def check_schema(df: DataFrame, contract: Table) -> None:
    """Every declared column present with its declared type (a systemic fault, so it raises)."""
    actual = {f.name: f.dataType for f in df.schema.fields}
    problems = [f"{f.name} missing" if f.name not in actual else f"{f.name} is {actual[f.name].simpleString()}, "
                f"declared {f.dataType.simpleString()}"
                for f in contract.schema.fields if actual.get(f.name) != f.dataType]
    if problems:
        raise ContractViolation(f"{contract.name}: rule schema failed: {'; '.join(problems)}")


def _all_present(columns: tuple[str, ...]) -> Column:
    present = F.lit(True)
    for col in columns:
        present = present & F.col(col).isNotNull()
    return present


def _range_rule(col: str, low, high) -> RowRule:
    def holds() -> Column:
        hi = high() if callable(high) else high
        cond = F.lit(True)
        if low is not None:
            cond = cond & (F.col(col) >= low)
        if hi is not None:
            cond = cond & (F.col(col) <= hi)
        return F.col(col).isNull() | cond

    shown_high = "" if high is None else ("next year" if callable(high) else str(high))
    return RowRule(f"range:{col}", f"{col} outside {'' if low is None else low}..{shown_high}", holds)


def row_rules(contract: Table) -> list[RowRule]:
    """The contract's row-level rules, in the order they are reported (the first broken one names the row's rule)."""
    key = contract.key
    not_null = tuple(k for k in key if k not in contract.nullable_key)
    rules = [RowRule("key_not_null", f"key ({', '.join(not_null)}) is null", lambda: _all_present(not_null))]
    for col in contract.required:
        rules.append(RowRule(f"not_null:{col}", f"{col} is null or blank",
                             lambda col=col: F.col(col).isNotNull() & (F.trim(F.col(col).cast("string")) != "")))
    for col, (low, high) in contract.ranges.items():
        rules.append(_range_rule(col, low, high))
    for col, values in contract.allowed.items():
        rules.append(RowRule(f"allowed:{col}", f"{col} not one of {', '.join(values)}",
                             lambda col=col, values=values: F.col(col).isin(*values)))
    rules.extend(contract.row_rules)
    return rules


def _failure(name: str, reason: str) -> Column:
    return F.struct(F.lit(name).alias("rule"), F.lit(reason).alias("reason"))


def check_rows(df: DataFrame, contract: Table, references: Mapping[str, DataFrame] | None = None) -> DataFrame:
    """`df` plus `_failed`: the rules each row breaks (empty when the row is valid).

    Key uniqueness keeps one row of a key and quarantines the others, naming the one kept: the last read from the
    source (`_source_order`: file, then line or byte offset; a later line of an export supersedes an earlier one),
    else the first by Bronze pointer. References are checked against the valid rows of the referenced tables
    (`references[table]`).
    """
    checked = df
    failures = [F.when(~F.coalesce(rule.holds(), F.lit(False)), _failure(rule.name, rule.reason))
                for rule in row_rules(contract)]
    key = [F.col(k) for k in contract.key]
    order = F.col(contract.pointer) if contract.pointer else F.to_json(F.struct(*df.columns))
    survivor_first = ([F.col(SOURCE_ORDER).desc_nulls_last()] if SOURCE_ORDER in df.columns else []) + [order]
    by_key = Window.partitionBy(*key).orderBy(*survivor_first)
    duplicate_rank = F.row_number().over(by_key)
    not_null = tuple(k for k in contract.key if k not in contract.nullable_key)
    if contract.key:
        reason = F.lit(f"another row has the same {', '.join(contract.key)}")
        if contract.pointer:
            checked = checked.withColumn("_kept", F.first(F.col(contract.pointer)).over(by_key))
            reason = F.concat(reason, F.lit(f"; kept: {contract.pointer} "), F.coalesce(F.col("_kept"), F.lit("?")))
        checked = checked.withColumn("_duplicate", _all_present(not_null) & (duplicate_rank > 1))
        failures.append(F.when(F.col("_duplicate"), F.struct(F.lit("key_unique").alias("rule"),
                                                             reason.alias("reason"))))
    for ref in contract.references:
        keys = (references or {})[ref.table].select(*[F.col(t).alias(c) for c, t in zip(ref.columns, ref.target)])
        flag = f"_ref_{ref.name}"
        # No broadcast hint: at catalogue scale the referenced keys (a million films) are too big for one; AQE
        # still broadcasts them when they are small.
        checked = checked.join(keys.distinct().withColumn(flag, F.lit(True)), list(ref.columns), "left")
        failures.append(F.when(F.col(flag).isNull(),
                               _failure(ref.name, f"{', '.join(ref.columns)} not among the valid rows of {ref.table}")))
    return (checked.withColumn(FAILED, F.filter(F.array(*failures), lambda f: f.isNotNull()))
            .select(*df.columns, FAILED))


def valid_rows(checked: DataFrame, contract: Table) -> DataFrame:
    return checked.filter(F.size(FAILED) == 0).select(*[f.name for f in contract.schema.fields])


def quarantine_rows(checked: DataFrame, contract: Table) -> DataFrame:
    """silver/quarantine rows: table, first broken rule, every reason, the record's key, Bronze pointer and JSON."""
    key = F.concat_ws(":", *[F.coalesce(F.col(k).cast("string"), F.lit("null")) for k in contract.key])
    pointer = F.col(contract.pointer) if contract.pointer else F.lit(None).cast("string")
    record = F.to_json(F.struct(*[F.col(f.name) for f in contract.schema.fields]))
    return (checked.filter(F.size(FAILED) > 0)
            .select(F.lit(contract.short_name).alias("table"),
                    F.col(FAILED)[0]["rule"].alias("rule"),
                    F.array_join(F.transform(FAILED, lambda f: F.concat_ws(": ", f["rule"], f["reason"])), "; ")
                    .alias("reason"),
                    key.alias("record_key"), pointer.alias("_bronze_ref"), record.alias("record"))
            .select(*[F.col(f.name).cast(f.dataType) for f in QUARANTINE_SCHEMA.fields]))


@dataclass
class ContractCounts:
    table: str
    rows: int
    quarantined: int
    by_rule: dict[str, int]

    @property
    def valid(self) -> int:
        return self.rows - self.quarantined

    def as_metrics(self) -> dict:
        return {"staged": self.rows, "valid": self.valid, "quarantined": self.quarantined,
                "by_rule": dict(sorted(self.by_rule.items()))}


def contract_counts(checked: DataFrame, contract: Table) -> ContractCounts:
    """Rows, quarantined rows and rows breaking each rule (a row can break several), in one pass over `checked`.

    Each row becomes one line per rule it breaks, or one line with no rule when it breaks none; the line of its first
    broken rule (position 0) or its only line counts the row once. At catalogue scale every pass re-reads the whole
    table, and on a tiny table each pass is a job: this used to take two."""
    lines = checked.select(F.posexplode_outer(F.transform(FAILED, lambda f: f["rule"])).alias("pos", "rule"))
    per_rule = (lines.groupBy("rule")
                .agg(F.count(F.lit(1)).alias("n"),
                     F.sum(F.coalesce(F.col("pos") == 0, F.lit(True)).cast("long")).alias("rows"))
                .collect())
    by_rule = {r["rule"]: r["n"] for r in per_rule if r["rule"] is not None}
    rows = sum(r["rows"] for r in per_rule)
    quarantined = sum(r["rows"] for r in per_rule if r["rule"] is not None)
    return ContractCounts(contract.name, rows, quarantined, by_rule)


def systemic_faults(counts: ContractCounts, max_quarantine_share: float) -> list[str]:
    """Messages naming table, rule and counts when the table is broken as a whole; empty when it is fine."""
    table, rows = counts.table, counts.rows
    if rows == 0:
        return [f"{table}: rule table_not_empty failed: the staged table has 0 rows"]
    faults = []
    null_keys = counts.by_rule.get("key_not_null", 0)
    if null_keys / rows > MAX_NULL_KEY_SHARE:
        faults.append(f"{table}: rule key_not_null failed on {null_keys} of {rows} rows ({null_keys / rows:.1%}), "
                      f"more than {MAX_NULL_KEY_SHARE:.0%}: keys are mostly null")
    if counts.quarantined / rows > max_quarantine_share:
        worst = sorted(counts.by_rule.items(), key=lambda kv: (-kv[1], kv[0]))
        detail = ", ".join(f"{rule} {n}" for rule, n in worst)
        faults.append(f"{table}: {counts.quarantined} of {rows} rows ({counts.quarantined / rows:.1%}) break the "
                      f"contract, more than MAX_QUARANTINE_SHARE={max_quarantine_share:.0%}; rows per rule: {detail}")
    return faults


def enforce(df: DataFrame, contract: Table, references: Mapping[str, DataFrame] | None = None) -> int:
    """Check a table that must hold every rule (Gold); returns its rows, raises ContractViolation naming each broken
    rule with its count and a few example keys. `df` should be cheap to read twice (a written table, read back)."""
    check_schema(df, contract)
    checked = check_rows(df.select(*[f.name for f in contract.schema.fields]), contract, references).cache()
    try:
        counts = contract_counts(checked, contract)
        if not counts.quarantined:
            return counts.rows
        key = F.concat_ws(":", *[F.coalesce(F.col(k).cast("string"), F.lit("null")) for k in contract.key]) \
            if contract.key else F.lit("-")
        examples = [f"{r['k']} ({r['r']})" for r in checked.filter(F.size(FAILED) > 0)
                    .select(key.alias("k"), F.col(FAILED)[0]["rule"].alias("r")).limit(EXAMPLES_SHOWN).collect()]
    finally:
        checked.unpersist()
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted(counts.by_rule.items()))
    raise ContractViolation(f"{contract.name}: {counts.quarantined} of {counts.rows} rows break the contract "
                            f"({rules}); e.g. {'; '.join(examples)}")
