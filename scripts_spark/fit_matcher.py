"""Fit the soundtrack matcher on labelled pairs and write `match_settings.json`.

    python -m scripts_spark.fit_matcher --lake-root DIR --run-id ID --labels data/eval/dev_labels.csv

Reads one run's Silver tables (films, releases, candidate pairs), computes the pair features exactly as step 05
does, and fits a logistic regression (weights held to the signs in features.FEATURE_SIGNS) on every pair whose
release is labelled:
- positives: labelled 1 pairs;
- negatives: labelled 0 pairs, and the negatives that come free: any other candidate pair of a labelled
  release (a release belongs to one film, so a candidate pair whose release is labelled as another film's
  soundtrack, or labelled as no catalogue film's, is a wrong pair).
Cross-validation is grouped by release (every pair of a release in the same fold, as step 05 decides per
release) and stratified. The regularisation strength is chosen by out-of-fold log loss; both thresholds are
chosen on out-of-fold predictions run through step 05's own decision (best film per release, then the
thresholds), scored with the evaluation rule. The fitted weights, thresholds and how they were chosen go into
the `matcher` section of the settings file; other sections of the file are kept.

`--extra LAKE RUN_ID LABELS` (repeatable) adds another run's labelled pairs to the ranker's training rows, e.g. the
planted truth of an input made by `bench/generate_scale.py` with a seed no benchmark input uses: at scale a release
has many same-titled films to choose from, and ~700 dev labels hold too few such choices to weigh a composer against
a year. Only the ranker learns from them. The decision weights, C, the thresholds and the reported out-of-fold
quality stay on the primary labels, so whether a link is made, and at what precision, is set on real data (fitting
the decision on the generated pairs too cost 1.9 points of out-of-fold MusicBrainz recall on the dev labels); each
extra set's out-of-fold quality is reported next to it.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import REPO_ROOT, load_settings
from .lake import Lake
from .match_settings import load_match_settings
from .review.store import DecisionStore, effective_verdicts
from .sources.labels import label_release_key
from .tables import schema_of
from .transforms.features import FEATURE_DOCS, FEATURE_SIGNS, FEATURE_VERSION, GUARD_DOCS, MODEL_FEATURES

DEFAULT_OUT = REPO_ROOT / "scripts_spark" / "match_settings.json"

# The dev labels hold ~700 labelled releases: five folds keep ~140 releases (and ~120 positives) per test fold.
CV_FOLDS = 5
CV_SEED = 20251125
# Inverse L2 strengths tried; features are 0..1, so C=1 is a moderate prior on weights of a few log-odds.
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
# The precision target for MusicBrainz links: the match threshold maximises out-of-fold F1 among the
# thresholds whose out-of-fold precision reaches it.
MATCH_MIN_PRECISION = 0.995
# Features a link needs for an automatic match (decide.MatchSettings.match_requires): a record its own source does
# not file as a soundtrack (Discogs without Stage & Screen + Score/Soundtrack: story records, cast albums, covers,
# same-named bands) and whose title does not name the film as its source goes to review at best
# (features.GUARD_DOCS). Requiring the type alone held back one labelled positive, the Titanic theme single filed as
# Pop; the fit records how many positives the requirement still holds back.
MATCH_REQUIRES = ("release_is_film_music",)
# Features a link must not have for an automatic match (decide.MatchSettings.match_forbids): a stage-cast or game
# title word the film lacks, a collection that names no one film. Neither marks one labelled positive of the dev +
# batch 2 labels (339 and 39 wrong pairs); as weights alone they let the Indiana Jones box master and generated cast
# and game albums through once the match threshold came down (feature version 13, docs/matching.md section 7).
# composer_album_elsewhere, a film guard (features.GUARD_DOCS): 1 positive and 37 wrong pairs of the dev + batch 2
# labels, 0 and 252 of the generated set; as a guard it changed no out-of-fold link of the dev labels.
MATCH_FORBIDS = ("title_nonfilm_marker", "franchise_collection", "composer_album_elsewhere")
# The review band goes down to where a reviewer still confirms at least one link in four (out-of-fold precision
# of the 15 links around that score); below that, reviewing costs more than it finds.
REVIEW_MIN_LOCAL_PRECISION = 0.25
REVIEW_WINDOW = 15
# `label_set` of the rows from --labels; extra sets are named extra1, extra2, ... in the order given.
PRIMARY_SET = "primary"
# A release of the training rows (a Discogs master and a master-less release can share an id). release_id comes
# before release_kind because rows are sorted by these columns: on labels without such twins the order, and with it
# the ties the threshold choice meets, is the one of the fits made before the kind was part of the key.
RELEASE = ["source", "release_id", "release_kind"]


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- training frame (Spark) ------------------------------------------------------------------------------------
def training_frame(spark, lake: Lake, run_id: str, labels_paths: str | list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Features of every pair whose release is labelled (candidates of labelled releases, plus labelled pairs that
    blocking did not propose), with `label`, `is_candidate`, `is_labelled` (the pair itself is in the labels) and
    `labels_file` (the file that labels the release). Several label files are read as one set (their releases must
    not overlap). Returns it and the labelled positives per source. The title-word rarity comes from all the run's films
    and releases, as in step 05. Collected to pandas:
    its size is bounded by the labels, not by the catalogue."""
    from functools import reduce

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from .sources.labels import read_labels, with_release_kinds
    from .transforms.features import add_film_guards, composer_albums, covered_films, pair_features

    paths = [labels_paths] if isinstance(labels_paths, (str, Path)) else list(labels_paths)
    films, releases, candidates = (lake.read_table(spark, t, run_id, schema_of(t))
                                   for t in ("silver/films", "silver/releases", "silver/candidate_pairs"))
    read = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True),
                  [read_labels(spark, str(p)).withColumn("labels_file", F.lit(Path(p).name)) for p in paths])
    # Positives are counted as the labels name them (releases not in the run too: they are missed); the training rows
    # need each labelled release's kind to find its features.
    n_pos = {r["source"]: r["n"] for r in read.filter(F.col("label") == 1)
             .select("tmdb_id", *label_release_key(read)).distinct()
             .groupBy("source").agg(F.count(F.lit(1)).alias("n")).collect()}
    labels = with_release_kinds(read, releases)
    pair = ["tmdb_id", *RELEASE]
    positives = labels.filter(F.col("label") == 1).select(*pair).distinct()
    labelled_releases = labels.groupBy(*RELEASE).agg(F.min("labels_file").alias("labels_file"))
    pairs = (candidates.join(labelled_releases, RELEASE, "left_semi")
             .select(*pair, F.lit(True).alias("is_candidate"), F.lit(False).alias("is_labelled"))
             .unionByName(labels.select(*pair, F.lit(False).alias("is_candidate"), F.lit(True).alias("is_labelled")))
             .groupBy(*pair)
             .agg(F.max("is_candidate").alias("is_candidate"), F.max("is_labelled").alias("is_labelled")))
    # The film guards need every candidate pair of a film, as in step 05: the labelled releases' films' other
    # candidates are featurised too, for the films' composer albums only. The release-context features need every
    # candidate pair of a release, which `pairs` holds (with labelled pairs no rule proposed, left out of them).
    film_pairs = candidates.join(pairs.select("tmdb_id").distinct(), "tmdb_id", "left_semi").select(*pair)
    scored = pair_features(pairs.select(*pair).unionByName(film_pairs).distinct(), films, releases) \
        .persist(StorageLevel.MEMORY_AND_DISK)
    proposed = scored.join(candidates.select(*pair), pair, "left_semi")
    features = add_film_guards(scored.join(pairs.select(*pair), pair, "left_semi"), composer_albums(proposed),
                               covered_films(proposed))
    frame = (features.join(pairs, pair)
             .join(labelled_releases, RELEASE)
             .join(positives.withColumn("label", F.lit(1)), pair, "left")
             .withColumn("label", F.coalesce("label", F.lit(0)))
             .toPandas())
    scored.unpersist()
    return frame.sort_values([*RELEASE, "tmdb_id"]).reset_index(drop=True), n_pos


