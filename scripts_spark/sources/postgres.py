"""PostgreSQL as a serving store: whole-table replacement that a reader never sees half done.

`replace_tables` writes each DataFrame through Spark's JDBC writer into a fresh staging table, checks it (row
count, primary key), then swaps all of them in for the live tables inside one transaction. PostgreSQL's DDL is
transactional, so a reader sees either the previous tables or the new ones: never an empty or half-loaded table,
never a mix of two writes. Any failure before the commit (a Spark task that dies mid-write, a duplicate key, a
lock that cannot be taken) drops the staging tables and leaves the live tables as they were.

The password goes only to the driver (JDBC properties, psycopg2 argument); it is never part of a URL, a log
field or an error message we raise.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..config import Settings
from ..log import redact

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType

    from ..log import EventLogger

JDBC_DRIVER_CLASS = "org.postgresql.Driver"
CONNECT_TIMEOUT_S = 10
# Rows per JDBC batch: the driver's round trips dominate below ~1,000; above ~10,000 nothing more is gained
# and a failing batch takes longer to report (PostgreSQL JDBC guidance; measured: 5,000 and 20,000 write the
# 6,100 sample recommendations equally fast).
JDBC_BATCH_ROWS = 5000
# At most this many Spark tasks write at once: each holds one connection, and the server's default
# max_connections (100) is shared with the applications that read these tables.
JDBC_MAX_WRITERS = 4
# The swap needs an exclusive lock on the live table for a moment; a reader holding a long query would make it
# wait. Rather than queue every new reader behind us indefinitely, give up (live table untouched) after this.
SWAP_LOCK_TIMEOUT = "30s"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")


class PostgresError(RuntimeError):
    """A PostgreSQL write failed; the message names the table and never contains the password."""


def _identifier(name: str) -> str:
    # Only plain lower-case names: they need no quoting in DDL and stay under the 63-byte limit with suffixes.
    if not _IDENTIFIER.match(name):
        raise PostgresError(f"{name!r} is not a plain lower-case SQL identifier (letters, digits, '_', max 40)")
    return name


def _scrub(text: str, settings: Settings) -> str:
    password = settings.pg_password.reveal()
    if password:
        text = text.replace(password, "***")
    return redact(text)


def jdbc_url(settings: Settings) -> str:
    return f"jdbc:postgresql://{settings.pg_host}:{settings.pg_port}/{settings.pg_database}"


def where(settings: Settings) -> str:
    """user@host:port/database, for logs and messages."""
    return f"{settings.pg_user}@{settings.pg_host}:{settings.pg_port}/{settings.pg_database}"


def connect(settings: Settings):
    """A psycopg2 connection (not autocommit); errors name the server, never the password."""
    import psycopg2

    try:
        return psycopg2.connect(host=settings.pg_host, port=settings.pg_port, dbname=settings.pg_database,
                                user=settings.pg_user, password=settings.pg_password.reveal(),
                                connect_timeout=CONNECT_TIMEOUT_S, application_name="soundtrack-lake")
    except psycopg2.Error as exc:
        reason = _scrub(str(exc).strip(), settings)
        raise PostgresError(f"cannot connect to PostgreSQL {where(settings)}: {reason}") from None


def check_ready(settings: Settings) -> str:
    """Fail fast, before any expensive work: the JDBC jar exists and the server answers. Returns its version."""
    if not Path(settings.jdbc_jar).is_file():
        raise PostgresError(f"JDBC driver {settings.jdbc_jar} not found: run infrastructure/setup/postgres.sh "
                            "(apt-get install libpostgresql-jdbc-java) or set JDBC_JAR")
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            return cur.fetchone()[0]
    finally:
        conn.close()


def pg_type(dtype: "DataType") -> str:
    """PostgreSQL column type for a Spark type. Nested structures become jsonb: what an application queries."""
    from pyspark.sql import types as T

    simple = {T.StringType: "text", T.IntegerType: "integer", T.LongType: "bigint", T.ShortType: "smallint",
              T.DoubleType: "double precision", T.FloatType: "real", T.BooleanType: "boolean",
              T.TimestampType: "timestamptz", T.DateType: "date"}
    for spark_type, sql in simple.items():
        if isinstance(dtype, spark_type):
            return sql
    if isinstance(dtype, T.ArrayType) and type(dtype.elementType) in simple:
        return pg_type(dtype.elementType) + "[]"
    if isinstance(dtype, (T.ArrayType, T.StructType, T.MapType)):
        return "jsonb"
    raise PostgresError(f"no PostgreSQL type for Spark type {dtype.simpleString()}")


def create_table_sql(schema_name: str, table: str, schema: "StructType") -> str:
    columns = ",\n  ".join(f"{_identifier(f.name)} {pg_type(f.dataType)}{'' if f.nullable else ' NOT NULL'}"
                           for f in schema.fields)
    return f"CREATE TABLE {schema_name}.{table} (\n  {columns}\n)"


def jsonb_as_text(df: "DataFrame") -> "DataFrame":
    """Nested columns as JSON text: the JDBC writer cannot send structs, and the server casts text to jsonb."""
    from pyspark.sql import functions as F

    return df.select(*[F.to_json(F.col(f.name)).alias(f.name) if pg_type(f.dataType) == "jsonb" else F.col(f.name)
                       for f in df.schema.fields])


@dataclass(frozen=True)
class TableLoad:
    """One table to replace: its rows, name, declared schema, primary key and expected row count.

    `schema` is the declared schema the table is created from (column types and NOT NULL); by default df's own
    (Spark marks every column read from Parquet nullable, so pass the declared one for lake tables).
    `expected_rows` (df's row count, when the caller already knows it) is checked against what reached the
    staging table before the swap: a lost or duplicated write batch must never go live.
    """
    df: "DataFrame"
    table: str
    schema: "StructType | None" = None
    primary_key: tuple[str, ...] = ()
    expected_rows: int | None = None


def replace_table(df: "DataFrame", table: str, settings: Settings, *, schema: "StructType | None" = None,
                  primary_key: Iterable[str] = (), expected_rows: int | None = None,
                  log: "EventLogger | None" = None) -> int:
    """Make `<PG_SCHEMA>.<table>` hold exactly the rows of `df`, atomically. Returns the rows now in the table."""
    load = TableLoad(df, table, schema, tuple(primary_key), expected_rows)
    return replace_tables([load], settings, log=log)[f"{settings.pg_schema}.{table}"]


def replace_tables(loads: list[TableLoad], settings: Settings, log: "EventLogger | None" = None) -> dict[str, int]:
    """Replace several tables in one swap transaction: a reader sees all of them from the previous write or all of
    them from this one (recommendations never point at another run's movie stats). Returns rows per table."""
    schema_name = _identifier(settings.pg_schema)
    names = ", ".join(f"{schema_name}.{_identifier(load.table)}" for load in loads)
    staged: list[tuple[TableLoad, str, int]] = []   # (load, staging table, expected rows)
    conn = connect(settings)
    try:
        try:
            for load in loads:
                schema = load.schema or load.df.schema
                df = load.df.select(*[f.name for f in schema.fields])
                staging = f"{load.table}__staging_{secrets.token_hex(4)}"
                with conn, conn.cursor() as cur:
                    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_name}")
                    cur.execute(create_table_sql(schema_name, staging, schema))
                staged.append((load, staging, df.count() if load.expected_rows is None else load.expected_rows))
                _load_staging(df, f"{schema_name}.{staging}", settings)
            _check_and_swap(conn, schema_name, staged)
        except BaseException:
            conn.rollback()
            with conn, conn.cursor() as cur:
                for _, staging, _ in staged:
                    cur.execute(f"DROP TABLE IF EXISTS {schema_name}.{staging}")
            raise
    except Exception as exc:  # noqa: BLE001 - psycopg2 and JVM errors: re-raised scrubbed, with the tables named
        cause = str(exc) if isinstance(exc, PostgresError) else _scrub(_describe(exc), settings)
        unchanged = "the previous table is unchanged" if len(loads) == 1 else "the previous tables are unchanged"
        raise PostgresError(f"writing {names} to {where(settings)} failed; {unchanged}: {cause}") from None
    finally:
        conn.close()
    rows = {f"{schema_name}.{load.table}": expected for load, _, expected in staged}
    if log:
        for table, count in rows.items():
            log.info("postgres_table_replaced", table=table, rows=count, server=where(settings))
    return rows


def _load_staging(df: "DataFrame", staging: str, settings: Settings) -> None:
    """Append `df` into the empty staging table through Spark's JDBC writer (each task commits on its own)."""
    out = jsonb_as_text(df)
    (out.write.format("jdbc")
        .option("url", jdbc_url(settings) + "?stringtype=unspecified")  # text parameters typed by the server (jsonb)
        .option("dbtable", staging)
        .option("driver", JDBC_DRIVER_CLASS)
        .option("user", settings.pg_user)
        .option("password", settings.pg_password.reveal())
        .option("batchsize", JDBC_BATCH_ROWS)
        .option("numPartitions", JDBC_MAX_WRITERS)
        .mode("append")
        .save())


def _check_and_swap(conn, schema_name: str, staged: list[tuple[TableLoad, str, int]]) -> None:
    """One transaction: verify every staging table, then drop each live table and rename its staging table in."""
    with conn, conn.cursor() as cur:
        for load, staging, expected in staged:
            cur.execute(f"SELECT count(*) FROM {schema_name}.{staging}")
            (loaded,) = cur.fetchone()
            if loaded != expected:
                raise PostgresError(f"staging table for {load.table} holds {loaded} rows, expected {expected}")
            if load.primary_key:
                # Built after the load (faster than row by row); a duplicate key fails here, before any swap.
                key = ", ".join(_identifier(c) for c in load.primary_key)
                cur.execute(f"ALTER TABLE {schema_name}.{staging} ADD CONSTRAINT {staging}_pkey PRIMARY KEY ({key})")
            cur.execute(f"ANALYZE {schema_name}.{staging}")
        # From the first DROP on, the live tables are exclusively locked until COMMIT: only renames follow.
        cur.execute("SET LOCAL lock_timeout = %s", (SWAP_LOCK_TIMEOUT,))
        for load, staging, _ in staged:
            cur.execute(f"DROP TABLE IF EXISTS {schema_name}.{load.table}")
            cur.execute(f"ALTER TABLE {schema_name}.{staging} RENAME TO {load.table}")
            if load.primary_key:
                cur.execute(f"ALTER TABLE {schema_name}.{load.table} RENAME CONSTRAINT {staging}_pkey "
                            f"TO {load.table}_pkey")


def _describe(exc: BaseException) -> str:
    """The error in one line: JVM errors carry a whole Java stack trace, psycopg2 errors a DETAIL line."""
    text = str(exc).split("JVM stacktrace:")[0]
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.strip().startswith(("at ", "...", "An error occurred while calling"))]
    caused = [line for line in lines if line.startswith("Caused by:")]
    summary = " ".join(dict.fromkeys(lines[:2] + caused[-1:]))
    return f"{type(exc).__name__}: {summary[:600]}"
