"""infrastructure/cron.sh: the nightly crontab line is generated, installed idempotently and removed cleanly."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration   # every test runs infrastructure/cron.sh
CRON_SH = REPO / "infrastructure" / "cron.sh"
TAG = "# soundtrack-lake:nightly"
# Behaves like cron's `crontab` for one user: -l prints the table (exit 1 "no crontab" when none), `-` replaces it
# from stdin, -r removes it. The table lives in $FAKE_CRONTAB_FILE instead of /var/spool/cron.
FAKE_CRONTAB = """#!/usr/bin/env bash
case "$1" in
  -l) [[ -f "$FAKE_CRONTAB_FILE" ]] || { echo "no crontab for $USER" >&2; exit 1; }; cat "$FAKE_CRONTAB_FILE" ;;
  -) cat > "$FAKE_CRONTAB_FILE" ;;
  -r) rm -f "$FAKE_CRONTAB_FILE" ;;
  *) exit 2 ;;
esac
"""


@pytest.fixture
def cron(tmp_path):
    fake = tmp_path / "crontab"
    fake.write_text(FAKE_CRONTAB)
    fake.chmod(0o755)
    table = tmp_path / "spool"

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "CRONTAB": str(fake),
                    "FAKE_CRONTAB_FILE": str(table), **env}
        return subprocess.run(["bash", str(CRON_SH), *args], cwd=tmp_path, env=full_env, capture_output=True,
                              text=True, timeout=30)

    run.table = table
    return run


def test_the_line_runs_the_safe_runner_nightly_by_absolute_path_and_appends_to_a_log(cron):
    line = cron("print").stdout.strip()

    fields = line.split()
    assert fields[:5] == ["15", "2", "*", "*", "*"]
    assert fields[5] == str(REPO / "run_pipeline_safe.sh") and os.access(fields[5], os.X_OK)
    assert f">> {REPO / 'logs' / 'cron.log'} 2>&1" in line and line.endswith(TAG)
    assert "%" not in line


def test_installing_twice_leaves_one_line_and_keeps_the_users_other_entries(cron):
    cron.table.write_text("MAILTO=ops@example.invalid\n0 * * * * /usr/local/bin/backup\n")

    first = cron("install")
    after_first = cron.table.read_text()
    second = cron("install")

    assert first.returncode == 0 and second.returncode == 0
    assert "crontab unchanged" in second.stdout
    assert cron.table.read_text() == after_first
    lines = after_first.splitlines()
    assert lines[:2] == ["MAILTO=ops@example.invalid", "0 * * * * /usr/local/bin/backup"]
    assert sum(TAG in line for line in lines) == 1


def test_a_new_schedule_replaces_the_old_line(cron):
    cron("install")
    cron("install", CRON_SCHEDULE="30 4 * * 1-5")

    ours = [line for line in cron.table.read_text().splitlines() if TAG in line]
    assert len(ours) == 1 and ours[0].startswith("30 4 * * 1-5 ")


def test_install_works_for_a_user_without_a_crontab_and_remove_leaves_the_others(cron):
    assert not cron.table.exists()
    assert cron("install").returncode == 0
    assert cron.table.read_text().count(TAG) == 1
    assert cron("remove").returncode == 0
    assert not cron.table.exists()

    cron.table.write_text("0 * * * * /usr/local/bin/backup\n")
    cron("install")
    cron("remove")
    assert cron.table.read_text() == "0 * * * * /usr/local/bin/backup\n"


def test_with_a_key_vault_the_run_gets_its_secrets_at_run_time(cron):
    line = cron("print", KEY_VAULT_NAME="kv-sndlake-prod-abc123").stdout.strip()

    command = line.split(" ", 5)[5]
    assert command.startswith(f"cd {REPO} && {REPO}/.venv/bin/python -m scripts_spark.azure_auth exec-with-secrets -- ")
    assert shlex.split(command.split(" -- ", 1)[1])[0] == str(REPO / "run_pipeline_safe.sh")


def test_a_malformed_schedule_or_command_is_refused(cron):
    bad = cron("print", CRON_SCHEDULE="every night")
    assert bad.returncode == 2 and "five cron fields" in bad.stderr
    assert cron("install", CRON_SCHEDULE="* * *").returncode == 2
    assert not cron.table.exists()
    assert cron("frobnicate").returncode == 2


def test_logrotate_rule_covers_the_log_the_cron_line_appends_to(cron):
    log_path = cron("print").stdout.split(">> ", 1)[1].split()[0]
    conf = (REPO / "infrastructure" / "vm" / "logrotate.conf").read_text()
    rendered = conf.replace("__REPO_DIR__", str(REPO)).replace("__RUN_USER__", "soundtrack")  # as setup.sh does

    rule_paths = rendered.split("{", 1)[0].split("\n")[-1].split()
    assert log_path in rule_paths
    body = rendered.split("{", 1)[1].split("}", 1)[0]
    assert re.search(r"^\s*rotate \d+$", body, re.M) and re.search(r"^\s*su soundtrack soundtrack$", body, re.M)
    assert "copytruncate" in body  # cron reopens the same path each night
    # run_pipeline_safe.sh prunes pipeline_*.log itself (KEEP_LOGS); logrotate must not rename them.
    assert not any("pipeline_" in path for path in rule_paths)
