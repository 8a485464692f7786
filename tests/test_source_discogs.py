"""Discogs: the dump reader on the real excerpts and on broken XML, saved search pages, and the API walk."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from datetime import datetime

import pytest

from fake_apis import SEARCH_PAGES, FakeDiscogs, saved_results
from scripts_spark.config import load_settings
from scripts_spark.lake import Lake
from scripts_spark.log import get_logger
from scripts_spark.sources import discogs
from scripts_spark.sources.bronze import json_reject_reason, reject_rows, status_counts
from scripts_spark.sources.checkpoint import Checkpoint, read_envelopes, staged_records
from scripts_spark.sources.http import ApiAuthError
from scripts_spark.sources.urls import strip_secrets_column, strip_text_secrets

REPO_SAMPLE = SEARCH_PAGES.parent
MASTERS = str(REPO_SAMPLE / "discogs_20200806_masters.sample1000.xml.gz")
RELEASES = str(REPO_SAMPLE / "discogs_20200806_releases.sample1000.xml.gz")
TOKEN = "discogs-token-SECRET-42"
LOG = get_logger("t", "02")
WHEN = datetime(2026, 1, 1)

SOUNDTRACK = ('<release id="7" status="Accepted"><artists><artist><id>1</id><name>Vangelis</name><anv/><join/>'
              '<role/><tracks/></artist></artists><title>Blade Runner</title><labels><label name="EastWest" '
              'catno="4509-96574-2" id="3"/></labels><extraartists><artist><id>1</id><name>Vangelis</name><anv/>'
              '<join/><role>Composed By</role><tracks/></artist></extraartists><formats><format name="CD" qty="1" '
              'text=""><descriptions><description>Album</description></descriptions></format></formats><genres>'
              '<genre>Electronic</genre><genre>Stage &amp; Screen</genre></genres><styles><style>Soundtrack</style>'
              '</styles><country>UK</country><released>1994-06-00</released><data_quality>Correct</data_quality>'
              '<master_id is_main_release="true">12717</master_id></release>')
NOT_SOUNDTRACK = ('<release id="8" status="Accepted"><title>Stockholm</title><genres><genre>Electronic</genre></genres>'
                  '<data_quality>Correct</data_quality></release>')
MISMATCHED = ('<release id="9" status="Accepted"><title>Broken</titel><genres><genre>Rock</genre></genres>'
              '<styles><style>Score</style></styles></release>')
MISMATCHED_NOT_SOUNDTRACK = '<release id="12" status="Accepted"><title>Broken</titel></release>'
BAD_ID = '<release id="x10" status="Accepted"><title>ok</title><genres><genre>Stage &amp; Screen</genre></genres></release>'
TRUNCATED = '<release id="11" status="Accepted"><title>Cut off</title><genres><genre>Stage &amp; Screen</genre>'


def write_dump(path, *records, close_root=True):
    body = "<releases>\n" + "\n".join(records) + ("\n</releases>\n" if close_root else "")
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(body)
    return str(path)


def classify(spark, paths, element, soundtrack_filter=True):
    records = discogs.dump_records(discogs.read_dump_chunks(spark, paths, element), element)
    parse = discogs.parse_dump_releases if element == "release" else discogs.parse_dump_masters
    return parse(records, soundtrack_filter)


# --- dump: plain-Python reader ------------------------------------------------------------------------
def test_streaming_reader_yields_every_record_of_the_real_excerpts_exactly_as_in_the_file():
    with discogs.open_dump(RELEASES) as fh:
        releases = list(discogs.iter_dump_records(fh, "release"))
    with gzip.open(RELEASES, "rt", encoding="utf-8") as fh:
        text = fh.read()
    assert len(releases) == 1000
    assert all(r.startswith("<release id=") and r.endswith("</release>") and r in text for r in releases[:50])
    with discogs.open_dump(MASTERS) as fh:
        masters = [discogs.parse_master_xml(m) for m in discogs.iter_dump_records(fh, "master")]
    assert len(masters) == 1000
    assert sum(discogs.is_soundtrack(m["genres"], m["styles"]) for m in masters) == 28


def test_streaming_reader_is_independent_of_block_boundaries():
    data = ("<?xml version='1.0'?>\n<releases>\n" + "\n".join([SOUNDTRACK, NOT_SOUNDTRACK] * 3) + "\n</releases>\n").encode()
    for block in (7, 64, 1 << 20):
        got = list(discogs.iter_dump_records(io.BytesIO(data), "release", block_bytes=block))
        assert got == [SOUNDTRACK, NOT_SOUNDTRACK] * 3


def test_runs_of_unmarked_records_are_counted_in_one_row_and_every_other_record_keeps_its_own():
    with gzip.open(RELEASES, "rt", encoding="utf-8") as fh:
        real = fh.read().split("<release ")
    real = ["<release " + r.strip().removesuffix("</releases>").strip() for r in real[1:]]
    not_utf8 = SOUNDTRACK.replace("Blade Runner", "Blade \udcffRunner").encode("utf-8", "surrogateescape")
    records = [r.encode() for r in real[:400]] + [MISMATCHED.encode(), not_utf8] + [r.encode() for r in real[400:700]] \
        + [TRUNCATED.encode()] + [r.encode() for r in real[700:]]
    close, markers = b"</release>", [m.encode() for m in discogs.SOUNDTRACK_MARKERS]
    body = b"\n".join(records)   # the same gap between all records (a dump's), and mixed gaps (the regex's case)
    mixed = b"".join(r + (b"\n", b"", b" \t\n")[i % 3] for i, r in enumerate(records))
    for stream in (b"<?xml version='1.0'?>\n<releases>\n" + text + b"\n  </releases>\n" for text in (body, mixed)):
        _runs_read_as_records(stream, records, close, markers)


def _runs_read_as_records(stream, records, close, markers):
    expected, counted = [], 0   # the per-record reading: every marked or cut-short record with its text, the rest counted
    for at, raw in discogs.iter_dump_record_spans(io.BytesIO(stream), "release"):
        if any(m in raw for m in markers) or not raw.endswith(close):
            expected.append((at, raw.decode("utf-8", "backslashreplace")))
        else:
            counted += 1
    assert len(expected) + counted == len(records) and 25 < len(expected) < 60

    for block in (300, 32768, 1 << 20):   # runs of one record, of about seven, of the whole file
        rows = [row for offset, run in discogs.iter_dump_record_runs(io.BytesIO(stream), "release", block)
                for row in discogs.run_rows(run, offset, "file:///d", "release", keep_unmarked=False)]
        with_text = [(r[4], r[0]) for r in rows if r[0] is not None]
        assert with_text == expected
        assert all(r[7] == 1 for r in rows if r[0] is not None)
        assert sum(r[7] for r in rows if r[0] is None) == counted
        assert all(r[2] and not r[3] and r[5] is None for r in rows if r[0] is None)   # complete, unmarked, not rejected
        if block == 32768:   # most runs are judged whole (the 1 MB run holds the cut-short record: read record by record)
            assert len(rows) < len(records) / 3
        not_utf8_row = next(r for r in rows if r[0] is not None and "Blade" in r[0] and r[5] is not None)
        assert not_utf8_row[5] == "rejected" and "not UTF-8: byte 0xff" in not_utf8_row[6]
        kept = [r for offset, run in discogs.iter_dump_record_runs(io.BytesIO(stream), "release", block)
                for r in discogs.run_rows(run, offset, "file:///d", "release", keep_unmarked=True)]
        assert len(kept) == len(records) and all(r[0] is not None and r[7] == 1 for r in kept)


def test_python_parse_of_a_release_element():
    rec = discogs.parse_release_xml(SOUNDTRACK)
    assert rec["release_id"] == 7 and rec["master_id"] == 12717 and rec["is_main_release"] is True
    assert rec["genres"] == ["Electronic", "Stage & Screen"] and rec["formats"] == ["CD", "Album"]
    assert rec["extra_artists"] == [{"name": "Vangelis", "role": "Composed By"}] and rec["labels"] == ["EastWest"]
    assert discogs.xml_reject_reason(MISMATCHED).startswith("malformed XML: mismatched tag")
    assert discogs.xml_reject_reason(BAD_ID) == "id attribute 'x10' is not a number"
    assert discogs.dump_kind("/d/discogs_20200806_releases.xml.gz") == "releases"
    assert discogs.dump_kind("/d/discogs_20200806_artists.xml.gz") is None


# --- dump: Spark reader ----------------------------------------------------------------------------
def test_spark_reader_on_the_real_excerpts_keeps_soundtracks_and_agrees_with_the_python_parse(spark):
    releases = classify(spark, [RELEASES], "release").where("_status = 'kept'").collect()
    masters = classify(spark, [MASTERS], "master")
    assert status_counts(masters) == {"kept": 28, "rejected": 0, "filtered": 972}
    assert len(releases) == 36
    for row in releases[:10]:
        expected = discogs.parse_release_xml(row.payload)
        got = row.asDict(recursive=True)
        assert {k: got[k] for k in expected} == expected
        assert row.payload.startswith(f'<release id="{row.release_id}"') and row.payload.endswith("</release>")


def test_broken_records_are_rejected_with_their_reason_and_the_rest_is_kept(spark, tmp_path):
    path = write_dump(tmp_path / "discogs_1_releases.xml.gz", SOUNDTRACK, MISMATCHED, NOT_SOUNDTRACK, BAD_ID, TRUNCATED,
                      close_root=False)
    classified = classify(spark, [path], "release").cache()
    assert status_counts(classified) == {"kept": 1, "rejected": 3, "filtered": 1}
    rejects = {r.record_ref: r for r in reject_rows(classified, "discogs_dump", "r1", WHEN,
                                                    discogs.xml_reject_reason).collect()}
    assert rejects["9"].reason.startswith("malformed XML: mismatched tag") and rejects["9"].raw == MISMATCHED
    assert rejects["x10"].reason == "id attribute 'x10' is not a number"
    assert rejects["11"].reason == "truncated record: no closing </release> tag"
    assert all(r._source_uri.endswith("discogs_1_releases.xml.gz") for r in rejects.values())
    kept = classified.where("_status = 'kept'").first()
    assert kept.payload == SOUNDTRACK and kept.title == "Blade Runner"
    unfiltered = status_counts(classify(spark, [path], "release", soundtrack_filter=False))
    assert unfiltered == {"kept": 2, "rejected": 3, "filtered": 0}


def test_a_record_without_any_soundtrack_marker_is_filtered_unparsed_even_when_broken(spark, tmp_path):
    path = write_dump(tmp_path / "discogs_1_releases.xml.gz", MISMATCHED_NOT_SOUNDTRACK, NOT_SOUNDTRACK, SOUNDTRACK)
    filtered = classify(spark, [path], "release")
    assert status_counts(filtered) == {"kept": 1, "rejected": 0, "filtered": 2}
    assert filtered.where("_status = 'filtered'").where("payload is not null").count() == 0
    assert status_counts(classify(spark, [path], "release", soundtrack_filter=False)) == {
        "kept": 2, "rejected": 1, "filtered": 0}


def test_the_text_markers_are_a_superset_of_the_parsed_soundtrack_test(spark):
    from pyspark.sql import functions as F

    releases = classify(spark, [RELEASES], "release", soundtrack_filter=False).where("_status = 'kept'")
    flags = releases.select(discogs.soundtrack_column(F.col("genres"), F.col("styles")).alias("parsed"),
                            discogs.may_be_soundtrack(F.col("payload")).alias("marked")).collect()
    assert any(r.parsed for r in flags) and not [r for r in flags if r.parsed and not r.marked]


# --- saved search pages ---------------------------------------------------------------------------------
def test_saved_search_pages_give_one_row_per_result_with_the_query_and_no_secret(spark, tmp_path):
    leaky = json.loads((SEARCH_PAGES / "discogs_raw" / "Blade_Runner.json").read_text())
    leaky["pagination"]["urls"]["next"] = leaky["pagination"]["urls"]["next"].replace("key=REDACTED", "key=K-SECRET")
    leaky["results"][0]["resource_url"] += "?token=T-SECRET"
    pages = [(json.dumps(leaky), "file:/saved/Blade_Runner.json"),
             ('{"pagination": {"page": 1}, "results": [{"id": 1, "title": "A -', "file:/saved/cut.json")]
    df = spark.createDataFrame(pages, "payload string, _source_uri string")
    rows = discogs.parse_search_pages(df).collect()
    kept = [r for r in rows if r._status == "kept"]
    assert len(kept) == 5 and [r for r in rows if r._status == "rejected"][0]._record_ref == "whole page"
    first = kept[0]
    assert first.result_id == 7097828 and first.title == "Vangelis - Blade Runner" and first.year == "2015"
    assert first.query == "q=Blade+Runner&type=release&per_page=5"
    assert all("SECRET" not in (r.payload + (r.query or "")) for r in rows)
    assert discogs.parse_search_result(leaky["results"][0])["result_id"] == 7097828


def test_secret_stripping_in_spark_matches_python(spark):
    text = json.dumps({"next": "https://api.discogs.com/database/search?q=x&key=K1&secret=S1&page=2",
                       "a": "https://x/y?token=T2&q=1", "b": "https://x/y?q=1&api_key=A3"})
    got = spark.createDataFrame([(text,)], "t string").select(strip_secrets_column("t").alias("t")).first().t
    assert got == strip_text_secrets(text) and not any(s in got for s in ("K1", "S1", "T2", "A3"))


# --- API ---------------------------------------------------------------------------------------------------
def api_settings(tmp_path, server, **overrides):
    values = dict(lake_root=str(tmp_path / "lake"), discogs_mode="api", discogs_base_url=server.url_for("").rstrip("/"),
                  discogs_token=TOKEN, discogs_rate_limit_per_min=6000, http_backoff_s=0.01, http_max_retries=2)
    return load_settings(env_file=tmp_path / "no.env", environ={}, **{**values, **overrides})


def split_saved_results():
    results = saved_results()
    masters = [dict(r, type="master", id=r["master_id"]) for r in results if r.get("master_id")][:12]
    return masters, results


def test_search_walk_follows_next_across_many_pages_with_token_header_and_user_agent(tmp_path, httpserver):
    masters, releases = split_saved_results()
    fake = FakeDiscogs(httpserver, masters, releases, token=TOKEN)
    settings = api_settings(tmp_path, httpserver)
    checkpoint = Checkpoint(Lake(settings.lake_root), "r1", "discogs")
    client = discogs.DiscogsClient(settings)
    figures = discogs.walk_search(client, checkpoint, LOG)
    assert figures == {"search_pages_master": 1, "search_pages_release": 3}  # 215 results at 100 a page
    first = fake.paths[0]
    assert "type=master" in first and "genre=Stage+%26+Screen" in first and "style=Soundtrack" in first
    assert "per_page=100" in first and fake.count("page=3") == 1
    assert all(h["Authorization"] == f"Discogs token={TOKEN}" and h["User-Agent"].startswith("soundtrack-lake/")
               for h in fake.headers)
    master_ids, release_ids = discogs.search_ids(checkpoint)
    assert set(m["id"] for m in masters) <= set(master_ids)
    assert release_ids == sorted({r["id"] for r in releases if not r.get("master_id")})


def test_remaining_quota_from_the_headers_slows_the_client_down(tmp_path, httpserver, monkeypatch):
    # Discogs' 60 s window shrunk to 0.6 s so that the test waits tenths of a second, not minutes.
    monkeypatch.setattr(discogs, "RATELIMIT_WINDOW_S", 0.6)
    fake = FakeDiscogs(httpserver, [], [], limit=3)  # remaining 2, then 1, then 0
    client = discogs.DiscogsClient(api_settings(tmp_path, httpserver, discogs_rate_limit_per_min=60))  # 10 ms apart
    for n in range(1, 4):
        client.master(n)
    first_gap, second_gap = fake.times[1] - fake.times[0], fake.times[2] - fake.times[1]
    # one spacing unit (0.6 s / limit 3 = 0.2 s) per request below the reserve of 2: 0.2 s, then 0.4 s,
    # far above the 10 ms the client-side limit alone would allow
    assert 0.19 <= first_gap < 0.35 and second_gap >= 0.38
    assert client.last_rate == {"limit": 3, "used": 3, "remaining": 0}


def test_a_429_from_discogs_is_waited_out(tmp_path, httpserver):
    from werkzeug import Response

    calls = []

    def handler(request):
        calls.append(__import__("time").monotonic())
        if len(calls) == 1:
            return Response('{"message": "You are making requests too quickly."}', 429, headers={"Retry-After": "1"},
                            content_type="application/json")
        return Response('{"id": 5, "title": "T"}', 200, content_type="application/json")

    httpserver.expect_request("/masters/5").respond_with_handler(handler)
    resp = discogs.DiscogsClient(api_settings(tmp_path, httpserver)).master(5)
    assert resp.data["id"] == 5 and calls[1] - calls[0] >= 0.95


def test_a_wrong_token_fails_with_a_clear_error(tmp_path, httpserver):
    FakeDiscogs(httpserver, [], [], token="the-right-one")
    client = discogs.DiscogsClient(api_settings(tmp_path, httpserver))
    with pytest.raises(ApiAuthError, match=r"discogs: GET .*/database/search\?type=master.* HTTP 401") as err:
        client.search_page(client.first_search_url("master"))
    assert TOKEN not in str(err.value)


def test_api_extract_resumes_after_a_crash_without_duplicates(spark, tmp_path, httpserver, monkeypatch):
    monkeypatch.setattr(discogs, "DETAIL_BATCH", 4)
    masters, releases = split_saved_results()
    # A limit far above the calls made: at Discogs' real 60 a minute the client would pace this test for 49 s (pacing
    # by the rate headers is tested on its own above).
    fake = FakeDiscogs(httpserver, masters, releases, missing=frozenset({masters[0]["id"]}), limit=10_000)
    settings = api_settings(tmp_path, httpserver)
    fake.fail_after = 9  # 4 search pages, then the server dies inside the master batches
    with pytest.raises(Exception):
        discogs.extract_api(discogs.DiscogsClient(settings), Checkpoint(Lake(settings.lake_root), "r1", "discogs"),
                            settings, LOG)
    fake.fail_after = None
    checkpoint = Checkpoint(Lake(settings.lake_root), "r1", "discogs")
    figures = discogs.extract_api(discogs.DiscogsClient(settings), checkpoint, settings, LOG)
    assert fake.count("/database/search") == 4  # the search was not walked again
    assert figures["masters_fetched_this_run"] < figures["masters_requested"]
    envelopes = read_envelopes(spark, checkpoint.staged_paths("masters"))
    parsed = discogs.parse_api_masters(staged_records(envelopes)).collect()
    ids = [r.master_id for r in parsed]
    assert len(ids) == len(set(ids)) == figures["masters_requested"] - 1
    assert envelopes.where("reason is not null").count() == 1
    rel = discogs.parse_api_releases(staged_records(read_envelopes(spark, checkpoint.staged_paths("releases")))).first()
    assert rel.formats == ["Vinyl", "LP", "Album"] and rel.extra_artists[0].role == "Composed By"
    assert rel.master_id is None and rel._status == "kept"
    assert reject_rows(discogs.parse_api_masters(staged_records(envelopes)), "discogs_api", "r1", WHEN,
                       json_reject_reason).count() == 0


def test_the_python_dump_reader_classifies_every_record_as_the_spark_reader_does(spark, tmp_path):
    path = write_dump(tmp_path / "discogs_1_releases.xml.gz", SOUNDTRACK, MISMATCHED, NOT_SOUNDTRACK, BAD_ID,
                      MISMATCHED_NOT_SOUNDTRACK, TRUNCATED, close_root=False)
    for paths in ([path], [RELEASES, path]):
        for keep in (True, False):
            python = discogs.parse_dump_releases(discogs.read_dump_records(spark, paths, "release", keep_unmarked=not keep), keep)
            jvm = classify(spark, paths, "release", soundtrack_filter=keep)
            columns = ["_record_ref", "_status", "title", "payload", "_reject_hint"]
            def rows(df):  # a filtered record is only counted (the Python reader counts a run of them in one row)
                return sorted(tuple("" if v is None else v for v in r) for r in
                              df.where("_status != 'filtered'").select(*columns).collect())
            assert rows(python) == rows(jvm)
            assert status_counts(python) == status_counts(jvm)
    uris = {r._source_uri for r in discogs.read_dump_records(spark, [path], "release", False).collect()}
    assert uris == {Path(path).absolute().as_uri()}