# --- pure fitting and threshold choice (pandas / scikit-learn) --------------------------------------------------
def release_groups(frame: pd.DataFrame) -> np.ndarray:
    """A cross-validation node per release id: a master and a master-less release sharing the number share it, a
    coarser grouping than needed that never lets a fold see its own release."""
    return (frame["source"] + ":" + frame["release_id"]).to_numpy()


def cv_groups(frame: pd.DataFrame) -> np.ndarray:
    """Cross-validation group of each row, by release and by film: the connected components of the graph whose nodes
    are releases and films and whose edges are the labelled positive pairs. A film's score album and its songs album
    land in the same fold, so no fold is tested on a film it was trained on the positive pair of; step 05 decides
    per release, so every pair of a release is in its release's group. Films of different label sets (another run's
    ids) are different nodes."""
    sets = label_sets(frame).astype(str).to_numpy()
    releases = release_groups(frame)
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = node
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    for rel, film, label, label_set in zip(releases, frame["tmdb_id"].to_numpy(), frame["label"].to_numpy(), sets):
        if label == 1:
            parent[find("r:" + rel)] = find(f"f:{label_set}:{film}")
    roots = pd.Series([find("r:" + rel) for rel in releases])
    # a group is named by its first release, so releases that share no film keep their own name (and their folds)
    return pd.Series(releases).groupby(roots.to_numpy()).transform("min").to_numpy()


