"""Scoring, one film per release, match/review decisions, reasons, and how the weights and thresholds are fitted."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from pyspark.sql.types import DoubleType, StructField, StructType

from scripts_spark import fit_matcher as fm
from scripts_spark import match_settings as ms
from scripts_spark.config import REPO_ROOT
from scripts_spark.tables import schema_of
from scripts_spark.transforms import decide
from scripts_spark.transforms.features import (FEATURE_VERSION, FEATURES_SCHEMA, GUARD_FEATURES, MODEL_FEATURES,
                                               RELEASE_CONTEXT)

WEIGHTS = {name: 0.0 for name in MODEL_FEATURES} | {"title_exact": 4.0, "composer_match": 2.0, "year_far": -3.0}
SETTINGS = decide.MatchSettings(version="test-1", feature_version=FEATURE_VERSION, weights=WEIGHTS, intercept=-3.0,
                                ranker_weights=WEIGHTS | {"year_same": 1.0}, ranker_intercept=0.0,
                                match_threshold=0.9, review_threshold=0.5, min_rank_share=0.9,
                                match_requires=("release_is_soundtrack",))


# What link_pairs reads: a pair's stored features, and the release-context features add_film_guards adds when step 05
# decides (weighted, so every weights dict here names them).
DECISION_SCHEMA = StructType([*FEATURES_SCHEMA.fields, *[StructField(name, DoubleType()) for name in RELEASE_CONTEXT]])


def feature_row(tmdb_id, release_id, year_diff=0, source="musicbrainz", **values):
    row = {f.name: None for f in DECISION_SCHEMA.fields}
    row.update({name: 0.0 for name in MODEL_FEATURES})
    row["release_is_soundtrack"] = 1.0
    row.update(tmdb_id=tmdb_id, source=source, release_id=release_id, release_kind="release_group",
               year_diff=year_diff, composer_sim=None)
    row.update({k: float(v) for k, v in values.items()})
    return row


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


@pytest.fixture(scope="module")
def links(spark):
    rows = [
        # r1: the exact title with the composer wins over the same title with a far year
        feature_row(1, "r1", title_exact=1, composer_match=1), feature_row(2, "r1", 30, title_exact=1, year_far=1),
        # r2: two films score the same; the closer year wins
        feature_row(3, "r2", 4, title_exact=1, composer_match=1), feature_row(4, "r2", 0, title_exact=1, composer_match=1),
        # r3: a tie on score and year goes to the smaller tmdb_id
        feature_row(6, "r3", None, title_exact=1), feature_row(5, "r3", None, title_exact=1),
        # r4: best film too weak for the review band
        feature_row(7, "r4", title_exact=0, composer_match=1),
        # r5: a high score, but the source does not file the record as a soundtrack: review, not match
        feature_row(8, "r5", title_exact=1, composer_match=1, release_is_soundtrack=0),
        # r6: the ranker's year evidence picks film 10 although film 9 has the same match score
        feature_row(9, "r6", 3, title_exact=1), feature_row(10, "r6", 3, title_exact=1, year_same=1),
        # r7: two films alike in every feature: the first of them is reviewed, not matched
        feature_row(11, "r7", 0, title_exact=1, composer_match=1), feature_row(12, "r7", 0, title_exact=1, composer_match=1),
    ]
    features = spark.createDataFrame(rows, DECISION_SCHEMA)
    return {r["release_id"]: r.asDict() for r in decide.link_pairs(features, SETTINGS).collect()}


def test_score_is_the_sigmoid_of_intercept_plus_weighted_features(links):
    assert links["r1"]["match_score"] == pytest.approx(sigmoid(-3 + 4 + 2))
    assert links["r3"]["match_score"] == pytest.approx(sigmoid(-3 + 4))


def test_a_release_links_to_its_best_scoring_film_only(links):
    assert links["r1"]["tmdb_id"] == 1 and links["r1"]["runner_up_tmdb_id"] == 2


def test_equal_scores_go_to_the_closer_year_then_the_smaller_tmdb_id(links):
    assert links["r2"]["tmdb_id"] == 4
    assert links["r3"]["tmdb_id"] == 5


def test_a_record_its_source_does_not_type_as_a_soundtrack_is_reviewed_however_high_it_scores(links):
    assert links["r5"]["match_score"] > 0.9 and links["r5"]["decision"] == "review"
    assert json.loads(links["r5"]["reasons"])["unmet_requirements"] == ["release_is_soundtrack"]
    assert json.loads(links["r1"]["reasons"])["unmet_requirements"] == []


def test_a_film_that_does_not_stand_clear_of_its_look_alike_goes_to_review(links):
    assert links["r7"]["match_score"] > 0.9 and links["r7"]["decision"] == "review"
    reasons = json.loads(links["r7"]["reasons"])
    assert reasons["unmet_requirements"] == [decide.CLEAR_BEST_FILM] and reasons["rank_share"] == 0.5
    # r1's runner-up is 5 log-odds behind: a share of 1 / (1 + e^-5)
    assert links["r1"]["decision"] == "match"
    assert json.loads(links["r1"]["reasons"])["rank_share"] == pytest.approx(1 / (1 + math.exp(-5)), abs=1e-4)


def test_the_ranker_picks_the_film_and_the_decision_weights_score_it(links):
    assert links["r6"]["tmdb_id"] == 10
    assert links["r6"]["match_score"] == pytest.approx(sigmoid(-3 + 4))


def test_decision_is_match_above_the_match_threshold_review_in_the_band_and_nothing_below(links):
    assert links["r1"]["decision"] == "match"          # sigmoid(3) = 0.953
    assert links["r3"]["decision"] == "review"         # sigmoid(1) = 0.731
    assert "r4" not in links                            # sigmoid(-1) = 0.269 < review 0.5


def test_reasons_carry_feature_values_and_signed_contributions_largest_first(links):
    reasons = json.loads(links["r1"]["reasons"])
    assert reasons["score"] == pytest.approx(round(sigmoid(3), 4))
    assert reasons["decision"] == "match" and reasons["thresholds"] == {"match": 0.9, "review": 0.5}
    assert [(c["feature"], c["value"], c["contribution"]) for c in reasons["contributions"]] == [
        ("title_exact", 1.0, 4.0), ("composer_match", 1.0, 2.0)]
    assert "year_diff" in reasons and reasons["rank_logit"] == pytest.approx(6.0)
    assert reasons["runner_up"]["tmdb_id"] == 2
    assert reasons["runner_up"]["score"] == pytest.approx(round(sigmoid(-3 + 4 - 3), 4))
    assert reasons["settings_version"] == "test-1"


def test_soundtrack_matches_have_the_gold_contract_columns(spark):
    features = spark.createDataFrame([feature_row(1, "r1", title_exact=1, composer_match=1)], DECISION_SCHEMA)
    out = decide.soundtrack_matches(decide.link_pairs(features, SETTINGS))
    assert [(f.name, f.dataType) for f in out.schema] == [(f.name, f.dataType) for f in schema_of("gold/soundtrack_matches")]


def _write(tmp_path, doc) -> str:
    path = tmp_path / "match_settings.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _matcher_doc(**over):
    doc = {"version": "v", "feature_version": FEATURE_VERSION, "weights": {n: 0.1 for n in MODEL_FEATURES},
           "intercept": -1.0, "ranker": {"weights": {n: 0.2 for n in MODEL_FEATURES}, "intercept": -2.0},
           "thresholds": {"match": 0.9, "review": 0.5}, "match_requires": ["release_is_soundtrack"]}
    doc.update(over)
    return {"matcher": doc, "guards": {"min_rank_share": 0.9}}


def test_settings_load_when_they_fit_the_computed_features(tmp_path):
    settings = ms.load_match_settings(_write(tmp_path, _matcher_doc()), MODEL_FEATURES, FEATURE_VERSION)
    assert settings.features == MODEL_FEATURES and settings.match_threshold == 0.9
    assert settings.ranker_intercept == -2.0 and settings.match_requires == ("release_is_soundtrack",)


def test_a_requirement_on_a_feature_without_a_weight_is_refused(tmp_path):
    with pytest.raises(ms.MatchSettingsError, match="match_requires"):
        ms.load_match_settings(_write(tmp_path, _matcher_doc(match_requires=["shoe_size"])))


def test_a_ranker_over_other_features_is_refused(tmp_path):
    doc = _matcher_doc(ranker={"weights": {"title_exact": 1.0}, "intercept": 0.0})
    with pytest.raises(ms.MatchSettingsError, match="ranker"):
        ms.load_match_settings(_write(tmp_path, doc))


def test_missing_settings_file_names_the_fit_command(tmp_path):
    with pytest.raises(ms.MatchSettingsError, match="fit_matcher"):
        ms.load_match_settings(tmp_path / "absent.json")


def test_weights_for_other_features_are_refused(tmp_path):
    weights = {"title_ratio": 1.0, "shoe_size": 2.0}
    doc = _matcher_doc(weights=weights, ranker={"weights": weights, "intercept": 0.0}, match_requires=[])
    with pytest.raises(ms.MatchSettingsError, match="shoe_size"):
        ms.load_match_settings(_write(tmp_path, doc), MODEL_FEATURES, FEATURE_VERSION)


def test_weights_fitted_for_another_feature_version_are_refused(tmp_path):
    with pytest.raises(ms.MatchSettingsError, match="feature version"):
        ms.load_match_settings(_write(tmp_path, _matcher_doc(feature_version="0")), MODEL_FEATURES,
                                   FEATURE_VERSION)


@pytest.mark.parametrize("thresholds", [{"match": 0.5, "review": 0.9}, {"match": 1.0, "review": 0.5},
                                        {"match": 0.9}])
def test_thresholds_out_of_order_or_missing_are_refused(tmp_path, thresholds):
    with pytest.raises(ms.MatchSettingsError):
        ms.load_match_settings(_write(tmp_path, _matcher_doc(thresholds=thresholds)))


def test_the_repository_settings_fit_the_features_this_code_computes():
    settings = ms.load_match_settings(REPO_ROOT / "scripts_spark" / "match_settings.json", MODEL_FEATURES,
                                          FEATURE_VERSION)
    doc = json.loads((REPO_ROOT / "scripts_spark" / "match_settings.json").read_text())["matcher"]
    assert doc["fitted"]["labels_sha256"] == fm.file_sha256(REPO_ROOT / "data" / "eval" / "dev_labels.csv")
    assert doc["cross_validation"]["folds"] >= 5
    # the fitted band may be empty (review = match): then the review queue holds ties and non-soundtrack records
    assert 0 < settings.review_threshold <= settings.match_threshold < 1


# --- fitting (pure pandas / scikit-learn, no Spark) ----------------------------------------------------------
def synthetic_training_frame(n_releases=120, seed=0) -> tuple[pd.DataFrame, dict]:
    """Releases with one true film (exact title, composer, same year) among look-alikes, plus releases of no film."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_releases):
        has_film = r % 4 != 0
        for k in range(3):
            true = has_film and k == 0
            row = {name: 0.0 for name in (*MODEL_FEATURES, *GUARD_FEATURES)}
            row.update(source="musicbrainz", release_kind="release_group", release_id=f"r{r}", tmdb_id=r * 10 + k,
                       label=int(true), is_candidate=True, is_labelled=true,
                       year_diff=0 if true else int(rng.integers(0, 30)))
            row["release_is_soundtrack"] = row["release_is_film_music"] = 1.0
            row["title_ratio"] = 1.0 if true else float(rng.uniform(0.3, 0.9))
            row["title_exact"] = float(true or rng.random() < 0.2)
            row["composer_match"] = float(true and rng.random() < 0.8)
            row["year_same"] = float(true or rng.random() < 0.1)
            row["year_far"] = float(not true and rng.random() < 0.6)
            rows.append(row)
    frame = pd.DataFrame(rows)
    return frame, {"musicbrainz": int(frame["label"].sum())}


