"""The run report and metrics.json, on hand-made lakes: a run with matches and history, a run with zero matches,
a run with failed and missing steps; and the page as a real headless Chromium renders it."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts_spark.base_step import RunManifest, StepContext, StepRecord
from scripts_spark.config import load_settings
from scripts_spark.lake import Lake
from scripts_spark.log import get_logger
from scripts_spark.metrics import headline_figures, metrics_document
from scripts_spark.report import write_report
from scripts_spark.report.gather import gather_evaluation
from scripts_spark.report.html import _change, _reasons
from scripts_spark.tables import schema_of
from scripts_spark.steps.s06_marts import BuildMarts


SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
REASONS = json.dumps({"score": 0.71, "decision": "review", "year_diff": 3,
                      "runner_up": {"tmdb_id": 77, "score": 0.42},
                      "contributions": [{"feature": "title_sim", "value": 0.92, "contribution": 2.1},
                                        {"feature": "year_gap", "value": 3.0, "contribution": -0.8}]})
EVALUATION = {"run_id": "now", "labels": "data/eval/dev_labels.csv",
              "sources": {"musicbrainz": {"precision": 0.9968, "recall": 0.9871, "f1": 0.9919, "tp": 586, "judged": 588,
                                          "positives": 594, "predicted_matches": 700}},
              "blocking": {"musicbrainz": {"pair_completeness": 0.995, "found": 591, "positives": 594,
                                           "candidates": 4321, "reduction_ratio": 0.9996}}}
FILMS = {  # tmdb_id -> title, year, genres, popularity, vote, composers
    1: ("Heat", 1995, ["Crime", "Drama"], 45.5, 7.9, ["Elliot Goldenthal"]),
    2: ("Alien", 1979, ["Horror", "Science Fiction"], 60.1, 8.1, ["Jerry Goldsmith"]),
    3: ("Tron: Legacy", 2010, ["Science Fiction", "Action"], 30.2, 6.4, ["Daft Punk"]),
    4: ("Drive", 2011, ["Drama", "Crime"], 25.0, 7.6, ["Cliff Martinez"]),
    5: ("Total Recall", 1990, ["Action", "Science Fiction"], 20.0, 7.3, ["Jerry Goldsmith"]),
}
MATCHED = [(1, "musicbrainz", "mb-1", 0.99, ["soundtrack", "score", "ambient"]),
           (2, "discogs", "9001", 0.97, ["stage & screen", "soundtrack", "score"]),
           (3, "musicbrainz", "mb-3", 0.95, ["soundtrack", "electronic"]),
           (3, "discogs", "9003", 0.93, ["stage & screen", "electronic", "soundtrack"]),
           (4, "musicbrainz", "mb-4", 0.91, ["soundtrack", "synth-pop", "electronic"]),
           (5, "musicbrainz", "mb-5", 0.96, ["soundtrack"])]


def step(number, name, rows_in, rows_out, quarantined=0, rejected=0, tables=None, metrics=None, seconds=1.5,
         status="succeeded", **extra):
    return StepRecord(number, name, status=status, started_at="2026-01-01T00:00:00+00:00",
                      finished_at="2026-01-01T00:00:02+00:00", seconds=seconds, rows_in=rows_in, rows_out=rows_out,
                      quarantined=quarantined, rejected=rejected, tables=tables or {}, metrics=metrics or {}, **extra)


def upstream_steps(matches: int, reviews: int, pairs: int = 40):
    return [
        step("01", "extract_tmdb", 6, 5, rejected=1, tables={"bronze/tmdb_movies": 5, "bronze/tmdb_rejects": 1}),
        step("02", "extract_releases", 9, 9, tables={"bronze/musicbrainz_release_groups": 6,
                                                     "bronze/discogs_masters": 3}),
        step("03", "normalise_and_block", 14, 54, tables={"silver/staged/candidate_pairs": pairs}),
        step("04", "validate", 54, 52, quarantined=2, tables={"silver/quarantine/films": 2}),
        step("05", "match_enrich", pairs, matches + reviews, rejected=pairs - matches - reviews, seconds=12.25,
             tables={"gold/soundtrack_matches": matches + reviews, "gold/review_queue": reviews,
                     "gold/film_soundtracks": matches},
             metrics={"thresholds": {"match": 0.9, "review": 0.5}, "matches": matches, "reviews": reviews}),
    ]


def make_run(spark, settings, run_id, *, matched=MATCHED, reviews=1, evaluation=None, steps=None, finish="succeeded",
             marts=True):
    """A run folder and Gold tables as steps 01-05 leave them, then (with `marts`) the real step 06 on top."""
    lake = Lake(settings.lake_root)
    manifest = RunManifest(lake, run_id, settings, spark)
    manifest.set("inputs", {"input_dir": str(SAMPLE), "tmdb": {"files": 1, "bytes": 405891},
                            "musicbrainz": {"files": 1, "bytes": 122270}, "discogs_dump": {"files": 0, "bytes": 0}})
    manifest.set("steps_requested", ["01", "02", "03", "04", "05", "06"])
    for rec in steps if steps is not None else upstream_steps(len(matched), reviews):
        manifest.record(rec)
    links = [{"tmdb_id": t, "source": s, "release_id": r, "release_kind": "release_group" if s == "musicbrainz" else "master",
              "match_score": score, "decision": "match", "reasons": REASONS} for t, s, r, score, _ in matched]
    queue = [{"tmdb_id": 2, "film_title": "Alien", "film_year": 1979, "composers": ["Jerry Goldsmith"],
              "source": "musicbrainz", "release_id": f"mb-alien-{i}", "release_kind": "release_group",
              "release_title": "Alien: Isolation", "release_year": 2014, "release_artists": ["Christian Henson"],
              "match_score": 0.71 - i / 100, "reasons": REASONS} for i in range(reviews)]
    links += [{**{k: q[k] for k in ("tmdb_id", "source", "release_id", "release_kind", "match_score", "reasons")},
               "decision": "review"} for q in queue]
    soundtracks = []
    for tmdb_id, source, release_id, score, genres in matched:
        title, year, film_genres, popularity, vote, composers = FILMS[tmdb_id]
        soundtracks.append({"tmdb_id": tmdb_id, "imdb_id": None, "film_title": title, "film_year": year,
                            "decade": year // 10 * 10, "film_genres": film_genres, "popularity": popularity,
                            "vote_average": vote, "vote_count": 1000, "composers": composers, "source": source,
                            "release_id": release_id, "release_kind": None, "release_title": title, "release_year": year,
                            "release_artists": composers, "release_genres": [], "release_styles": [],
                            "release_secondary_types": [], "soundtrack_genres": genres, "match_score": score})
    for table, rows, schema in (("gold/soundtrack_matches", links, schema_of("gold/soundtrack_matches")),
                                ("gold/review_queue", queue, schema_of("gold/review_queue")),
                                ("gold/film_soundtracks", soundtracks, schema_of("gold/film_soundtracks"))):
        lake.write_table(spark.createDataFrame(rows, schema), table, run_id)
    if marts:
        BuildMarts().run(StepContext(spark, settings, lake, run_id, get_logger(run_id)), manifest)
    if evaluation is not None:
        lake.write_text(lake.run_file(run_id, "evaluation.json"), json.dumps({**evaluation, "run_id": run_id}))
    manifest.finish(finish)
    return lake


@pytest.fixture(scope="module")
def full_report(spark, tmp_path_factory):
    """Two runs in one lake (an older one with more matches), and the newer run's report."""
    tmp = tmp_path_factory.mktemp("report")
    settings = load_settings(env_file=tmp / "no.env", environ={}, lake_root=str(tmp / "lake"), input_dir=str(SAMPLE),
                             labels_path=str(tmp / "no_labels.csv"))
    older = upstream_steps(matches=9, reviews=0)
    older[3].quarantined = 0
    older.append(step("06", "marts", 9, 30, metrics={"films": 7}))
    lake = Lake(settings.lake_root)
    manifest = RunManifest(lake, "20260101T000000Z", settings, spark)   # history needs only its run folder
    for rec in older:
        manifest.record(rec)
    lake.write_text(lake.run_file("20260101T000000Z", "evaluation.json"), json.dumps(EVALUATION))
    manifest.finish("succeeded")
    make_run(spark, settings, "20260102T000000Z", evaluation=EVALUATION)
    path = write_report(settings, "20260102T000000Z")
    return lake, Path(path)