class SignedLogisticRegression:
    """L2-regularised logistic regression whose weights keep the signs in FEATURE_SIGNS.

    The same objective as scikit-learn's LogisticRegression (C x summed log loss + half the squared weights,
    intercept unpenalised), minimised with L-BFGS-B under sign bounds. Exposes the scikit-learn names used here
    (fit, decision_function, predict_proba, coef_, intercept_)."""

    def __init__(self, c: float, signs: tuple[int, ...]):
        self.c = c
        self.bounds = [(0.0, None) if s > 0 else (None, 0.0) if s < 0 else (None, None) for s in signs] + [(None, None)]

    def fit(self, x: np.ndarray, y: np.ndarray) -> "SignedLogisticRegression":
        from scipy.optimize import minimize

        target = np.asarray(y, dtype=float)

        def objective(params):
            w, b = params[:-1], params[-1]
            z = x @ w + b
            loss = np.sum(np.logaddexp(0.0, z) - target * z)
            residual = 1.0 / (1.0 + np.exp(-z)) - target
            grad = np.append(self.c * (x.T @ residual) + w, self.c * residual.sum())
            return self.c * loss + 0.5 * w @ w, grad

        result = minimize(objective, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=self.bounds,
                          options={"maxiter": 5000})
        self.coef_, self.intercept_ = result.x[None, :-1], result.x[-1:]
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(x)))
        return np.column_stack([1 - p, p])


def _model(c: float) -> SignedLogisticRegression:
    return SignedLogisticRegression(c, tuple(FEATURE_SIGNS[name] for name in MODEL_FEATURES))


def label_sets(frame: pd.DataFrame) -> pd.Series:
    return frame["label_set"] if "label_set" in frame else pd.Series(PRIMARY_SET, index=frame.index)


@dataclass
class FittedMatcher:
    ranker: SignedLogisticRegression    # picks each release's best film
    decider: SignedLogisticRegression   # match_score of that film: is it the release's film at all?


def _x(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(MODEL_FEATURES)].to_numpy(dtype=float)


def _ordered(frame: pd.DataFrame, rank: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """Pairs in step 05's order within each release: ranker log-odds, then match score, the closer year (undated
    last), the smaller tmdb_id (decide.pick_best_film_per_release)."""
    return (frame.assign(rank_logit=rank, score=score, _year=frame["year_diff"].fillna(10_000))
            .sort_values([*RELEASE, "rank_logit", "score", "_year", "tmdb_id"],
                         ascending=[True, True, True, False, False, True, True])
            .drop(columns="_year"))


def fit_models(frame: pd.DataFrame, c: float) -> FittedMatcher:
    """Two logistic regressions over the same features, each fitted on the population it is used on.

    The ranker is fitted on every pair of the labelled releases: it orders a release's candidate films, so it must
    learn what separates the right film from look-alikes (a title contained in the release title, the composer).
    The decider is refit on each release's top-ranked pair plus every pair that is itself labelled (positives and
    the hand-picked near misses): hard-negative mining. Step 05 decides on the best film only, and fitting the
    decision on all pairs would let thousands of easy negatives (pairs that merely share a word) set its weights,
    with release-level signals (Single/EP, stage-cast words) confounded with how many candidates a release has."""
    x, y = _x(frame), frame["label"].to_numpy()
    ranker = _model(c).fit(x, y)
    rank = ranker.decision_function(x)
    top = _ordered(frame, rank, rank).drop_duplicates(RELEASE).index
    keep = ((frame.index.isin(top) | frame["is_labelled"].to_numpy())
            & (label_sets(frame) == PRIMARY_SET).to_numpy())   # extra sets train the ranker only
    return FittedMatcher(ranker, _model(c).fit(x[keep], y[keep]))


def out_of_fold_scores(frame: pd.DataFrame, c: float, folds: int = CV_FOLDS,
                       seed: int = CV_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold (ranker log-odds, match score, fold number): each release's pairs are scored by models that
    never saw that release."""
    from sklearn.model_selection import StratifiedGroupKFold

    x, y = _x(frame), frame["label"].to_numpy()
    rank, score, fold = np.zeros(len(frame)), np.zeros(len(frame)), np.zeros(len(frame), dtype=int)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(x, y, groups=cv_groups(frame))):
        fitted = fit_models(frame.iloc[train], c)
        rank[test] = fitted.ranker.decision_function(x[test])
        score[test] = fitted.decider.predict_proba(x[test])[:, 1]
        fold[test] = k
    return rank, score, fold


def shipped_min_rank_share(path: Path = DEFAULT_OUT) -> float:
    """The decision's rank-share guard, from the `guards` section of the settings file (refits never change it)."""
    return float(json.loads(path.read_text(encoding="utf-8"))["guards"]["min_rank_share"])


def best_per_release(frame: pd.DataFrame, rank: np.ndarray, score: np.ndarray,
                     requires: tuple[str, ...] = MATCH_REQUIRES, min_rank_share: float | None = None,
                     forbids: tuple[str, ...] = MATCH_FORBIDS) -> pd.DataFrame:
    """Step 05's choice: among candidate pairs, each release's top-ranked film, with `may_match` (every required
    feature is 1, no forbidden one is, and the film's share of the release's ranker odds reaches the settings'
    guards.min_rank_share)."""
    if min_rank_share is None:
        min_rank_share = shipped_min_rank_share()

    ordered = _ordered(frame, rank, score)[lambda d: d["is_candidate"]]
    top = ordered.groupby(RELEASE)["rank_logit"].transform("max")
    mass = np.exp(ordered["rank_logit"] - top).groupby([ordered[c] for c in RELEASE]).transform("sum")
    has_required = np.all(ordered[list(requires)].to_numpy() >= 1.0, axis=1) if requires else True
    has_forbidden = np.any(ordered[list(forbids)].to_numpy() >= 1.0, axis=1) if forbids else False
    ordered = ordered.assign(rank_share=1.0 / mass,
                             may_match=has_required & ~has_forbidden & (1.0 / mass >= min_rank_share).to_numpy())
    return ordered.drop_duplicates(RELEASE)


def choose_c(frame: pd.DataFrame, grid=C_GRID, folds: int = CV_FOLDS, seed: int = CV_SEED) -> tuple[float, dict]:
    """C by the one-standard-error rule on out-of-fold log loss of the match score, measured on each primary-set
    release's best film (the population step 05 decides on; extra sets train the ranker only): the smallest C (the
    most regularised model) whose mean fold loss is within one standard error of the best mean."""
    from sklearn.metrics import log_loss

    table = {}
    for c in grid:
        rank, score, fold = out_of_fold_scores(frame, c, folds, seed)
        best = best_per_release(frame.assign(_fold=fold, label_set=label_sets(frame)), rank, score)
        best = best[best["label_set"] == PRIMARY_SET]
        per_fold = [log_loss(g["label"], np.clip(g["score"], 1e-9, 1 - 1e-9), labels=[0, 1])
                    for _, g in best.groupby("_fold")]
        table[c] = (float(np.mean(per_fold)), float(np.std(per_fold, ddof=1) / np.sqrt(len(per_fold))))
    best_c = min(grid, key=lambda c: table[c][0])
    limit = table[best_c][0] + table[best_c][1]
    chosen = min(c for c in grid if table[c][0] <= limit)
    return chosen, {str(c): {"mean": round(m, 5), "se": round(se, 5)} for c, (m, se) in table.items()}


def _linked(best: pd.DataFrame, threshold: float) -> pd.DataFrame:
    return best[(best["score"] >= threshold) & best["may_match"]]


def wilson_interval(k: int, n: int, z: float = 1.959964) -> list[float] | None:
    """95% Wilson score interval of the proportion k/n (None when n is 0): honest near 0 and 1, where most of these
    figures are."""
    if not n:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(float(centre - half), 4), round(float(centre + half), 4)]


def quality_at(best: pd.DataFrame, threshold: float, positives: dict[str, int]) -> dict[str, dict]:
    """Evaluation-rule figures of the matches at `threshold` (every release here is labelled), with 95% Wilson
    intervals of precision and recall."""
    out = {}
    linked = _linked(best, threshold)
    for src in sorted(positives):
        sel = linked[linked["source"] == src]
        tp, judged, pos = int(sel["label"].sum()), len(sel), positives[src]
        p = tp / judged if judged else 0.0
        r = tp / pos if pos else 0.0
        out[src] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
                    "tp": tp, "judged": judged, "positives": pos,
                    "precision_95": wilson_interval(tp, judged), "recall_95": wilson_interval(tp, pos)}
    return out


