"""`evaluate`: precision, recall and F1 of a run's Gold links against labelled pairs, plus blocking quality and the
fitted matcher's in-sample and out-of-fold figures (`matcher_quality`, from match_settings.json).

Scoring rule (data/eval/README.md, the same as data/eval/score_gold.py): per source,
- recall = labelled positives found among the `decision = match` links / labelled positives;
- precision = among `match` links whose release is labelled (1 or 0 rows), the share that is a labelled positive.
Links to unlabelled releases are not judged here. `--rule original` scores the original capstone's rule
(contains-join on normalised titles, years within 2, token_set_ratio >= 85) on the same Silver run, side by side.
All counting runs in Spark; only the per-source counts reach the driver.
"""
from __future__ import annotations

import json
from typing import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from .config import Settings
from .lake import Lake
from .sources.labels import label_release_key, read_labels
from .tables import schema_of

# A link is a release and a film. Labels name the release by (source, release_id), or by the whole key when they
# carry release_kind (sources/labels.py), and links are matched to labels on what the labels name.
LINK_KEY = ["source", "tmdb_id", "release_kind", "release_id"]

# The original capstone's rule, kept only to be measured against.
ORIGINAL_MAX_YEAR_GAP = 2
ORIGINAL_MIN_TOKEN_SET_RATIO = 85.0