def section(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, re.S)
    assert match, f"section {section_id} missing"
    return match.group(1)


@pytest.mark.slow   # full_report: two runs and step 06
def test_report_of_a_run_has_every_section_with_its_figures(full_report):
    lake, path = full_report
    assert path == Path(lake.run_file("20260102T000000Z", "report.html"))
    html = path.read_text()
    summary = section(html, "summary")
    for expected in ("extract_tmdb", "✓ balances", "bronze/tmdb_movies", "gold/genre_by_decade", "396.4 KB",
                     "Config fingerprint", "12.2 s"):
        assert expected in summary, expected
    quality = section(html, "quality")
    assert "<svg" in quality and "0.997" in quality and "0.995" in quality   # histogram, precision, pair completeness
    assert "Alien: Isolation" in quality and "title_sim=0.92" in quality and "tmdb 77" in quality
    analytics = section(html, "analytics")
    assert analytics.count("<svg") == 5      # genre counts, box plots, heat map, links by decade, composers
    assert "Jerry Goldsmith" in analytics and "electronic" in analytics
    assert "<b>soundtrack</b> (100% of films)" in analytics   # the label every film carries is named, not charted
    history = section(html, "history")
    assert "20260101T000000Z" in history and "<svg" in history
    assert 'class="flag"' in history and "down-bad" in history   # 9 matches before, 6 now: flagged
    # self-contained: nothing the browser would fetch (URLs in the settings table are text, not resources)
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//|url\((?!#)|@import|<script|<link|<img|<iframe", html)


