"""`evaluate`: scoring against labels agrees with the reference scorer; the original rule is measured on the run."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from scripts_spark.evaluate import (evaluate_run, link_quality, missed_positives, original_rule_links,
                                    rank_share_calibration)
from scripts_spark.sources.labels import read_labels
from scripts_spark.lake import Lake
from scripts_spark.tables import schema_of
from test_features import film_row, release_row

REPO_SCORER = "data/eval/score_gold.py"
RUN_ID = "eval-test"

LABELS = """source,tmdb_id,release_id,label,note
musicbrainz,1,rg-jaws,1,"hand-verified: composer, year"
musicbrainz,2,rg-dumbo,1,plain
musicbrainz,3,rg-cast,0,"stage cast recording (""Broadway""), not the film's"
musicbrainz,4,rg-missed,1,never linked
discogs,1,m-jaws,1,hand-checked
discogs,5,m-story,0,"storybook record, style Story"
"""

# decision=match links: one true, one labelled-negative release, one unlabelled release (not judged), one wrong film
# for a labelled release; a review-band link is not a prediction.
MATCHES = [
    (1, "musicbrainz", "rg-jaws", "release_group", 0.99, "match", "model", "{}", None),
    (3, "musicbrainz", "rg-cast", "release_group", 0.95, "match", "model", "{}", None),
    (9, "musicbrainz", "rg-unlabelled", "release_group", 0.97, "match", "model", "{}", None),
    (7, "musicbrainz", "rg-dumbo", "release_group", 0.93, "match", "model", "{}", None),
    (2, "musicbrainz", "rg-dumbo", "release_group", 0.70, "review", "model", "{}", None),
    (1, "discogs", "m-jaws", "master", 0.98, "match", "model", "{}", None),
]


@pytest.fixture(scope="module")
def lake_run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    labels = root / "labels.csv"
    labels.write_text(LABELS)
    lake = Lake(str(root / "lake"))
    lake.write_table(spark.createDataFrame(MATCHES, schema_of("gold/soundtrack_matches")), "gold/soundtrack_matches", RUN_ID)
    films = [film_row(1, "Jaws", 1975), film_row(2, "Dumbo", 2019), film_row(3, "City of Angels", 1998),
             film_row(4, "Zootopia", 2016), film_row(5, "E.T.", 1982), film_row(6, "Up", None)]
    releases = [release_row("rg-jaws", "Jaws", 1976), release_row("rg-dumbo", "Dumbo", None),
                release_row("rg-cast", "City of Angels", 1990), release_row("rg-missed", "Try Everything", 2016),
                release_row("m-jaws", "Jaws", 1975, source="discogs"),
                release_row("m-story", "E.T. the Extra-Terrestrial", 1982, source="discogs"),
                release_row("rg-up", "Up", 2009)]
    candidates = [(1, "musicbrainz", "release_group", "rg-jaws", ["title_exact"]),
                  (2, "musicbrainz", "release_group", "rg-dumbo", ["title_exact"]),
                  (3, "musicbrainz", "release_group", "rg-cast", ["title_exact"]),
                  (1, "discogs", "master", "m-jaws", ["title_exact"])]
    lake.write_table(spark.createDataFrame(films, schema_of("silver/films")), "silver/films", RUN_ID)
    lake.write_table(spark.createDataFrame(releases, schema_of("silver/releases")), "silver/releases", RUN_ID)
    lake.write_table(spark.createDataFrame(candidates, schema_of("silver/candidate_pairs")), "silver/candidate_pairs", RUN_ID)
    return lake, labels


def reference_scores(lake: Lake, labels, mode: str) -> dict:
    out = subprocess.run([sys.executable, REPO_SCORER, lake.root, RUN_ID, str(labels), mode], capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


@pytest.mark.integration
def test_link_quality_agrees_with_the_reference_scorer(spark, lake_run):
    lake, labels = lake_run
    matches = lake.read_table(spark, "gold/soundtrack_matches", RUN_ID, schema_of("gold/soundtrack_matches"))
    ours = link_quality(matches.filter("decision = 'match'"), read_labels(spark, str(labels)))
    ref = reference_scores(lake, labels, "matches")
    for source in ("musicbrainz", "discogs"):
        for key in ("precision", "recall", "f1", "tp", "judged", "positives"):
            assert ours[source][key] == ref[source][key], (source, key)
    # the unlabelled release is counted as predicted but not judged; review links are not predictions
    assert ours["musicbrainz"] == {"precision": 0.3333, "recall": 0.3333, "f1": 0.3333, "tp": 1, "judged": 3,
                                   "positives": 3, "predicted_matches": 4}


def test_quoted_notes_with_commas_do_not_break_the_labels(spark, lake_run):
    _, labels = lake_run
    rows = read_labels(spark, str(labels)).collect()
    assert len(rows) == 6 and {r["label"] for r in rows} == {0, 1}
    assert any('("Broadway")' in r["note"] for r in rows)


def test_original_rule_needs_contained_titles_years_within_two_and_token_set_85(spark):
    films = spark.createDataFrame([film_row(1, "Jaws", 1975), film_row(2, "Dumbo", 2019), film_row(3, "Up", 2009),
                                   film_row(4, "Her", 2013), film_row(5, "Blade Runner", 1982)], schema_of("silver/films"))
    releases = spark.createDataFrame([
        release_row("jaws", "Jaws", 1977),                               # contained, 2 years: linked
        release_row("dumbo", "Dumbo", None),                             # undated: the original rule fails
        release_row("up", "Up", 2012),                                   # 3 years apart
        release_row("her", "Heroes", 2013, title_norm="heroes"),         # 'her' is inside 'heroes', token_set low
        release_row("blade", "Blade Runner Suite", 1982, title_norm="blade runner suite"),  # contained, token_set 100
    ], schema_of("silver/releases"))
    links = {(r["tmdb_id"], r["release_id"]) for r in original_rule_links(films, releases).collect()}
    assert links == {(1, "jaws"), (5, "blade")}


@pytest.mark.integration
def test_evaluate_run_writes_the_evaluation_json_with_blocking_and_the_original_rule(settings, spark, lake_run):
    lake, labels = lake_run
    result = evaluate_run(dataclasses.replace(settings, lake_root=lake.root), RUN_ID, str(labels),
                          include_original=True)
    saved = json.loads(lake.read_text(lake.run_file(RUN_ID, "evaluation.json")))
    assert saved == json.loads(json.dumps(result))
    assert set(result) == {"run_id", "labels", "sources", "missed", "rank_share_calibration", "blocking",
                           "original_rule", "matcher_quality", "intervals"}
    # rg-dumbo's film 2 is in review while film 7 is linked; rg-missed has no Gold row at all
    assert result["missed"]["musicbrainz"] == {"other_film": 1, "review_exact_tie": 0, "review": 0, "no_link": 1,
                                               "recall_without_exact_ties": 0.3333}
    ref = reference_scores(lake, labels, "candidates")
    for source in ("musicbrainz", "discogs"):
        assert result["blocking"][source]["pair_completeness"] == ref[source]["pair_completeness"]
        assert result["blocking"][source]["found"] == ref[source]["found"]
    assert result["blocking"]["musicbrainz"]["candidates"] == 3
    # the original rule links Jaws (1975 vs 1976) on both sources; City of Angels (1998 vs 1990) is too far apart
    assert result["original_rule"]["musicbrainz"]["tp"] == 1 and result["original_rule"]["musicbrainz"]["judged"] == 1
    assert result["original_rule"]["discogs"]["tp"] == 1


def _reasons(score, runner_up=None, runner_score=None):
    doc = {"score": score}
    if runner_up is not None:
        doc["runner_up"] = {"tmdb_id": runner_up, "score": runner_score}
    return json.dumps(doc)


def test_missed_positives_say_where_each_unlinked_positive_went_and_set_exact_ties_aside(spark):
    labels = spark.createDataFrame([
        ("musicbrainz", 1, "found", 1, ""), ("musicbrainz", 2, "tie-first", 1, ""),
        ("musicbrainz", 3, "tie-second", 1, ""), ("musicbrainz", 4, "close", 1, ""),
        ("musicbrainz", 5, "elsewhere", 1, ""), ("musicbrainz", 6, "absent", 1, ""),
        ("musicbrainz", 7, "tie-third", 1, ""), ("musicbrainz", 9, "found", 0, "a negative is never missed"),
    ], "source string, tmdb_id long, release_id string, label int, note string")
    gold = spark.createDataFrame([
        (1, "musicbrainz", "found", "release_group", 0.9, "match", "model", _reasons(0.9), None),
        (2, "musicbrainz", "tie-first", "release_group", 0.9, "review", "model", _reasons(0.9, 20, 0.9), None),
        (30, "musicbrainz", "tie-second", "release_group", 0.9, "review", "model", _reasons(0.9, 3, 0.9), None),
        (4, "musicbrainz", "close", "release_group", 0.9, "review", "model", _reasons(0.9, 40, 0.85), None),
        (50, "musicbrainz", "elsewhere", "release_group", 0.9, "match", "model", _reasons(0.9), None),
        # a three-way tie whose labelled film is neither the first nor the runner-up: not known to be tied
        (70, "musicbrainz", "tie-third", "release_group", 0.9, "review", "model", _reasons(0.9, 71, 0.9), None),
    ], schema_of("gold/soundtrack_matches"))
    missed = missed_positives(gold, labels)
    assert missed == {"musicbrainz": {"other_film": 1, "review_exact_tie": 2, "review": 2, "no_link": 1,
                                      "recall_without_exact_ties": 0.2}}


def test_rank_share_calibration_bins_labelled_positive_releases_by_share_and_counts_a_right_first_film(spark):
    labels = spark.createDataFrame([
        ("musicbrainz", 1, "a", 1, ""), ("musicbrainz", 2, "b", 1, ""), ("musicbrainz", 3, "c", 1, ""),
        ("musicbrainz", 4, "d", 1, ""), ("musicbrainz", 5, "e", 0, "a negative-only release is not counted"),
        ("discogs", 6, "f", 1, ""),
    ], "source string, tmdb_id long, release_id string, label int, note string")

    def row(tmdb_id, release_id, share, source="musicbrainz", decision="review"):
        return (tmdb_id, source, release_id, "release_group", 0.9, decision, "model", json.dumps({"score": 0.9,
                                                                                         "rank_share": share}), None)
    gold = spark.createDataFrame([
        row(1, "a", 0.8), row(20, "b", 0.85),      # 0.75-0.9: one right, one another film
        row(3, "c", 1.0, decision="match"),        # a single candidate: share 1.0, the closed last bin
        row(40, "d", 0.4),                         # 0-0.5, wrong
        row(5, "e", 0.95),
        row(6, "f", 0.5, source="discogs"),        # a share on a bin's edge goes to the upper bin
    ], schema_of("gold/soundtrack_matches"))
    assert rank_share_calibration(gold, labels) == {
        "discogs": [{"low": 0.5, "high": 0.75, "n": 1, "first_right": 1.0, "mean_share": 0.5}],
        "musicbrainz": [{"low": 0.0, "high": 0.5, "n": 1, "first_right": 0.0, "mean_share": 0.4},
                        {"low": 0.75, "high": 0.9, "n": 2, "first_right": 0.5, "mean_share": 0.825},
                        {"low": 0.99, "high": 1.0, "n": 1, "first_right": 1.0, "mean_share": 1.0}]}