def test_fit_separates_true_films_and_records_how_it_was_chosen():
    frame, positives = synthetic_training_frame()
    matcher = fm.fit(frame, positives, folds=3)
    cv = matcher["cross_validation"]
    assert cv["oof_at_thresholds"]["musicbrainz"]["recall"] >= 0.9
    assert cv["oof_at_thresholds"]["musicbrainz"]["precision"] >= 0.95
    assert matcher["weights"]["title_ratio"] > 0 and matcher["weights"]["year_far"] < 0
    assert set(cv["C_grid_oof_log_loss"]) == {str(c) for c in fm.C_GRID}
    for name, sign in matcher["weight_signs"].items():
        assert matcher["weights"][name] * sign >= 0 and matcher["ranker"]["weights"][name] * sign >= 0, name
    assert 0 < matcher["thresholds"]["review"] <= matcher["thresholds"]["match"] < 1


def test_extra_training_set_feeds_the_weights_but_thresholds_and_quality_stay_on_the_primary_labels():
    primary, positives = synthetic_training_frame(n_releases=80, seed=0)
    extra, extra_positives = synthetic_training_frame(n_releases=60, seed=1)
    frame = pd.concat([primary.assign(label_set=fm.PRIMARY_SET), fm.with_label_set(extra, "extra1")],
                      ignore_index=True)
    assert frame[["source", "release_id"]].drop_duplicates().shape[0] == 140   # r0.. of both sets never collide
    matcher = fm.fit(frame, positives, folds=3, extra_positives={"extra1": extra_positives})
    cv = matcher["cross_validation"]
    assert cv["oof_at_thresholds"]["musicbrainz"]["positives"] == positives["musicbrainz"]
    assert cv["oof_at_thresholds"]["musicbrainz"]["judged"] <= 80
    extra_oof = cv["extra_sets_oof_at_thresholds"]["extra1"]["musicbrainz"]
    assert extra_oof["positives"] == extra_positives["musicbrainz"] and extra_oof["recall"] >= 0.9
    assert matcher["training_rows"]["by_label_set"] == {
        "extra1": {"pairs": len(extra), "positives": extra_positives["musicbrainz"]},
        "primary": {"pairs": len(primary), "positives": positives["musicbrainz"]}}


