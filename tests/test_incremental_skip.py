"""A feed whose input files did not change is not read: its registry stays, its changes are empty, and Gold is still
what a full run on the same input gives.

One lake, a copy of the session's sample run (a full run on the bundled sample, so its state holds every feed's
files): `t1` on a snapshot that changes TMDB only (Discogs and MusicBrainz files linked to the sample's), an attempt of
`t2` on the sample that fails in step 03 (after two steps that skipped feeds), `t2` again, then `t3` on the sample
once more. `t2` changes TMDB back to the sample, so its Gold must be the sample run's; `t3` finds every feed's files
unchanged. Steps 01-05, compared on the link tables as in test_incremental_faults.py.
"""
from __future__ import annotations

import os
import shutil

import pytest

from bench.snapshots import derive
from conftest import LABELS, SAMPLE, make_settings
from incremental_world import plan_changes
from scripts_spark.base_step import StepFailed
from scripts_spark.incremental import extract, relink
from scripts_spark.incremental.compare import compare_gold
from scripts_spark.incremental.extract import UNREAD
from scripts_spark.incremental.feed_files import fingerprint_files
from scripts_spark.incremental.report import dry_run_lines
from scripts_spark.incremental.state import StateStore
from scripts_spark.lake import Lake
from scripts_spark.pipeline import run_pipeline
from scripts_spark.sources import discogs
from scripts_spark.steps import s01_extract_tmdb, s02_extract_discogs

STEPS = "01-05"
STEP_NUMBERS = ["01", "02", "03", "04", "05"]
FILE_FEEDS = ("tmdb", "musicbrainz", "discogs_masters", "discogs_releases", "discogs_search")
RELEASE_FEEDS = FILE_FEEDS[1:]
LINK_TABLES = ("gold/soundtrack_matches", "gold/review_queue", "gold/film_soundtracks")


def _never_called(*_args, **_kwargs):
    raise AssertionError("an unchanged feed was read")


def _forbid_release_reads(patch: pytest.MonkeyPatch) -> None:
    patch.setattr(s02_extract_discogs, "read_json_lines", _never_called)
    patch.setattr(discogs, "read_dump_records", _never_called)
    patch.setattr(discogs, "read_search_pages", _never_called)


def _state(lake):
    return StateStore(Lake(str(lake))).current()


@pytest.fixture(scope="module")
def skipping_lake(spark, tmp_path_factory, sample_run):
    tmp = tmp_path_factory.mktemp("skip")
    lake = tmp / "lake"
    shutil.copytree(sample_run.settings.lake_root, lake, symlinks=True)
    _, s2 = plan_changes()
    tmdb_only = tmp / "tmdb_only"
    derive(SAMPLE, tmdb_only, s2, sources=("tmdb",))

    def settings(folder):
        return make_settings(tmp, lake_root=str(lake), input_dir=str(folder), labels_path=str(LABELS))

    docs, versions = {}, {"sample": _state(lake)}
    with pytest.MonkeyPatch.context() as patch:
        _forbid_release_reads(patch)
        docs["t1"] = run_pipeline(settings(tmdb_only), "t1", STEPS, spark=spark)
        versions["t1"] = _state(lake)
        patch.setattr(relink, "normalise_and_block", lambda *_a, **_k: _fail("killed after step 02"))
        with pytest.raises(StepFailed, match="killed after step 02"):
            run_pipeline(settings(SAMPLE), "t2", STEPS, spark=spark)
        versions["t2_failed"] = _state(lake)
        patch.undo()
        _forbid_release_reads(patch)
        docs["t2"] = run_pipeline(settings(SAMPLE), "t2", STEPS, spark=spark)
        versions["t2"] = _state(lake)
        patch.setattr(s01_extract_tmdb, "read_json_lines", _never_called)
        patch.setattr(extract, "select_changed", _never_called)
        docs["t3"] = run_pipeline(settings(SAMPLE), "t3", STEPS, spark=spark)
        versions["t3"] = _state(lake)
    return lake, docs, versions, settings, tmdb_only, sample_run


def _fail(message: str):
    raise RuntimeError(message)