def _ratio(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


def _labelled(labels: DataFrame) -> tuple[list[str], list[str], DataFrame]:
    """(release columns, link columns, labelled positive links) as the labels name them."""
    release = label_release_key(labels)
    link = ["tmdb_id", *release]
    return release, link, labels.filter(F.col("label") == 1).select(*link).distinct()


def link_quality(links: DataFrame, labels: DataFrame) -> dict[str, dict]:
    """Per labelled source: precision, recall, f1, tp, judged, positives, predicted_matches of `links`
    (rows of LINK_KEY)."""
    release, link, positives = _labelled(labels)
    predicted = links.select(*link).distinct()
    labelled_releases = labels.select(*release).distinct()
    judged = predicted.join(labelled_releases, release, "left_semi")
    true_pos = predicted.join(positives, link, "left_semi")

    def per_source(df: DataFrame) -> dict[str, int]:
        return {r["source"]: r["n"] for r in df.groupBy("source").agg(F.count(F.lit(1)).alias("n")).collect()}

    n_pred, n_judged, n_tp, n_pos = (per_source(d) for d in (predicted, judged, true_pos, positives))
    sources = sorted({r["source"] for r in labelled_releases.select("source").distinct().collect()})
    out = {}
    for src in sources:
        tp, jd, pos = n_tp.get(src, 0), n_judged.get(src, 0), n_pos.get(src, 0)
        precision, recall = _ratio(tp, jd), _ratio(tp, pos)
        f1 = round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0
        out[src] = {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "judged": jd, "positives": pos,
                    "predicted_matches": n_pred.get(src, 0)}
    return out


# Where a labelled positive that is not linked went; a positive with several Gold rows counts once, under the
# first of these that applies.
MISSED_OUTCOMES = ("other_film", "review_exact_tie", "review", "no_link")


def missed_positives(gold: DataFrame, labels: DataFrame) -> dict[str, dict]:
    """Per source, where the labelled positives that are not `match` links went: `other_film` (the release is
    linked to another film), `review_exact_tie` (in review, and the film is one of two best films that agree in
    every feature - the decision scores of the first and the runner-up are equal to the 4 decimals the reasons keep,
    so no weighting can choose),
    `review` (in review for another reason), `no_link` (no Gold row for the pair's release). Also
    `recall_without_exact_ties`: recall once the exact ties are set aside, i.e. what the matcher could have found."""
    release, link, positives = _labelled(labels)
    score = F.get_json_object("reasons", "$.score")
    runner_up = F.get_json_object("reasons", "$.runner_up.tmdb_id").cast("long")
    rows = gold.select(*release, F.col("tmdb_id").alias("linked_tmdb_id"), "decision",
                       ((score == F.get_json_object("reasons", "$.runner_up.score")) & score.isNotNull())
                       .alias("tied"), runner_up.alias("runner_up"))
    is_match = F.col("decision") == "match"
    in_review = F.col("decision") == "review"
    mine = F.col("linked_tmdb_id") == F.col("tmdb_id")
    flags = (positives.join(rows, release, "left")
             .groupBy(*link)
             .agg(F.max(is_match & mine).alias("found"),
                  F.max(is_match & ~mine).alias("other_film"),
                  F.max(in_review & F.col("tied") & (mine | (F.col("runner_up") == F.col("tmdb_id"))))
                  .alias("review_exact_tie"),
                  F.max(in_review).alias("review")))
    outcome = (F.when(F.coalesce("found", F.lit(False)), F.lit("found"))
               .when(F.coalesce("other_film", F.lit(False)), F.lit("other_film"))
               .when(F.coalesce("review_exact_tie", F.lit(False)), F.lit("review_exact_tie"))
               .when(F.coalesce("review", F.lit(False)), F.lit("review"))
               .otherwise(F.lit("no_link")))
    counts: dict[str, dict[str, int]] = {}
    for r in flags.groupBy("source", outcome.alias("outcome")).agg(F.count(F.lit(1)).alias("n")).collect():
        counts.setdefault(r["source"], {})[r["outcome"]] = r["n"]
    out = {}
    for src, by in sorted(counts.items()):
        found, ties = by.get("found", 0), by.get("review_exact_tie", 0)
        out[src] = {**{k: by.get(k, 0) for k in MISSED_OUTCOMES},
                    "recall_without_exact_ties": _ratio(found, sum(by.values()) - ties)}
    return out


# Bins of the ranker's rank_share (the first film's share of the release's odds, decide.MIN_RANK_SHARE): the last
# bin is closed, 1.0 being a release with a single candidate film.
SHARE_BINS = (0.0, 0.5, 0.75, 0.9, 0.99, 1.0)


def rank_share_calibration(gold: DataFrame, labels: DataFrame) -> dict[str, list[dict]]:
    """Per source and rank_share bin, over the labelled-positive releases that have a Gold row (match or review):
    how many (`n`), their mean share, and the share whose first-ranked film is a labelled positive (`first_right`).
    If the ranker's shares are calibrated, `first_right` is close to `mean_share` in every bin: a review-queue
    link at share 0.8 is then right four times in five, and what the MIN_RANK_SHARE guard keeps out of the
    matches is uncertain in fact, not by a mis-scaled score."""
    release, link, positives = _labelled(labels)
    share = F.get_json_object("reasons", "$.rank_share").cast("double")
    rows = (gold.select(*link, share.alias("share"))
            .join(positives.select(*release).distinct(), release, "left_semi")
            .join(positives.withColumn("right", F.lit(1)), link, "left")
            .filter(F.col("share").isNotNull()))
    lows = SHARE_BINS[:-1]
    bin_index = F.lit(0)
    for i, low in enumerate(lows[1:], start=1):
        bin_index = F.when(F.col("share") >= low, F.lit(i)).otherwise(bin_index)
    out: dict[str, list[dict]] = {}
    for r in (rows.groupBy("source", bin_index.alias("bin"))
              .agg(F.count(F.lit(1)).alias("n"), F.sum(F.coalesce("right", F.lit(0))).alias("right"),
                   F.avg("share").alias("mean_share"))
              .orderBy("source", "bin").collect()):
        out.setdefault(r["source"], []).append({
            "low": SHARE_BINS[r["bin"]], "high": SHARE_BINS[r["bin"] + 1], "n": r["n"],
            "first_right": _ratio(r["right"], r["n"]), "mean_share": round(r["mean_share"], 4)})
    return out


def _token_set_in_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    from rapidfuzz import fuzz, process

    for frame in batches:
        scores = process.cpdist(frame["film_title_norm"].tolist(), frame["release_title_norm"].tolist(),
                                scorer=fuzz.token_set_ratio, dtype=np.float64) if len(frame) else np.zeros(0)
        yield frame[LINK_KEY].assign(token_set_ratio=scores)


def original_rule_links(films: DataFrame, releases: DataFrame) -> DataFrame:
    """The original rule's links: one normalised title contains the other, both years known and within 2,
    token_set_ratio >= 85. The year band is an equi-join on each year of the window, then the contains filter."""
    film_side = (films.filter(F.col("year").isNotNull() & (F.length("title_norm") > 0))
                 .select("tmdb_id", F.col("title_norm").alias("film_title_norm"), F.col("year").alias("film_year")))
    release_side = (releases.filter(F.col("year").isNotNull() & (F.length("title_norm") > 0))
                    .select("source", "release_kind", "release_id", F.col("title_norm").alias("release_title_norm"),
                            F.explode(F.sequence(F.col("year") - ORIGINAL_MAX_YEAR_GAP,
                                                 F.col("year") + ORIGINAL_MAX_YEAR_GAP)).alias("film_year")))
    contains = ((F.instr("film_title_norm", F.col("release_title_norm")) > 0)
                | (F.instr("release_title_norm", F.col("film_title_norm")) > 0))
    pairs = film_side.join(release_side, "film_year").filter(contains)
    scored_schema = StructType([StructField("source", StringType()), StructField("tmdb_id", LongType()),
                                StructField("release_kind", StringType()), StructField("release_id", StringType()),
                                StructField("token_set_ratio", DoubleType())])
    return (pairs.select(*LINK_KEY, "film_title_norm", "release_title_norm")
            .mapInPandas(_token_set_in_batches, scored_schema)
            .filter(F.col("token_set_ratio") >= ORIGINAL_MIN_TOKEN_SET_RATIO)
            .select(*LINK_KEY))


def blocking_figures(lake: Lake, spark: SparkSession, run_id: str, labels_path: str) -> dict:
    """Pair completeness and reduction ratio of the run's candidate pairs (the Silver step's own measure)."""
    from .transforms.blocking import blocking_quality

    films = lake.read_table(spark, "silver/films", run_id, schema_of("silver/films"))
    releases = lake.read_table(spark, "silver/releases", run_id, schema_of("silver/releases"))
    candidates = lake.read_table(spark, "silver/candidate_pairs", run_id, schema_of("silver/candidate_pairs"))
    releases_by_source = {r["source"]: r["n"] for r in
                          releases.groupBy("source").agg(F.count(F.lit(1)).alias("n")).collect()}
    return blocking_quality(candidates, films.count(), releases_by_source, labels_path)


def wilson_intervals(sources: dict[str, dict]) -> dict[str, dict]:
    """95% Wilson intervals of each source's precision (tp of judged) and recall (tp of positives)."""
    from .fit_matcher import wilson_interval

    return {src: {"precision_95": wilson_interval(q["tp"], q["judged"]), "recall_95": wilson_interval(q["tp"], q["positives"])}
            for src, q in sources.items()}


def matcher_quality(settings_path: str) -> dict:
    """The fitted matcher's own quality, from match_settings.json (written by fit_matcher): per source, at the match
    threshold, in sample (the final models on the labels they were fitted on) and out of fold (grouped by release and
    film: models that never saw the release or its film), each with 95% intervals, for all labels and per labels
    file. The out-of-fold figures are the estimate for labels the matcher has not seen."""
    from .match_settings import _read

    matcher = _read(settings_path).get("matcher", {})
    cv = matcher.get("cross_validation", {})
    return {"version": matcher.get("version"), "feature_version": matcher.get("feature_version"),
            "threshold": matcher.get("thresholds", {}).get("match"), "grouping": cv.get("grouping"),
            "label_files": [f["file"] for f in matcher.get("fitted", {}).get("label_files", [])],
            "figures": cv.get("in_sample_vs_out_of_fold", {})}


def evaluate_run(settings: Settings, run_id: str, labels_path: str, include_original: bool = False) -> dict:
    """Score `run_id` against `labels_path`; writes `_runs/<run_id>/evaluation.json` and returns the same dict."""
    from .spark_session import get_spark

    spark = get_spark(settings)
    lake = Lake(settings.lake_root)
    labels = read_labels(spark, labels_path).cache()
    gold = lake.read_table(spark, "gold/soundtrack_matches", run_id, schema_of("gold/soundtrack_matches"))
    result: dict = {"run_id": run_id, "labels": str(labels_path),
                    "sources": link_quality(gold.filter(F.col("decision") == "match"), labels),
                    "missed": missed_positives(gold, labels),
                    "rank_share_calibration": rank_share_calibration(gold, labels),
                    "blocking": blocking_figures(lake, spark, run_id, labels_path),
                    "matcher_quality": matcher_quality(settings.match_settings_path)}
    result["intervals"] = wilson_intervals(result["sources"])
    if include_original:
        films = lake.read_table(spark, "silver/films", run_id, schema_of("silver/films"))
        releases = lake.read_table(spark, "silver/releases", run_id, schema_of("silver/releases"))
        result["original_rule"] = link_quality(original_rule_links(films, releases), labels)
    labels.unpersist()
    lake.write_text(lake.run_file(run_id, "evaluation.json"), json.dumps(result, indent=2, sort_keys=True), spark)
    return result


def evaluation_table(result: dict) -> str:
    """`evaluate`'s console output: per source the pipeline's P, R, F1 and counts (the original rule's beneath when
    it was scored), then blocking completeness, where missed positives went and the fitted matcher's out-of-fold and
    in-sample figures. evaluation.json has every figure."""
    header = f"{'source':12s} {'rule':9s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'links':>7s} {'judged':>7s} " \
             f"{'true+':>6s} {'labelled+':>9s}"
    lines = [f"run {result.get('run_id')} against {result.get('labels')}", "", header, "-" * len(header)]
    original = result.get("original_rule") or {}
    for source, figures in sorted((result.get("sources") or {}).items()):
        rules = [("pipeline", figures)] + ([("original", original[source])] if source in original else [])
        for i, (rule, f) in enumerate(rules):
            lines.append(f"{source if i == 0 else '':12s} {rule:9s} {f.get('precision', 0):9.3f} {f.get('recall', 0):7.3f} "
                         f"{f.get('f1', 0):6.3f} {f.get('predicted_matches', 0):7,d} {f.get('judged', 0):7,d} "
                         f"{f.get('tp', 0):6,d} {f.get('positives', 0):9,d}")
    lines.append("")
    lines.append("precision: true links among links to labelled releases; recall: labelled soundtracks found as matches")
    for source, b in sorted((result.get("blocking") or {}).items()):
        lines.append(f"blocking {source}: pair completeness {b.get('pair_completeness', 0):.3f} "
                     f"({b.get('found', 0):,} of {b.get('positives', 0):,} labelled pairs proposed), "
                     f"{b.get('candidates', 0):,} candidate pairs, reduction ratio {b.get('reduction_ratio', 0):.4f}")
    for source, m in sorted((result.get("missed") or {}).items()):
        lines.append(f"missed {source}: " + ", ".join(f"{k.replace('_', ' ')} {m.get(k, 0):,}" for k in MISSED_OUTCOMES)
                     + f" (recall without exact ties {m.get('recall_without_exact_ties', 0):.3f})")
    return "\n".join(lines + matcher_quality_lines(result.get("matcher_quality") or {}))


def matcher_quality_lines(quality: dict) -> list[str]:
    """The fitted matcher's figures on all its labels, out of fold (the estimate for unseen labels) beside in sample,
    with 95% intervals: the run's own figures above are in sample for every release the matcher was fitted on."""
    figures = (quality.get("figures") or {}).get("all") or {}
    if not figures:
        return []
    lines = ["", f"matcher {quality.get('version')} on all its labels ({', '.join(quality.get('label_files') or [])}), "
                 f"match threshold {quality.get('threshold')}; out of fold = models that saw neither the release nor "
                 "its film"]
    for source in sorted(figures.get("out_of_fold") or {}):
        row = []
        for part in ("out_of_fold", "in_sample"):
            f = (figures.get(part) or {}).get(source) or {}
            p_lo, p_hi = f.get("precision_95") or (0, 0)
            r_lo, r_hi = f.get("recall_95") or (0, 0)
            row.append(f"{part.replace('_', ' ')} P {f.get('precision', 0):.4f} ({p_lo:.3f}-{p_hi:.3f}) "
                       f"R {f.get('recall', 0):.4f} ({r_lo:.3f}-{r_hi:.3f})")
        lines.append(f"  {source:12s} " + "; ".join(row))
    return lines
