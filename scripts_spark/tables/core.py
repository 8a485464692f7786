"""The shape of a table declaration: columns with their meaning and checks, a key, references, a producer.

One `Table` gives the Spark schema every reader and writer uses, the contract checked when a step writes the
table (Silver: broken rows are quarantined by step 04; Gold: a broken row fails the step before the run commits),
and the generated reference in `docs/tables.md`. This module holds no table: they are declared in `bronze.py`,
`silver.py` and `gold.py` of this package, one file per layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from pyspark.sql.types import DataType, StructField, StructType

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column

# How a table's contract is enforced when a step writes it.
QUARANTINE = "quarantine"   # rows breaking a rule move to silver/quarantine/<table> with the rule and reason
FAIL = "fail"               # any broken row fails the writing step: the table is derived, so a break is a bug
SCHEMA_ONLY = "schema"      # only the declared columns and types (Bronze keeps what the source sent)


@dataclass(frozen=True)
class Col:
    name: str
    dtype: DataType
    doc: str
    required: bool = False                          # not null, and not blank for strings
    range: tuple[float | None, float | Callable[[], float] | None] | None = None   # inclusive; null passes
    allowed: tuple[str, ...] = ()                   # null fails when set (the column must name a known value)


@dataclass(frozen=True)
class RowRule:
    """A check across columns; `holds` is a Spark expression true when the row keeps the rule (null breaks it)."""
    name: str
    reason: str
    holds: Callable[[], "Column"]


@dataclass(frozen=True)
class Reference:
    """`columns` of this table must be the `target_columns` of a row of `table` in the same run."""
    name: str
    columns: tuple[str, ...]
    table: str
    target_columns: tuple[str, ...] = ()

    @property
    def target(self) -> tuple[str, ...]:
        return self.target_columns or self.columns


@dataclass(frozen=True)
class Table:
    name: str                                        # '<layer>/<table>': also its folder under the lake root
    written_by: str                                  # step number ('05'), or 'review' for the decisions store
    about: str
    columns: tuple[Col, ...]
    key: tuple[str, ...] = ()
    nullable_key: tuple[str, ...] = ()               # key columns where null is a value of its own (no year)
    row_rules: tuple[RowRule, ...] = ()
    references: tuple[Reference, ...] = ()
    enforce: str = SCHEMA_ONLY
    pointer: str | None = None                       # column pointing at the raw Bronze record
    queries: tuple[tuple[str, str], ...] = ()        # (language, example) pairs for docs/tables.md
    notes: str = ""

    @property
    def layer(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[1]

    @property
    def schema(self) -> StructType:
        return StructType([StructField(c.name, c.dtype, True) for c in self.columns])

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def ranges(self) -> dict[str, tuple]:
        return {c.name: c.range for c in self.columns if c.range is not None}

    @property
    def allowed(self) -> dict[str, tuple[str, ...]]:
        return {c.name: c.allowed for c in self.columns if c.allowed}

    def column(self, name: str) -> Col:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")


def cols(*specs: tuple) -> tuple[Col, ...]:
    """Columns from (name, type, doc, **checks) tuples: a compact form for long tables."""
    out = []
    for spec in specs:
        name, dtype, doc, *rest = spec
        out.append(Col(name, dtype, doc, **(rest[0] if rest else {})))
    return tuple(out)


@dataclass
class Registry:
    tables: dict[str, Table] = field(default_factory=dict)

    def add(self, *tables: Table) -> None:
        for t in tables:
            if t.name in self.tables:
                raise ValueError(f"table {t.name} declared twice")
            self.tables[t.name] = t
