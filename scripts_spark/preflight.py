"""Preflight checks that need the project's Python (called by check_env.sh after its shell-level checks).

Prints one line per check, `OK` or `FAIL` (or `WARN`) with how to fix it, and exits non-zero on any FAIL.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .config import ConfigError, Settings, environment_problems, load_settings
from .lake import Lake
from .sources.inputs import input_files

# A run cannot do anything useful without films; the other sources are optional (skipped with a note).
REQUIRED_FILE_SOURCES = {"tmdb": "tmdb/*.jsonl.gz (TMDB movie details with credits)"}
OPTIONAL_FILE_SOURCES = {
    "musicbrainz": "musicbrainz/*.jsonl.gz",
    "discogs_dump": "discogs/*.xml.gz",
    "discogs_search": "discogs/search/**/*.json",
    "movielens": "movielens/*.csv",
}


class Report:
    def __init__(self) -> None:
        self.failures = 0

    def ok(self, what: str) -> None:
        print(f"OK    {what}")

    def warn(self, what: str) -> None:
        print(f"WARN  {what}")

    def fail(self, what: str, fix: str) -> None:
        self.failures += 1
        print(f"FAIL  {what} -> fix: {fix}")


def _readable(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
        return True
    except OSError:
        return False


def check_inputs(settings: Settings, rep: Report) -> None:
    base = Path(settings.input_dir)
    if not base.is_dir():
        rep.fail(f"input folder {base} does not exist", "set INPUT_DIR or --input-dir to a folder in the documented layout")
        return
    sources = dict(OPTIONAL_FILE_SOURCES)
    if settings.tmdb_mode == "file":
        sources.update(REQUIRED_FILE_SOURCES)
    for source, pattern in sources.items():
        files = input_files(base, source)
        unreadable = [f for f in files if not _readable(f)]
        if unreadable:
            rep.fail(f"input {source}: {len(unreadable)} unreadable file(s), e.g. {unreadable[0]}",
                     "check file permissions (chmod a+r)")
        elif files:
            size = sum(os.path.getsize(f) for f in files) / 1e6
            rep.ok(f"input {source}: {len(files)} file(s), {size:.1f} MB under {base}")
        elif source in REQUIRED_FILE_SOURCES:
            rep.fail(f"input {source}: no {pattern} under {base}",
                     f"put the TMDB export at {base}/{pattern.split(' ')[0]} or use TMDB_MODE=api")
        else:
            rep.warn(f"input {source}: no {pattern} under {base}: that source will be skipped")


def check_lake(settings: Settings, rep: Report) -> None:
    """What `run` checks before Spark starts (config.environment_problems), one line per key: the preflight fails on
    exactly what the run would fail on."""
    problems = environment_problems(settings, local_postgres=True)
    for key, problem in problems:
        rep.fail(problem, f"set {key} in .env or the environment (see .env.example)")
    failed = {key for key, _ in problems}
    lake = Lake(settings.lake_root)
    if "LAKE_ROOT" not in failed:
        rep.ok(f"lake root writable: {lake.root}" if not lake.is_remote else
               f"remote lake {lake.root}: checked by the first write (credentials come from Spark settings)")
    if "LOG_DIR" not in failed:
        rep.ok(f"log folder writable: {settings.log_dir}")
    if not lake.is_remote and "MIN_FREE_DISK_GB" not in failed and "LAKE_ROOT" not in failed:
        p = Path(lake.root)
        while not p.exists():
            p = p.parent
        rep.ok(f"free disk at {p}: {shutil.disk_usage(p).free / 1e9:.1f} GB")


def check_settings(rep: Report) -> Settings | None:
    try:
        settings = load_settings()
    except ConfigError as exc:
        rep.fail(f"configuration: {exc}", "edit .env (see .env.example) or the environment")
        return None
    rep.ok(f"configuration valid (fingerprint {settings.fingerprint()}, tmdb={settings.tmdb_mode}, "
           f"discogs={settings.discogs_mode}, musicbrainz={settings.musicbrainz_mode})")
    missing = settings.required_secrets()
    if missing:
        rep.fail(f".env keys for the selected API mode missing: {', '.join(missing)}",
                 "add them to .env (see .env.example) or choose file mode")
    else:
        rep.ok(".env keys present for the selected modes" + ("" if "api" in (settings.tmdb_mode, settings.discogs_mode)
                                                               else " (file mode: no API tokens needed)"))
    if settings.pg_enabled:
        rep.ok(f"PostgreSQL configured ({settings.pg_host}:{settings.pg_port}); JDBC driver {settings.jdbc_jar}")
    else:
        from .local_postgres import find_bindir

        bindir = find_bindir()
        rep.ok("PostgreSQL not configured (PG_HOST empty): `make run` starts a local one from "
               f"{bindir} in {settings.local_pg_dir}" if bindir else
               "PostgreSQL not configured (PG_HOST empty) and no server binaries found: the recommender writes "
               "its Gold tables only (infrastructure/setup/postgres.sh installs a server)")
    return settings


def main() -> int:
    rep = Report()
    settings = check_settings(rep)
    if settings is not None:
        check_lake(settings, rep)
        check_inputs(settings, rep)
    return 1 if rep.failures else 0


if __name__ == "__main__":
    sys.exit(main())