def positives_by_file(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Labelled positives per labels file and source (every labelled pair is a row of the training frame)."""
    if "labels_file" not in frame:
        return {}
    pos = frame[(frame["label"] == 1) & (label_sets(frame) == PRIMARY_SET)]
    return {name: {src: int(n) for src, n in g.groupby("source").size().items()}
            for name, g in pos.groupby("labels_file")}


def in_sample_and_out_of_fold(frame: pd.DataFrame, best_oof: pd.DataFrame, final: "FittedMatcher", threshold: float,
                              positives: dict[str, int]) -> dict:
    """The primary labels' figures at the match threshold twice: scored by the final models, which saw every label
    (in sample), and by models that never saw the release or its film (out of fold); overall and per labels file.
    The gap between the two is the honest estimate of how much the fit flatters itself."""
    x = _x(frame)
    best_in = best_per_release(frame.assign(label_set=label_sets(frame)), final.ranker.decision_function(x),
                               final.decider.predict_proba(x)[:, 1])
    best_in = best_in[best_in["label_set"] == PRIMARY_SET]
    out = {"all": {"in_sample": quality_at(best_in, threshold, positives),
                   "out_of_fold": quality_at(best_oof, threshold, positives)}}
    for name, pos in sorted(positives_by_file(frame).items()):
        pick = lambda b: b[b["labels_file"] == name]  # noqa: E731
        out[name] = {"in_sample": quality_at(pick(best_in), threshold, pos),
                     "out_of_fold": quality_at(pick(best_oof), threshold, pos)}
    return out


def _pooled(best: pd.DataFrame, threshold: float, n_pos: int) -> tuple[float, float, float]:
    linked = _linked(best, threshold)
    tp = float(linked["label"].sum())
    p = tp / len(linked) if len(linked) else 1.0
    r = tp / n_pos if n_pos else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _midpoint(lo: float, hi: float) -> float:
    """Midpoint in log-odds between two scores: the threshold sits as far from both neighbours as it can."""
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    lo, hi = np.clip([lo, hi], 1e-6, 1 - 1e-6)
    return float(1 / (1 + np.exp(-(logit(lo) + logit(hi)) / 2)))


def choose_thresholds(best: pd.DataFrame, positives: dict[str, int],
                      min_precision: float = MATCH_MIN_PRECISION,
                      min_band_precision: float = REVIEW_MIN_LOCAL_PRECISION,
                      window: int = REVIEW_WINDOW) -> dict:
    """Match threshold: the highest out-of-fold F1 among cut points with pooled precision >= min_precision (cut
    points sit between consecutive best-per-release scores); the F1 plateau's middle (in log-odds) is taken.
    Review threshold: walking down the links that are not matches (below the match threshold, or missing a required
    feature), the band stops before the first link whose local precision (share of true links among the `window`
    links around it) falls below min_band_precision."""
    n_pos = sum(positives.values())
    scores = np.sort(best["score"].unique())
    cuts = [_midpoint(a, b) for a, b in zip(scores[:-1], scores[1:])] or [0.5]
    stats = [(t, *_pooled(best, t, n_pos)) for t in cuts]
    eligible = [s for s in stats if s[1] >= min_precision] or stats
    top_f1 = max(s[3] for s in eligible)
    plateau = [s[0] for s in eligible if s[3] >= top_f1 - 1e-12]
    match_t = _midpoint(min(plateau), max(plateau))

    matched = (best["score"] >= match_t) & best["may_match"]
    below = best[~matched].sort_values("score", ascending=False)
    local = (below["label"].rolling(window, center=True, min_periods=1).mean().to_numpy()
             if len(below) else np.zeros(0))
    failing = np.nonzero(local < min_band_precision)[0]
    band_len = int(failing[0]) if len(failing) else len(below)
    if band_len == 0:
        review_t = match_t
    elif band_len < len(below):
        review_t = _midpoint(below["score"].iloc[band_len], below["score"].iloc[band_len - 1])
    else:
        review_t = float(below["score"].iloc[-1])
    band = below.iloc[:band_len]
    p, r, f1 = _pooled(best, match_t, n_pos)
    return {"match": round(match_t, 6), "review": round(min(review_t, match_t), 6),
            "oof_pooled_at_match": {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)},
            "f1_plateau": [round(min(plateau), 6), round(max(plateau), 6)],
            "review_band": {"links": int(len(band)), "true_links": int(band["label"].sum()),
                            "precision": round(float(band["label"].mean()), 4) if len(band) else None}}


def with_label_set(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows of one extra training set: release ids prefixed with the set's name, so releases of different runs
    never share a cross-validation group or a best-film choice."""
    return frame.assign(label_set=name, release_id=name + "/" + frame["release_id"].astype(str))


def fit(frame: pd.DataFrame, positives: dict[str, int], folds: int = CV_FOLDS, seed: int = CV_SEED,
        extra_positives: dict[str, dict[str, int]] | None = None) -> dict:
    """Choose C, fit both models on all rows (see fit_models), choose thresholds on out-of-fold predictions of the
    primary set's releases; returns the `matcher` section of the settings file. `extra_positives` gives each extra
    set's labelled positives per source (rows whose `label_set` names it)."""
    extra_positives = extra_positives or {}
    c, losses = choose_c(frame, folds=folds, seed=seed)
    rank, score, _ = out_of_fold_scores(frame, c, folds, seed)
    best_all = best_per_release(frame.assign(label_set=label_sets(frame)), rank, score)
    best = best_all[best_all["label_set"] == PRIMARY_SET]
    thresholds = choose_thresholds(best, positives)
    final = fit_models(frame, c)
    weights = lambda model: {name: round(float(w), 6) for name, w in zip(MODEL_FEATURES, model.coef_[0])}  # noqa: E731
    return {
        "feature_version": FEATURE_VERSION,
        "model": (f"logistic regression (L2, C={c}, weights held to the signs in `weight_signs`): `weights` give "
                  "match_score, fitted on each labelled release's top-ranked pair plus the labelled pairs "
                  "(hard-negative mining) of the primary labels; `ranker` orders a release's candidate films, "
                  "fitted on all pairs of the labelled releases, extra sets included"),
        "weights": weights(final.decider),
        "intercept": round(float(final.decider.intercept_[0]), 6),
        "ranker": {"weights": weights(final.ranker), "intercept": round(float(final.ranker.intercept_[0]), 6)},
        "thresholds": {"match": thresholds["match"], "review": thresholds["review"]},
        "match_requires": list(MATCH_REQUIRES),
        "match_requires_measured": {
            "labelled_positives_without": int(((frame["label"] == 1)
                                               & ~np.all(frame[list(MATCH_REQUIRES)] >= 1.0, axis=1)).sum()),
            "labelled_releases_without": int(frame.loc[~np.all(frame[list(MATCH_REQUIRES)] >= 1.0, axis=1),
                                                       RELEASE].drop_duplicates().shape[0])},
        "match_forbids": list(MATCH_FORBIDS),
        "match_forbids_measured": {
            name: {"positives_with": int(((frame[name] >= 1.0) & (frame["label"] == 1)
                                          & (label_sets(frame) == PRIMARY_SET)).sum()),
                   "negatives_with": int(((frame[name] >= 1.0) & (frame["label"] == 0)
                                          & (label_sets(frame) == PRIMARY_SET)).sum())}
            for name in MATCH_FORBIDS},
        "features": dict(FEATURE_DOCS),
        "guard_features": dict(GUARD_DOCS),
        "weight_signs": dict(FEATURE_SIGNS),
        "cross_validation": {
            "folds": folds, "splitter": "StratifiedGroupKFold (groups = release and film, shuffled)", "seed": seed,
            "C_grid_oof_log_loss": losses, "chosen_C": c,
            "C_rule": "smallest C within one standard error of the lowest mean fold log loss",
            "threshold_rule": (f"match: highest out-of-fold F1 with pooled precision >= {MATCH_MIN_PRECISION} "
                               "(middle of the F1 plateau, in log-odds); review: the band ends before the first "
                               f"out-of-fold link whose local precision (window of {REVIEW_WINDOW} links) is below "
                               f"{REVIEW_MIN_LOCAL_PRECISION}"),
            "grouping": "release and film: connected components of releases and films joined by labelled positive pairs",
            "oof_at_thresholds": quality_at(best, thresholds["match"], positives),
            "in_sample_vs_out_of_fold": in_sample_and_out_of_fold(frame, best, final, thresholds["match"], positives),
            "oof_pooled_at_match": thresholds["oof_pooled_at_match"],
            "f1_plateau": thresholds["f1_plateau"],
            "oof_review_band": thresholds["review_band"],
            "extra_sets_oof_at_thresholds": {
                name: quality_at(best_all[best_all["label_set"] == name], thresholds["match"], pos)
                for name, pos in sorted(extra_positives.items())},
        },
        "training_rows": {
            "pairs": int(len(frame)), "positives": int(frame["label"].sum()),
            "negatives": int((frame["label"] == 0).sum()),
            "labelled_releases": int(frame[RELEASE].drop_duplicates().shape[0]),
            "labelled_pairs": int(frame["is_labelled"].sum()),
            "pairs_not_proposed_by_blocking": int((~frame["is_candidate"]).sum()),
            "positives_not_proposed_by_blocking": int((~frame["is_candidate"] & (frame["label"] == 1)).sum()),
            # Step 05 links a pair bridged by an IMDb id whatever its score (decide.py); such pairs are not what the
            # thresholds are chosen for, and the bundled data has the relationships removed, so this is 0 there.
            "imdb_bridged_pairs": int((frame.get("imdb_bridge", pd.Series(0.0, index=frame.index)) >= 1.0).sum()),
            "by_source": {src: {"pairs": int((frame["source"] == src).sum()),
                                "positives": int(frame.loc[frame["source"] == src, "label"].sum())}
                          for src in sorted(frame["source"].unique())},
            "by_label_set": {name: {"pairs": int((label_sets(frame) == name).sum()),
                                    "positives": int(frame.loc[label_sets(frame) == name, "label"].sum())}
                             for name in sorted(label_sets(frame).unique())},
        },
    }


def cached_frame_path(cache_dir: str, lake_root: str, run_id: str, labels: list[str]) -> Path:
    """Where a training frame is cached: named by everything it depends on (the run, the labels' content, and the code
    that computes features and titles), so a change to any of them is a new file (re-running a run id over new Silver
    tables needs a fresh DIR)."""
    code = Path(__file__).parent / "transforms"
    parts = [str(Path(lake_root).resolve()), run_id, FEATURE_VERSION, *(file_sha256(p) for p in labels),
             *(file_sha256(code / name) for name in ("features.py", "normalise.py"))]
    return Path(cache_dir) / f"{run_id}-{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:16]}.parquet"


def extra_set_provenance(name: str, lake_root: str, run_id: str, labels_path: str) -> dict:
    """Where an extra training set came from; a generated input's arguments (its generation.json beside the labels)
    are enough to make it again."""
    out = {"name": name, "run_id": run_id, "labels_file": Path(labels_path).name,
           "labels_sha256": file_sha256(labels_path)}
    generation = Path(labels_path).with_name("generation.json")
    if generation.exists():
        out["generated_by"] = {"script": "bench/generate_scale.py",
                               "arguments": json.loads(generation.read_text(encoding="utf-8")).get("arguments")}
    return out


def write_settings(matcher: dict, out: Path, labels_paths: str | list[str], run_id: str,
                   extra_sets: list[dict] | None = None) -> dict:
    """Merge the `matcher` section into the settings file (other sections kept) and stamp its provenance: every labels
    file with its SHA-256 (`label_files`; `labels_file` and `labels_sha256` name the first, the dev labels)."""
    paths = [labels_paths] if isinstance(labels_paths, (str, Path)) else list(labels_paths)
    hashes = [file_sha256(p) for p in paths]
    combined = hashlib.sha256("".join(hashes).encode()).hexdigest()
    now = datetime.now(timezone.utc)
    doc = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    doc["matcher"] = {
        "version": f"{now:%Y%m%d}-{combined[:8]}-f{FEATURE_VERSION}",
        **matcher,
        "fitted": {"at": now.isoformat(timespec="seconds"), "labels_file": Path(paths[0]).name,
                   "labels_sha256": hashes[0],
                   "label_files": [{"file": Path(p).name, "sha256": h} for p, h in zip(paths, hashes)],
                   "silver_run_id": run_id,
                   "command": "python -m scripts_spark.fit_matcher --lake-root LAKE --run-id "
                              f"{run_id} --labels {' '.join(Path(p).name for p in paths)}"
                              + "".join(f" --extra LAKE{i + 1} {x['run_id']} {x['labels_file']}"
                                        for i, x in enumerate(extra_sets or [])),
                   "extra_sets": extra_sets or []},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


# --- learning from people's verdicts (`--decisions`) -------------------------------------------------------------
# The matcher learns from people's verdicts: `python -m scripts_spark.fit_matcher ... --decisions`.
#
# Each verdict in force (store.effective_verdicts) is a labelled pair: accept = 1, reject = 0 (another film gives
# both: 0 for the film shown, 1 for the chosen one). They join the training labels as primary labels (both the
# ranker and the decision learn from them; cross-validation keeps every pair of a release in one fold, as for the
# dev labels). A release the labels file already labels keeps its labels: those labels were checked against sources,
# and the evaluation measures against them; the verdicts on such releases are counted as overlaps (and disagreements).
#
# `compare` refits without the verdicts and reports the out-of-fold figures both ways, and the with-verdicts model's
# figures on the labels file's releases alone (the same population as without).

def decision_rows(lake_root: str) -> pd.DataFrame:
    """The verdicts in force as label rows (source, tmdb_id, release_id, label, note, release_kind)."""
    verdicts = effective_verdicts(DecisionStore(lake_root).read_all())
    return pd.DataFrame([{"source": v.pair.source, "tmdb_id": v.pair.tmdb_id, "release_id": v.pair.release_id,
                          "label": 1 if v.verdict == "accept" else 0,
                          "note": f"review verdict {v.decision_id} by {v.reviewer}",
                          "release_kind": v.pair.release_kind} for v in verdicts.values()],
                        columns=["source", "tmdb_id", "release_id", "label", "note", "release_kind"])


def _keys(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return list(zip(*(frame[c].astype(str) if c == "release_id" else frame[c] for c in columns)))


def _on(frame: pd.DataFrame, labels: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Which rows of `frame` name a release of `labels` (by `columns`)."""
    labelled = set(_keys(labels, columns))
    return np.array([key in labelled for key in _keys(frame, columns)], dtype=bool)


def merge_labels(labels_path: str, decisions: pd.DataFrame, out: Path) -> dict[str, Any]:
    """Write labels + verdicts on releases the labels leave out to `out`; return what was added and what overlapped.
    The verdicts keep their release_kind, so the merged file has the column (empty on label rows that had none:
    training_frame matches those on the id alone)."""
    labels = pd.read_csv(labels_path, dtype={"release_id": str}, comment=None)
    labels = labels[labels["source"].notna() & labels["release_id"].notna() & labels["label"].isin([0, 1])]
    release = label_release_key(labels)
    on_labelled = _on(decisions, labels, release) if len(decisions) else pd.Series(dtype=bool)
    added = decisions[~on_labelled] if len(decisions) else decisions
    overlap = decisions[on_labelled] if len(decisions) else decisions
    known = dict(zip(_keys(labels, [*release, "tmdb_id"]), labels["label"]))
    disagree = sum(1 for key, label in zip(_keys(overlap, [*release, "tmdb_id"]), overlap["label"])
                   if known.get(key, label) != label)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([labels, added], ignore_index=True).to_csv(out, index=False, quoting=csv.QUOTE_MINIMAL)
    return {"verdict_pairs": int(len(decisions)), "added_pairs": int(len(added)),
            "added_releases": int(added[RELEASE].drop_duplicates().shape[0]),
            "added_positives": int(added["label"].sum()) if len(added) else 0,
            "on_labelled_releases": int(len(overlap)), "disagreeing_with_labels": int(disagree)}


def compare(frame_with: pd.DataFrame, matcher_with: dict, labels_path: str, positives_without: dict[str, int],
            matcher_without: dict) -> dict[str, Any]:
    """Out-of-fold figures with and without the verdicts, and the with-verdicts model on the labels' releases."""
    labels = pd.read_csv(labels_path, dtype={"release_id": str})
    release = label_release_key(labels)
    cv = matcher_with["cross_validation"]
    rank, score, _ = out_of_fold_scores(frame_with, cv["chosen_C"], cv["folds"], cv["seed"])
    best = best_per_release(frame_with.assign(label_set=label_sets(frame_with)), rank, score)
    best = best[(best["label_set"] == PRIMARY_SET).to_numpy()
                & _on(best, labels, release)]
    return {
        "without_decisions": {"oof_at_thresholds": matcher_without["cross_validation"]["oof_at_thresholds"],
                              "thresholds": matcher_without["thresholds"],
                              "training_rows": matcher_without["training_rows"]["pairs"]},
        "with_decisions": {"oof_at_thresholds": cv["oof_at_thresholds"], "thresholds": matcher_with["thresholds"],
                           "training_rows": matcher_with["training_rows"]["pairs"]},
        "with_decisions_on_the_labels_releases_only": quality_at(best, matcher_with["thresholds"]["match"],
                                                                 positives_without),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts_spark.fit_matcher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake-root", required=True, help="lake holding the run's Silver tables")
    parser.add_argument("--run-id", required=True, help="run whose silver/films, releases, candidate_pairs to use")
    parser.add_argument("--labels", required=True, nargs="+",
                        help="labelled pairs CSV(s) (source,tmdb_id,release_id,label,note, optionally release_kind), "
                             "read as one set; the first is named in `fitted.labels_file`")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"settings file to write (default {DEFAULT_OUT})")
    parser.add_argument("--folds", type=int, default=CV_FOLDS, help=f"cross-validation folds (default {CV_FOLDS})")
    parser.add_argument("--extra", nargs=3, action="append", default=[], metavar=("LAKE", "RUN_ID", "LABELS"),
                        help="another run's labelled pairs for the weights (not the thresholds); repeatable")
    parser.add_argument("--frame-cache", metavar="DIR",
                        help="keep each training frame as parquet in DIR, keyed by its run, labels and feature code; a "
                             "later fit with the same inputs reads it and starts no Spark")
    parser.add_argument("--frames-only", action="store_true",
                        help="build (and cache) the training frames, then stop: the Spark part of a fit alone")
    parser.add_argument("--decisions", action="store_true",
                        help="add the verdicts in force of --lake-root's review/decisions to the labels "
                             "(see 'learning from people's verdicts' below) and report the out-of-fold figures with and without them")
    args = parser.parse_args(argv)

    spark_holder: list = []

    def frame_of(lake_root: str, run_id: str, labels: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
        cached = cached_frame_path(args.frame_cache, lake_root, run_id, labels) if args.frame_cache else None
        if cached is not None and cached.exists():
            frame = pd.read_parquet(cached)
            return frame, json.loads(cached.with_suffix(".json").read_text(encoding="utf-8"))
        if not spark_holder:
            from .spark_session import get_spark

            spark_holder.append(get_spark(load_settings(lake_root=args.lake_root)))
        frame, positives = training_frame(spark_holder[0], Lake(lake_root), run_id, labels)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(cached)
            cached.with_suffix(".json").write_text(json.dumps(positives), encoding="utf-8")
        return frame, positives

    labels_paths, decisions = list(args.labels), None
    if args.decisions:
        import tempfile


        folder = Path(tempfile.mkdtemp())
        combined = folder / "labels.csv"
        pd.concat([pd.read_csv(p, dtype={"release_id": str}) for p in args.labels]).to_csv(combined, index=False)
        labels_paths = [str(folder / "labels_with_decisions.csv")]
        decisions = merge_labels(str(combined), decision_rows(args.lake_root), Path(labels_paths[0]))
    frame, positives = frame_of(args.lake_root, args.run_id, labels_paths)
    frames, extra_positives, provenance = [frame.assign(label_set=PRIMARY_SET)], {}, []
    for i, (lake_root, run_id, labels) in enumerate(args.extra, start=1):
        name = f"extra{i}"
        extra, extra_positives[name] = frame_of(lake_root, run_id, [labels])
        frames.append(with_label_set(extra, name))
        provenance.append(extra_set_provenance(name, lake_root, run_id, labels))
    if args.frames_only:
        print(json.dumps({"frames": len(frames), "rows": sum(len(f) for f in frames), "cache": args.frame_cache}))
        return 0
    frame = pd.concat(frames, ignore_index=True)
    matcher = fit(frame, positives, folds=args.folds, extra_positives=extra_positives)
    if decisions is not None:

        base, base_positives = frame_of(args.lake_root, args.run_id, args.labels)
        without = fit(pd.concat([base.assign(label_set=PRIMARY_SET), *frames[1:]], ignore_index=True), base_positives,
                      folds=args.folds, extra_positives=extra_positives)
        matcher["training_rows"]["review_decisions"] = decisions
        matcher["cross_validation"]["with_and_without_decisions"] = compare(frame, matcher, str(combined),
                                                                            base_positives, without)
    doc = write_settings(matcher, Path(args.out), args.labels, args.run_id, provenance)
    # What step 05 will read must load and fit this code's features (a refit never leaves a file it would refuse).
    load_match_settings(args.out, MODEL_FEATURES, FEATURE_VERSION)
    summary = {k: doc["matcher"][k] for k in ("version", "thresholds")}
    summary.update(chosen_C=matcher["cross_validation"]["chosen_C"],
                   oof=matcher["cross_validation"]["oof_at_thresholds"],
                   in_sample_vs_out_of_fold=matcher["cross_validation"]["in_sample_vs_out_of_fold"],
                   review_band=matcher["cross_validation"]["oof_review_band"],
                   extra_oof=matcher["cross_validation"]["extra_sets_oof_at_thresholds"],
                   training_rows=matcher["training_rows"])
    if decisions is not None:
        summary["decisions"] = matcher["cross_validation"]["with_and_without_decisions"]
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
