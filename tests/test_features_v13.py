"""Matcher feature version 13 (issue 24): undated singles by unrelated artists, collections that name no one film, and
the decision's forbidden features (a stage-cast or game title word, a franchise collection: review at best)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from scripts_spark import fit_matcher as fm
from scripts_spark import match_settings as ms
from scripts_spark.transforms import decide
from scripts_spark.transforms import features as ft
from tests.test_decide import DECISION_SCHEMA, SETTINGS, _matcher_doc, _write, feature_row
from tests.test_features_v11 import features_of


def test_an_undated_single_by_an_unrelated_artist_is_marked_but_a_dated_one_or_the_composers_is_not(spark):
    rows = features_of(
        spark, [{"tmdb_id": 1, "title": "Last Breath", "title_norm": "last breath",
                 "original_title_norm": "last breath", "year": 2025, "composers_norm": ["paul leonard morgan"]}],
        [{"release_id": "undated", "title": "Last Breath", "title_norm": "last breath", "primary_type": "Single",
          "year": None, "artists": ["Realma"], "artists_norm": ["realma"]},
         {"release_id": "dated", "title": "Last Breath", "title_norm": "last breath", "primary_type": "Single",
          "year": 2025, "artists": ["Realma"], "artists_norm": ["realma"]},
         {"release_id": "composer", "title": "Last Breath", "title_norm": "last breath", "primary_type": "Single",
          "year": None, "artists": ["Paul Leonard-Morgan"], "artists_norm": ["paul leonard morgan"]},
         {"release_id": "album", "title": "Last Breath", "title_norm": "last breath", "primary_type": "Album",
          "year": None, "artists": ["Realma"], "artists_norm": ["realma"]}],
        [(1, "musicbrainz", r) for r in ("undated", "dated", "composer", "album")])
    assert [rows[(1, r)]["single_unrelated_undated"] for r in ("undated", "dated", "composer", "album")] == [
        1.0, 0.0, 0.0, 0.0]
    assert rows[(1, "dated")]["single_unrelated"] == 1.0


def test_a_collection_naming_only_the_franchise_is_marked_but_one_film_s_own_box_set_is_not(spark):
    rows = features_of(
        spark, [{"tmdb_id": 1, "title": "Indiana Jones and the Kingdom of the Crystal Skull",
                 "original_title": "Indiana Jones and the Kingdom of the Crystal Skull",
                 "title_norm": "indiana jones and kingdom of crystal skull",
                 "original_title_norm": "indiana jones and kingdom of crystal skull", "composers_norm": ["john williams"]},
                {"tmdb_id": 2, "title": "Interstellar", "original_title": "Interstellar", "title_norm": "interstellar",
                 "original_title_norm": "interstellar", "composers_norm": ["hans zimmer"]}],
        [{"release_id": "franchise", "source": "discogs", "title": "Indiana Jones: The Soundtracks Collection",
          "title_norm": "indiana jones"},
         {"release_id": "own", "source": "discogs", "title": "Interstellar: The Soundtracks Collection",
          "title_norm": "interstellar"},
         {"release_id": "plain", "source": "discogs", "title": "Interstellar", "title_norm": "interstellar"}],
        [(1, "discogs", "franchise"), (2, "discogs", "own"), (2, "discogs", "plain")])
    franchise, own, plain = rows[(1, "franchise")], rows[(2, "own")], rows[(2, "plain")]
    assert (franchise["release_collection"], franchise["franchise_collection"]) == (1.0, 1.0)
    assert (own["release_collection"], own["franchise_collection"]) == (1.0, 0.0)
    assert plain["franchise_collection"] == 0.0


FORBIDDING = dataclasses.replace(SETTINGS, match_forbids=("title_nonfilm_marker", "franchise_collection"))


def test_a_link_with_a_forbidden_feature_is_reviewed_however_high_it_scores(spark):
    rows = [feature_row(1, "cast", title_exact=1, composer_match=1, title_nonfilm_marker=1),
            feature_row(2, "box", title_exact=1, composer_match=1, franchise_collection=1),
            feature_row(3, "film", title_exact=1, composer_match=1)]
    links = {r["release_id"]: r.asDict()
             for r in decide.link_pairs(spark.createDataFrame(rows, DECISION_SCHEMA), FORBIDDING).collect()}
    assert {k: v["decision"] for k, v in links.items()} == {"cast": "review", "box": "review", "film": "match"}
    assert json.loads(links["cast"]["reasons"])["unmet_requirements"] == ["not_title_nonfilm_marker"]
    assert json.loads(links["box"]["reasons"])["unmet_requirements"] == ["not_franchise_collection"]


def test_the_fit_scores_links_with_a_forbidden_feature_as_step_05_decides_them():
    frame = pd.DataFrame({"source": "musicbrainz", "release_kind": "release_group", "release_id": ["a", "b"],
                          "tmdb_id": [1, 2], "year_diff": [0.0, 0.0], "is_candidate": True, "label": [0, 1],
                          "release_is_film_music": 1.0, "title_nonfilm_marker": [1.0, 0.0],
                          "franchise_collection": 0.0, "composer_album_elsewhere": 0.0})
    best = fm.best_per_release(frame, np.array([3.0, 3.0]), np.array([0.99, 0.99]), min_rank_share=0.9)
    assert best.set_index("release_id")["may_match"].to_dict() == {"a": False, "b": True}
    assert fm.MATCH_FORBIDS[:2] == ("title_nonfilm_marker", "franchise_collection")


def test_a_forbidden_feature_without_a_weight_is_refused(tmp_path):
    with pytest.raises(ms.MatchSettingsError, match="match_forbids"):
        ms.load_match_settings(_write(tmp_path, _matcher_doc(match_forbids=["shoe_size"])))
    loaded = ms.load_match_settings(_write(tmp_path, _matcher_doc(match_forbids=["franchise_collection"])))
    assert loaded.match_forbids == ("franchise_collection",)


@pytest.mark.parametrize("name", ["single_unrelated_undated", "franchise_collection"])
def test_version_13_features_are_documented_and_count_against_a_link(name):
    assert name in ft.FEATURE_DOCS and ft.FEATURE_SIGNS[name] == -1 and int(ft.FEATURE_VERSION) >= 13
