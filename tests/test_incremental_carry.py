"""A night on which nothing changed: steps 03-07 carry the state's run tables over by file copy (incremental/carry.py),
and a run that is not such a night (a review verdict given, a partition gone) computes what it must; the dry run says
which it will be.
Every carried Gold equals the Gold of a run that computed it. Tiny inputs (40 labelled pairs of the sample) keep the
runs short."""
from __future__ import annotations

import json

import pytest

from incremental_world import tiny_world, write_tiny_input
from scripts_spark.config import load_settings
from scripts_spark.incremental.compare import compare_gold
from scripts_spark.incremental.report import dry_run_lines
from scripts_spark.lake import Lake
from scripts_spark.pipeline import run_pipeline
from scripts_spark.review.store import DecisionStore, Pair, new_decision
from scripts_spark.steps import s07_recommend
from scripts_spark.tables import schema_of
from test_recommend_step import SMALL, movielens_slice

pytestmark = pytest.mark.slow
STEPS = "01-05"          # the nights after the first two: step 06 adds nothing to what they check
WITH_RECOMMENDER = "01-07"
SILVER = ("silver/films", "silver/releases", "silver/candidate_pairs")


def _settings(tmp, lake, folder, **extra):
    return load_settings(env_file=tmp / "no.env", environ={}, lake_root=str(lake), input_dir=str(folder),
                         log_dir=str(tmp / "logs"), **extra)


def _carried(doc) -> list[str]:
    return (doc["incremental"].get("carried") or {}).get("steps", [])


def _rows(spark, lake, table, run_id):
    return sorted(map(tuple, Lake(str(lake)).read_table(spark, table, run_id, schema_of(table)).drop("run_id")
                      .toPandas().astype(str).values.tolist()))