def test_a_snapshot_changing_only_tmdb_reads_only_tmdb_and_gives_a_full_runs_gold(skipping_lake):
    lake, docs, versions, _, _, sample_run = skipping_lake
    for run_id in ("t1", "t2"):
        feeds = docs[run_id]["incremental"]["feeds"]
        assert docs[run_id]["incremental"]["mode"] == "incremental"
        assert feeds["tmdb"]["mode"] == "incremental" and feeds["tmdb"]["added"] and feeds["tmdb"]["deleted"], feeds
        for feed in RELEASE_FEEDS:
            assert feeds[feed]["mode"] == UNREAD, (run_id, feed, feeds[feed])
            assert (feeds[feed]["added"], feeds[feed]["edited"], feeds[feed]["deleted"]) == (0, 0, 0)
            assert "input files unchanged since run sample" in feeds[feed]["skipped"]
    differences = compare_gold(str(lake), "t2", sample_run.settings.lake_root, sample_run.run_id, tables=LINK_TABLES)
    assert not any(differences.values()), differences


def test_an_unread_feeds_registry_stays_in_the_version_that_read_its_files(skipping_lake):
    _, _, versions, _, _, _ = skipping_lake
    sample, t3 = versions["sample"], versions["t3"]
    for feed in RELEASE_FEEDS:
        assert t3.tables[f"registry_{feed}"] == sample.tables[f"registry_{feed}"], feed
        assert t3.meta["inputs"][feed] == sample.meta["inputs"][feed], feed
    assert t3.tables["registry_tmdb"] == versions["t2"].tables["registry_tmdb"] != sample.tables["registry_tmdb"]
    assert t3.meta["inputs"]["tmdb"]["run"] == "t2"


def test_state_tables_built_only_from_unread_feeds_are_carried_not_rewritten(skipping_lake):
    _, docs, versions, _, _, _ = skipping_lake
    sample, t1, t2, t3 = versions["sample"], versions["t1"], versions["t2"], versions["t3"]
    # A TMDB-only night: the Discogs records and the release keys stay in the version that built them...
    for name in ("discogs_records", "release_keys"):
        assert t1.tables[name] == t2.tables[name] == t3.tables[name] == sample.tables[name], name
    # ...while what films shape is rewritten; a night that reads nothing rewrites none of it.
    for name in ("film_keys", "pair_keys", "films"):
        assert t1.tables[name] != sample.tables[name] and t2.tables[name] != t1.tables[name], name
        assert t3.tables[name] == t2.tables[name], name
    # Nor does it rewrite what only pairs shape: the checked pairs, their features, the links and their history are
    # the base's. With every feed unread and the same verdicts, steps 03-05 carry t2's tables (incremental/carry.py).
    for name in ("pairs", "features", "links", "history"):
        assert t2.tables[name] != t1.tables[name] and t3.tables[name] == t2.tables[name], name
    assert docs["t3"]["incremental"]["carried"] == {"from_run": "t2", "steps": ["03", "04", "05"]}
    assert "rescored" not in docs["t3"]["incremental"]


def test_a_run_that_fails_after_skipping_feeds_keeps_the_state_and_its_rerun_skips_them_again(skipping_lake):
    _, docs, versions, _, _, _ = skipping_lake
    assert versions["t2_failed"].version == versions["t1"].version
    assert docs["t2"]["incremental"]["base_version"] == versions["t1"].version
    assert all(docs["t2"]["incremental"]["feeds"][feed]["mode"] == UNREAD for feed in RELEASE_FEEDS)


def test_a_rerun_on_the_same_input_reads_no_feed_and_keeps_the_gold(skipping_lake):
    lake, docs, _, _, _, sample_run = skipping_lake
    feeds = docs["t3"]["incremental"]["feeds"]
    assert {feed: feeds[feed]["mode"] for feed in FILE_FEEDS} == {feed: UNREAD for feed in FILE_FEEDS}
    assert "input files unchanged since run t2" in feeds["tmdb"]["skipped"]
    for other in ("t2", sample_run.run_id):
        differences = compare_gold(str(lake), "t3", sample_run.settings.lake_root if other != "t2" else str(lake),
                                   other, tables=LINK_TABLES)
        assert not any(differences.values()), (other, differences)


