"""Every setting is checked before Spark starts: a bad value exits 2 naming its key, and `dryrun` refuses exactly
what `run` refuses (no Spark session in this file)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts_spark.config import (ConfigError, environment_problems, fields, load_settings, memory_mib,
                                  validate_environment, writable_problem)
from scripts_spark.config import Settings

REPO = Path(__file__).resolve().parent.parent


def settings_from(env: dict, tmp_path: Path):
    return load_settings(env_file=tmp_path / "no.env", environ=env)


@pytest.mark.parametrize("key, value, says", [
    ("SPARK_DRIVER_MEMORY", "lots", "is not a memory size"),
    ("SPARK_DRIVER_MEMORY", "100m", "below 512m"),
    ("HTTP_MAX_RETRIES", "-1", "must be >= 0"),
    ("HTTP_READ_TIMEOUT_S", "0", "must be > 0"),
    ("PG_PORT", "70000", "<= 65535"),
    ("MAX_QUARANTINE_SHARE", "1.5", "<= 1"),
    ("KEEP_LOGS", "0", "must be >= 1"),
    ("TMDB_MAX_FILMS", "-5", "must be >= 0"),
    ("TMDB_DATE_FROM", "1999-13-01", "is not a date"),
    ("SPARK_MASTER", "lokal[*]", "is not a Spark master"),
    ("TMDB_BASE_URL", "api.themoviedb.org", "is not an http(s):// URL"),
    ("PG_SCHEMA", "Public; drop", "SQL identifier"),
    ("RECOMMEND_SEARCH", "fast", "is not one of quick, full"),
])
def test_an_invalid_value_is_refused_naming_its_key(tmp_path, key, value, says):
    with pytest.raises(ConfigError, match=key) as caught:
        settings_from({key: value}, tmp_path)
    assert says in str(caught.value)


def test_valid_sizes_and_defaults_pass(tmp_path):
    assert memory_mib("4g") == 4096 and memory_mib("512m") == 512 and memory_mib("2048") == 2048
    assert memory_mib("1.5g") is None and memory_mib("lots") is None
    s = settings_from({"SPARK_DRIVER_MEMORY": "6G", "SPARK_MASTER": "local[2]", "TMDB_DATE_TO": ""}, tmp_path)
    assert s.spark_driver_memory == "6G"


def test_every_number_has_a_range_check(tmp_path):
    """A numeric setting without an explicit range must still refuse a negative value."""
    for f in fields(Settings):
        if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
            with pytest.raises(ConfigError, match=f.metadata["env"]):
                settings_from({f.metadata["env"]: "-1"}, tmp_path)


def test_a_path_that_cannot_be_written_is_found_even_as_root(tmp_path):
    assert writable_problem(str(tmp_path / "new" / "lake")) is None
    assert "cannot create a file in /proc" in writable_problem("/proc/nope")
    (tmp_path / "file").write_text("x")
    assert "is a file" in writable_problem(str(tmp_path / "file" / "lake"))
    s = settings_from({"LAKE_ROOT": "/proc/nope", "LOG_DIR": str(tmp_path / "logs")}, tmp_path)
    with pytest.raises(ConfigError, match=r"LAKE_ROOT=/proc/nope is not writable"):
        validate_environment(s)
    assert not list(tmp_path.glob(".write-probe-*")), "the probe file is removed"


def test_environment_problems_depend_on_the_steps_and_the_local_server(tmp_path):
    s = settings_from({"LAKE_ROOT": str(tmp_path / "lake"), "LOG_DIR": str(tmp_path / "logs"),
                       "INPUT_DIR": str(tmp_path / "missing"), "LOCAL_PG_DIR": "/proc/pg"}, tmp_path)
    assert [k for k, _ in environment_problems(s, ["01"])] == ["INPUT_DIR"]
    assert environment_problems(s, ["05"]) == []                      # a re-run of step 05 reads no input
    assert ("LOCAL_PG_DIR" in [k for k, _ in environment_problems(s, ["05"], local_postgres=True)])
    big = s.replace(min_free_disk_gb=10.0 ** 9)
    assert [k for k, _ in environment_problems(big, ["05"])] == ["MIN_FREE_DISK_GB"]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "LOG_", "SPARK_", "HTTP_"))}, **env}
    return subprocess.run([sys.executable, "-m", "scripts_spark", *args], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("env, key", [
    ({"SPARK_DRIVER_MEMORY": "lots"}, "SPARK_DRIVER_MEMORY"),
    ({"LAKE_ROOT": "/proc/nope"}, "LAKE_ROOT"),
    ({"HTTP_MAX_RETRIES": "-1"}, "HTTP_MAX_RETRIES"),
])
@pytest.mark.integration
def test_run_and_dryrun_both_exit_2_naming_the_key_before_spark_starts(tmp_path, env, key):
    env = {"LOG_DIR": str(tmp_path / "logs"), "LAKE_ROOT": str(tmp_path / "lake"), **env}
    for command in ("run", "dryrun"):
        res = _cli(command, **env)
        assert res.returncode == 2, (command, res.stdout, res.stderr)
        assert f"configuration error: {key}" in res.stderr, (command, res.stderr)
        assert "JAVA_GATEWAY" not in res.stderr and "Spark" not in res.stderr
    assert not (tmp_path / "lake").exists()
