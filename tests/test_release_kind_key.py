"""A Discogs master and a master-less Discogs release can carry the same number (Discogs numbers them separately):
both are releases of their own, from Silver's key to blocking, features, the best-film choice and the evaluation
(issue 25). Tiny inline frames, except the state-layout check, which needs no Spark."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from scripts_spark import match_settings
from scripts_spark.config import REPO_ROOT
from scripts_spark.evaluate import link_quality
from scripts_spark.incremental.plan import FULL, decide_mode
from scripts_spark.incremental.state import Version
from scripts_spark.sources.labels import label_release_key, read_labels, with_release_kinds
from scripts_spark.tables import schema_of, table
from scripts_spark.transforms.blocking import block
from scripts_spark.transforms.contracts import FAILED, check_rows, valid_rows
from scripts_spark.transforms.decide import pick_best_film_per_release
from scripts_spark.transforms.features import pair_features
from test_features import film_row, pair_row, release_row

BLOCKING_SETTINGS = match_settings.load(REPO_ROOT / "scripts_spark" / "match_settings.json").blocking
TWIN = "217585"   # the id of the collision docs/incremental.md describes
FILMS = [film_row(1, "Jaws", 1975, ["John Williams"]), film_row(2, "Tuck July", 2003, ["Someone Else"])]
RELEASES = [
    release_row(TWIN, "Jaws", 1975, ["John Williams"], source="discogs"),                          # the master
    release_row(TWIN, "Tuck July", 2003, ["Someone Else"], source="discogs", release_kind="release"),  # no master
]


@pytest.fixture(scope="module")
def silver(spark):
    films = spark.createDataFrame(FILMS, schema_of("silver/films"))
    releases = spark.createDataFrame(RELEASES, schema_of("silver/releases"))
    return films, releases


def test_a_master_and_a_masterless_release_with_one_number_are_both_valid_silver_releases(spark, silver):
    _, releases = silver
    checked = check_rows(releases, table("silver/releases")).collect()
    assert {(r["release_kind"], r["title"]): [f["rule"] for f in r[FAILED]] for r in checked} == {
        ("master", "Jaws"): [], ("release", "Tuck July"): []}


def test_each_twin_gets_its_own_candidate_pairs_and_they_pass_the_pairs_contract(spark, silver):
    films, releases = silver
    pairs = block(films, releases, BLOCKING_SETTINGS).pairs
    proposed = {(r["tmdb_id"], r["release_kind"], r["release_id"]) for r in pairs.collect()}
    assert (1, "master", TWIN) in proposed and (2, "release", TWIN) in proposed
    contract = table("silver/candidate_pairs")
    checked = check_rows(pairs, contract, {"silver/films": films, "silver/releases": releases})
    assert valid_rows(checked, contract).count() == pairs.count()
    # a pair naming the id with a kind it does not have references no release
    stray = spark.createDataFrame([pair_row(1, "discogs", "999", ["title_exact"]),
                                   pair_row(1, "discogs", TWIN, ["title_exact"], release_kind="release")],
                                  schema_of("silver/candidate_pairs"))
    failed = {r["release_id"]: [f["rule"] for f in r[FAILED]] for r in
              check_rows(stray, contract, {"silver/films": films, "silver/releases": releases}).collect()}
    assert failed == {"999": ["release_exists"], TWIN: []}


def test_a_pair_is_featurised_against_its_own_twin(spark, silver):
    films, releases = silver
    pairs = spark.createDataFrame([pair_row(t, "discogs", TWIN, ["title_exact"], release_kind=k)
                                   for t in (1, 2) for k in ("master", "release")], schema_of("silver/candidate_pairs"))
    features = {(r["tmdb_id"], r["release_kind"]): r for r in pair_features(pairs, films, releases).collect()}
    assert len(features) == 4   # one row per pair, never one per release of the id
    assert {key: r["title_exact"] for key, r in features.items()} == {
        (1, "master"): 1.0, (1, "release"): 0.0, (2, "master"): 0.0, (2, "release"): 1.0}


def test_the_best_film_is_chosen_per_release_kind_so_twins_never_compete(spark):
    scored = spark.createDataFrame([
        ("discogs", "master", TWIN, 1, 3.0, 0.9, 0), ("discogs", "master", TWIN, 2, 1.0, 0.4, 28),
        ("discogs", "release", TWIN, 2, 2.0, 0.8, 0), ("discogs", "release", TWIN, 3, 2.0, 0.7, 1),
    ], "source string, release_kind string, release_id string, tmdb_id long, rank_logit double, "
       "match_score double, year_diff int").withColumn("decision_source", F.lit("model")) \
        .withColumn("imdb_bridge", F.lit(0.0))
    best = {r["release_kind"]: r for r in pick_best_film_per_release(scored).collect()}
    assert {k: r["tmdb_id"] for k, r in best.items()} == {"master": 1, "release": 2}
    assert {k: r["runner_up_tmdb_id"] for k, r in best.items()} == {"master": 2, "release": 3}
    assert best["release"]["rank_share"] == pytest.approx(0.5)   # two films tie within the release only


LABELS = "source,tmdb_id,release_id,label,note\ndiscogs,1,217585,1,the master's film\n"
LINKS = [(1, "discogs", "master", TWIN), (2, "discogs", "release", TWIN)]


def test_labels_without_a_kind_name_a_release_by_its_id_as_the_reference_scorer_does(spark, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(LABELS)
    labels = read_labels(spark, str(path))
    assert label_release_key(labels) == ["source", "release_id"]
    links = spark.createDataFrame(LINKS, "tmdb_id long, source string, release_kind string, release_id string")
    # both links name the labelled id: the film-2 link is judged, and wrong (score_gold.py counts it the same way)
    assert link_quality(links, labels)["discogs"] == {
        "precision": 0.5, "recall": 1.0, "f1": 0.6667, "tp": 1, "judged": 2, "positives": 1, "predicted_matches": 2}


def test_labels_with_a_kind_tell_the_twins_apart(spark, tmp_path):
    path = tmp_path / "truth.csv"   # bench/generate_scale.py's truth: release_kind is the last column
    path.write_text("source,tmdb_id,release_id,label,note,release_kind\n"
                    "discogs,1,217585,1,the master's film,master\ndiscogs,2,217585,1,\"twin, another film\",release\n")
    labels = read_labels(spark, str(path))
    assert label_release_key(labels) == ["source", "release_kind", "release_id"]
    assert sorted((r["tmdb_id"], r["release_kind"], r["note"]) for r in labels.collect()) == [
        (1, "master", "the master's film"), (2, "release", "twin, another film")]
    swapped = spark.createDataFrame([(2, "discogs", "master", TWIN), (1, "discogs", "release", TWIN)],
                                    "tmdb_id long, source string, release_kind string, release_id string")
    assert link_quality(swapped, labels)["discogs"]["tp"] == 0
    right = spark.createDataFrame(LINKS, "tmdb_id long, source string, release_kind string, release_id string")
    assert link_quality(right, labels)["discogs"]["tp"] == 2


def test_a_label_without_a_kind_trains_on_every_silver_release_of_its_id(spark, silver, tmp_path):
    _, releases = silver
    path = tmp_path / "labels.csv"
    path.write_text(LABELS + "discogs,5,404,0,not in Silver\n")
    kinds = sorted((r["tmdb_id"], r["release_kind"]) for r in with_release_kinds(read_labels(spark, str(path)),
                                                                                  releases).collect())
    assert kinds == [(1, "master"), (1, "release")]


def _version(fingerprint: dict) -> Version:
    return Version("v1", "R0", "2026-01-01T00:00:00+00:00", fingerprint, {}, {})


def test_a_state_of_the_layout_before_release_kind_forces_a_full_run_that_says_why(settings):
    from scripts_spark.incremental.state import fingerprint

    now = fingerprint(settings)
    old = _version({**now, "format": "1"})
    mode, reason = decide_mode(settings, old, ["01", "02", "03", "04", "05"], now)
    assert mode == FULL
    assert reason == (f"the state of run R0 has layout 1 and this code reads layout {now['format']}: rebuilt in "
                      "full, in the new layout")
