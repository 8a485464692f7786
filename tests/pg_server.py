"""A throwaway PostgreSQL server for tests and hand measurements: `initdb` on a temp folder, `pg_ctl` on a free port.

The tests and CI run as root, and `initdb`/`postgres` refuse to run as root: the server then runs as the
`postgres` system user (created by Debian's `postgresql` package, see infrastructure/setup/postgres.sh) through
`runuser`. The server listens on 127.0.0.1 only, with password (SCRAM) authentication, so the code under test sends
a real password the way it would to a production server.

    with PgServer() as pg:                 # in code
        settings = load_settings(..., **pg.settings_overrides(schema="t1"))

    python tests/pg_server.py start /tmp/me/pg     # by hand: prints PG_* lines for .env, leaves the server running
    python tests/pg_server.py stop /tmp/me/pg
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SUPERUSER = "lake_test"
DATABASE = "soundtrack_lake"
# Durability off: a test server's data is thrown away, and fsync on every commit only slows the tests down.
FAST_UNSAFE_OPTIONS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB "
                       "-c max_connections=40")
START_TIMEOUT_S = 60


class PgServerError(RuntimeError):
    pass


def postgres_bindir() -> Path:
    """Newest /usr/lib/postgresql/<version>/bin (Debian layout), else the folder of an `initdb` on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise PgServerError("no initdb found: run infrastructure/setup/postgres.sh (apt-get install postgresql)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PgServerError("running as root and there is no 'postgres' user to run the server as: "
                            "run infrastructure/setup/postgres.sh (the postgresql package creates it)") from None


def _as_server_user(cmd: list[str]) -> list[str]:
    account = _server_account()
    return cmd if account is None else ["runuser", "-u", account.pw_name, "--", *cmd]


class PgServer:
    """One PostgreSQL cluster in `base_dir` (a new temp folder by default), removed again by `stop()`."""

    def __init__(self, base_dir: str | Path | None = None, port: int | None = None):
        self.owns_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="soundtrack-lake-pg-"))
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "server.log"
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.user = SUPERUSER
        self.password = "pw-" + secrets.token_hex(12)
        self.database = DATABASE
        self.bindir = postgres_bindir()

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> "PgServer":
        self.base_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        account = _server_account()
        if account is not None:
            for path in (self.base_dir, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(self.base_dir, 0o700)
        self._run([str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.user, f"--pwfile={pwfile}",
                   "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        pwfile.unlink()
        options = f"-p {self.port} -k {self.base_dir} -c listen_addresses={self.host} {FAST_UNSAFE_OPTIONS}"
        self._run([str(self.bindir / "pg_ctl"), "start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(self.data_dir),
                   "-l", str(self.log_file), "-o", options])
        self._create_database()
        return self

    def stop(self) -> None:
        if self.data_dir.exists():
            subprocess.run(_as_server_user([str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir),
                                            "-m", "immediate", "-w"]), capture_output=True, text=True)
        if self.owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> "PgServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- use ------------------------------------------------------------------------------------------
    def connect(self, database: str | None = None):
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, dbname=database or self.database, user=self.user,
                                password=self.password, connect_timeout=10)

    def settings_overrides(self, schema: str = "public") -> dict:
        """Keyword overrides for `load_settings` that point the pipeline at this server."""
        from scripts_spark.config import Secret

        return {"pg_host": self.host, "pg_port": self.port, "pg_database": self.database, "pg_user": self.user,
                "pg_password": Secret(self.password), "pg_schema": schema}

    def env_lines(self) -> list[str]:
        return [f"PG_HOST={self.host}", f"PG_PORT={self.port}", f"PG_DATABASE={self.database}",
                f"PG_USER={self.user}", f"PG_PASSWORD={self.password}"]

    # --- internals -------------------------------------------------------------------------------------
    def _run(self, cmd: list[str]) -> None:
        res = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, cwd="/")
        if res.returncode != 0:
            log = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise PgServerError(f"{Path(cmd[0]).name} failed ({res.returncode}): {res.stderr[-2000:]}\n{log}")

    def _create_database(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                conn = self.connect("postgres")
                break
            except Exception:  # noqa: BLE001 - the server may still be finishing its start-up
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.database}")
        conn.close()


@pytest.fixture(scope="module")
def pg_server():
    """A real PostgreSQL server for the tests of one module, stopped and deleted afterwards."""
    with PgServer() as server:
        yield server


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__.split("\n\n")[-1], file=sys.stderr)
        return 2
    command, base = argv[0], Path(argv[1])
    if command == "start":
        server = PgServer(base)
        server.start()
        print("\n".join(server.env_lines()))
        return 0
    data_dir = base / "data"
    subprocess.run(_as_server_user([str(postgres_bindir() / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast"]),
                   check=True)
    shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
