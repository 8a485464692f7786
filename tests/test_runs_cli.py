"""Readable results without Spark: `make log` for succeeded, failed and interrupted runs, `runs` listing the lake's
runs newest first, and `evaluate`'s table."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts_spark.evaluate import evaluation_table
from scripts_spark.housekeeping import one_line_cause, runs_table, summarise_log

REPO = Path(__file__).resolve().parent.parent


def write_log(path: Path, events: list[dict]) -> Path:
    lines = [json.dumps({"ts": f"2026-01-01T00:00:{i:02d}+00:00", "level": e.pop("level", "INFO"), "run_id": "r1",
                         "step": e.pop("step", None), **e}) for i, e in enumerate(events)]
    path.write_text("\n".join(lines + ["Setting default log level to \"WARN\"."]) + "\n")
    return path


def step(number: str, name: str, **finished) -> list[dict]:
    return [{"event": "step_started", "step": number, "name": name},
            {"event": "step_note", "step": number, "note": f"note of {number}"},
            {"event": "step_finished", "step": number, "status": "succeeded", "seconds": 1.5, "rows_in": 10,
             "rows_out": 8, **finished}]


def test_notes_stay_under_their_own_step_and_a_skipped_step_is_listed_once(tmp_path):
    events = [{"event": "run_started"}, *step("01", "extract_tmdb"), *step("02", "extract_releases", filtered=2),
              {"event": "step_started", "step": "07", "name": "recommend"},
              {"event": "step_skipped", "step": "07", "level": "WARNING", "reason": "no MovieLens input"},
              {"event": "step_finished", "step": "07", "status": "skipped", "seconds": 0.0},
              {"event": "run_finished", "status": "succeeded"}]
    out = summarise_log(write_log(tmp_path / "pipeline_r1.log", events))
    assert out[1].startswith("  step 01 extract_tmdb: succeeded") and out[2] == "      note: note of 01"
    assert out[3].startswith("  step 02 extract_releases: succeeded") and "filtered       2" in out[3]
    assert out[4] == "      note: note of 02"
    assert sum("step 07" in line for line in out) == 1 and "skipped: no MovieLens input" in out[5]
    assert out[-1] == "  => run succeeded"


def test_a_failed_run_shows_the_failing_step_and_the_errors_one_line_cause(tmp_path):
    trace = "Traceback (most recent call last):\n  File \"x.py\", line 1\nInputUnreadable: input file a.gz: truncated"
    events = [{"event": "run_started"}, *step("01", "extract_tmdb"),
              {"event": "step_started", "step": "02", "name": "extract_releases"},
              {"event": "step_failed", "step": "02", "level": "ERROR", "error": trace, "seconds": 3.0},
              {"event": "run_failed", "level": "ERROR", "failed_step": "02_extract_releases",
               "cause": "InputUnreadable: input file a.gz: truncated"},
              {"event": "command_failed", "level": "ERROR", "error": trace}]
    out = summarise_log(write_log(tmp_path / "pipeline_r1.log", events))
    assert "  step 02 extract_releases: FAILED after 3.0s: InputUnreadable: input file a.gz: truncated" in out
    assert out[-1] == "  => run failed in step 02_extract_releases: InputUnreadable: input file a.gz: truncated"
    assert "  error: command_failed: InputUnreadable: input file a.gz: truncated" in out
    assert not any(line.strip() == "error: step - command_failed" for line in out)


def test_an_interrupted_and_a_killed_run_say_how_they_ended(tmp_path):
    stopped = [{"event": "run_started"}, {"event": "step_started", "step": "03", "name": "normalise_block"},
               {"event": "run_interrupted", "level": "ERROR", "signal": "SIGTERM"}]
    out = summarise_log(write_log(tmp_path / "a.log", stopped))
    assert "  step 03 normalise_block: started, no end recorded (the process stopped here)" in out
    assert out[-1].startswith("  => run interrupted by SIGTERM")
    killed = summarise_log(write_log(tmp_path / "b.log", stopped[:2]))
    assert killed[-1].startswith("  => no end recorded")


def test_one_line_cause_takes_a_tracebacks_last_line():
    assert one_line_cause("Traceback (most recent call last):\n  a\nKeyError: 'x'") == "KeyError: 'x'"
    assert one_line_cause("ValueError: bad\nmore detail") == "ValueError: bad"
    assert one_line_cause(None) == ""


def manifest(lake: Path, run_id: str, status: str, **steps) -> None:
    folder = lake / "_runs" / run_id
    folder.mkdir(parents=True)
    doc = {"run_id": run_id, "status": status, "started_at": "2026-01-02T03:00:00+00:00",
           "finished_at": "2026-01-02T03:02:05+00:00",
           "steps": {n: {"status": "succeeded", **s} for n, s in steps.items()}}
    (folder / "manifest.json").write_text(json.dumps(doc))


@pytest.mark.integration
def test_runs_lists_the_lakes_runs_newest_first_with_their_figures(tmp_path):
    lake = tmp_path / "lake"
    manifest(lake, "20260101T000000Z", "failed", **{"01": {"rows_out": 6193}})
    manifest(lake, "20260102T000000Z", "succeeded", **{"01": {"rows_out": 6193},
                                                      "05": {"tables": {"gold/film_soundtracks": 1548,
                                                                        "gold/review_queue": 42}}})
    lines = runs_table(str(lake)).splitlines()
    assert lines[0].split() == ["run", "status", "started", "(UTC)", "duration", "films", "links", "reviews"]
    assert lines[2].split() == ["20260102T000000Z", "succeeded", "2026-01-02", "03:00:00", "2m05s", "6,193", "1,548",
                                "42"]
    assert lines[3].split()[:2] == ["20260101T000000Z", "failed"] and lines[3].split()[-2:] == ["–", "–"]
    assert runs_table(str(lake), limit=1).splitlines()[-1].startswith("... 1 older run(s)")
    assert "no runs in the lake" in runs_table(str(tmp_path / "empty"))

    env = {**os.environ, "LAKE_ROOT": str(lake)}
    res = subprocess.run([sys.executable, "-m", "scripts_spark", "runs"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and "20260102T000000Z   succeeded" in res.stdout, res.stderr


def test_evaluate_prints_a_table_with_the_original_rule_beside_each_source():
    figures = {"precision": 0.998, "recall": 0.993, "f1": 0.996, "tp": 590, "judged": 591, "positives": 594,
               "predicted_matches": 1517}
    result = {"run_id": "r1", "labels": "dev.csv", "sources": {"musicbrainz": figures},
              "original_rule": {"musicbrainz": {**figures, "precision": 0.5}},
              "blocking": {"musicbrainz": {"pair_completeness": 0.997, "found": 592, "positives": 594,
                                           "candidates": 7971, "reduction_ratio": 0.9993}},
              "missed": {"musicbrainz": {"other_film": 0, "review_exact_tie": 0, "review": 2, "no_link": 2,
                                         "recall_without_exact_ties": 0.993}}}
    lines = evaluation_table(result).splitlines()
    assert lines[2].split() == ["source", "rule", "precision", "recall", "F1", "links", "judged", "true+", "labelled+"]
    assert lines[4].split() == ["musicbrainz", "pipeline", "0.998", "0.993", "0.996", "1,517", "591", "590", "594"]
    assert lines[5].split() == ["original", "0.500", "0.993", "0.996", "1,517", "591", "590", "594"]
    assert any(line.startswith("blocking musicbrainz: pair completeness 0.997") for line in lines)
    assert len(lines) < 15


def test_evaluate_prints_the_matchers_out_of_fold_figures_with_intervals_beside_in_sample():
    def figures(precision, recall):
        return {"musicbrainz": {"precision": precision, "recall": recall, "precision_95": [0.9906, 0.9978],
                                "recall_95": [0.9816, 0.9926]}}
    quality = {"version": "m13", "threshold": 0.4188, "label_files": ["dev.csv", "batch2.csv"],
               "figures": {"all": {"out_of_fold": figures(0.9954, 0.9883), "in_sample": figures(0.9941, 0.9896)}}}
    lines = evaluation_table({"run_id": "r1", "labels": "dev.csv", "sources": {}, "matcher_quality": quality})
    lines = lines.splitlines()
    assert "matcher m13 on all its labels (dev.csv, batch2.csv), match threshold 0.4188" in lines[-2]
    assert lines[-1].split() == ["musicbrainz", "out", "of", "fold", "P", "0.9954", "(0.991-0.998)", "R", "0.9883",
                                 "(0.982-0.993);", "in", "sample", "P", "0.9941", "(0.991-0.998)", "R", "0.9896",
                                 "(0.982-0.993)"]
    assert evaluation_table({"run_id": "r1", "sources": {}}).splitlines()[-1].startswith("precision:")
