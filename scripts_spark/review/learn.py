"""The matcher learns from people's verdicts: `python -m scripts_spark.fit_matcher ... --decisions`.

Each verdict in force (store.effective_verdicts) is a labelled pair: accept = 1, reject = 0 (another film gives
both: 0 for the film shown, 1 for the chosen one). They join the training labels as primary labels (both the
ranker and the decision learn from them; cross-validation keeps every pair of a release in one fold, as for the
dev labels). A release the labels file already labels keeps its labels: those labels were checked against sources,
and the evaluation measures against them; the verdicts on such releases are counted as overlaps (and disagreements).

`compare` refits without the verdicts and reports the out-of-fold figures both ways, and the with-verdicts model's
figures on the labels file's releases alone (the same population as without).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .store import DecisionStore, effective_verdicts


def decision_rows(lake_root: str) -> pd.DataFrame:
    """The verdicts in force as label rows (source, tmdb_id, release_id, label, note)."""
    verdicts = effective_verdicts(DecisionStore(lake_root).read_all())
    return pd.DataFrame([{"source": v.pair.source, "tmdb_id": v.pair.tmdb_id, "release_id": v.pair.release_id,
                          "label": 1 if v.verdict == "accept" else 0,
                          "note": f"review verdict {v.decision_id} by {v.reviewer}"} for v in verdicts.values()],
                        columns=["source", "tmdb_id", "release_id", "label", "note"])


def merge_labels(labels_path: str, decisions: pd.DataFrame, out: Path) -> dict[str, Any]:
    """Write labels + verdicts on releases the labels leave out to `out`; return what was added and what overlapped."""
    labels = pd.read_csv(labels_path, dtype={"release_id": str}, comment=None)
    labels = labels[labels["source"].notna() & labels["release_id"].notna() & labels["label"].isin([0, 1])]
    labelled = set(zip(labels["source"], labels["release_id"].astype(str)))
    on_labelled = decisions.apply(lambda r: (r["source"], r["release_id"]) in labelled, axis=1) \
        if len(decisions) else pd.Series(dtype=bool)
    added = decisions[~on_labelled] if len(decisions) else decisions
    overlap = decisions[on_labelled] if len(decisions) else decisions
    known = labels.assign(release_id=labels["release_id"].astype(str)).set_index(
        ["source", "release_id", "tmdb_id"])["label"]
    disagree = sum(1 for r in overlap.itertuples() if known.get((r.source, r.release_id, r.tmdb_id), r.label) != r.label)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([labels, added], ignore_index=True).to_csv(out, index=False, quoting=csv.QUOTE_MINIMAL)
    return {"verdict_pairs": int(len(decisions)), "added_pairs": int(len(added)),
            "added_releases": int(added[["source", "release_id"]].drop_duplicates().shape[0]),
            "added_positives": int(added["label"].sum()) if len(added) else 0,
            "on_labelled_releases": int(len(overlap)), "disagreeing_with_labels": int(disagree)}


def compare(frame_with: pd.DataFrame, matcher_with: dict, labels_path: str, positives_without: dict[str, int],
            matcher_without: dict) -> dict[str, Any]:
    """Out-of-fold figures with and without the verdicts, and the with-verdicts model on the labels' releases."""
    from ..fit_matcher import PRIMARY_SET, best_per_release, label_sets, out_of_fold_scores, quality_at

    labels = pd.read_csv(labels_path, dtype={"release_id": str})
    labelled = set(zip(labels["source"], labels["release_id"]))
    cv = matcher_with["cross_validation"]
    rank, score, _ = out_of_fold_scores(frame_with, cv["chosen_C"], cv["folds"], cv["seed"])
    best = best_per_release(frame_with.assign(label_set=label_sets(frame_with)), rank, score)
    best = best[(best["label_set"] == PRIMARY_SET).to_numpy()
                & np.array([k in labelled for k in zip(best["source"], best["release_id"])], dtype=bool)]
    return {
        "without_decisions": {"oof_at_thresholds": matcher_without["cross_validation"]["oof_at_thresholds"],
                              "thresholds": matcher_without["thresholds"],
                              "training_rows": matcher_without["training_rows"]["pairs"]},
        "with_decisions": {"oof_at_thresholds": cv["oof_at_thresholds"], "thresholds": matcher_with["thresholds"],
                           "training_rows": matcher_with["training_rows"]["pairs"]},
        "with_decisions_on_the_labels_releases_only": quality_at(best, matcher_with["thresholds"]["match"],
                                                                 positives_without),
    }