def test_match_threshold_keeps_precision_at_target_and_review_band_stops_where_reviews_stop_paying():
    # best-per-release scores: 10 true links above 0.9, one false at 0.8, then a mixed band, then only false ones
    scores = [0.99] * 10 + [0.8] + [0.7, 0.65, 0.6, 0.55] + [0.3 - i * 0.01 for i in range(20)]
    labels = [1] * 10 + [0] + [1, 0, 1, 0] + [0] * 20
    best = pd.DataFrame({"source": "musicbrainz", "score": scores, "label": labels, "may_match": True})
    t = fm.choose_thresholds(best, {"musicbrainz": 13}, min_precision=0.995, min_band_precision=0.25, window=3)
    assert 0.8 < t["match"] < 0.99
    assert t["oof_pooled_at_match"]["precision"] == 1.0
    assert 0.3 < t["review"] < 0.8          # the band keeps the mixed links and stops before the false tail
    assert t["review_band"] == {"links": 5, "true_links": 2, "precision": 0.4}


def test_best_per_release_uses_candidates_only_and_orders_like_step_05():
    frame = pd.DataFrame({"source": "musicbrainz", "release_kind": "release_group",
                          "release_id": ["a", "a", "a", "b", "c", "c"],
                          "tmdb_id": [3, 2, 1, 9, 4, 5], "year_diff": [1.0, 0.0, 0.0, np.nan, 0.0, 0.0],
                          "is_candidate": [True, True, False, True, True, True],
                          "release_is_film_music": [1.0, 1.0, 1.0, 0.0, 1.0, 1.0], "label": [0, 1, 0, 0, 1, 0]})
    rank = np.array([2.0, 2.0, 9.0, 0.1, 6.0, 1.0])
    best = fm.best_per_release(frame, rank, np.array([0.7, 0.7, 0.99, 0.95, 0.9, 0.2]),
                               forbids=()).set_index("release_id")
    assert best["tmdb_id"].to_dict() == {"a": 2, "b": 9, "c": 4}     # tie on rank and score: the closer year
    # a: two films tie on the ranker (share 0.5, as step 05's clear_best_film); b: not film music
    assert best["may_match"].to_dict() == {"a": False, "b": False, "c": True}
    assert best.loc["a", "rank_share"] == pytest.approx(0.5)
    assert fm.quality_at(best.reset_index(), 0.5, {"musicbrainz": 2})["musicbrainz"]["judged"] == 1


