"""Every lake table, declared once: name, columns with meaning and checks, key, references, the step that writes it.

Read a table's declaration in `bronze.py`, `silver.py`, `gold.py` or `review.py`; `docs/tables.md` is generated from them
(`python -m scripts_spark.tables.docs`). Tables are Parquet under `<lake root>/<layer>/<name>/run_id=<id>/`; the
`run_id` partition column is added by the lake and is not part of these schemas.
"""
from __future__ import annotations

from pyspark.sql.types import StructType

from . import bronze, gold, review, silver
from .core import FAIL, QUARANTINE, SCHEMA_ONLY, Col, Reference, Registry, RowRule, Table

REGISTRY = Registry()
REGISTRY.add(*bronze.TABLES, *silver.TABLES, *gold.TABLES, *review.TABLES)
TABLES: dict[str, Table] = REGISTRY.tables

STAGED = "silver/staged/"          # step 03's output, checked by step 04
QUARANTINED = "silver/quarantine/"  # step 04's broken rows, one folder per table


def table(name: str) -> Table:
    """The declaration of `name`; staged Silver tables are their base table's, quarantine folders share one."""
    if name.startswith(QUARANTINED):
        return TABLES["silver/quarantine"]
    if name.startswith(STAGED):
        return TABLES["silver/" + name[len(STAGED):]]
    if name not in TABLES:
        raise KeyError(f"no table {name!r} is declared in scripts_spark/tables (known: {', '.join(sorted(TABLES))})")
    return TABLES[name]


def schema_of(name: str) -> StructType:
    return table(name).schema


def staged(name: str) -> str:
    return STAGED + name.split("/", 1)[1]


def quarantine(name: str) -> str:
    return QUARANTINED + name.split("/", 1)[1]


__all__ = ["FAIL", "QUARANTINE", "SCHEMA_ONLY", "Col", "Reference", "RowRule", "Table", "TABLES", "table",
           "schema_of", "staged", "quarantine"]