@pytest.mark.slow   # full_report: two runs and step 06
def test_metrics_json_holds_the_headline_step_and_evaluation_figures(full_report):
    lake, _ = full_report
    doc = json.loads(Path(lake.run_file("20260102T000000Z", "metrics.json")).read_text())
    assert (doc["run_id"], doc["status"]) == ("20260102T000000Z", "succeeded")
    assert doc["headline"]["matches"] == 6.0 and doc["headline"]["matched_films"] == 5.0
    assert doc["headline"]["quarantined"] == 2.0 and doc["headline"]["rejected"] == 1.0 + 40 - 7
    assert doc["steps"]["05"]["metrics"]["thresholds"]["match"] == 0.9
    assert doc["steps"]["06"]["tables"]["gold/composer_stats"] == 4
    assert doc["evaluation"]["sources"]["musicbrainz"]["precision"] == 0.9968


@pytest.mark.slow   # full_report: two runs and step 06
def test_metrics_json_becomes_log_analytics_rows_with_the_step_named(full_report):
    from scripts_spark.ship_metrics import metrics_rows

    lake, _ = full_report
    doc = json.loads(Path(lake.run_file("20260102T000000Z", "metrics.json")).read_text())
    rows = {row["Metric"]: row for row in metrics_rows(doc, doc["run_id"], doc["status"], doc["finished_at"], "vm")}
    assert rows["headline.matches"]["Value"] == 6.0 and rows["headline.matches"]["Step"] == ""
    assert rows["steps.05.rows_in"]["Step"] == "05" and rows["steps.05.rows_in"]["Value"] == 40.0
    assert rows["evaluation.blocking.musicbrainz.pair_completeness"]["Value"] == 0.995


