"""Incremental runs equal a full run: three snapshots of the sample through one lake, against one full run.

The chain (s1 full, then s2 and s3 incremental) and a full run on s3 in a lake of its own must give the same Gold:
the same links, decisions and scores (to 1e-9), the same review queue, film soundtracks and marts
(scripts_spark/incremental/compare.py). s3 is the bundled sample, so the full run is the session's `sample_run`
(steps 01-06 on the sample, like the chain's). Each run goes through `run_pipeline` in this process, as `make run`
does.
"""
from __future__ import annotations

import json

import pytest

from conftest import SAMPLE, SAMPLE_STEPS
from incremental_world import build_snapshots
from scripts_spark.config import load_settings
from scripts_spark.incremental.compare import compare_gold
from scripts_spark.lake import Lake
from scripts_spark.pipeline import run_pipeline

pytestmark = pytest.mark.slow   # three runs of steps 01-06 on sample-sized snapshots, and the sample run
STEPS = "01-06"


def _settings(tmp, lake: str, input_dir, **extra):
    return load_settings(env_file=tmp / "no.env", environ={}, lake_root=lake, input_dir=str(input_dir),
                         log_dir=str(tmp / "logs"), **extra)


@pytest.fixture(scope="module")
def chain(spark, tmp_path_factory, sample_run):
    tmp = tmp_path_factory.mktemp("incremental")
    s1, s2, s3 = build_snapshots(tmp / "inputs")
    assert STEPS == SAMPLE_STEPS and s3 == SAMPLE   # the full run on s3 is the sample run
    lake = str(tmp / "lake")
    docs = {}
    for run_id, folder in (("inc1", s1), ("inc2", s2), ("inc3", s3)):
        docs[run_id] = run_pipeline(_settings(tmp, lake, folder), run_id, STEPS, spark=spark)
    docs["full3"] = sample_run.manifest
    return lake, (sample_run.settings.lake_root, sample_run.run_id), docs


def test_a_chain_of_incremental_runs_gives_the_gold_of_a_full_run_on_the_final_inputs(chain):
    lake, (full_lake, full_run), docs = chain
    assert [docs[r]["incremental"]["mode"] for r in ("inc1", "inc2", "inc3", "full3")] == \
        ["full", "incremental", "incremental", "full"]
    differences = compare_gold(lake, "inc3", full_lake, full_run)
    assert not any(differences.values()), json.dumps(differences, indent=2)


def test_incremental_runs_see_adds_edits_and_deletes_in_every_source(chain):
    _, _, docs = chain
    for run_id in ("inc2", "inc3"):
        feeds = docs[run_id]["incremental"]["feeds"]
        for feed in ("tmdb", "musicbrainz", "discogs_masters", "discogs_releases", "discogs_search"):
            counts = feeds[feed]
            assert counts["mode"] == "incremental"
            assert counts["added"] and counts["edited"] and counts["deleted"], (run_id, feed, counts)


def test_link_history_records_each_kind_of_change_with_its_reason(chain, spark):
    lake, _, docs = chain
    history = Lake(lake).read_table(spark, "gold/link_history", "inc3", _schema("gold/link_history")).toPandas()
    events = set(history[history.event_run_id.isin(["inc2", "inc3"])].event)
    assert {"added", "removed", "score_changed"} <= events, events
    assert (history[history.event_run_id == "inc1"].event == "added").all()
    assert history.reason.notna().all()
    assert docs["inc3"]["incremental"]["link_events"]


def _schema(name):
    from scripts_spark.tables import schema_of

    return schema_of(name)