@pytest.fixture(scope="module")
def nights(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("carry")
    films, groups, records = tiny_world()
    folder = movielens_slice(write_tiny_input(tmp / "in", films, groups, records))
    lake = tmp / "lake"
    settings = _settings(tmp, lake, folder)
    with pytest.MonkeyPatch.context() as patch:   # the recommender's small grid (tests/test_recommend_step.py)
        patch.setattr(s07_recommend, "DEFAULT", SMALL)
        docs = {"full": run_pipeline(settings, "full", WITH_RECOMMENDER, spark=spark)}
        docs["quiet"] = run_pipeline(settings, "quiet", WITH_RECOMMENDER, spark=spark)
    # a person accepts the queue's first link (or, with an empty queue, rejects the first match)
    queue = Lake(str(lake)).read_table(spark, "gold/soundtrack_matches", "quiet",
                                       schema_of("gold/soundtrack_matches")).orderBy("decision", "release_id").first()
    judged = Pair(queue.source, queue.release_kind, queue.release_id, queue.tmdb_id)
    verdict = "accept" if queue.decision == "review" else "reject"
    DecisionStore(str(lake)).append(new_decision(judged, verdict, reviewer="tester", run_id="quiet",
                                                 matcher_version="test", match_score=queue.match_score,
                                                 model_decision=queue.decision))
    docs["judged"] = run_pipeline(settings, "judged", STEPS, spark=spark)
    docs["rebuilt"] = run_pipeline(_settings(tmp, lake, folder, incremental="full"), "rebuilt", STEPS, spark=spark)
    return tmp, lake, folder, docs, judged, verdict


def test_a_night_with_no_change_carries_steps_03_to_07_and_its_tables_are_the_state_runs(spark, nights):
    _, lake, _, docs, _, _ = nights
    quiet = docs["quiet"]
    assert quiet["incremental"]["mode"] == "incremental" and _carried(quiet) == ["03", "04", "05", "06", "07"]
    assert quiet["incremental"]["carried"]["from_run"] == "full"
    for number in ("03", "04", "05", "06", "07"):
        assert "nothing changed since run full" in quiet["steps"][number]["notes"][-1]
    assert "the same MovieLens files and recommender settings" in quiet["steps"]["07"]["notes"][-1]
    recommender = quiet["steps"]["07"]
    assert recommender["metrics"]["inputs_key"] == docs["full"]["steps"]["07"]["metrics"]["inputs_key"]
    assert recommender["metrics"]["postgres"] == {"server": None, "tables": {}}   # none configured: Gold only
    for table in ("gold/recommendations", "gold/movie_stats", "gold/model_metrics"):
        assert _rows(spark, lake, table, "quiet") == _rows(spark, lake, table, "full"), table
        assert recommender["tables"][table] == len(_rows(spark, lake, table, "quiet")) > 0, table
    assert quiet["steps"]["05"]["tables"] == docs["full"]["steps"]["05"]["tables"]
    assert quiet["steps"]["05"]["metrics"]["carried_from"] == "full"
    assert not any(compare_gold(str(lake), "quiet", str(lake), "full").values())
    for table in SILVER:
        assert _rows(spark, lake, table, "quiet") == _rows(spark, lake, table, "full"), table
    assert quiet["incremental"]["link_events"] == {}
    # the staged tables hold a run's changes: none
    assert all(n == 0 for n in quiet["steps"]["03"]["tables"].values())
    assert quiet["incremental"]["state_version"].startswith("quiet.")   # the state moved on to this run


def test_a_review_verdict_since_the_last_run_carries_03_and_04_and_decides_again_in_05(spark, nights):
    _, lake, _, docs, judged, verdict = nights
    judged_doc = docs["judged"]
    assert _carried(judged_doc) == ["03", "04"]
    assert "carried_from" not in judged_doc["steps"]["05"]["metrics"]
    links = {(r.source, r.release_kind, r.release_id): r for r in Lake(str(lake)).read_table(
        spark, "gold/soundtrack_matches", "judged", schema_of("gold/soundtrack_matches")).collect()}
    link = links.get(judged.release)
    if verdict == "accept":
        assert link.tmdb_id == judged.tmdb_id and link.decision_source == "human" and link.decision == "match"
    else:
        assert link is None or link.tmdb_id != judged.tmdb_id
    # a full rebuild with the same verdict gives the same Gold
    assert docs["rebuilt"]["incremental"]["mode"] == "full" and _carried(docs["rebuilt"]) == []
    assert not any(compare_gold(str(lake), "judged", str(lake), "rebuilt").values())


def test_a_lost_partition_is_computed_not_carried_and_the_dry_run_says_what_a_run_would_carry(spark, nights):
    tmp, lake, folder, docs, _, _ = nights
    lines = dry_run_lines(_settings(tmp, lake, folder), ["01", "02", "03", "04", "05", "06", "07"])
    assert lines[-1] == ("  nothing changed since run rebuilt: steps 03-06 (07 too when its MovieLens files and "
                         "settings are unchanged) carry its tables over by file copy"), lines
    other = dry_run_lines(_settings(tmp, lake, folder, link_history_score_tolerance=0.05), ["01", "02", "03", "04",
                                                                                          "05", "06"])
    assert "ran with other settings or code" in other[-1] and "steps 03-06 run on the state" in other[-1], other
    # the state's run is 'rebuilt': its Gold partition removed by hand
    root = Lake(str(lake))
    root.delete(root.committed_partition_path("gold/soundtrack_matches", "rebuilt"))
    lost = run_pipeline(_settings(tmp, lake, folder), "lost", STEPS, spark=spark)
    assert _carried(lost) == ["03", "04"]
    assert not any(compare_gold(str(lake), "lost", str(lake), "judged").values())
    assert json.loads(root.read_text(root.run_file("lost", "manifest.json")))["status"] == "succeeded"


def test_the_recommenders_inputs_key_follows_its_files_and_settings(tmp_path):
    from scripts_spark.base_step import StepContext

    folder = movielens_slice(tmp_path / "in")
    context = StepContext(None, _settings(tmp_path, tmp_path / "lake", folder), Lake(str(tmp_path / "lake")), "r",
                          None)
    step = s07_recommend.Recommend(SMALL)
    key = step.inputs_key(context)
    assert key and step.inputs_key(context) == key
    assert s07_recommend.Recommend(s07_recommend.DEFAULT).inputs_key(context) != key      # other settings
    ratings = folder / "movielens" / "ratings.csv"
    ratings.write_text(ratings.read_text() + "1,1,4.0,964982704\n")
    assert step.inputs_key(context) != key                                                  # other ratings
    ratings.unlink()
    assert step.inputs_key(context) is None                                                 # nothing to compare


def test_any_change_to_the_packages_code_or_settings_files_stops_a_carry(tmp_path, monkeypatch):
    from scripts_spark.incremental import plan

    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "s06.py").write_text("MARTS = 1\n")
    (tmp_path / "match_settings.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("not code")

    def fingerprint():
        plan.package_fingerprint.cache_clear()
        return plan.package_fingerprint()

    monkeypatch.setattr(plan, "PACKAGE", tmp_path)
    try:
        before = fingerprint()
        (tmp_path / "notes.txt").write_text("still not code")
        assert fingerprint() == before
        (tmp_path / "steps" / "s06.py").write_text("MARTS = 2\n")
        changed = fingerprint()
        assert changed != before
        (tmp_path / "match_settings.json").write_text('{"threshold": 0.5}')
        assert fingerprint() != changed
    finally:
        monkeypatch.undo()
        plan.package_fingerprint.cache_clear()


def test_a_carry_check_that_fails_lets_the_step_run(tmp_path):
    from scripts_spark.base_step import StepContext
    from scripts_spark.incremental.carry import carrier
    from scripts_spark.log import get_logger
    from scripts_spark.pipeline import load_step

    class UnreadableState:   # a plan whose state cannot be read
        incremental, base, notes = True, object(), {"carried": {"steps": ["03"]}}

        def left_unread(self, *feeds):
            raise OSError("the state's notes are unreadable")

    context = StepContext(None, _settings(tmp_path, tmp_path / "lake", tmp_path), Lake(str(tmp_path / "lake")), "r",
                          get_logger("r"))
    assert carrier(UnreadableState(), load_step("04"), context) is None
