"""Defect 3: one writer per lake. The lock lives in the lake, every writing command takes it, a second writer exits 75
naming the holder's run id and pid, and a dead holder's lock is taken over (locally by the kernel, on abfss:// by
a stale heartbeat)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from scripts_spark.lake import Lake
from scripts_spark.lake_lock import (EXIT_LAKE_BUSY, REMOTE_LOCK, LakeBusy, LakeLock, process_start_ticks,
                                     read_holder)

from tiny_lake import REPO, cli, wait_for


def test_a_second_writer_is_refused_naming_the_holders_run_and_pid(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    with LakeLock(lake, run_id="20260101T000000Z", attempt="a1", command="run --steps 01"):
        with pytest.raises(LakeBusy) as busy:
            LakeLock(lake, run_id="other", command="run").acquire()
        message = str(busy.value)
        assert "run 20260101T000000Z" in message and f"pid {os.getpid()}" in message and "exit 75" in message
        assert read_holder(lake)["attempt"] == "a1"
    LakeLock(lake, run_id="other").acquire().release()   # released: the next writer gets it
    assert read_holder(lake) is None


@pytest.mark.integration
@pytest.mark.parametrize("command", [
    ["run", "--steps", "01", "--run-id", "second"],
    ["run", "--steps", "07", "--run-id", "latest"],          # what `make recommend` runs
])
def test_every_writing_command_exits_75_while_another_writer_holds_the_lake(tmp_path, command):
    lake_root = tmp_path / "lake"
    with LakeLock(Lake(str(lake_root)), run_id="20260101T000000Z", command="run"):
        if "latest" in command:   # `latest` needs a committed run to name
            (lake_root / "_runs" / "r0").mkdir(parents=True)
            (lake_root / "_runs" / "r0" / "manifest.json").write_text(json.dumps({"run_id": "r0", "status": "succeeded"}))
        proc = cli(*command, "--lake-root", str(lake_root), "--input-dir", str(tmp_path))
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_LAKE_BUSY, err
    assert "run 20260101T000000Z" in err and f"pid {os.getpid()}" in err


def test_clean_and_publish_take_the_lake_lock_too(tmp_path, capsys):
    from scripts_spark.__main__ import main
    from scripts_spark.housekeeping import clean_lake

    lake_root = tmp_path / "lake"
    (lake_root / "bronze").mkdir(parents=True)
    with LakeLock(Lake(str(lake_root)), run_id="20260101T000000Z", command="run"):
        with pytest.raises(LakeBusy):
            clean_lake(str(lake_root))
        assert main(["publish", "--lake-root", str(lake_root), "--run-id", "r1", "--dry-run"]) == EXIT_LAKE_BUSY
    assert (lake_root / "bronze").exists()
    assert "publish not started" in capsys.readouterr().err


HOLD = """
import sys, time
sys.path.insert(0, {repo!r})
from scripts_spark.lake import Lake
from scripts_spark.lake_lock import LakeLock
LakeLock(Lake({root!r}), run_id="dead-run", attempt="a-dead", command="run").acquire()
print("held", flush=True)
time.sleep(600)
"""


@pytest.mark.integration
def test_the_lock_of_a_writer_killed_with_sigkill_is_taken_over(tmp_path):
    root = str(tmp_path / "lake")
    holder = subprocess.Popen([sys.executable, "-c", HOLD.format(repo=str(REPO), root=root)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LakeBusy, match=f"pid {holder.pid}"):
            LakeLock(Lake(root), run_id="next").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = LakeLock(Lake(root), run_id="next").acquire()
    try:
        assert lock.previous["run_id"] == "dead-run" and lock.previous["pid"] == holder.pid
        assert read_holder(Lake(root))["run_id"] == "next"
    finally:
        lock.release()


def _remote_holder(host: str, beat_age_s: float, pid: int = 4242) -> dict:
    beat = (datetime.now(timezone.utc) - timedelta(seconds=beat_age_s)).isoformat(timespec="seconds")
    return {"run_id": "far-run", "attempt": "a-far", "pid": pid, "host": host, "token": "t-far",
            "started_at": beat, "heartbeat_at": beat, "command": "run"}


def test_an_abfss_style_lock_is_refused_while_it_beats_and_taken_over_when_stale(spark, tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    lake = Lake(root.as_uri(), via_hadoop=True)
    (root / REMOTE_LOCK).write_text(json.dumps(_remote_holder("other-host", beat_age_s=5)))
    with pytest.raises(LakeBusy, match="run far-run .*pid 4242 on other-host"):
        LakeLock(lake, run_id="mine", spark=spark, stale_after_s=60).acquire()

    (root / REMOTE_LOCK).write_text(json.dumps(_remote_holder("other-host", beat_age_s=120)))
    lock = LakeLock(lake, run_id="mine", spark=spark, stale_after_s=60, heartbeat_s=0.2).acquire()
    try:
        assert lock.previous["run_id"] == "far-run"
        first = json.loads((root / REMOTE_LOCK).read_text())
        assert first["run_id"] == "mine"
        wait_for(lambda: json.loads((root / REMOTE_LOCK).read_text())["heartbeat_at"] != first["heartbeat_at"], 5,
                 "a heartbeat")
        with pytest.raises(LakeBusy, match="run mine"):
            LakeLock(lake, run_id="third", spark=spark, stale_after_s=60).acquire()
    finally:
        lock.release()
    assert not (root / REMOTE_LOCK).exists()
    assert not [p for p in root.iterdir() if p.name.startswith(f"{REMOTE_LOCK}.stale.")]


def test_an_abfss_style_lock_of_a_gone_process_on_this_host_is_taken_over_at_once(spark, tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    recycled = {**_remote_holder(socket.gethostname(), beat_age_s=1, pid=os.getpid()),
                "pid_start": process_start_ticks(os.getpid()) + 1}   # this pid, but not the process that locked
    (root / REMOTE_LOCK).write_text(json.dumps(recycled))
    lock = LakeLock(Lake(root.as_uri(), via_hadoop=True), run_id="mine", spark=spark).acquire()
    lock.release()
    assert lock.previous["run_id"] == "far-run"
