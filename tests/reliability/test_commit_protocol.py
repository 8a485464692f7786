"""Defects 1 and 7: a rerun replaces a run's partitions only when it commits; a commit killed half-way is finished
by the next writer; stale attempts and Spark's leftovers are cleaned; the same protocol through Hadoop's FileSystem
API (the abfss:// code path, run here on file://)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts_spark.lake import ATTEMPTS, JOURNAL, Lake, LakeError
from scripts_spark.tables import schema_of

PAIRS = "silver/candidate_pairs"


def _partition(root: Path, table: str, run_id: str, files: dict[str, bytes]) -> Path:
    folder = root.joinpath(*table.split("/"), f"run_id={run_id}")
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def _staged_attempt(tmp_path: Path, tables: dict[str, bytes]) -> tuple[Lake, Lake]:
    """A lake whose run r1 is committed (old bytes) and an attempt that staged new bytes for `tables`."""
    root = tmp_path / "lake"
    for table in tables:
        _partition(root, table, "r1", {"part-0.parquet": b"old " + table.encode()})
    lake = Lake(str(root))
    attempt = lake.start_attempt("r1", {"pid": 1})
    for table, data in tables.items():
        _partition(Path(attempt.attempt.root), table, "r1", {"part-0.parquet": data})
        attempt.attempt.written.add(table)
    return lake, attempt


def test_an_abandoned_attempt_leaves_the_committed_partitions_byte_identical(tmp_path):
    lake, attempt = _staged_attempt(tmp_path, {"gold/soundtrack_matches": b"new", "gold/review_queue": b"new"})
    before = {t: _files(Path(lake.committed_partition_path(t, "r1"))) for t in attempt.attempt.written}
    attempt.abandon()
    assert {t: _files(Path(lake.committed_partition_path(t, "r1"))) for t in before} == before
    assert not (tmp_path / "lake" / ATTEMPTS).exists()


def test_staged_partitions_live_outside_the_table_folders_until_the_commit(tmp_path):
    lake, attempt = _staged_attempt(tmp_path, {"gold/soundtrack_matches": b"new"})
    staged = attempt.partition_path("gold/soundtrack_matches", "r1")
    assert "/_attempts/r1/" in staged and not staged.startswith(lake.table_path("gold/soundtrack_matches"))
    assert attempt.partition_path("gold/soundtrack_matches", "r2") == lake.committed_partition_path(
        "gold/soundtrack_matches", "r2")   # other runs are never staged by this attempt
    result = attempt.commit(remove=["gold/film_soundtracks"])
    assert _files(Path(lake.committed_partition_path("gold/soundtrack_matches", "r1"))) == {"part-0.parquet": b"new"}
    assert result.replaced == ["gold/soundtrack_matches"] and result.removed == []
    assert not (tmp_path / "lake" / ATTEMPTS).exists()


def test_a_commit_killed_between_two_renames_is_finished_by_the_next_writer(tmp_path, monkeypatch):
    tables = {"gold/soundtrack_matches": b"new matches", "gold/review_queue": b"new queue",
              "gold/film_soundtracks": b"new soundtracks"}
    lake, attempt = _staged_attempt(tmp_path, tables)
    _partition(tmp_path / "lake", "gold/composer_stats", "r1", {"part-0.parquet": b"stale"})
    manifest_path = lake.run_file("r1", "manifest.json")
    calls = {"n": 0}
    real_rename = Lake.rename

    def dying_rename(self, src, dst, spark=None):
        calls["n"] += 1
        if calls["n"] == 4:   # first table switched, the second moved aside: the process dies here
            raise SystemExit("killed")
        real_rename(self, src, dst, spark)

    monkeypatch.setattr(Lake, "rename", dying_rename)
    with pytest.raises(SystemExit):
        attempt.commit(remove=["gold/composer_stats"], manifest=(manifest_path, '{"status": "succeeded"}'))
    monkeypatch.setattr(Lake, "rename", real_rename)
    assert not Path(lake.committed_partition_path("gold/review_queue", "r1")).exists()   # mid-switch

    seen = []
    done = Lake(str(tmp_path / "lake")).recover(on_stale=lambda journal, outcome: seen.append(outcome))
    for table, data in tables.items():
        assert _files(Path(lake.committed_partition_path(table, "r1"))) == {"part-0.parquet": data}, table
    assert not Path(lake.committed_partition_path("gold/composer_stats", "r1")).exists()
    assert json.loads(Path(manifest_path).read_text()) == {"status": "succeeded"}
    assert seen == ["committed"] and "committed" in done[0]
    assert not (tmp_path / "lake" / ATTEMPTS).exists()


def test_a_killed_attempt_and_spark_leftovers_are_cleaned_by_the_next_writer(tmp_path):
    root = tmp_path / "lake"
    committed = _partition(root, "bronze/tmdb_movies", "r1", {"part-0.parquet": b"committed"})
    killed = root / ATTEMPTS / "r1" / "20260101T000000Z-1-abc"
    (killed / "bronze" / "tmdb_movies" / "run_id=r1").mkdir(parents=True)
    (killed / JOURNAL).write_text(json.dumps({"run_id": "r1", "attempt": killed.name}))
    leftover = root / "bronze" / "tmdb_movies" / ".spark-staging-1234" / "run_id=r1"
    leftover.mkdir(parents=True)
    temporary = root / "silver" / "quarantine" / "films" / "_temporary" / "0"
    temporary.mkdir(parents=True)

    seen = []
    done = Lake(str(root)).recover(on_stale=lambda journal, outcome: seen.append((journal["attempt"], outcome)))

    assert seen == [(killed.name, "discarded")]
    assert not (root / ATTEMPTS).exists() and not leftover.parent.exists() and not temporary.parent.exists()
    assert _files(committed) == {"part-0.parquet": b"committed"}
    assert len(done) == 3


def test_a_target_that_exists_is_never_overwritten_by_a_rename(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    a, b = tmp_path / "lake" / "a", tmp_path / "lake" / "b"
    a.mkdir(parents=True)
    b.mkdir()
    with pytest.raises(LakeError, match="target exists"):
        lake.rename(str(a), str(b))


def test_reads_inside_an_attempt_see_its_staged_tables_first_then_the_committed_ones(spark, tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    rows = [(1, "musicbrainz", "release_group", "a", ["title_exact"]),
            (2, "musicbrainz", "release_group", "b", ["title_exact"])]
    df = spark.createDataFrame(rows, schema_of(PAIRS))
    lake.write_table(df, PAIRS, "r1")
    lake.write_table(df.limit(1), "silver/staged/candidate_pairs", "r1")
    attempt = lake.start_attempt("r1", {})
    assert attempt.read_table(spark, PAIRS, "r1", schema_of(PAIRS)).count() == 2          # committed
    attempt.write_table(df.limit(1), PAIRS, "r1")
    attempt.write_table(df.where("false"), "silver/staged/candidate_pairs", "r1")        # staged as empty
    assert attempt.read_table(spark, PAIRS, "r1", schema_of(PAIRS)).count() == 1          # staged
    assert attempt.read_table(spark, "silver/staged/candidate_pairs", "r1", schema_of(PAIRS)).count() == 0
    assert lake.read_table(spark, PAIRS, "r1", schema_of(PAIRS)).count() == 2             # readers: committed
    attempt.commit()
    assert lake.read_table(spark, PAIRS, "r1", schema_of(PAIRS)).count() == 1
    assert lake.table_runs("silver/staged/candidate_pairs") == []   # written empty: the partition is removed


def test_the_protocol_runs_through_the_hadoop_filesystem_api_as_on_abfss(spark, tmp_path, monkeypatch):
    root = tmp_path / "lake"
    lake = Lake(root.as_uri(), via_hadoop=True)
    assert lake.is_remote
    df = spark.createDataFrame([(1, "musicbrainz", "release_group", "a", ["r"])], schema_of(PAIRS))
    lake.write_table(df, PAIRS, "r1")
    attempt = lake.start_attempt("r1", {"pid": 1}, spark)
    attempt.write_table(df.union(df.withColumn("tmdb_id", df.tmdb_id + 1)), PAIRS, "r1")
    assert lake.read_table(spark, PAIRS, "r1", schema_of(PAIRS)).count() == 1
    calls = {"n": 0}
    real_rename = Lake.rename

    def dying_rename(self, src, dst, spark=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("killed")
        real_rename(self, src, dst, spark)

    monkeypatch.setattr(Lake, "rename", dying_rename)
    with pytest.raises(SystemExit):
        attempt.commit(manifest=(lake.run_file("r1", "manifest.json"), "{}"), spark=spark)
    monkeypatch.setattr(Lake, "rename", real_rename)
    assert lake.recover(spark) == [f"attempt {attempt.attempt.attempt_id} of run r1: committed"]
    assert lake.read_table(spark, PAIRS, "r1", schema_of(PAIRS)).count() == 2
    assert lake.read_text(lake.run_file("r1", "manifest.json"), spark) == "{}"
    assert not (root / ATTEMPTS).exists()


def test_an_error_raised_while_handling_a_stop_signal_is_the_stop():
    # PySpark's cleanup after a signal landed inside a py4j call can fail on the half-read connection (KeyError: 'm')
    from scripts_spark.base_step import Interrupted, interruption_behind

    try:
        try:
            raise Interrupted("SIGTERM")
        except Interrupted:
            raise KeyError("m")  # noqa: B904 - the implicit context is what is being tested
    except KeyError as exc:
        hidden = exc
    assert isinstance(interruption_behind(hidden), Interrupted)
    assert interruption_behind(KeyError("m")) is None


@pytest.mark.parametrize("via_hadoop", [False, True], ids=["local", "hadoop"])
def test_a_partition_copied_from_another_run_commits_as_this_runs_and_the_source_stays(spark, tmp_path, via_hadoop):
    # incremental/carry.py: a night on which nothing changed stages the state's run partitions as its own
    root = tmp_path / "lake"
    lake = Lake(root.as_uri() if via_hadoop else str(root), via_hadoop=via_hadoop)
    df = spark.createDataFrame([(1, "musicbrainz", "release_group", "a", ["r"]),
                                (2, "discogs", "master", "7", ["r"])], schema_of(PAIRS))
    lake.write_table(df, PAIRS, "r1")
    lake.write_table(df.limit(1), PAIRS, "r2")   # r2 already holds one row: replaced
    source = sorted(p.name for p in Path(root, "silver", "candidate_pairs", "run_id=r1").iterdir())
    attempt = lake.start_attempt("r2", {"pid": 1}, spark)
    assert attempt.copy_partition(PAIRS, "r1", spark) is True
    assert attempt.copy_partition("gold/review_queue", "r1", spark) is False   # r1 has none: no rows
    attempt.write_no_rows("silver/staged/films", "r2", spark)
    assert attempt.read_table(spark, PAIRS, "r2", schema_of(PAIRS)).count() == 2   # read inside the attempt
    attempt.commit(spark=spark)
    read = lake.read_table(spark, PAIRS, "r2", schema_of(PAIRS))
    assert sorted(r.release_id for r in read.collect()) == ["7", "a"] and {r.run_id for r in read.collect()} == {"r2"}
    assert sorted(p.name for p in Path(root, "silver", "candidate_pairs", "run_id=r1").iterdir()) == source
    assert lake.read_table(spark, PAIRS, "r1", schema_of(PAIRS)).count() == 2
    assert not Path(root, "gold", "review_queue").exists() and not Path(root, "silver", "staged").exists()
    assert not (root / ATTEMPTS).exists()
