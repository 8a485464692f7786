"""Bad input and faults never corrupt the state: a truncated snapshot is refused, a run that fails keeps the previous
state, its rerun builds on it, and --full rebuilds to the same Gold. Tiny inputs (40 labelled pairs of the sample)
keep runs short."""
from __future__ import annotations

import json

import pytest

from incremental_world import tiny_world, write_tiny_input
from scripts_spark.base_step import StepFailed
from scripts_spark.config import load_settings
from scripts_spark.incremental import relink
from scripts_spark.incremental.compare import compare_gold
from scripts_spark.incremental.state import StateStore
from scripts_spark.lake import Lake
from scripts_spark.pipeline import run_pipeline

pytestmark = pytest.mark.slow
STEPS = "01-05"


def _settings(tmp, lake, folder, **extra):
    return load_settings(env_file=tmp / "no.env", environ={}, lake_root=str(lake), input_dir=str(folder),
                         log_dir=str(tmp / "logs"), **extra)


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    """A lake whose state holds the tiny input, and the pieces to derive other inputs from it."""
    tmp = tmp_path_factory.mktemp("faults")
    films, groups, records = tiny_world()
    first = write_tiny_input(tmp / "in0", films, groups, records)
    lake = tmp / "lake"
    run_pipeline(_settings(tmp, lake, first), "f0", STEPS, spark=spark)
    return tmp, lake, films, groups, records


def _version(lake) -> str:
    return StateStore(Lake(str(lake))).current().version


def test_a_snapshot_missing_most_of_a_source_is_refused_and_the_state_stays(spark, world):
    tmp, lake, films, groups, records = world
    before = _version(lake)
    truncated = write_tiny_input(tmp / "in_truncated", films[: len(films) // 2], groups, records)
    with pytest.raises(StepFailed, match=r"tmdb snapshot would delete [\d,]+ of the [\d,]+ records .*more than "
                                         r"INCREMENTAL_MAX_VANISHED_SHARE=20%"):
        run_pipeline(_settings(tmp, lake, truncated), "f1", STEPS, spark=spark)
    assert _version(lake) == before
    assert not Lake(str(lake)).list_names(StateStore(Lake(str(lake))).path("pending"))


def test_a_failed_run_keeps_the_state_its_rerun_builds_on_it_and_a_full_rebuild_agrees(spark, world, monkeypatch):
    tmp, lake, films, groups, records = world
    base = StateStore(Lake(str(lake))).current()
    before = base.version
    edited = dict(records["tmdb"])
    doc = json.loads(edited[films[0]])
    doc["title"] = f"{doc['title']} Reloaded"
    edited[films[0]] = json.dumps(doc)
    changed = write_tiny_input(tmp / "in_edit", films[1:] + [films[0]], groups,
                               {"tmdb": edited, "musicbrainz": records["musicbrainz"]})

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk gone in the middle of step 05")

    monkeypatch.setattr(relink, "rescore", broken)
    with pytest.raises(StepFailed, match="disk gone"):
        run_pipeline(_settings(tmp, lake, changed), "f2", STEPS, spark=spark)
    assert _version(lake) == before
    monkeypatch.undo()

    doc = run_pipeline(_settings(tmp, lake, changed), "f2", STEPS, spark=spark)
    assert doc["incremental"]["mode"] == "incremental" and doc["incremental"]["base_version"] == before
    assert doc["incremental"]["feeds"]["tmdb"]["edited"] == 1
    assert _version(lake) != before
    # No Discogs input now, nor when the base was built: those feeds count as unread, and the state table built from
    # them alone stays in the base's version instead of being written again.
    assert doc["incremental"]["absent_feeds"] == ["discogs_masters", "discogs_releases", "discogs_search"]
    assert StateStore(Lake(str(lake))).current().tables["discogs_records"] == base.tables["discogs_records"]

    # --full on the same lake: the state is rebuilt from nothing, says why, and gives the incremental rerun's Gold.
    full = run_pipeline(_settings(tmp, lake, changed, incremental="full"), "f3", STEPS, spark=spark)
    assert full["incremental"]["mode"] == "full" and "--full" in full["incremental"]["reason"]
    assert StateStore(Lake(str(lake))).current().run_id == "f3"
    differences = compare_gold(str(lake), "f2", str(lake), "f3", tables=("gold/soundtrack_matches",
                                                                         "gold/review_queue", "gold/film_soundtracks"))
    assert not any(differences.values()), differences

    # A run of part of the chain neither uses nor advances the state.
    alone = run_pipeline(_settings(tmp, lake, changed), "f3", "05", spark=spark)
    assert alone["incremental"]["mode"] == "off"
    assert StateStore(Lake(str(lake))).current().run_id == "f3"