@pytest.mark.slow
@pytest.mark.integration
def test_report_renders_in_headless_chromium(full_report, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: run infrastructure/setup/chromium.sh (CI runs it before the tests)"
    _, path = full_report
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    for section_id in ("summary", "quality", "analytics", "history"):
        assert f'<section id="{section_id}">' in dom
    assert dom.count("<svg") >= 7 and "Jerry Goldsmith" in dom


def test_a_run_with_zero_matches_renders_and_says_so(spark, settings, tmp_path):
    settings = settings.replace(labels_path=str(tmp_path / "absent.csv"))
    steps = upstream_steps(0, 0) + [step("06", "marts", 0, 0, metrics={"films": 0},
                                         notes=["no matched films in gold/film_soundtracks for run empty"])]
    make_run(spark, settings, "empty", matched=[], reviews=0, steps=steps, marts=False)
    html = Path(write_report(settings, "empty")).read_text()
    assert "No matches in this run" in section(html, "quality")
    assert "No matched films in this run" in section(html, "analytics")
    assert "The review queue is empty" in html
    assert "only run in the lake" in section(html, "history")
    assert "no labelled pairs at" in html       # settings.labels_path points nowhere here


def test_failed_and_missing_steps_are_named_in_the_report(spark, settings):
    steps = upstream_steps(3, 0)[:2] + [step("03", "normalise_and_block", 0, 0, status="failed",
                                             error="ValueError: bad input")]
    make_run(spark, settings, "broken", matched=[], reviews=0, steps=steps, finish="failed", marts=False)
    html = Path(write_report(settings, "broken")).read_text()
    assert '<span class="badge failed">failed</span>' in html
    assert "step 03 (normalise + block) failed" in html and "ValueError: bad input" in html
    assert "step 04 (validate) did not run" in html and "step 05 (match + enrich) did not run" in html
    assert "Step 05 (match + enrich) did not run in this run" in section(html, "quality")


def test_report_evaluates_the_run_when_labels_exist_and_no_evaluation_was_saved(spark, settings, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("source,tmdb_id,release_id,label,note\nmusicbrainz,1,mb-1,1,x\nmusicbrainz,2,mb-9,1,y\n"
                      "musicbrainz,5,mb-5,0,z\n")
    labelled = settings.replace(labels_path=str(labels))
    lake = make_run(spark, labelled, "scored", marts=False)
    manifest = json.loads(Path(lake.run_file("scored", "manifest.json")).read_text())
    evaluation, note = gather_evaluation(labelled, "scored", manifest, lake, spark)
    assert evaluation["sources"]["musicbrainz"]["tp"] == 1 and "evaluated while writing this report" in note
    assert json.loads(Path(lake.run_file("scored", "evaluation.json")).read_text()) == evaluation


def test_report_of_an_unknown_run_is_a_configuration_error(spark, settings):
    from scripts_spark.config import ConfigError

    with pytest.raises(ConfigError, match="has no manifest"):
        write_report(settings, "nope")


def test_headline_figures_are_missing_for_steps_that_did_not_succeed():
    manifest = {"steps": {"01": {"status": "succeeded", "rows_out": 10, "seconds": 2.0, "rejected": 1},
                          "05": {"status": "failed", "tables": {"gold/film_soundtracks": 3}, "seconds": 1.0}}}
    figures = headline_figures(manifest)
    assert figures["films_extracted"] == 10.0 and figures["matches"] is None and figures["matched_films"] is None
    assert (figures["seconds"], figures["rejected"], figures["steps_failed"]) == (3.0, 1.0, 1.0)


def test_metrics_document_keeps_counts_and_leaves_out_prose_and_missing_figures():
    manifest = {"run_id": "r", "status": "failed", "started_at": "2026-01-01T00:00:00+00:00",
                "steps": {"02": {"name": "extract", "status": "succeeded", "rows_in": 3, "notes": ["a remark"],
                                 "error": None, "tables": {}, "metrics": {"by_source": {"discogs": 2}}}}}
    doc = metrics_document(manifest)
    assert doc["steps"]["02"] == {"name": "extract", "status": "succeeded", "rows_in": 3,
                                  "metrics": {"by_source": {"discogs": 2}}}
    assert "matches" not in doc["headline"] and doc["headline"]["rejected"] == 0.0
    assert doc["finished_at"] is None and "evaluation" not in doc


def test_reasons_render_top_contributions_and_fall_back_to_raw_text():
    assert '<span class="neg">(-0.80)</span>' in _reasons(REASONS)
    assert _reasons('{"model": "v2"}') == '<span class="small">{&quot;model&quot;: &quot;v2&quot;}</span>'
    assert _reasons("not json <b>") == '<span class="small">not json &lt;b&gt;</span>'


def test_history_marks_a_drop_in_matches_and_a_rise_in_quarantine_as_bad_news():
    assert _change("matches", 5, 9) == ('5 <span class="down-bad">▼</span>', True)
    assert _change("quarantined", 7, 2) == ('7 <span class="up-bad">▲</span>', True)
    assert _change("matches", 12, 9) == ('12 <span class="up-good">▲</span>', False)
    assert _change("musicbrainz_recall", 0.99, None) == ("0.990", False)


def test_the_what_changed_section_says_which_steps_a_night_carried_over(tmp_path):
    from scripts_spark.report.changes import changes_section

    def manifest(steps):
        return {"incremental": {"mode": "incremental", "reason": "state of run n1", "feeds": {},
                                "carried": {"from_run": "n1", "steps": steps}}}

    quiet = changes_section(str(tmp_path), "n2", manifest(["03", "04", "05", "06"]))
    assert "An <b>incremental</b> run" in quiet
    assert "Steps 03, 04, 05, 06 carried run n1's tables over by file copy: no input changed since it." in quiet
    reviewed = changes_section(str(tmp_path), "n3", manifest(["03", "04"]))
    assert "but review verdicts did, so step 05 decided those releases again" in reviewed
    full = changes_section(str(tmp_path), "n4", {"incremental": {"mode": "full", "reason": "asked"}})
    assert "A <b>full</b> run" in full and "carried" not in full
