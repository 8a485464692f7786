"""TMDB: parsing the real details payload, the discover walk under the 500-page cap, details with checkpoints."""
from __future__ import annotations

import gzip
import json
from datetime import date

import pytest

from fake_apis import FakeTmdb, catalogue, tmdb_details
from scripts_spark.config import load_settings
from scripts_spark.lake import Lake
from scripts_spark.log import get_logger
from scripts_spark.sources import tmdb
from scripts_spark.sources.bronze import json_reject_reason, reject_rows
from scripts_spark.sources.checkpoint import Checkpoint
from scripts_spark.sources.http import ApiRetriesExhausted

TOKEN = "tmdb-bearer-SECRET-0815"
LOG = get_logger("t", "01")


def api_settings(tmp_path, server, **overrides):
    return load_settings(env_file=tmp_path / "no.env", environ={}, lake_root=str(tmp_path / "lake"),
                         tmdb_mode="api", tmdb_base_url=server.url_for("").rstrip("/"), tmdb_bearer_token=TOKEN,
                         tmdb_rate_limit_per_s=1000.0, http_backoff_s=0.01, http_max_retries=2,
                         http_read_timeout_s=5.0, **overrides)


def staged(checkpoint, phase):
    return [json.loads(line) for unit in checkpoint.units(phase) for line in checkpoint.read_unit(phase, unit)]


# --- parsing ---------------------------------------------------------------------------------------
def test_real_details_payload_yields_composers_from_original_music_composer_and_music_jobs():
    et, interstellar = tmdb.parse_details(tmdb_details(601)), tmdb.parse_details(tmdb_details(157336))
    assert et["tmdb_id"] == 601 and et["imdb_id"] == "tt0083866" and et["composers"] == ["John Williams"]
    assert et["genres"] == ["Science Fiction", "Adventure", "Family", "Fantasy"]
    assert interstellar["composers"] == ["Hans Zimmer", "Frank Macchia"]


def test_spark_parser_agrees_with_python_and_rejects_what_it_cannot_read(spark):
    good = [json.dumps(tmdb_details(601)), json.dumps(tmdb_details(157336))]
    bad = ['{"id": 12, "title": "Cut', '{"title": "no id"}', '{"id": "twelve"}']
    raw = spark.createDataFrame([(p, "file:/x.jsonl") for p in good + bad], "payload string, _source_uri string")
    classified = tmdb.parse_tmdb_movies(raw)
    kept = {r.tmdb_id: r.asDict() for r in classified.where("_status = 'kept'").collect()}
    assert set(kept) == {601, 157336}
    for tmdb_id, row in kept.items():
        expected = tmdb.parse_details(tmdb_details(tmdb_id))
        assert {k: row[k] for k in expected} == expected
    rejects = reject_rows(classified, "tmdb", "r1", __import__("datetime").datetime(2026, 1, 1), json_reject_reason)
    reasons = sorted(r.reason for r in rejects.collect())
    assert reasons[0].startswith("a value does not fit") and reasons[1].startswith("malformed JSON")
    assert reasons[2] == "missing id"


def test_json_reject_reason_names_the_problem():
    assert json_reject_reason("") == "empty record"
    assert json_reject_reason("[1, 2]") == "not a JSON object but list"
    assert "Expecting" in json_reject_reason('{"id": ')


def test_id_export_lines_are_read_one_object_a_line_without_adult_or_video(tmp_path):
    path = tmp_path / "movie_ids_01_02_2026.json.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"adult":false,"id":3924,"original_title":"Blondie","popularity":2.1,"video":false}\n'
                 '{"adult":true,"id":5,"original_title":"x","popularity":0.1,"video":false}\n\n'
                 '{"adult":false,"id":6,"original_title":"y","popularity":0.1,"video":true}\n')
    assert list(tmdb.read_id_export(str(path))) == [3924]


def test_windows_halve_to_single_days():
    w = tmdb.Window(date(2000, 1, 1), date(2000, 1, 4))
    assert w.halves() == (tmdb.Window(date(2000, 1, 1), date(2000, 1, 2)), tmdb.Window(date(2000, 1, 3), date(2000, 1, 4)))
    assert not tmdb.Window(date(2000, 1, 1), date(2000, 1, 1)).splittable


# --- discover walk ------------------------------------------------------------------------------------
def test_a_window_over_the_500_page_cap_is_split_until_every_window_fits(tmp_path, httpserver):
    # 10,040 films on two days = 502 pages for the pair: over the cap, so the walk must split it.
    fake = FakeTmdb(httpserver, catalogue(date(2001, 5, 1), [5020, 5020]))
    settings = api_settings(tmp_path, httpserver)
    checkpoint = Checkpoint(Lake(settings.lake_root), "r1", "tmdb")
    figures = tmdb.walk_windows(tmdb.TmdbClient(settings), checkpoint, tmdb.Window(date(2001, 5, 1), date(2001, 5, 2)), LOG)
    ids = tmdb.film_ids(checkpoint)
    assert ids == fake.ids() and len(ids) == 10_040
    assert figures["windows_split"] == 1 and figures["windows_truncated"] == 0 and figures["windows"] == 2
    assert fake.count("page=501") == 0  # never asked beyond the cap
    assert fake.count("/discover/movie") == 1 + 2 * 251


