"""Whole-table replacement in a real PostgreSQL server: JDBC load into staging, checks, atomic swap."""
from __future__ import annotations

import json
import secrets

import pytest
from pyspark.sql import functions as F

from scripts_spark.config import Secret, load_settings
from scripts_spark.log import configure_logging, get_logger
from scripts_spark.sources import postgres
from tests.pg_server import pg_server  # noqa: F401 - the fixture

SCHEMA = ("id int not null, name string, tags array<string>, "
          "releases array<struct<release_id:string,match_score:double>>")


@pytest.fixture
def pg_settings(pg_server, tmp_path):  # noqa: F811 - pytest fixture injection
    """Settings pointing at the test server, each test in its own schema."""
    return load_settings(env_file=tmp_path / "no.env", environ={}, lake_root=str(tmp_path / "lake"),
                         **pg_server.settings_overrides(schema="t_" + secrets.token_hex(4)))


def query(pg_server, sql, *args):  # noqa: F811
    conn = pg_server.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def tables_in(pg_server, schema):  # noqa: F811
    return sorted(r[0] for r in query(pg_server, "SELECT tablename FROM pg_tables WHERE schemaname = %s", schema))


def frame(spark, rows):
    return spark.createDataFrame(rows, SCHEMA)


FIRST = [(1, "Heat", ["crime", "la"], [("mb-1", 0.9), ("dg-7", 0.8)]), (2, None, None, [])]


def test_a_frame_reads_back_unchanged_with_declared_column_types(spark, pg_server, pg_settings):  # noqa: F811
    rows = postgres.replace_table(frame(spark, FIRST), "films", pg_settings, primary_key=["id"])
    assert rows == 2
    got = query(pg_server, f"SELECT id, name, tags, releases FROM {pg_settings.pg_schema}.films ORDER BY id")
    assert got == [(1, "Heat", ["crime", "la"], [{"release_id": "mb-1", "match_score": 0.9},
                                                 {"release_id": "dg-7", "match_score": 0.8}]),
                   (2, None, None, [])]
    types = dict(query(pg_server, "SELECT column_name, data_type || ':' || is_nullable FROM information_schema.columns "
                                  "WHERE table_schema = %s AND table_name = 'films'", pg_settings.pg_schema))
    assert types == {"id": "integer:NO", "name": "text:YES", "tags": "ARRAY:YES", "releases": "jsonb:YES"}
    assert query(pg_server, "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
                 f"{pg_settings.pg_schema}.films") == [("films_pkey",)]
    # jsonb is queryable the way an application would.
    assert query(pg_server, f"SELECT releases->0->>'release_id' FROM {pg_settings.pg_schema}.films WHERE id = 1") == [
        ("mb-1",)]


def test_a_second_write_replaces_the_table_and_leaves_no_staging_behind(spark, pg_server, pg_settings):  # noqa: F811
    postgres.replace_table(frame(spark, FIRST), "films", pg_settings, primary_key=["id"])
    postgres.replace_table(frame(spark, [(3, "Ran", ["epic"], [])]), "films", pg_settings, primary_key=["id"],
                           expected_rows=1)
    assert query(pg_server, f"SELECT id, name FROM {pg_settings.pg_schema}.films") == [(3, "Ran")]
    assert tables_in(pg_server, pg_settings.pg_schema) == ["films"]


def test_a_write_that_fails_midway_leaves_the_previous_table_intact(spark, pg_server, pg_settings):  # noqa: F811
    postgres.replace_table(frame(spark, FIRST), "films", pg_settings, primary_key=["id"])
    # Two partitions: one may reach the staging table before the other dies on row 900.
    name = F.when(F.col("id") == 900, F.raise_error(F.lit("disk on fire"))).otherwise(F.lit("x"))
    failing = (spark.range(0, 1000, 1, 2)
               .select(F.col("id").cast("int").alias("id"), name.alias("name"),
                       F.lit(None).cast("array<string>").alias("tags"),
                       F.array().cast("array<struct<release_id:string,match_score:double>>").alias("releases")))
    with pytest.raises(postgres.PostgresError, match="previous table is unchanged: .*disk on fire"):
        postgres.replace_table(failing, "films", pg_settings, primary_key=["id"], expected_rows=1000)
    assert query(pg_server, f"SELECT id FROM {pg_settings.pg_schema}.films ORDER BY id") == [(1,), (2,)]
    assert tables_in(pg_server, pg_settings.pg_schema) == ["films"]


def test_duplicate_keys_or_a_lost_batch_are_caught_before_the_swap(spark, pg_server, pg_settings):  # noqa: F811
    postgres.replace_table(frame(spark, FIRST), "films", pg_settings, primary_key=["id"])
    with pytest.raises(postgres.PostgresError, match=r"Key \(id\)=\(1\) is duplicated"):
        postgres.replace_table(frame(spark, FIRST + FIRST[:1]), "films", pg_settings, primary_key=["id"])
    with pytest.raises(postgres.PostgresError, match="staging table for films holds 2 rows, expected 3"):
        postgres.replace_table(frame(spark, FIRST), "films", pg_settings, expected_rows=3)
    assert query(pg_server, f"SELECT count(*) FROM {pg_settings.pg_schema}.films") == [(2,)]
    assert tables_in(pg_server, pg_settings.pg_schema) == ["films"]


