"""Defects 1, 3 and 4 the way they broke: a rerun of a committed run is killed with SIGKILL, then with SIGTERM, in
the middle of its writes; a second writer tries to start meanwhile. The committed data reads back identical by
checksum, the second writer exits 75 naming the first, and the manifest says what happened."""
from __future__ import annotations

import glob
import os
import signal
from pathlib import Path

import pytest

from scripts_spark.lake import ATTEMPTS, Lake
from scripts_spark.lake_lock import EXIT_LAKE_BUSY, LakeLock
from scripts_spark.pipeline import run_pipeline
from scripts_spark.runs import effective_status, latest_committed_run

from tiny_lake import child_pids, cli, gone, manifest, partition_checksums, settings_for, wait_for, write_inputs

pytestmark = [pytest.mark.slow, pytest.mark.integration]   # child JVMs, a whole pipeline each


def _committed_run_and_a_rerun(spark, tmp_path):
    """Run r1 committed on ten films; a child process re-running it on twelve, stopped once it staged Silver."""
    settings = settings_for(tmp_path, write_inputs(tmp_path / "ten", 10))
    run_pipeline(settings, "r1", "01-04", spark=spark)
    before = partition_checksums(settings.lake_root, "r1")
    # The child's JSON log goes to a file: a pipe nobody reads would block it once full.
    rerun = cli("run", "--run-id", "r1", "--steps", "01-04", "--no-report", "--lake-root", settings.lake_root,
                "--input-dir", str(write_inputs(tmp_path / "twelve", 12, title_suffix=" II")),
                stdout=open(tmp_path / "rerun.out", "w"), stderr=open(tmp_path / "rerun.err", "w"))
    staged = f"{settings.lake_root}/{ATTEMPTS}/r1/*/silver/staged/films/run_id=r1"
    wait_for(lambda: glob.glob(staged) or rerun.poll() is not None, 240, "the rerun to stage silver/staged/films")
    assert rerun.poll() is None, (tmp_path / "rerun.err").read_text()[-3000:]
    return settings, before, rerun


def test_sigkill_during_a_rerun_leaves_the_committed_run_identical_and_the_next_writer_cleans_up(spark, tmp_path):
    settings, before, rerun = _committed_run_and_a_rerun(spark, tmp_path)
    jvm = child_pids(rerun.pid)

    second = cli("run", "--run-id", "r2", "--steps", "01", "--lake-root", settings.lake_root,
                 "--input-dir", settings.input_dir)
    _, err = second.communicate(timeout=120)
    assert second.returncode == EXIT_LAKE_BUSY and "run r1 " in err and f"pid {rerun.pid}" in err

    rerun.send_signal(signal.SIGKILL)
    rerun.wait()
    wait_for(lambda: gone(jvm), 60, "the killed run's JVM to exit")

    assert partition_checksums(settings.lake_root, "r1") == before
    doc = manifest(settings.lake_root, "r1")
    assert doc["status"] == "running" and effective_status(doc) == "interrupted"
    assert latest_committed_run(Lake(settings.lake_root)) == "r1"      # its committed data is still there
    assert glob.glob(f"{settings.lake_root}/{ATTEMPTS}/r1/*")         # the killed attempt's staging

    run_pipeline(settings, "r2", "01", spark=spark)                    # the next writer, another run

    doc = manifest(settings.lake_root, "r1")
    assert doc["status"] == "interrupted" and doc["attempts"][-1]["status"] == "interrupted"
    assert doc["attempts"][-1]["pid"] == rerun.pid and "found and cleaned up by the next writer" in \
        doc["attempts"][-1]["exit_reason"]
    assert doc["committed"]["status"] == "succeeded"
    assert not Path(settings.lake_root, ATTEMPTS).exists()
    assert partition_checksums(settings.lake_root, "r1") == before


def test_sigterm_during_a_rerun_marks_it_interrupted_cleans_up_and_exits_143(spark, tmp_path):
    settings, before, rerun = _committed_run_and_a_rerun(spark, tmp_path)

    rerun.send_signal(signal.SIGTERM)
    rerun.wait(timeout=120)
    err = (tmp_path / "rerun.err").read_text()

    assert rerun.returncode == 128 + signal.SIGTERM, err
    assert "interrupted by SIGTERM" in err and "last committed data is unchanged" in err
    assert partition_checksums(settings.lake_root, "r1") == before
    doc = manifest(settings.lake_root, "r1")
    assert doc["status"] == "interrupted" and doc["attempts"][-1]["exit_reason"] == "interrupted by SIGTERM"
    assert "interrupted" in doc["attempts"][-1]["steps_run"].values()
    assert doc["committed"]["status"] == "succeeded"
    assert not Path(settings.lake_root, ATTEMPTS).exists()
    LakeLock(Lake(settings.lake_root), run_id="next").acquire().release()   # the lock was released