def test_a_single_day_over_the_cap_is_walked_to_the_cap_and_reported_not_silently_cut(tmp_path, httpserver, monkeypatch):
    monkeypatch.setattr(tmdb, "MAX_PAGES", 2)
    FakeTmdb(httpserver, catalogue(date(2001, 5, 1), [0, 70, 10]))  # day 2 = 4 pages > cap of 2
    settings = api_settings(tmp_path, httpserver)
    checkpoint = Checkpoint(Lake(settings.lake_root), "r1", "tmdb")
    figures = tmdb.walk_windows(tmdb.TmdbClient(settings), checkpoint, tmdb.Window(date(2001, 5, 1), date(2001, 5, 3)), LOG)
    assert figures["windows_truncated"] == 1
    windows = {w["window"]: w for w in staged(checkpoint, "windows")}
    assert windows["2001-05-02_2001-05-02"]["truncated"] and windows["2001-05-02_2001-05-02"]["count"] == 40
    assert len(tmdb.film_ids(checkpoint)) == 50


def test_discover_pages_are_fetched_with_the_bearer_header_sorted_by_date(tmp_path, httpserver):
    fake = FakeTmdb(httpserver, catalogue(date(1999, 1, 1), [45]))
    settings = api_settings(tmp_path, httpserver)
    checkpoint = Checkpoint(Lake(settings.lake_root), "r1", "tmdb")
    tmdb.walk_windows(tmdb.TmdbClient(settings), checkpoint, tmdb.Window(date(1999, 1, 1), date(1999, 1, 1)), LOG)
    assert fake.count("/discover/movie") == 3
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for h in fake.headers)
    assert all("sort_by=primary_release_date.asc" in p and TOKEN not in p for p in fake.paths)


# --- the whole extract -----------------------------------------------------------------------------------
def test_api_extract_stages_details_and_counts_films_gone_missing(tmp_path, httpserver):
    cat = catalogue(date(2010, 3, 1), [3, 2])
    fake = FakeTmdb(httpserver, cat, missing=frozenset({FakeTmdb.film_id(date(2010, 3, 2), 1)}))
    settings = api_settings(tmp_path, httpserver, tmdb_date_from="2010-03-01", tmdb_date_to="2010-03-02")
    checkpoint = Checkpoint(Lake(settings.lake_root), "r1", "tmdb")
    figures = tmdb.extract_api(tmdb.TmdbClient(settings), checkpoint, settings, LOG)
    lines = staged(checkpoint, "details")
    assert [json.loads(x["payload"])["id"] for x in lines if x.get("payload")] == fake.ids()[:4]
    rejected = [x for x in lines if x.get("reason")]
    assert len(rejected) == 1 and "HTTP 404" in rejected[0]["reason"] and TOKEN not in json.dumps(lines)
    assert figures["details_not_found_this_run"] == 1 and figures["details_requested"] == 5
    assert lines[0]["uri"].endswith("?append_to_response=credits")


def test_max_films_stops_the_walk_early(tmp_path, httpserver):
    fake = FakeTmdb(httpserver, catalogue(date(2010, 3, 1), [30, 30, 30]))
    settings = api_settings(tmp_path, httpserver, tmdb_date_from="2010-03-01", tmdb_date_to="2010-03-03",
                            tmdb_max_films=25)
    checkpoint = Checkpoint(Lake(settings.lake_root), "r1", "tmdb")
    figures = tmdb.extract_api(tmdb.TmdbClient(settings), checkpoint, settings, LOG)
    assert figures["details_requested"] == 25 and fake.count("/movie/") == 25


def test_ids_from_the_daily_export_skip_discover(tmp_path, httpserver):
    fake = FakeTmdb(httpserver, {})
    export = tmp_path / "movie_ids_01_02_2026.json.gz"
    with gzip.open(export, "wt") as fh:
        fh.write('{"adult":false,"id":601,"original_title":"E.T.","popularity":26.2,"video":false}\n')
    settings = api_settings(tmp_path, httpserver, tmdb_id_export=str(export))
    figures = tmdb.extract_api(tmdb.TmdbClient(settings), Checkpoint(Lake(settings.lake_root), "r1", "tmdb"), settings, LOG)
    assert figures["id_source"] == "export" and fake.count("/discover") == 0 and fake.count("/movie/601") == 1


def test_a_killed_extract_resumes_where_it_stopped_with_the_same_staged_rows(tmp_path, httpserver, monkeypatch):
    monkeypatch.setattr(tmdb, "DETAIL_BATCH", 3)
    cat = catalogue(date(2012, 7, 1), [25, 0, 12, 30])
    fake = FakeTmdb(httpserver, cat)
    settings = api_settings(tmp_path, httpserver, tmdb_date_from="2012-07-01", tmdb_date_to="2012-07-04")

    fake.fail_after = 12  # the server dies in the middle of the detail calls
    with pytest.raises(ApiRetriesExhausted):
        tmdb.extract_api(tmdb.TmdbClient(settings), Checkpoint(Lake(settings.lake_root), "r1", "tmdb"), settings, LOG)
    requests_before = len(fake.times)
    fake.fail_after = None
    checkpoint = Checkpoint(Lake(settings.lake_root), "r1", "tmdb")
    assert checkpoint.resumed
    figures = tmdb.extract_api(tmdb.TmdbClient(settings), checkpoint, settings, LOG)

    resumed = staged(checkpoint, "details")
    ids = [json.loads(x["payload"])["id"] for x in resumed]
    assert ids == fake.ids() and len(ids) == len(set(ids)) == 67  # every film once
    assert figures["details_fetched_this_run"] < 67  # finished batches were not fetched again
    assert fake.count("/discover") == sum(1 for p in fake.paths[:requests_before] if "/discover" in p)

    clean_settings = api_settings(tmp_path / "clean", httpserver, tmdb_date_from="2012-07-01", tmdb_date_to="2012-07-04")
    clean = Checkpoint(Lake(clean_settings.lake_root), "r1", "tmdb")
    tmdb.extract_api(tmdb.TmdbClient(clean_settings), clean, clean_settings, LOG)
    assert [x["payload"] for x in staged(clean, "details")] == [x["payload"] for x in resumed]
