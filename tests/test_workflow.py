"""The user-facing workflow: CLI, preflight, the cron-safe runner, dry run, log summary and clean."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts_spark.housekeeping import clean_lake, summarise_log

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A minimal environment like cron's, pointing the lake, logs and local PostgreSQL folder into tmp (nothing is
    written into the working tree) and using this venv."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "VENV": str(Path(PY).parent.parent), "LAKE_ROOT": str(tmp_path / "lake"), "LOG_DIR": str(tmp_path / "logs"),
           "LOCAL_PG_DIR": str(tmp_path / "local_pg")}
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "scripts_spark", *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.integration
def test_help_teaches_commands_layout_and_examples():
    out = _cli("--help").stdout
    for word in ("run", "dryrun", "evaluate", "report", "publish", "--steps", "tmdb/*.jsonl.gz", "examples:"):
        assert word in out
    assert "--input-dir" in _cli("run", "--help").stdout


@pytest.mark.integration
def test_bad_arguments_exit_2_with_a_clear_message(tmp_path):
    env = _env(tmp_path)
    bad_steps = _cli("run", "--steps", "09", env=env)
    assert bad_steps.returncode == 2 and "unknown step '09'" in bad_steps.stderr
    bad_run = _cli("run", "--run-id", "a/b", env=env)
    assert bad_run.returncode == 2 and "run_id 'a/b'" in bad_run.stderr
    bad_env = _cli("run", env={**env, "TMDB_RATE_LIMIT_PER_S": "lots"})
    assert bad_env.returncode == 2 and "TMDB_RATE_LIMIT_PER_S='lots'" in bad_env.stderr
    no_token = _cli("run", "--tmdb-mode", "api", env=env)
    assert no_token.returncode == 2 and "TMDB_BEARER_TOKEN" in no_token.stderr
    assert _cli("frobnicate").returncode == 2


@pytest.mark.integration
def test_check_env_fails_on_missing_input_and_says_how_to_fix(tmp_path):
    (tmp_path / "inputs").mkdir()
    res = subprocess.run([str(REPO / "check_env.sh")], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env=_env(tmp_path, INPUT_DIR=str(tmp_path / "inputs")))
    assert res.returncode == 1
    fail_lines = [line for line in res.stdout.splitlines() if line.startswith("FAIL")]
    assert any("input tmdb: no tmdb/*.jsonl.gz" in line and "fix:" in line for line in fail_lines), res.stdout
    assert "OK    java" in res.stdout and "checks: FAILED" in res.stdout


@pytest.mark.integration
def test_check_env_passes_on_the_bundled_sample(tmp_path):
    res = subprocess.run([str(REPO / "check_env.sh")], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env=_env(tmp_path))
    assert res.returncode == 0, res.stdout
    assert "checks: all passed" in res.stdout


@pytest.mark.integration
def test_dryrun_lists_steps_and_inputs_and_writes_nothing(tmp_path):
    res = _cli("dryrun", env=_env(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    for text in ("step 01_", "step 05_", "reads :", "writes:", "tmdb", "dry run wrote nothing", "lake: writable"):
        assert text in res.stdout
    assert not (tmp_path / "lake").exists()


@pytest.mark.integration
def test_second_concurrent_safe_run_exits_75(tmp_path):
    env = _env(tmp_path)
    (tmp_path / "logs").mkdir()
    holder = subprocess.Popen(["flock", str(tmp_path / "logs" / "pipeline.lock"), "sleep", "30"])
    try:
        time.sleep(0.5)
        second = subprocess.run([str(REPO / "run_pipeline_safe.sh"), "--steps", "01"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 75
    assert "another pipeline run holds" in second.stderr


@pytest.mark.integration
def test_safe_runner_passes_failure_status_through_and_keeps_a_log(tmp_path):
    (tmp_path / "not_a_dir").write_text("a file where the lake folder should be")
    env = _env(tmp_path, LAKE_ROOT=str(tmp_path / "not_a_dir" / "lake"), KEEP_LOGS="1")
    logs = tmp_path / "logs"
    logs.mkdir()
    for old in ("pipeline_old1.log", "pipeline_old2.log"):
        (logs / old).write_text("{}\n")
        os.utime(logs / old, (1, 1))
    res = subprocess.run([str(REPO / "run_pipeline_safe.sh"), "--run-id", "t-fail", "--steps", "01"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert res.returncode == 2, res.stdout + res.stderr   # an unwritable LAKE_ROOT is refused before Spark starts
    assert "FAILED" in res.stderr
    remaining = sorted(p.name for p in logs.glob("pipeline_*.log"))
    assert remaining == ["pipeline_t-fail.log"]  # KEEP_LOGS=1 pruned the older logs
    summary = "\n".join(summarise_log(logs / "pipeline_t-fail.log"))
    assert "run t-fail" in summary


def test_log_summary_reads_step_events(tmp_path):
    log = tmp_path / "pipeline_r1.log"
    events = [
        {"ts": "2026-01-01T00:00:00Z", "level": "INFO", "run_id": "r1", "step": None, "event": "run_started"},
        {"ts": "2026-01-01T00:00:05Z", "level": "INFO", "run_id": "r1", "step": "01", "event": "step_finished",
         "status": "succeeded", "seconds": 5.0, "rows_in": 10, "rows_out": 9, "quarantined": 0, "rejected": 1},
        {"ts": "2026-01-01T00:00:06Z", "level": "WARNING", "run_id": "r1", "step": "02", "event": "step_skipped",
         "reason": "no discogs/ folder"},
        {"ts": "2026-01-01T00:00:07Z", "level": "ERROR", "run_id": "r1", "step": None, "event": "run_failed",
         "failed_step": "03_x", "cause": "boom"},
    ]
    log.write_text("\n".join(json.dumps(e) for e in events) + "\nnot json\n")
    text = "\n".join(summarise_log(log))
    assert "run r1" in text and "step 01: succeeded" in text and "rejected       1" in text
    assert "step 02: skipped: no discogs/ folder" in text and "run failed in step 03_x: boom" in text


def test_clean_removes_lake_layers_but_never_the_sample(tmp_path):
    for layer in ("bronze/x", "gold/y", "_runs/r1"):
        (tmp_path / "lake" / layer).mkdir(parents=True)
    (tmp_path / "lake" / "keep.txt").write_text("mine")
    assert len(clean_lake(str(tmp_path / "lake"))) == 3
    assert (tmp_path / "lake" / "keep.txt").exists() and not (tmp_path / "lake" / "bronze").exists()
    assert "refusing" in clean_lake(str(REPO / "data"))[0]
    assert "remote" in clean_lake("abfss://c@a.dfs.core.windows.net/x")[0]
    assert (REPO / "data" / "sample" / "tmdb").exists()


@pytest.mark.integration
def test_make_sync_appends_a_dated_line(tmp_path):
    sync_log = tmp_path / "sync_log.md"   # SYNC_LOG: never the repository's logs/ (tests/test_sync.py has the VM)
    res = subprocess.run(["make", "-s", "sync"], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**_env(tmp_path), "SYNC_LOG": str(sync_log), "VM_HOST": ""})
    assert res.returncode == 0, res.stdout + res.stderr
    lines = sync_log.read_text().splitlines()
    assert len(lines) == 1 and lines[-1].startswith("- 20") and "check=passed" in lines[-1]
