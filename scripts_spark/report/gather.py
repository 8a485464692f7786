"""Everything the report shows, gathered from the run folder and the run's Gold tables.

Only small aggregates reach the driver: histogram bins, the review queue's top rows, the marts' top genres and
composers (each capped by a named constant below), and the small JSON files of the run folders.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ..config import Settings
from ..lake import Lake
from ..log import get_logger, redact
from ..metrics import headline_figures
from ..runs import effective_status
from ..tables import schema_of
from ..transforms.marts import NO_GENRE

# A screenful a reviewer can work through; the whole queue is gold/review_queue.
REVIEW_ROWS_SHOWN = 25
# Genres one chart can show with distinct, legible colours; the rest are summed as 'other genres'.
CHART_GENRES = 10
# TMDB has 19 film genres; with '(no genre)' that is 20 rows, so this cap only bites on unusual inputs.
HEATMAP_FILM_GENRES = 20
COMPOSERS_SHOWN = 20
# About a month of nightly runs: enough to see a trend, few enough to label each point.
HISTORY_RUNS_SHOWN = 30
# 0.05-wide bins: the review band between the fitted thresholds still spans several bins.
SCORE_BINS = 20
# A label carried by at least this share of matched films says 'this is a soundtrack' ('soundtrack' is a
# MusicBrainz type on almost every release group, 'stage & screen' a Discogs genre on every soundtrack), not
# which music: charts leave such labels out, and the report says which ones and how common they are.
UBIQUITOUS_LABEL_SHARE = 0.5
# Bands of films by TMDB popularity rank for the coverage table: the head a user searches for first, then wider
# bands; the last band is every other film.
POPULARITY_BANDS = (100, 500, 1_000, 5_000)


@dataclass
class MatchQuality:
    decisions: dict[str, int] = field(default_factory=dict)         # decision -> links
    histogram: dict[str, list[int]] = field(default_factory=dict)   # decision -> links per score bin
    review_total: int = 0
    review_rows: list[dict] = field(default_factory=list)     # + runner_up {tmdb_id, title, year, score}, why


@dataclass
class Analytics:
    matched_films: int = 0
    untagged_films: int = 0                                              # films with no soundtrack genre at all
    charted_films: int = 0                                               # films with a genre the charts show
    hidden_labels: list[tuple[str, int]] = field(default_factory=list)   # (label, films), ubiquitous ones
    chart_genres: list[dict] = field(default_factory=list)               # popularity mart rows of the top genres
    decades: list[dict] = field(default_factory=list)                    # decade, decade_films, labels
    decade_genre_films: list[dict] = field(default_factory=list)         # decade, soundtrack_genre, films (top genres)
    film_genres: list[dict] = field(default_factory=list)                # film_genre, film_genre_films
    heat_cells: list[dict] = field(default_factory=list)                 # film_genre, soundtrack_genre, films, share
    composers: list[dict] = field(default_factory=list)
    composers_total: int = 0
    links_by_source_decade: list[dict] = field(default_factory=list)    # decade, source, links (match links)
    coverage: list[dict] = field(default_factory=list)                   # band, films, linked (by popularity rank)


@dataclass
class ReportData:
    run_id: str
    lake_root: str
    manifest: dict
    evaluation: dict | None
    evaluation_note: str
    quality: MatchQuality
    analytics: Analytics
    history: list[dict]


def read_run_json(lake: Lake, run_id: str, name: str, spark: SparkSession | None = None) -> dict | None:
    text = lake.read_text(lake.run_file(run_id, name), spark)
    return json.loads(text) if text else None


def _read(spark: SparkSession, lake: Lake, table: str, run_id: str) -> DataFrame:
    return lake.read_table(spark, table, run_id, schema_of(table)).drop("run_id")


def _rows(df: DataFrame) -> list[dict]:
    return [row.asDict(recursive=True) for row in df.collect()]


def step_succeeded(manifest: dict, number: str) -> bool:
    return (manifest.get("steps") or {}).get(number, {}).get("status") == "succeeded"


def gather_evaluation(settings: Settings, run_id: str, manifest: dict, lake: Lake,
                      spark: SparkSession) -> tuple[dict | None, str]:
    """The run's evaluation.json; else an evaluation made now when labels exist; else why there is none."""
    saved = read_run_json(lake, run_id, "evaluation.json", spark)
    if saved:
        return saved, f"labels: {saved.get('labels', '?')} (from the run's evaluation.json)"
    if not step_succeeded(manifest, "05"):
        return None, "step 05 (matching) did not succeed in this run, so there is nothing to measure."
    labels = settings.labels_path
    if not labels or not Path(labels).exists():
        return None, f"no labelled pairs at {labels or '(LABELS_PATH unset)'}: precision and recall not measured."
    if importlib.util.find_spec("scripts_spark.evaluate") is None:
        return None, "the evaluate module is not part of this installation: precision and recall not measured."
    from ..evaluate import evaluate_run

    try:
        return evaluate_run(settings, run_id, labels), f"labels: {labels} (evaluated while writing this report)"
    except Exception as exc:  # noqa: BLE001 - the report still renders, and says why the figures are missing
        cause = redact(f"{type(exc).__name__}: {exc}")
        get_logger(run_id).warning("report_evaluation_failed", cause=cause)
        return None, f"evaluation against {labels} failed: {cause}"