def test_unread_feeds_count_no_rows_and_carry_what_their_last_read_counted(skipping_lake):
    _, docs, _, _, _, sample_run = skipping_lake
    steps = docs["t3"]["steps"]
    assert (steps["01"]["rows_in"], steps["01"]["rows_out"]) == (0, 0)
    assert (steps["02"]["rows_in"], steps["02"]["rows_out"], steps["02"]["filtered"]) == (0, 0, 0)
    carried = {**steps["01"]["metrics"]["feeds"], **steps["02"]["metrics"]["feeds"]}
    read_by_sample = {"tmdb": sample_run.step("01")["metrics"]["records_read"],
                      **{feed: a["read"] for feed, a in sample_run.step("02")["metrics"]["accounting"].items()},
                      # a search page is the feed's record; the step counts the results in it
                      "discogs_search": sample_run.step("02")["metrics"]["discogs_search_pages"]}
    for feed in FILE_FEEDS:
        counts = carried[feed]["carried"]
        assert counts["records"] + sum(counts["set_aside"].values()) == read_by_sample[feed], (feed, counts)
        assert any(feed in note and "not read" in note for note in steps["01"]["notes"] + steps["02"]["notes"])
    assert carried["discogs_releases"]["carried"]["set_aside"]["filtered"] > 0   # the soundtrack filter's share


def test_the_dry_run_names_unchanged_feeds_without_hashing_their_records(skipping_lake, monkeypatch):
    from scripts_spark.incremental import report

    _, docs, _, settings, tmdb_only, _ = skipping_lake
    for reader in ("_json_records", "_dump_records", "_pages"):
        monkeypatch.setattr(report, reader, _never_called)
    lines = dry_run_lines(settings(SAMPLE), STEP_NUMBERS)
    assert lines[0].startswith("mode: incremental")
    assert lines[1:-1] == [f"  {feed}: unchanged files, not read (as run {'t2' if feed == 'tmdb' else 'sample'} "
                           f"read them)" for feed in FILE_FEEDS]
    assert lines[-1] == "  nothing changed since run t3: steps 03-05 carry its tables over by file copy"
    monkeypatch.undo()
    # Against t3's state (the sample's TMDB), the TMDB-only snapshot undoes what t2 did to TMDB.
    lines = dry_run_lines(settings(tmdb_only), STEP_NUMBERS)
    t2 = docs["t2"]["incremental"]["feeds"]["tmdb"]
    assert lines[1] == (f"  tmdb: {t2['deleted']:,} added, {t2['edited']:,} edited, {t2['added']:,} deleted, "
                        f"{t2['unchanged']:,} unchanged")
    assert all("unchanged files, not read" in line for line in lines[2:])   # and no carry line: TMDB changed


def test_a_files_fingerprint_follows_names_sizes_and_bytes_but_not_mtimes(tmp_path):
    folder = tmp_path / "in"
    (folder / "discogs" / "search").mkdir(parents=True)
    dump = folder / "discogs" / "d_masters.xml.gz"
    dump.write_bytes(b"\x1f\x8b masters")
    (folder / "discogs" / "search" / "p1.json").write_text('{"results": []}')

    def fingerprint(root=folder):
        return fingerprint_files(str(root), sorted(str(p) for p in root.rglob("*") if p.is_file()))["fingerprint"]

    before = fingerprint()
    os.utime(dump, (1_000_000, 1_000_000))
    assert fingerprint() == before, "a new mtime alone is no change"
    shutil.copytree(folder, tmp_path / "elsewhere")
    assert fingerprint(tmp_path / "elsewhere") == before, "paths are relative to the input folder"

    dump.write_bytes(b"\x1f\x8b mastert")   # one byte, same size
    assert fingerprint() != before
    dump.write_bytes(b"\x1f\x8b masters")
    assert fingerprint() == before
    dump.rename(folder / "discogs" / "e_masters.xml.gz")
    assert fingerprint() != before
    (folder / "discogs" / "e_masters.xml.gz").rename(dump)
    (folder / "discogs" / "search" / "p2.json").write_text('{"results": []}')
    assert fingerprint() != before
    (folder / "discogs" / "search" / "p2.json").unlink()
    assert fingerprint() == before
    (folder / "discogs" / "search" / "p1.json").unlink()
    assert fingerprint() != before