def test_signed_regression_keeps_each_weight_on_its_side():
    rng = np.random.default_rng(1)
    x = rng.random((400, 2))
    y = (x[:, 0] - x[:, 1] + rng.normal(0, 0.1, 400) > 0).astype(int)   # feature 1 truly counts against
    free = fm.SignedLogisticRegression(1.0, (0, 0)).fit(x, y)
    held = fm.SignedLogisticRegression(1.0, (1, 1)).fit(x, y)
    assert free.coef_[0][1] < 0 and held.coef_[0][1] == 0.0 and held.coef_[0][0] > 0
    assert np.allclose(held.predict_proba(x).sum(axis=1), 1.0)


def test_write_settings_replaces_the_matcher_and_keeps_other_sections(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("source,tmdb_id,release_id,label,note\n")
    out = tmp_path / "settings.json"
    out.write_text(json.dumps({"blocking": {"max_token_films": 40}, "matcher": {"old": True}}))
    doc = fm.write_settings({"weights": {"a": 1.0}}, out, str(labels), "run-1")
    saved = json.loads(out.read_text())
    assert saved == doc and saved["blocking"] == {"max_token_films": 40}
    assert "old" not in saved["matcher"] and saved["matcher"]["weights"] == {"a": 1.0}
    assert saved["matcher"]["fitted"]["labels_sha256"] == fm.file_sha256(labels)
    assert saved["matcher"]["fitted"]["silver_run_id"] == "run-1"


def test_features_without_the_release_context_columns_are_refused_naming_them(spark):
    features = spark.createDataFrame([feature_row(1, "r1", title_exact=1)], DECISION_SCHEMA).drop(*RELEASE_CONTEXT)
    with pytest.raises(ValueError, match="other_film_covered.*add_film_guards"):
        decide.link_pairs(features, SETTINGS)