def gather_match_quality(spark: SparkSession, lake: Lake, run_id: str) -> MatchQuality:
    links = _read(spark, lake, "gold/soundtrack_matches", run_id)
    score_bin = F.least(F.floor(F.col("match_score") * SCORE_BINS), F.lit(SCORE_BINS - 1)).cast("int")
    quality = MatchQuality()
    for row in links.groupBy("decision", score_bin.alias("bin")).count().collect():
        quality.histogram.setdefault(row["decision"], [0] * SCORE_BINS)[max(row["bin"], 0)] += row["count"]
    quality.decisions = {d: sum(counts) for d, counts in quality.histogram.items()}
    queue = _read(spark, lake, "gold/review_queue", run_id)
    quality.review_total = queue.count()
    quality.review_rows = _rows(queue.orderBy(F.col("match_score").desc(), "source", "release_id")
                                .limit(REVIEW_ROWS_SHOWN))
    with_runner_ups(spark, lake, run_id, quality.review_rows)
    return quality


def with_runner_ups(spark: SparkSession, lake: Lake, run_id: str, rows: list[dict]) -> None:
    """Each review row gains `runner_up` (the second-best film's id, title, year and score from the reasons JSON and
    silver/films) and `unmet` (the requirements it misses), so the page can say why it waits for a person."""
    parsed = []
    for row in rows:
        try:
            reasons = json.loads(row.get("reasons") or "{}")
        except json.JSONDecodeError:
            reasons = {}
        parsed.append(reasons if isinstance(reasons, dict) else {})
    ids = sorted({r["runner_up"]["tmdb_id"] for r in parsed
                  if isinstance(r.get("runner_up"), dict) and r["runner_up"].get("tmdb_id") is not None})
    films = {}
    if ids:
        films = {r["tmdb_id"]: r for r in _rows(_read(spark, lake, "silver/films", run_id)
                                                .where(F.col("tmdb_id").isin(ids)).select("tmdb_id", "title", "year"))}
    for row, reasons in zip(rows, parsed):
        runner = reasons.get("runner_up") if isinstance(reasons.get("runner_up"), dict) else {}
        film = films.get(runner.get("tmdb_id")) or {}
        row["runner_up"] = {"tmdb_id": runner.get("tmdb_id"), "score": runner.get("score"),
                            "title": film.get("title"), "year": film.get("year")} if runner.get("tmdb_id") else None
        row["unmet"] = list(reasons.get("unmet_requirements") or [])
        row["rank_share"] = reasons.get("rank_share")
        row["match_threshold"] = (reasons.get("thresholds") or {}).get("match")