def test_a_reader_holding_the_table_keeps_its_rows_and_the_swap_gives_up_cleanly(
        spark, pg_server, pg_settings, monkeypatch):  # noqa: F811
    postgres.replace_table(frame(spark, FIRST), "films", pg_settings, primary_key=["id"])
    monkeypatch.setattr(postgres, "SWAP_LOCK_TIMEOUT", "1s")
    reader = pg_server.connect()
    try:
        with reader.cursor() as cur:  # an open transaction that has read the table holds its lock until it ends
            cur.execute(f"SELECT count(*) FROM {pg_settings.pg_schema}.films")
            assert cur.fetchone() == (2,)
            with pytest.raises(postgres.PostgresError, match="lock timeout"):
                postgres.replace_table(frame(spark, [(3, "Ran", None, [])]), "films", pg_settings)
            cur.execute(f"SELECT id FROM {pg_settings.pg_schema}.films ORDER BY id")
            assert cur.fetchall() == [(1,), (2,)]
        reader.rollback()
    finally:
        reader.close()
    assert tables_in(pg_server, pg_settings.pg_schema) == ["films"]


def test_the_password_never_reaches_logs_or_error_messages(spark, pg_server, pg_settings, tmp_path):  # noqa: F811
    log_file = tmp_path / "run.log"
    configure_logging("INFO", str(log_file))
    postgres.replace_table(frame(spark, FIRST), "films", pg_settings, log=get_logger("r1", "07"))
    logged = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert logged[-1]["event"] == "postgres_table_replaced" and logged[-1]["rows"] == 2
    assert pg_server.password not in log_file.read_text()

    wrong = pg_settings.replace(pg_password=Secret("hunter2-wrong"))
    with pytest.raises(postgres.PostgresError, match="password authentication failed") as err:
        postgres.replace_table(frame(spark, FIRST), "films", wrong)
    assert "hunter2-wrong" not in str(err.value) and pg_server.password not in str(err.value)


def test_readiness_check_names_the_missing_driver_jar_and_returns_the_server_version(pg_settings):
    assert postgres.check_ready(pg_settings).startswith("15")
    with pytest.raises(postgres.PostgresError, match="infrastructure/setup/postgres.sh"):
        postgres.check_ready(pg_settings.replace(jdbc_jar="/nonexistent/postgresql.jar"))


def test_table_names_that_would_need_quoting_are_refused(spark, pg_settings):
    with pytest.raises(postgres.PostgresError, match="plain lower-case SQL identifier"):
        postgres.replace_table(frame(spark, FIRST), "films; DROP TABLE x", pg_settings)


def test_several_tables_are_swapped_together_or_not_at_all(spark, pg_server, pg_settings):  # noqa: F811
    postgres.replace_tables([postgres.TableLoad(frame(spark, FIRST), "films", primary_key=("id",)),
                             postgres.TableLoad(frame(spark, FIRST), "stats", primary_key=("id",))], pg_settings)
    new_films = postgres.TableLoad(frame(spark, [(3, "Ran", None, [])]), "films", primary_key=("id",))
    broken_stats = postgres.TableLoad(frame(spark, FIRST + FIRST), "stats", primary_key=("id",))
    with pytest.raises(postgres.PostgresError, match="films, t_.*stats .* failed; the previous tables are unchanged"):
        postgres.replace_tables([new_films, broken_stats], pg_settings)
    schema = pg_settings.pg_schema
    assert query(pg_server, f"SELECT id FROM {schema}.films ORDER BY id") == [(1,), (2,)]   # not swapped alone
    assert tables_in(pg_server, schema) == ["films", "stats"]
    rows = postgres.replace_tables([new_films, postgres.TableLoad(frame(spark, FIRST[:1]), "stats", expected_rows=1)],
                                   pg_settings)
    assert rows == {f"{schema}.films": 1, f"{schema}.stats": 1}
    assert query(pg_server, f"SELECT id FROM {schema}.films") == [(3,)]


def test_spark_types_map_to_postgres_column_types():
    from pyspark.sql import types as T

    assert postgres.pg_type(T.LongType()) == "bigint"
    assert postgres.pg_type(T.ArrayType(T.StringType())) == "text[]"
    assert postgres.pg_type(T.MapType(T.StringType(), T.IntegerType())) == "jsonb"
    assert postgres.pg_type(T.TimestampType()) == "timestamptz"
    with pytest.raises(postgres.PostgresError, match="no PostgreSQL type"):
        postgres.pg_type(T.BinaryType())
