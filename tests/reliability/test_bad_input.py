"""Defects 5, 6, 8 and 9: nothing changed silently. Impossible dates are quarantined; bytes that are not UTF-8 and
lines that are not JSON objects are rejects with their position, reason and raw text; filtered and rejected are
counted apart and rows_in is what was read; a truncated gzip in any source fails the run naming file and position
(or, allowed, keeps what was readable and records the loss); the last copy of a duplicated id wins."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from scripts_spark.base_step import StepFailed
from scripts_spark.dryrun import dry_run
from scripts_spark.lake import Lake
from scripts_spark.pipeline import run_pipeline
from scripts_spark.sources.inputs import gzip_problems
from scripts_spark.tables import schema_of

from tiny_lake import (TITLES, dump, film, group, json_lines, manifest, master_xml, release_xml, settings_for,
                       truncate, write_gz, write_inputs)


def _rows(spark, settings, table, run_id):
    return Lake(settings.lake_root).read_table(spark, table, run_id, schema_of(table)).collect()


@pytest.mark.slow   # steps 01-04
def test_an_impossible_date_is_quarantined_and_the_last_copy_of_a_duplicated_id_wins(spark, tmp_path):
    films = [film(i + 1, t) for i, t in enumerate(TITLES[:10])]
    films.append(film(11, TITLES[10], release_date="2020-13-45"))
    later = film(3, TITLES[2], vote_count=999)                  # the same film again, later in the file
    films.append(later)
    settings = settings_for(tmp_path, write_inputs(tmp_path / "in", 11, films=films))

    doc = run_pipeline(settings, "r1", "01-04", spark=spark)

    assert doc["steps"]["01"]["rows_in"] == 12 and doc["steps"]["01"]["rows_out"] == 12
    quarantined = {r["record_key"]: r for r in _rows(spark, settings, "silver/quarantine/films", "r1")}
    assert quarantined["11"]["rule"] == "release_date_is_a_date"
    assert json.loads(quarantined["11"]["record"])["year"] == 2020          # kept as read, not half-parsed
    winner = "bronze/tmdb_movies:" + hashlib.sha256(json.dumps(later).encode()).hexdigest()
    assert quarantined["3"]["rule"] == "key_unique" and quarantined["3"]["reason"].endswith(f"kept: _bronze_ref {winner}")
    silver = {r["tmdb_id"]: r for r in _rows(spark, settings, "silver/films", "r1")}
    assert 11 not in silver and silver[3]["vote_count"] == 999 and silver[3]["_bronze_ref"] == winner
    assert silver[3]["_source_order"].endswith("#0000000000012")            # line 12 of the file


@pytest.mark.slow   # steps 01-02 through run_pipeline
def test_bad_bytes_and_lines_are_rejects_with_position_reason_and_raw_text(spark, tmp_path):
    films = [json.dumps(film(1, "Alpha Wolf")).encode(), json.dumps(film(2, "Bright Harbour")).encode(),
             json.dumps(film(3, "Cold Lantern")).encode().replace(b"Cold", b"C\xffold")]
    groups = [json.dumps(group("mb-1", "Alpha Wolf: Original Motion Picture Soundtrack")).encode(),
              b'[{"id": "mb-x", "title": "a list"}]', b"42", b"null", b'{"id": "mb-broken", "title": "cut',
              b'["Soundtrack"]', json.dumps(group("mb-live", "Live at Leeds", secondary=("Live",))).encode()]
    releases = dump("release", [release_xml(7, "Blade Runner"), release_xml(8, "Br-ler")]).replace(b"Br-ler",
                                                                                                  b"Br\xfbler")
    inputs = tmp_path / "in"
    write_gz(inputs / "tmdb" / "tmdb_movies.jsonl.gz", json_lines(films))
    write_gz(inputs / "musicbrainz" / "groups.jsonl.gz", json_lines(groups))
    write_gz(inputs / "discogs" / "discogs_20200806_releases.xml.gz", releases)
    settings = settings_for(tmp_path, inputs)

    doc = run_pipeline(settings, "r1", "01-02", spark=spark)

    s01, s02 = doc["steps"]["01"], doc["steps"]["02"]
    assert (s01["rows_in"], s01["rows_out"], s01["rejected"]) == (3, 2, 1)
    tmdb_reject = _rows(spark, settings, "bronze/tmdb_rejects", "r1")[0]
    assert tmdb_reject["record_ref"] == "line 3, 3" and tmdb_reject["reason"].startswith("not UTF-8: byte 0xff")
    assert "C\\xffold" in tmdb_reject["raw"] and tmdb_reject["_source_uri"].endswith("tmdb_movies.jsonl.gz")

    rejects = {r["record_ref"]: r for r in _rows(spark, settings, "bronze/release_rejects", "r1")}
    assert rejects["line 2, mb-x"]["reason"] == "not a JSON object but list"
    assert rejects["line 3"]["reason"] == "not a JSON object but int" and rejects["line 3"]["raw"] == "42"
    assert rejects["line 4"]["reason"] == "not a JSON object but NoneType"
    assert rejects["line 5, mb-broken"]["reason"].startswith("malformed JSON")   # no "Soundtrack": still a reject
    assert rejects["line 6"]["reason"] == "not a JSON object but list"
    discogs = [r for r in rejects.values() if r["source"] == "discogs_dump"]
    assert len(discogs) == 1 and discogs[0]["record_ref"].startswith("byte ") and discogs[0]["record_ref"].endswith(", 8")
    assert discogs[0]["reason"].startswith("not UTF-8: byte 0xfb") and "Br\\xfbler" in discogs[0]["raw"]
    kept = _rows(spark, settings, "bronze/discogs_releases", "r1")
    assert [r["release_id"] for r in kept] == [7] and all("\ufffd" not in r["payload"] for r in kept)

    assert s02["metrics"]["accounting"]["musicbrainz"] == {"read": 7, "kept": 1, "rejected": 5, "filtered": 1}
    assert (s02["rows_in"], s02["rows_out"], s02["rejected"], s02["filtered"]) == (9, 2, 6, 1)


@pytest.mark.slow   # step 01 through run_pipeline
def test_step_01_accounting_checks_what_was_written(spark, tmp_path, monkeypatch):
    from scripts_spark.steps import s01_extract_tmdb

    real = s01_extract_tmdb.kept_rows
    monkeypatch.setattr(s01_extract_tmdb, "kept_rows", lambda *a, **k: real(*a, **k).where("tmdb_id <> 2"))
    settings = settings_for(tmp_path, write_inputs(tmp_path / "in", 3))
    with pytest.raises(StepFailed, match=r"row accounting does not balance: read 3 != kept 2 \+ quarantined 0 "
                                         r"\+ rejected 0"):
        run_pipeline(settings, "r1", "01", spark=spark)


SOURCES = {"tmdb": "tmdb/tmdb_movies.jsonl.gz", "musicbrainz": "musicbrainz/release_groups.jsonl.gz",
           "discogs_releases": "discogs/discogs_20200806_releases.xml.gz",
           "discogs_masters": "discogs/discogs_20200806_masters.xml.gz"}


def _inputs_with_every_source(folder: Path, n: int = 400) -> Path:
    """Enough records that 60% of each gzip holds complete records before the cut."""
    titles = [f"{TITLES[i % len(TITLES)]} {i}" for i in range(n)]
    return write_inputs(folder, films=[film(i + 1, t) for i, t in enumerate(titles)],
                        groups=[group(f"mb-{i}", f"{t}: Original Motion Picture Soundtrack") for i, t in enumerate(titles)],
                        releases=[release_xml(i + 1, t) for i, t in enumerate(titles)],
                        masters=[master_xml(i + 1, t) for i, t in enumerate(titles)])


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.slow   # steps 01-02 through run_pipeline
def test_a_truncated_gzip_in_any_source_fails_the_run_naming_file_and_position_and_commits_nothing(
        spark, tmp_path, source):
    inputs = _inputs_with_every_source(tmp_path / "in")
    cut = truncate(inputs / SOURCES[source])
    settings = settings_for(tmp_path, inputs)

    with pytest.raises(StepFailed) as failure:
        run_pipeline(settings, "r1", "01-02", spark=spark)

    message = str(failure.value)
    assert "\n" not in message and str(cut) in message and "unreadable from " in message
    assert "EOFError: Compressed file ended before the end-of-stream marker was reached" in message
    assert "--allow-partial-input" in message
    assert failure.value.step == ("01_extract_tmdb" if source == "tmdb" else "02_extract_releases")
    lake = Lake(settings.lake_root)
    assert all(not lake.table_runs(t) for t in ("bronze/tmdb_movies", "bronze/musicbrainz_release_groups",
                                                "bronze/discogs_releases", "bronze/discogs_masters"))
    doc = manifest(settings.lake_root, "r1")
    assert doc["status"] == "failed" and "committed" not in doc and str(cut) in doc["attempts"][-1]["exit_reason"]


@pytest.mark.slow   # steps 01-02 through run_pipeline
def test_partial_input_keeps_the_readable_records_and_records_each_loss(spark, tmp_path):
    inputs = _inputs_with_every_source(tmp_path / "in")
    for relative in SOURCES.values():
        truncate(inputs / relative)
    assert len(gzip_problems(inputs)) == 4
    settings = settings_for(tmp_path, inputs, allow_partial_input=True)

    doc = run_pipeline(settings, "r1", "01-02", spark=spark)

    assert doc["status"] == "succeeded" and doc["attempts"][-1]["allow_partial_input"] is True
    notes = doc["steps"]["01"]["notes"] + doc["steps"]["02"]["notes"]
    assert sum(n.startswith("PARTIAL INPUT") for n in notes) == 4
    for table in ("bronze/tmdb_movies", "bronze/musicbrainz_release_groups", "bronze/discogs_releases",
                  "bronze/discogs_masters"):
        assert 0 < len(_rows(spark, settings, table, "r1")) < 400, table
    losses = [r for table in ("bronze/tmdb_rejects", "bronze/release_rejects")
              for r in _rows(spark, settings, table, "r1") if r["reason"].startswith("unreadable from ")]
    assert sorted(Path(r["_source_uri"]).name for r in losses) == sorted(Path(p).name for p in SOURCES.values())
    assert all("everything from there on is lost" in r["reason"] for r in losses)
    assert doc["steps"]["02"]["metrics"]["unreadable_files"] == 3


def test_the_dry_run_reads_every_gzip_to_its_end_and_reports_a_truncated_file(tmp_path, capsys):
    inputs = write_inputs(tmp_path / "in", 10)
    truncate(inputs / "musicbrainz" / "release_groups.jsonl.gz", keep=0.5)
    assert dry_run(settings_for(tmp_path, inputs), "01-02") == 1
    out = capsys.readouterr().out
    assert "UNREADABLE INPUT:" in out and "release_groups.jsonl.gz: unreadable from byte" in out
    assert not (tmp_path / "lake").exists()
