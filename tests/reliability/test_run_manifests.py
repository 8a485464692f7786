"""Defects 1, 2 and 4 in process: a failed rerun (a full disk) leaves the committed run byte-identical, a partial
rerun on new input invalidates what read the old output and says so, one manifest record per attempt, `latest` is
the latest committed run and `publish` refuses the rest; a commit cut short is finished by the next writer."""
from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path

import pytest

from scripts_spark.base_step import StepFailed
from scripts_spark.lake import ATTEMPTS, Lake
from scripts_spark.lake_lock import process_start_ticks
from scripts_spark.pipeline import CommitFailed, run_pipeline
from scripts_spark.runs import effective_status, latest_committed_run, publish_refusal
from scripts_spark.tables import schema_of

from tiny_lake import manifest, partition_checksums, settings_for, write_inputs


def _count(spark, settings, table, run_id):
    return Lake(settings.lake_root).read_table(spark, table, run_id, schema_of(table)).count()


@pytest.mark.slow   # steps 01-04 twice
def test_a_partial_rerun_on_new_input_invalidates_the_steps_that_read_the_old_output(spark, tmp_path):
    ten, twelve = write_inputs(tmp_path / "ten", 10), write_inputs(tmp_path / "twelve", 12)
    old, new = settings_for(tmp_path, ten), settings_for(tmp_path, twelve)
    first = run_pipeline(old, "r1", "01-04", spark=spark)
    assert first["status"] == "succeeded" and _count(spark, old, "silver/films", "r1") == 10

    doc = run_pipeline(new, "r1", "01-03", spark=spark)

    assert doc["status"] == "incomplete" and doc["committed"]["status"] == "incomplete"
    assert doc["steps"]["04"]["status"] == "invalidated"
    assert "step 03 now holds the output of attempt" in doc["committed"]["invalidated"]["04"]
    assert "run --steps 04 again" in doc["committed"]["invalidated"]["04"]
    assert Lake(new.lake_root).table_runs("silver/films") == []          # 04's old tables left with the commit
    assert _count(spark, new, "silver/staged/films", "r1") == 12
    assert [a["status"] for a in doc["attempts"]] == ["succeeded", "incomplete"]
    assert doc["attempts"][0]["started_at"] == first["attempts"][0]["started_at"]   # history is kept
    assert all(a["pid"] == os.getpid() and a["host"] == socket.gethostname() and a["finished_at"] for a in doc["attempts"])
    assert doc["attempts"][1]["steps_requested"] == ["01", "02", "03"]
    assert latest_committed_run(Lake(new.lake_root)) is None
    assert "incomplete" in publish_refusal(doc)

    done = run_pipeline(new, "r1", "04", spark=spark)

    assert done["status"] == "succeeded" and done["committed"]["invalidated"] == {}
    assert done["steps"]["04"]["upstream"] == {"03": done["steps"]["03"]["attempt"]}
    assert _count(spark, new, "silver/films", "r1") == 12
    assert latest_committed_run(Lake(new.lake_root)) == "r1" and publish_refusal(done) is None


@pytest.mark.slow   # steps 01-04 twice
def test_a_full_disk_during_a_rerun_leaves_the_committed_run_byte_identical(spark, tmp_path, monkeypatch):
    settings = settings_for(tmp_path, write_inputs(tmp_path / "ten", 10))
    run_pipeline(settings, "r1", "01-04", spark=spark)
    before = partition_checksums(settings.lake_root, "r1")
    real = Lake._write_staged

    def disk_full(self, df, table, attempt):
        if table == "silver/staged/releases":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, df, table, attempt)

    monkeypatch.setattr(Lake, "_write_staged", disk_full)
    bigger = settings_for(tmp_path, write_inputs(tmp_path / "twelve", 12))
    with pytest.raises(StepFailed, match="No space left on device"):
        run_pipeline(bigger, "r1", "01-04", spark=spark)

    assert partition_checksums(settings.lake_root, "r1") == before
    doc = manifest(settings.lake_root, "r1")
    assert doc["status"] == "failed" and doc["committed"]["status"] == "succeeded"
    assert "No space left on device" in doc["attempts"][-1]["exit_reason"]
    assert doc["attempts"][-1]["steps_run"] == {"01": "succeeded", "02": "succeeded", "03": "failed"}
    assert not (Path(settings.lake_root) / ATTEMPTS).exists()
    assert latest_committed_run(Lake(settings.lake_root)) == "r1"


