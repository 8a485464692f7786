"""Steps 01-02 end to end: the bundled sample in file mode (the session's sample run), all three APIs (with a crash
and a resume), dry run, skips."""
from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest

from fake_apis import FakeDiscogs, FakeMusicBrainz, FakeTmdb, catalogue, saved_results
from scripts_spark.base_step import StepContext, StepFailed
from scripts_spark.config import load_settings
from scripts_spark.lake import Lake
from scripts_spark.log import configure_logging, get_logger
from scripts_spark.pipeline import run_pipeline
from scripts_spark.tables import schema_of
from scripts_spark.steps.s01_extract_tmdb import ExtractTmdb
from scripts_spark.steps.s02_extract_discogs import ExtractReleases

TMDB_TOKEN = "tmdb-SECRET-bearer-1a2b"
DISCOGS_TOKEN = "discogs-SECRET-token-3c4d"
BRONZE = ("bronze/tmdb_movies", "bronze/musicbrainz_release_groups", "bronze/discogs_masters",
          "bronze/discogs_releases", "bronze/discogs_search_results", "bronze/tmdb_rejects", "bronze/release_rejects")


def read(spark, lake_root, table, run_id):
    return Lake(lake_root).read_table(spark, table, run_id, schema_of(table))


def test_file_mode_fills_bronze_from_the_bundled_sample_with_balanced_counts(spark, sample_run):
    s01, s02 = sample_run.step("01"), sample_run.step("02")
    assert s01["tables"] == {"bronze/tmdb_movies": 6193, "bronze/tmdb_rejects": 0}
    assert s02["tables"] == {"bronze/musicbrainz_release_groups": 1894, "bronze/discogs_masters": 28,
                             "bronze/discogs_releases": 36, "bronze/discogs_search_results": 215,
                             "bronze/release_rejects": 0}
    accounting = s02["metrics"]["accounting"]
    assert accounting["discogs_releases"] == {"read": 1000, "kept": 36, "rejected": 0, "filtered": 964}
    assert s02["rows_in"] == s02["rows_out"] + s02["rejected"] + s02["filtered"] == 1894 + 2000 + 215
    assert s02["filtered"] == 972 + 964          # Discogs records outside the soundtrack filter: counted, not stored
    row = sample_run.read(spark, "bronze/tmdb_movies").where("tmdb_id = 12184").first()
    assert row.composers == ["Paul Cantelon"] and json.loads(row.payload)["id"] == 12184
    assert row._source == "tmdb" and row._run_id == sample_run.run_id and len(row._payload_sha256) == 64
    search = sample_run.read(spark, "bronze/discogs_search_results")
    leaks = search.where("payload rlike '(key|secret)=' or query rlike '(key|secret)=' or _source_uri rlike '(key|secret)='")
    assert leaks.count() == 0
    assert search.select("query").distinct().count() == 38  # 19 films x (plain, soundtrack); v1 repeats 5 of them


def test_dry_run_parses_first_records_without_spark_and_writes_nothing(settings):
    ctx = StepContext(None, settings, Lake(settings.lake_root), "dry", get_logger("dry"))
    tmdb_lines = ExtractTmdb().preview(ctx)
    release_lines = ExtractReleases().preview(ctx)
    assert tmdb_lines[0] == "1 file(s)" and "'composers': ['Paul Cantelon']" in tmdb_lines[1]
    assert any("masters.sample1000.xml.gz #1 (filtered: not soundtrack-like)" in line for line in release_lines)
    assert any("'secondary_types': ['Soundtrack']" in line for line in release_lines)
    assert any("Blade_Runner.json: 5 results" in line for line in release_lines)
    assert not Path(settings.lake_root).exists()


