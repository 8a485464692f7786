"""A throwaway PostgreSQL for `make run` when PG_HOST is empty, so a new user gets the recommender's tables served
without configuring anything.

Which server: the system's own binaries (Debian's /usr/lib/postgresql/<version>/bin, which
infrastructure/setup/postgres.sh installs, or an `initdb` on PATH). A pip-installable server (`pgserver`, which
bundles its binaries in a wheel) was considered and left out: its last release is from mid-2024, it adds ~30 MB to
every venv, and every machine this project runs on already gets the system server for the tests.

What it is: one private cluster in LOCAL_PG_DIR (data/, server.log, connection.json with the port and a generated
password and a libpq pgpass file, both mode 0600), listening on 127.0.0.1 only with password authentication.
Durability is off (fsync=off): the data is a copy of Gold, rebuilt by the next run. A later run finds it running
and reuses it; `make pg-stop` stops it and `make clean` deletes it. No root needed: as root (CI, a container) the
server runs as the `postgres` system user, as initdb refuses root; as anyone else it runs as that user.

    python -m scripts_spark.local_postgres start|stop|status   (make pg-stop = stop)
"""
from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

USER = "lake"
DATABASE = "soundtrack_lake"
START_TIMEOUT_S = 60
# A throwaway copy of Gold: losing it in a power cut costs one `make run`, while fsync on every commit costs time.
SERVER_OPTIONS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB "
                  "-c max_connections=40")
# Unix socket paths are limited to 107 bytes; past that the server listens on TCP only.
MAX_SOCKET_DIR_CHARS = 90


class LocalPostgresUnavailable(RuntimeError):
    """No local server can be had here; the message says why in one line and what would fix it."""


