"""A fresh-clone `make run` on the bundled sample, judged on row accounting, contracts and match quality.

The clone holds only what git would give a new user (tracked and not-ignored files: no lake, no .env, no logs);
it reuses this venv through VENV so the test measures the pipeline, not pip.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN_ID = "e2e-sample"


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory):
    clone = tmp_path_factory.mktemp("clone") / "soundtrack-lake"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / rel)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(clone),
           "VENV": str(Path(sys.executable).parent.parent)}
    res = subprocess.run(["make", "run", f"ARGS=--run-id {RUN_ID}"], cwd=clone, env=env, capture_output=True,
                         text=True, timeout=1800, stdin=subprocess.DEVNULL)
    return clone, res


def _manifest(clone: Path) -> dict:
    return json.loads((clone / "data" / "lake" / "_runs" / RUN_ID / "manifest.json").read_text())


def test_make_run_on_a_fresh_clone_succeeds_and_prints_the_report_path(fresh_run):
    clone, res = fresh_run
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report_lines = [line for line in res.stdout.splitlines() if line.startswith("report: ")]
    assert report_lines, res.stdout
    report = Path(report_lines[-1].split("report: ", 1)[1])
    assert report.exists() and report.stat().st_size > 10_000
    assert (clone / "logs" / f"pipeline_{RUN_ID}.log").exists()


def test_manifest_records_every_step_and_balanced_accounting(fresh_run):
    clone, _ = fresh_run
    doc = _manifest(clone)
    assert doc["status"] == "succeeded" and doc["config_fingerprint"]
    steps = doc["steps"]
    for number in ("01", "02", "03", "04", "05", "06"):
        assert steps[number]["status"] == "succeeded", (number, steps[number])
    # Step 07 always writes Gold (into a local PostgreSQL too when one can be started for the clone).
    assert steps["07"]["status"] == "succeeded" and steps["07"]["tables"]["gold/recommendations"] > 0
    assert steps["01"]["rows_in"] == 6193
    assert steps["01"]["rows_in"] == steps["01"]["rows_out"] + steps["01"]["quarantined"] + steps["01"]["rejected"]
    assert doc["inputs"]["tmdb"]["files"] == 1


def test_sample_run_meets_the_match_quality_targets_by_the_reference_scorer(fresh_run):
    clone, _ = fresh_run
    out = subprocess.run([sys.executable, str(REPO / "data" / "eval" / "score_gold.py"), str(clone / "data" / "lake"),
                          RUN_ID, str(REPO / "data" / "eval" / "dev_labels.csv"), "matches"],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    scores = json.loads(out)
    mb, dg = scores["musicbrainz"], scores["discogs"]
    assert mb["precision"] >= 0.99 and mb["recall"] >= 0.98, mb
    # 7 of the 8 Discogs positives: the 'Raiders of the Lost Ark' master goes to review, because 'Dial of Destiny'
    # (same franchise words, same composer) keeps 15% of the ranker's odds and an automatic match needs the first
    # film to hold 90% (decide.MIN_RANK_SHARE). Its precision stays exact.
    assert dg["recall"] >= 7 / 8 and dg["precision"] == 1.0, dg