def gather_analytics(spark: SparkSession, lake: Lake, run_id: str) -> Analytics:
    by_decade = _read(spark, lake, "gold/genre_by_decade", run_id)
    by_genre = _read(spark, lake, "gold/popularity_by_soundtrack_genre", run_id)
    crossed = _read(spark, lake, "gold/film_genre_x_soundtrack_genre", run_id)
    composers = _read(spark, lake, "gold/composer_stats", run_id)
    out = Analytics()

    decade_films = by_decade.select("decade", "decade_films").distinct()
    out.matched_films = int(decade_films.agg(F.sum("decade_films")).first()[0] or 0)
    untagged = by_genre.where(F.col("soundtrack_genre") == NO_GENRE).select("films").first()
    out.untagged_films = int(untagged["films"]) if untagged else 0
    tagged = by_genre.where(F.col("soundtrack_genre") != NO_GENRE)
    ubiquitous = F.col("films") >= F.lit(UBIQUITOUS_LABEL_SHARE * max(out.matched_films, 1))
    out.hidden_labels = [(r["soundtrack_genre"], r["films"]) for r in
                         tagged.where(ubiquitous).orderBy(F.col("films").desc()).collect()]
    hidden = [label for label, _ in out.hidden_labels]
    # Films whose soundtracks carry some genre besides the hidden ones: the population the genre charts describe.
    labels = (_read(spark, lake, "gold/film_soundtracks", run_id)
              .select("tmdb_id", F.explode("soundtrack_genres").alias("genre_key"))
              .withColumn("genre_key", F.lower(F.trim("genre_key"))))
    out.charted_films = (labels.where((F.col("genre_key") != "") & ~F.col("genre_key").isin([h.lower() for h in hidden]))
                         .select("tmdb_id").distinct().count())
    out.chart_genres = _rows(tagged.where(~ubiquitous)
                             .orderBy(F.col("films").desc(), "soundtrack_genre").limit(CHART_GENRES))
    shown = [r["soundtrack_genre"] for r in out.chart_genres]

    informative = by_decade.where((F.col("soundtrack_genre") != NO_GENRE) & ~F.col("soundtrack_genre").isin(hidden))
    labels_per_decade = informative.groupBy("decade").agg(F.sum("films").alias("labels"))
    out.decades = _rows(decade_films.join(labels_per_decade, decade_films["decade"].eqNullSafe(
        labels_per_decade["decade"]), "left").select(decade_films["decade"], "decade_films",
                                                     F.coalesce("labels", F.lit(0)).alias("labels"))
                        .orderBy(F.col("decade").asc_nulls_last()))
    out.decade_genre_films = _rows(by_decade.where(F.col("soundtrack_genre").isin(shown))
                                   .select("decade", "soundtrack_genre", "films"))

    out.film_genres = _rows(crossed.select("film_genre", "film_genre_films").distinct()
                            .orderBy(F.col("film_genre_films").desc(), "film_genre").limit(HEATMAP_FILM_GENRES))
    out.heat_cells = _rows(crossed.where(F.col("soundtrack_genre").isin(shown)
                                         & F.col("film_genre").isin([r["film_genre"] for r in out.film_genres]))
                           .select("film_genre", "soundtrack_genre", "films", "share"))

    soundtracks = _read(spark, lake, "gold/film_soundtracks", run_id)
    out.links_by_source_decade = _rows(soundtracks.groupBy("decade", "source").agg(F.count(F.lit(1)).alias("links"))
                                       .orderBy(F.col("decade").asc_nulls_last(), "source"))
    out.coverage = popularity_coverage(_read(spark, lake, "silver/films", run_id), soundtracks)

    out.composers_total = composers.count()
    out.composers = _rows(composers.orderBy(F.col("films").desc(), F.col("popularity_median").desc_nulls_last(),
                                            "composer").limit(COMPOSERS_SHOWN))
    return out