def test_a_commit_cut_short_by_a_full_disk_is_completed_by_the_next_writer(spark, tmp_path, monkeypatch):
    settings = settings_for(tmp_path, write_inputs(tmp_path / "ten", 10))
    real = Lake.write_text

    def disk_full_at_the_commit(self, path, text, spark=None):
        if path.endswith("manifest.json") and '"committed": true' in text:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, path, text, spark)

    monkeypatch.setattr(Lake, "write_text", disk_full_at_the_commit)
    with pytest.raises(CommitFailed, match="the next writer completes it"):
        run_pipeline(settings, "r1", "01-02", spark=spark)
    monkeypatch.setattr(Lake, "write_text", real)
    assert manifest(settings.lake_root, "r1")["status"] == "failed"
    assert list((Path(settings.lake_root) / ATTEMPTS / "r1").iterdir())   # the journal waits for the next writer

    run_pipeline(settings, "r2", "01", spark=spark)

    doc = manifest(settings.lake_root, "r1")
    assert doc["status"] == "succeeded" and doc["committed"]["steps"]["02"]["status"] == "succeeded"
    assert _count(spark, settings, "bronze/tmdb_movies", "r1") == 10
    assert not (Path(settings.lake_root) / ATTEMPTS).exists()


def _write_manifest(root: Path, run_id: str, doc: dict) -> None:
    (root / "_runs" / run_id).mkdir(parents=True)
    (root / "_runs" / run_id / "manifest.json").write_text(json.dumps({"run_id": run_id, **doc}))


def test_latest_is_the_newest_committed_run_and_a_run_whose_process_is_gone_reads_interrupted(tmp_path):
    root = tmp_path / "lake"
    attempt = {"attempt": "a", "status": "running", "pid": os.getpid(), "host": socket.gethostname(),
               "pid_start": process_start_ticks(os.getpid()) + 1}   # SIGKILLed; its pid now names another process
    committed = {"status": "succeeded", "attempt": "a0", "steps": {}, "invalidated": {}}
    _write_manifest(root, "20260101T000000Z", {"status": "succeeded", "attempts": [{}], "committed": committed})
    _write_manifest(root, "20260102T000000Z", {"status": "failed", "attempts": [{}]})          # never committed
    _write_manifest(root, "20260103T000000Z", {"status": "running", "attempts": [attempt]})   # SIGKILLed
    me = {"attempt": "b", "status": "running", "pid": os.getpid(), "pid_start": process_start_ticks(os.getpid()),
          "host": socket.gethostname()}
    _write_manifest(root, "20260104T000000Z", {"status": "running", "attempts": [me], "committed": committed})

    lake = Lake(str(root))
    assert latest_committed_run(lake) == "20260104T000000Z"   # its committed data is readable while it reruns
    assert effective_status(json.loads((root / "_runs/20260103T000000Z/manifest.json").read_text())) == "interrupted"
    running = json.loads((root / "_runs/20260104T000000Z/manifest.json").read_text())
    assert effective_status(running) == "running" and "in flight" in publish_refusal(running)
    (root / "_runs" / "20260104T000000Z" / "manifest.json").unlink()
    assert latest_committed_run(lake) == "20260101T000000Z"   # not the failed or the interrupted run
    assert "'failed'" in publish_refusal(json.loads((root / "_runs/20260102T000000Z/manifest.json").read_text()))
