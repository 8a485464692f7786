"""Step 05 as the pipeline runs it: Silver in a lake -> Gold tables, counts that balance, a rerun that replaces."""
from __future__ import annotations

import dataclasses
import json

import pytest

from scripts_spark.base_step import StepFailed
from scripts_spark.config import REPO_ROOT
from scripts_spark.lake import Lake
from scripts_spark.pipeline import run_pipeline
from scripts_spark.tables import schema_of
from scripts_spark.steps.s05_match_enrich import MatchAndEnrich
from scripts_spark.transforms.features import FEATURE_VERSION, MODEL_FEATURES
from test_features import film_row, pair_row, release_row

RUN_ID = "match-step"
pytestmark = pytest.mark.slow   # step 05 through run_pipeline, twice

# Hand-set weights (not the fitted ones) so the expected decisions follow from the features alone.
WEIGHTS = {name: 0.0 for name in MODEL_FEATURES} | {"title_exact": 3.0, "composer_match": 3.0, "year_same": 1.0,
                                                    "year_far": -4.0, "title_nonfilm_marker": -4.0}
# Blocking rules and guards as shipped; only the matcher section is hand-set.
SHIPPED = json.loads((REPO_ROOT / "scripts_spark" / "match_settings.json").read_text(encoding="utf-8"))
MATCHER = {**SHIPPED, "matcher": {"version": "step-test", "feature_version": FEATURE_VERSION, "weights": WEIGHTS,
                       "intercept": -2.5, "ranker": {"weights": WEIGHTS, "intercept": 0.0},
                       "thresholds": {"match": 0.9, "review": 0.5}, "match_requires": ["release_is_soundtrack"]}}

FILMS = [film_row(1, "Jaws", 1975, ["John Williams"]), film_row(2, "Jaws", 2030),
         film_row(3, "Les Misérables", 2012, ["Claude-Michel Schönberg"], title_norm="les miserables"),
         film_row(4, "Serenity", 2019, ["Benjamin Wallfisch"])]
RELEASES = [
    release_row("rg-jaws", "Jaws", 1975, ["John Williams"]),                                   # match film 1
    release_row("rg-cast", "Les Misérables (1991 Dutch cast)", 1991, ["Claude-Michel Schönberg"],
                title_norm="les miserables"),                                                  # below review
    release_row("rg-serenity", "Serenity", None, ["Someone Else"]),                            # review (exact only)
    release_row("m-jaws", "Jaws", 1975, ["John Williams"], source="discogs", primary_type=None, secondary_types=(),
                genres=["Stage & Screen"], styles=["Score"]),                                  # match film 1
]
CANDIDATES = [(1, "musicbrainz", "rg-jaws"), (2, "musicbrainz", "rg-jaws"), (3, "musicbrainz", "rg-cast"),
              (4, "musicbrainz", "rg-serenity"), (1, "discogs", "m-jaws"), (2, "discogs", "m-jaws")]


@pytest.fixture(scope="module")
def step_run(spark, tmp_path_factory):
    from scripts_spark.config import load_settings

    root = tmp_path_factory.mktemp("step05")
    settings_file = root / "match_settings.json"
    settings_file.write_text(json.dumps(MATCHER))
    settings = load_settings(env_file=root / "no.env", environ={}, lake_root=str(root / "lake"),
                             log_dir=str(root / "logs"), match_settings_path=str(settings_file))
    lake = Lake(settings.lake_root)
    lake.write_table(spark.createDataFrame(FILMS, schema_of("silver/films")), "silver/films", RUN_ID)
    lake.write_table(spark.createDataFrame(RELEASES, schema_of("silver/releases")), "silver/releases", RUN_ID)
    lake.write_table(spark.createDataFrame([pair_row(*c, ["title_exact"]) for c in CANDIDATES], schema_of("silver/candidate_pairs")),
                     "silver/candidate_pairs", RUN_ID)
    doc = run_pipeline(settings, RUN_ID, "05", spark=spark)
    return settings, lake, doc


def read(spark, lake, table):
    return {(r["source"], r["release_id"]): r.asDict()
            for r in lake.read_table(spark, table, RUN_ID, schema_of(table)).collect()}


def test_step_writes_one_link_per_release_with_match_and_review_decisions(spark, step_run):
    _, lake, _ = step_run
    links = read(spark, lake, "gold/soundtrack_matches")
    assert {k: (v["tmdb_id"], v["decision"]) for k, v in links.items()} == {
        ("musicbrainz", "rg-jaws"): (1, "match"), ("discogs", "m-jaws"): (1, "match"),
        ("musicbrainz", "rg-serenity"): (4, "review")}
    reasons = json.loads(links[("musicbrainz", "rg-jaws")]["reasons"])
    assert {c["feature"] for c in reasons["contributions"]} >= {"title_exact", "composer_match", "year_same"}
    assert reasons["runner_up"]["tmdb_id"] == 2


def test_review_queue_and_film_soundtracks_split_the_links_by_decision(spark, step_run):
    _, lake, _ = step_run
    queue = read(spark, lake, "gold/review_queue")
    assert list(queue) == [("musicbrainz", "rg-serenity")]
    assert queue[("musicbrainz", "rg-serenity")]["film_title"] == "Serenity"
    enriched = read(spark, lake, "gold/film_soundtracks")
    assert set(enriched) == {("musicbrainz", "rg-jaws"), ("discogs", "m-jaws")}
    assert enriched[("discogs", "m-jaws")]["decade"] == 1970
    assert enriched[("discogs", "m-jaws")]["soundtrack_genres"] == ["score", "stage & screen"]


def test_every_candidate_pair_is_accounted_for_in_the_manifest(step_run):
    _, _, doc = step_run
    step = doc["steps"]["05"]
    assert step["status"] == "succeeded"
    assert (step["rows_in"], step["rows_out"], step["filtered"], step["rejected"]) == (6, 3, 3, 0)
    metrics = step["metrics"]
    assert metrics["pairs_not_best_for_release"] == 2 and metrics["releases_below_review"] == 1
    assert metrics["by_source"] == {"discogs": {"match": 1, "review": 0, "human": 0},
                                    "musicbrainz": {"match": 1, "review": 1, "human": 0}}
    assert step["tables"] == {"gold/soundtrack_matches": 3, "gold/review_queue": 1, "gold/film_soundtracks": 2}


def test_rerunning_the_step_replaces_its_partition_instead_of_adding_rows(spark, step_run):
    settings, lake, _ = step_run
    run_pipeline(settings, RUN_ID, "05", spark=spark)
    assert len(read(spark, lake, "gold/soundtrack_matches")) == 3


def test_dry_run_preview_names_the_matcher_and_its_thresholds(step_run):
    from scripts_spark.base_step import StepContext
    from scripts_spark.log import get_logger

    settings, lake, _ = step_run
    lines = MatchAndEnrich().preview(StepContext(None, settings, lake, RUN_ID, get_logger(RUN_ID)))
    assert "step-test" in lines[0] and "match >= 0.9" in "\n".join(lines)


def test_weights_that_do_not_fit_the_features_fail_the_step_with_the_file_named(spark, step_run, tmp_path):
    settings, _, _ = step_run
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**MATCHER, "matcher": {**MATCHER["matcher"], "weights": {"title_exact": 1.0}}}))
    with pytest.raises(StepFailed, match="bad.json"):
        run_pipeline(dataclasses.replace(settings, match_settings_path=str(bad)), RUN_ID, "05", spark=spark)
