"""Verdicts as training labels for fit_matcher --decisions: accept = 1, reject = 0, and the labels file wins on the
releases it already labels."""
from __future__ import annotations

import pandas as pd

from scripts_spark.fit_matcher import decision_rows, merge_labels
from scripts_spark.review.store import DecisionStore, Pair, new_decision


def _verdict(store, release_id, tmdb_id, verdict, chosen=None):
    store.append(new_decision(Pair("musicbrainz", "release_group", release_id, tmdb_id), verdict, reviewer="r",
                              chosen_tmdb_id=chosen, run_id="r1", matcher_version="v", match_score=0.6,
                              model_decision="review"))


def test_verdicts_join_the_labels_on_new_releases_and_labelled_releases_keep_their_labels(tmp_path):
    store = DecisionStore(str(tmp_path / "lake"))
    _verdict(store, "rg-new", 1, "accept")
    _verdict(store, "rg-other", 2, "another_film", chosen=3)
    _verdict(store, "rg-labelled", 4, "reject")          # the labels file says 1: it keeps its label
    labels = tmp_path / "labels.csv"
    labels.write_text("source,tmdb_id,release_id,label,note\nmusicbrainz,4,rg-labelled,1,checked\n")
    rows = decision_rows(str(tmp_path / "lake"))
    assert sorted(map(tuple, rows[["release_id", "tmdb_id", "label"]].values.tolist())) == [
        ("rg-labelled", 4, 0), ("rg-new", 1, 1), ("rg-other", 2, 0), ("rg-other", 3, 1)]
    out = tmp_path / "merged.csv"
    stats = merge_labels(str(labels), rows, out)
    assert stats == {"verdict_pairs": 4, "added_pairs": 3, "added_releases": 2, "added_positives": 2,
                     "on_labelled_releases": 1, "disagreeing_with_labels": 1}
    merged = pd.read_csv(out, dtype={"release_id": str})
    assert len(merged) == 4 and merged.loc[merged.release_id == "rg-labelled", "label"].tolist() == [1]