def find_bindir() -> Path | None:
    """The newest Debian /usr/lib/postgresql/<version>/bin, else the folder of an `initdb` on PATH, else None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalPostgres:
    """The cluster in `base_dir`; `ensure_running()` returns the PG_* settings that reach it."""

    def __init__(self, base_dir: str | Path):
        self.base_dir = Path(base_dir).expanduser().resolve()
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "server.log"
        self.state_file = self.base_dir / "connection.json"
        self.pgpass_file = self.base_dir / "pgpass"
        self.bindir = find_bindir()

    # --- who runs the server ----------------------------------------------------------------------------
    def _account(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise LocalPostgresUnavailable("running as root and there is no 'postgres' user to run the server as "
                                           "(infrastructure/setup/postgres.sh creates it)") from None

    def _cmd(self, *args: str) -> list[str]:
        account = self._account()
        return list(args) if account is None else ["runuser", "-u", account.pw_name, "--", *args]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(self._cmd(*args), capture_output=True, text=True, cwd="/")
        if check and res.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-600:] if self.log_file.exists() else ""
            detail = " ".join((res.stderr.strip() or tail).split())[-400:]
            raise LocalPostgresUnavailable(f"{Path(args[0]).name} failed (exit {res.returncode}): {detail}")
        return res

    # --- state ------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def _save_state(self, state: dict[str, Any]) -> None:
        for path, text in ((self.state_file, json.dumps(state, indent=1)),
                           (self.pgpass_file, f"127.0.0.1:{state['port']}:*:{state['user']}:{state['password']}\n")):
            path.write_text(text)
            os.chmod(path, 0o600)   # libpq ignores a password file that others can read

    def running(self) -> bool:
        if self.bindir is None or not (self.data_dir / "PG_VERSION").exists():
            return False
        return self._run(str(self.bindir / "pg_ctl"), "status", "-D", str(self.data_dir), check=False).returncode == 0

    # --- lifecycle ----------------------------------------------------------------------------------------
    def ensure_running(self) -> dict[str, Any]:
        """Create the cluster when missing, start it when stopped; return load_settings overrides (pg_host ...)."""
        if self.bindir is None:
            raise LocalPostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine: "
                                           "run infrastructure/setup/postgres.sh, or set PG_HOST")
        account = self._account()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if account is not None:
            closed = next((p for p in self.base_dir.parents if not os.stat(p).st_mode & 0o001), None)
            if closed is not None:
                raise LocalPostgresUnavailable(f"the postgres user cannot reach {self.base_dir}: {closed} is closed to "
                                               "other users (chmod o+x, or set LOCAL_PG_DIR elsewhere)")
        state = self.state()
        if state is None or not (self.data_dir / "PG_VERSION").exists():
            state = self._init(account)
        if not self.running():
            if not _port_free(state["port"]):
                state["port"] = _free_port()
                self._save_state(state)
            socket_dir = str(self.base_dir) if len(str(self.base_dir)) <= MAX_SOCKET_DIR_CHARS else ""
            options = (f"-p {state['port']} -c listen_addresses=127.0.0.1 "
                       f"-c unix_socket_directories='{socket_dir}' {SERVER_OPTIONS}")
            self._run(str(self.bindir / "pg_ctl"), "start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(self.data_dir),
                      "-l", str(self.log_file), "-o", options)
        self._create_database(state)
        return self.overrides(state)

    def _init(self, account: pwd.struct_passwd | None) -> dict[str, Any]:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)   # a half-made cluster from an interrupted first start
        state = {"port": _free_port(), "user": USER, "database": DATABASE, "password": secrets.token_urlsafe(18)}
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(state["password"] + "\n")
        os.chmod(pwfile, 0o600)
        if account is not None:
            for path in (self.base_dir, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(self.base_dir, 0o700)
        try:
            self._run(str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", USER, f"--pwfile={pwfile}",
                      "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        finally:
            pwfile.unlink(missing_ok=True)
        self._save_state(state)
        return state

    def _create_database(self, state: dict[str, Any]) -> None:
        import psycopg2

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=state["port"], dbname="postgres", user=state["user"],
                                        password=state["password"], connect_timeout=5)
                break
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise LocalPostgresUnavailable(f"the local server does not answer on port {state['port']}: "
                                                   f"{' '.join(str(exc).split())}") from None
                time.sleep(0.2)
        conn.autocommit = True   # CREATE DATABASE cannot run inside a transaction
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (state["database"],))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {state['database']}")
        finally:
            conn.close()

    def stop(self) -> bool:
        """Stop the server; True when one was running."""
        if not self.running():
            return False
        self._run(str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w")
        return True

    # --- how to reach it ------------------------------------------------------------------------------------
    @staticmethod
    def overrides(state: dict[str, Any]) -> dict[str, Any]:
        from .config import Secret

        return {"pg_host": "127.0.0.1", "pg_port": state["port"], "pg_database": state["database"],
                "pg_user": state["user"], "pg_password": Secret(state["password"]), "pg_schema": "public"}

    def how_to_connect(self) -> str:
        """One line a person can paste: psql with the password from a libpq password file (never printed)."""
        state = self.state() or {}
        return (f"PGPASSFILE={self.pgpass_file} psql -h 127.0.0.1 -p {state.get('port', '?')} "
                f"-U {state.get('user', USER)} {state.get('database', DATABASE)}")


def main(argv: list[str]) -> int:
    from .config import load_settings

    if len(argv) != 1 or argv[0] not in ("start", "stop", "status"):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    server = LocalPostgres(load_settings().local_pg_dir)
    try:
        if argv[0] == "start":
            server.ensure_running()
            print(f"local PostgreSQL running in {server.base_dir}; connect: {server.how_to_connect()}")
        elif argv[0] == "stop":
            print(f"local PostgreSQL in {server.base_dir} " + ("stopped" if server.stop() else "was not running"))
        else:
            print(f"local PostgreSQL in {server.base_dir}: " + ("running; connect: " + server.how_to_connect()
                                                                if server.running() else "not running"))
    except LocalPostgresUnavailable as exc:
        print(f"local PostgreSQL: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