def test_steps_without_any_input_are_skipped_with_the_reason(spark, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    s = load_settings(env_file=tmp_path / "no.env", environ={}, lake_root=str(tmp_path / "lake"), input_dir=str(empty))
    doc = run_pipeline(s, "t0", "01-02", spark=spark)
    assert doc["steps"]["01"]["status"] == doc["steps"]["02"]["status"] == "skipped"
    assert "no TMDB input" in doc["steps"]["01"]["notes"][0]
    assert "musicbrainz skipped" in doc["steps"]["02"]["notes"][0] and "discogs masters dump skipped" in doc["steps"]["02"]["notes"][0]
    ctx = StepContext(None, s, Lake(s.lake_root), "dry", get_logger("dry"))
    assert ExtractTmdb().preview(ctx)[0].startswith("would be skipped")


@pytest.mark.slow   # steps 01-02 through run_pipeline, twice
def test_api_mode_end_to_end_resumes_after_a_crash_and_never_stores_or_logs_a_token(spark, tmp_path, httpserver,
                                                                                      monkeypatch):
    from scripts_spark.sources import discogs, tmdb

    monkeypatch.setattr(tmdb, "DETAIL_BATCH", 2)
    monkeypatch.setattr(discogs, "DETAIL_BATCH", 5)
    films = catalogue(date(2015, 6, 1), [4, 0, 3])
    gone = FakeTmdb.film_id(date(2015, 6, 3), 2)
    fake_tmdb = FakeTmdb(httpserver, films, missing=frozenset({gone}))
    results = saved_results()
    masters = [dict(r, type="master", id=r["master_id"]) for r in results if r.get("master_id")][:7]
    FakeDiscogs(httpserver, masters, results[:30], token=DISCOGS_TOKEN,
                limit=10_000)  # pacing by the rate headers has its own test (test_source_discogs.py)
    master_ids = {m["id"] for m in masters} | {r["master_id"] for r in results[:30] if r.get("master_id")}
    with open(Path(__file__).parent.parent / "data/sample/musicbrainz/musicbrainz_release_groups.jsonl.gz", "rb") as fh:
        import gzip

        groups = [json.loads(line) for line in gzip.decompress(fh.read()).decode().splitlines()[:120]]
    FakeMusicBrainz(httpserver, groups)
    empty = tmp_path / "no_files"
    empty.mkdir()
    base = httpserver.url_for("").rstrip("/")
    s = load_settings(env_file=tmp_path / "no.env", environ={}, lake_root=str(tmp_path / "lake"), input_dir=str(empty),
                      tmdb_mode="api", discogs_mode="api", musicbrainz_mode="api", tmdb_base_url=base,
                      discogs_base_url=base, musicbrainz_base_url=base, tmdb_bearer_token=TMDB_TOKEN,
                      discogs_token=DISCOGS_TOKEN, tmdb_date_from="2015-06-01", tmdb_date_to="2015-06-03",
                      tmdb_rate_limit_per_s=500.0, discogs_rate_limit_per_min=30000, musicbrainz_rate_limit_per_s=500.0,
                      http_backoff_s=0.01, http_max_retries=1)
    log_file = tmp_path / "run.log"
    configure_logging("DEBUG", str(log_file))
    try:
        fake_tmdb.fail_after = 4  # 1 discover page, then the server dies during the second detail batch
        with pytest.raises(StepFailed, match="step 01_extract_tmdb failed: ApiRetriesExhausted"):
            run_pipeline(s, "api1", "01-02", spark=spark)
        fake_tmdb.fail_after = None
        doc = run_pipeline(s, "api1", "01-02", spark=spark)
    finally:
        configure_logging("INFO")
        logging.getLogger("soundtrack_lake").handlers.clear()

    assert doc["steps"]["01"]["metrics"]["resumed"] is True
    assert doc["steps"]["01"]["tables"] == {"bronze/tmdb_movies": 6, "bronze/tmdb_rejects": 1}
    movies = read(spark, s.lake_root, "bronze/tmdb_movies", "api1")
    ids = [r.tmdb_id for r in movies.select("tmdb_id").collect()]
    assert sorted(ids) == [i for i in fake_tmdb.ids() if i != gone]  # each film once, none lost
    assert fake_tmdb.count("/discover/movie") == 1  # the finished window was not walked again
    assert movies.where("tmdb_id = 601 or _source_uri not like 'http://%append_to_response=credits'").count() == 0
    s02 = doc["steps"]["02"]
    assert s02["tables"]["bronze/discogs_masters"] == len(master_ids)  # searched masters + masters of found releases
    assert s02["tables"]["bronze/musicbrainz_release_groups"] == 120
    assert s02["tables"]["bronze/discogs_search_results"] == 37 and s02["tables"]["bronze/discogs_releases"] > 0
    assert s02["rows_in"] == s02["rows_out"] + s02["rejected"]

    texts = [log_file.read_text()] + [p.read_text() for p in Path(s.lake_root).rglob("*") if p.suffix in (".json", ".jsonl")]
    assert all(TMDB_TOKEN not in t and DISCOGS_TOKEN not in t for t in texts)
    assert '"extract_finished"' in texts[0] and '"what": "tmdb films"' in texts[0]
    for table in BRONZE:
        df = read(spark, s.lake_root, table, "api1")
        text_cols = [f.name for f in df.schema.fields if f.dataType.simpleString() == "string"]
        hit = df.where(" or ".join(f"coalesce(`{c}`, '') rlike '{TMDB_TOKEN}|{DISCOGS_TOKEN}'" for c in text_cols))
        assert hit.count() == 0, table
