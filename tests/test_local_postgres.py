"""The throwaway PostgreSQL `make run` starts when PG_HOST is empty (system binaries; as root it runs as the
`postgres` user), reused by the next run; and the one line a run prints when no server can be had. No Spark."""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import psycopg2
import pytest

from scripts_spark import local_postgres
from scripts_spark.__main__ import _start_local_postgres
from scripts_spark.config import load_settings
from scripts_spark.local_postgres import LocalPostgres, LocalPostgresUnavailable

needs_server = pytest.mark.skipif(local_postgres.find_bindir() is None,
                                  reason="no PostgreSQL binaries: run infrastructure/setup/postgres.sh")


@pytest.fixture
def pg_dir():
    """A folder the `postgres` user can reach when we are root (pytest's own tmp folders are closed to others)."""
    base = tempfile.mkdtemp(prefix="soundtrack-lake-localpg-")
    yield Path(base) / "pg"
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.integration
@needs_server
def test_a_local_server_starts_answers_with_its_password_and_is_reused(pg_dir):
    tmp_path = pg_dir.parent
    os.chmod(tmp_path, 0o755)
    server = LocalPostgres(pg_dir)
    try:
        first = server.ensure_running()
        conn = psycopg2.connect(host=first["pg_host"], port=first["pg_port"], dbname=first["pg_database"],
                                user=first["pg_user"], password=first["pg_password"].reveal(), connect_timeout=10)
        conn.close()
        assert first["pg_host"] == "127.0.0.1" and first["pg_schema"] == "public"
        for name in ("connection.json", "pgpass"):
            assert stat.S_IMODE(os.stat(tmp_path / "pg" / name).st_mode) == 0o600
        assert server.running()
        again = LocalPostgres(pg_dir).ensure_running()      # the next run finds it running
        assert again["pg_port"] == first["pg_port"] and again["pg_password"] == first["pg_password"]
        hint = server.how_to_connect()
        assert f"-p {first['pg_port']}" in hint and first["pg_password"].reveal() not in hint
    finally:
        assert server.stop()
    assert not server.running() and not server.stop()
    restarted = server.ensure_running()                                # stopped data comes back up
    assert restarted["pg_password"] == first["pg_password"]
    server.stop()


@pytest.mark.integration
@needs_server
@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as another user only when we are root")
def test_as_root_a_folder_the_postgres_user_cannot_reach_is_named(tmp_path):
    with pytest.raises(LocalPostgresUnavailable, match="closed to other users"):
        LocalPostgres(tmp_path / "pg").ensure_running()


def test_without_server_binaries_the_run_says_so_in_one_line_and_keeps_going(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(local_postgres, "find_bindir", lambda: None)
    with pytest.raises(LocalPostgresUnavailable, match="infrastructure/setup/postgres.sh"):
        LocalPostgres(tmp_path / "pg").ensure_running()
    settings = load_settings(env_file=tmp_path / "no.env", environ={}, local_pg_dir=str(tmp_path / "pg"))
    same, server = _start_local_postgres(settings)
    assert server is None and same is settings and not same.pg_enabled
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("recommender: no PostgreSQL (") and "Gold tables only" in out[0]