def popularity_coverage(films: DataFrame, soundtracks: DataFrame) -> list[dict]:
    """Per band of TMDB popularity rank (POPULARITY_BANDS): films, and films with at least one soundtrack link."""
    from pyspark.sql import Window

    linked = soundtracks.select("tmdb_id").distinct().withColumn("linked", F.lit(1))
    ranked = (films.select("tmdb_id", "popularity")
              .withColumn("rank", F.row_number().over(Window.orderBy(F.col("popularity").desc_nulls_last(),
                                                                     "tmdb_id")))
              .join(linked, "tmdb_id", "left"))
    band = F.lit(len(POPULARITY_BANDS))
    for i, top in reversed(list(enumerate(POPULARITY_BANDS))):
        band = F.when(F.col("rank") <= top, F.lit(i)).otherwise(band)
    counts = {r["band"]: r for r in ranked.groupBy(band.alias("band"))
              .agg(F.count(F.lit(1)).alias("films"), F.sum(F.coalesce("linked", F.lit(0))).alias("linked")).collect()}
    out, low = [], 1
    for i, top in enumerate((*POPULARITY_BANDS, None)):
        row = counts.get(i)
        if row is None:
            break
        label = f"{low:,}–{top:,}" if top else f"{low:,}+"
        out.append({"band": label, "films": int(row["films"]), "linked": int(row["linked"] or 0)})
        low = (top or 0) + 1
    return out


def rejected_split(manifest: dict) -> dict[str, int]:
    """The run's dropped rows by what they are: `not_chosen` (step 05's candidate pairs that were not their
    release's best film, or scored under the review threshold), `filtered` (records left out by design, such as
    non-soundtrack dump records; counted apart by the extract steps or, in older manifests, in their rejects) and
    `malformed` (records that could not be read or parsed: every other step's rejects)."""
    split = {"not_chosen": 0, "filtered": 0, "malformed": 0}
    for number, step in (manifest.get("steps") or {}).items():
        rejected, filtered = int(step.get("rejected") or 0), int(step.get("filtered") or 0)
        if number == "05":   # its pairs not chosen are filtered (older manifests counted them as rejected)
            split["not_chosen"] += filtered + rejected
            continue
        split["filtered"] += filtered
        if number == "02" and "filtered" not in step:
            # Before the extract steps counted filtered records apart, step 02 counted them as rejected.
            metrics = step.get("metrics") or {}
            counted = metrics.get("filtered_not_soundtrack", metrics.get("filtered"))
            by_design = sum(counted.values()) if isinstance(counted, dict) else int(counted or 0)
            split["filtered"] += min(by_design, rejected)
            split["malformed"] += rejected - min(by_design, rejected)
        else:
            split["malformed"] += rejected
    return split


def gather_history(lake: Lake, spark: SparkSession | None, current: dict) -> list[dict]:
    """Headline figures of the lake's runs (the newest HISTORY_RUNS_SHOWN, the current one always last-in-time)."""
    runs = []
    for run_id in lake.list_runs(spark):
        manifest = current if run_id == current.get("run_id") else read_run_json(lake, run_id, "manifest.json", spark)
        if not manifest:
            continue
        evaluation = read_run_json(lake, run_id, "evaluation.json", spark) or {}
        mb = (evaluation.get("sources") or {}).get("musicbrainz") or {}
        runs.append({"run_id": run_id, "status": effective_status(manifest, lake, spark),
                     "started_at": manifest.get("started_at") or "",
                     "config_fingerprint": manifest.get("config_fingerprint"), **headline_figures(manifest),
                     "musicbrainz_precision": mb.get("precision"), "musicbrainz_recall": mb.get("recall")})
    runs.sort(key=lambda r: (r["started_at"], r["run_id"]))
    return runs[-HISTORY_RUNS_SHOWN:]


def gather(settings: Settings, run_id: str, spark: SparkSession) -> ReportData:
    from ..config import ConfigError

    lake = Lake(settings.lake_root)
    manifest = read_run_json(lake, run_id, "manifest.json", spark)
    if manifest is None:
        raise ConfigError(f"run {run_id} has no manifest at {lake.run_file(run_id, 'manifest.json')}: "
                          "not a run of this lake (see `python -m scripts_spark report --help`)")
    manifest = {**manifest, "status": effective_status(manifest, lake, spark)}   # a killed run reads `interrupted`
    evaluation, note = gather_evaluation(settings, run_id, manifest, lake, spark)
    return ReportData(run_id=run_id, lake_root=lake.root, manifest=manifest, evaluation=evaluation,
                      evaluation_note=note, quality=gather_match_quality(spark, lake, run_id),
                      analytics=gather_analytics(spark, lake, run_id),
                      history=gather_history(lake, spark, manifest))

