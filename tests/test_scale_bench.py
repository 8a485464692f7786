"""bench/scale.py: one tiny generated size through the pipeline in a child JVM, its figures in JSON, markdown, SVG."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import scale

REPO = Path(__file__).resolve().parent.parent
# 0.02% of the full dumps: 200 films, 3,600 releases, 480 masters, 700 MusicBrainz groups (about a minute of Spark).
TINY_PERCENT = 0.02
TINY_LABEL = "0.02pct"
STEPS = "01-05"
# The test checks that the figures are taken, not how large they are. On this tiny input the product picks its short
# profile itself (spark_session.spark_profile: JIT at C1, interpreted expressions); one override checks that
# `--spark-conf` reaches the child (adaptive execution has nothing to coalesce at one shuffle partition).
SPARK_CONF_OVERRIDES = ("spark.sql.adaptive.enabled=false",)


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """The benchmark run once, in this process (the parent), on an input it generates itself."""
    root = tmp_path_factory.mktemp("scale")
    out = root / "results"
    argv = ["--sizes", str(TINY_PERCENT), "--generate", "--inputs-root", str(root / "inputs"),
            "--work", str(root / "work"), "--out", str(out), "--steps", STEPS,
            "--set", "SPARK_SHUFFLE_PARTITIONS=1", "--set", "SPARK_DRIVER_MEMORY=2g"]
    argv += [arg for conf in SPARK_CONF_OVERRIDES for arg in ("--spark-conf", conf)]
    exit_code = scale.main(argv)
    doc = json.loads((out / "scale.json").read_text(encoding="utf-8"))
    run = doc["runs"][TINY_LABEL]
    manifest = json.loads((Path(run["lake_root"]) / "_runs" / run["run_id"] / "manifest.json").read_text())
    return {"exit_code": exit_code, "root": root, "out": out, "doc": doc, "run": run, "manifest": manifest}


def test_the_size_is_generated_and_runs_to_success(bench_run):
    run = bench_run["run"]
    assert bench_run["exit_code"] == 0
    assert run["status"] == "succeeded" and run["exit_code"] == 0 and run["failed"] is None
    assert run["percent"] == TINY_PERCENT
    assert run["records_in"] == {"films": 200, "releases": 3600, "masters": 480, "mb_groups": 700, "total": 4980}
    assert run["steps_requested"] == ["01", "02", "03", "04", "05"]
    assert run["settings_env"] == {"SPARK_SHUFFLE_PARTITIONS": "1", "SPARK_DRIVER_MEMORY": "2g"}
    assert run["spark"]["conf"]["spark.sql.shuffle.partitions"] == "1"  # the child got the settings
    assert run["spark"]["conf"]["spark.sql.codegen.factoryMode"] == "NO_CODEGEN"   # and chose the short profile
    assert run["spark_conf_overrides"] == dict(conf.split("=", 1) for conf in SPARK_CONF_OVERRIDES)


def test_step_seconds_and_rows_are_the_run_manifests(bench_run):
    run, manifest = bench_run["run"], bench_run["manifest"]
    assert sorted(run["steps"]) == ["01", "02", "03", "04", "05"]
    for number, step in run["steps"].items():
        recorded = manifest["steps"][number]
        assert step["status"] == recorded["status"] == "succeeded"
        assert step["seconds"] == recorded["seconds"] > 0
        assert step["wall_seconds"] >= step["seconds"]
        for field in ("rows_in", "rows_out", "quarantined", "rejected", "tables"):
            assert step[field] == recorded[field]
        assert step["seconds_per_1k_records"] == pytest.approx(step["seconds"] * 1000 / 4980, rel=1e-4)
    assert run["steps"]["01"]["rows_in"] == 200
    assert run["steps"]["02"]["rows_in"] == 3600 + 480 + 700
    assert run["seconds"]["steps_total"] == pytest.approx(sum(s["seconds"] for s in run["steps"].values()), abs=1e-3)
    assert run["seconds"]["process_wall"] > run["seconds"]["steps_total"]


def test_candidate_pairs_are_the_silver_candidate_pairs_rows(bench_run):
    run, manifest = bench_run["run"], bench_run["manifest"]
    assert run["candidate_pairs"]["valid"] == manifest["steps"]["04"]["tables"]["silver/candidate_pairs"] > 0
    assert run["candidate_pairs"]["staged"] == manifest["steps"]["03"]["tables"]["silver/staged/candidate_pairs"]


def test_shuffle_bytes_are_attributed_to_the_steps_that_shuffle(bench_run):
    steps = bench_run["run"]["steps"]
    for number in ("03", "04", "05"):  # blocking joins, contract checks, scoring: all shuffle
        spark = steps[number]["spark"]
        assert spark["jobs"] > 0 and spark["stages"] > 0 and spark["tasks"] > 0
        assert spark["shuffle_write_bytes"] > 0 and spark["shuffle_read_bytes"] > 0
    assert steps["01"]["spark"]["input_bytes"] > 0  # the TMDB file was read inside step 01's jobs
    shuffle = bench_run["run"]["shuffle"]
    assert shuffle["shuffle_read_bytes"] == sum(s["spark"]["shuffle_read_bytes"] for s in steps.values())


def test_peak_memory_is_sampled_per_step_and_for_the_whole_run(bench_run):
    memory = bench_run["run"]["memory"]
    assert memory["samples"] > 10
    assert 0 < memory["peak_python_driver_rss_bytes"] < memory["peak_jvm_rss_bytes"]
    assert memory["peak_jvm_rss_bytes"] < memory["peak_driver_rss_bytes"] <= memory["peak_total_rss_bytes"]
    assert memory["peak_driver_rss_bytes"] <= memory["peak_total_pss_bytes"] <= memory["peak_total_rss_bytes"]
    assert 0 < memory["jvm"]["heap_peak_bytes"] <= memory["jvm_heap_max_bytes"] <= 2 * 1024 ** 3
    assert memory["peak_processes"] >= 2  # the Python driver and its JVM at least
    for step in bench_run["run"]["steps"].values():
        assert 0 < step["memory"]["driver_rss_bytes"] <= memory["peak_driver_rss_bytes"]
        assert step["cpu_seconds"] > 0


def test_quality_is_scored_on_the_planted_truth(bench_run):
    quality = bench_run["run"]["quality"]
    truth = list(csv.DictReader(open(bench_run["root"] / "inputs" / f"in_{TINY_LABEL}" / "truth.csv")))
    for source in ("musicbrainz", "discogs"):
        figures = quality["sources"][source]
        assert figures["positives"] == sum(r["source"] == source and r["label"] == "1" for r in truth)
        assert 0 < figures["precision"] <= 1 and 0 < figures["recall"] <= 1 and 0 < figures["f1"] <= 1
        assert 0 < quality["blocking"][source]["pair_completeness"] <= 1


def test_the_machine_is_described(bench_run):
    machine = bench_run["doc"]["machine"]
    assert machine["cores"] >= 1 and machine["memory_bytes"] > 0
    assert machine["pyspark"] == bench_run["run"]["spark"]["version"]
    assert machine["python"].count(".") == 2 and machine["date"].startswith("20")


def test_markdown_table_holds_the_runs_figures(bench_run):
    run = bench_run["run"]
    table = (bench_run["out"] / "scale.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith(f"| {TINY_LABEL} | 5.0k |"))
    for step in run["steps"].values():
        assert f"{step['seconds']:.1f} ({step['seconds_per_1k_records']:.3f})" in row
    assert f"| {run['seconds']['steps_total']:.1f} |" in row
    q = run["quality"]["sources"]["discogs"]
    assert f"{q['precision']:.3f} / {q['recall']:.3f} / {q['f1']:.3f}" in row
    assert scale.human_bytes(run["shuffle"]["shuffle_read_bytes"]) in row
    assert row.endswith(f"| {scale.code_cell(run['code'])} |")
    assert set(run["code"]) == {"commit", "pipeline_changed_since_commit"}
    assert f"{bench_run['doc']['machine']['cores']} cores" in table


def test_chart_is_an_svg_with_a_line_per_step_and_the_total(bench_run):
    svg = (bench_run["out"] / "scale_curve.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for step in bench_run["run"]["steps"].values():
        assert step["name"] in svg
    assert ">total<" in svg and "wall seconds" in svg


def test_report_redraws_the_same_table_from_scale_json(bench_run, capsys):
    before = (bench_run["out"] / "scale.md").read_text()
    assert scale.main(["report", "--out", str(bench_run["out"])]) == 0
    assert capsys.readouterr().out == before == (bench_run["out"] / "scale.md").read_text()


def test_a_new_size_is_added_and_a_rerun_replaces_only_its_own_row(bench_run):
    doc, run = bench_run["doc"], bench_run["run"]
    bigger = {**run, "label": "0.2pct", "percent": 0.2, "records_in": {**run["records_in"], "total": 49_800}}
    merged = scale.merge_results(json.loads(json.dumps(doc)), [bigger], doc["machine"])
    assert list(merged["runs"]) == [TINY_LABEL, "0.2pct"]  # ordered by input size
    rerun = {**run, "seconds": {**run["seconds"], "steps_total": 1.0}}
    merged = scale.merge_results(merged, [rerun], doc["machine"])
    assert merged["runs"][TINY_LABEL]["seconds"]["steps_total"] == 1.0
    assert merged["runs"]["0.2pct"]["records_in"]["total"] == 49_800


def test_growth_exponents_flag_a_step_that_grows_faster_than_n_log_n(bench_run, tmp_path):
    doc, run = bench_run["doc"], bench_run["run"]
    # The same run "ten times larger": step 03 quadratic (k = 2), every other step linear (k = 1).
    bigger = json.loads(json.dumps(run))
    bigger.update(label="0.2pct", percent=0.2, records_in={**run["records_in"], "total": 49_800})
    for number, step in bigger["steps"].items():
        step["seconds"] *= 100 if number == "03" else 10
    bigger["seconds"]["steps_total"] = sum(s["seconds"] for s in bigger["steps"].values())
    merged = scale.merge_results(json.loads(json.dumps(doc)), [bigger], doc["machine"])
    (growth,) = merged["growth"]
    assert (growth["from"], growth["to"], growth["size_ratio"]) == (TINY_LABEL, "0.2pct", 10)
    assert growth["exponents"]["03"] == 2.0 and growth["exponents"]["01"] == growth["exponents"]["05"] == 1.0
    assert 1.0 < growth["n_log_n_exponent"] < 1.2  # n log n over 4,980 -> 49,800 records
    assert growth["exponents"]["total"] > growth["n_log_n_exponent"]  # the quadratic step shows in the total
    table = scale.write_results(merged, tmp_path)
    assert f"| {TINY_LABEL} -> 0.2pct | 10 | {growth['n_log_n_exponent']:.2f} | 1.00 | 1.00 | 2.00 |" in table
    svg = (tmp_path / "scale_curve.svg").read_text()
    assert "∝ n log n" in svg and "0.2pct" in svg  # two sizes: the reference slopes are drawn


def test_records_in_come_from_the_manifest_for_inputs_without_generation_json():
    steps = {"01": {"rows_in": 6193}, "02": {"rows_in": 9000}}
    assert scale.records_in(None, steps) == {"films": 6193, "release_side": 9000, "total": 15193}
    assert scale.records_in({"films": 1, "releases": 2, "masters": 0, "mb_groups": 3}, steps)["total"] == 6


def test_a_child_that_dies_leaves_a_failed_row_and_exit_code_one(bench_run, tmp_path, capsys):
    # An invalid setting makes the child stop before its JVM starts: quick, and the parent must still report.
    input_dir = bench_run["root"] / "inputs" / f"in_{TINY_LABEL}"
    out = tmp_path / "results"
    code = scale.main(["--input-dir", str(input_dir), "--label", "broken", "--work", str(tmp_path / "work"),
                       "--out", str(out), "--set", "TMDB_MODE=carrier-pigeon"])
    assert code == 1
    run = json.loads((out / "scale.json").read_text())["runs"]["broken"]
    assert run["status"] == "failed" and run["exit_code"] != 0 and run["steps"] == {}
    assert run["records_in"]["total"] == 4980  # still known from generation.json
    assert "TMDB_MODE" in Path(run["log"]).read_text()
    assert "| broken (failed) |" in (out / "scale.md").read_text()
    assert "FAILED" in capsys.readouterr().err


def test_sizes_are_percent_of_the_full_dumps():
    assert scale.parse_sizes("1, 10,100") == [1.0, 10.0, 100.0]
    assert scale.size_counts(1) == {"films": 10_000, "releases": 180_000, "masters": 24_000, "mb_groups": 35_000}
    assert scale.size_label(1.0) == "1pct" and scale.size_label(0.5) == "0.5pct"
    for bad in ("0", "150", ","):
        with pytest.raises(ValueError):
            scale.parse_sizes(bad)


def test_an_unfinished_or_missing_input_is_never_overwritten(tmp_path):
    (tmp_path / "in_1pct").mkdir()  # a generator still writing: no generation.json yet
    with pytest.raises(SystemExit, match="has no generation.json"):
        scale.ensure_size_input(1, tmp_path, generate=True)
    (tmp_path / "in_2pct").mkdir()
    (tmp_path / "in_2pct" / "generation.json").write_text("{}")
    assert scale.ensure_size_input(2, tmp_path, generate=True) == tmp_path / "in_2pct"  # finished: used as it is
    with pytest.raises(SystemExit, match="--films 1000000 --releases 18000000"):
        scale.ensure_size_input(100, tmp_path, generate=False)
    assert not (tmp_path / "in_100pct").exists()


def test_a_custom_input_needs_a_label_and_settings_need_key_value():
    with pytest.raises(SystemExit, match="needs --label"):
        scale.main(["--input-dir", "/tmp"])
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        scale.parse_pairs(["SPARK_DRIVER_MEMORY"], "--set")


def test_jobs_are_attributed_by_group_and_untagged_jobs_by_when_they_ran():
    jobs = [{"jobId": 0, "jobGroup": "scale-step-01", "stageIds": [0]},
            {"jobId": 1, "stageIds": [1]},                                   # untagged, during step 02
            {"jobId": 2, "jobGroup": "scale-step-02", "stageIds": [2, 3]},
            {"jobId": 3, "jobGroup": "scale-step-03", "stageIds": [4]}]
    assert scale.step_job_ids(jobs, "scale-step-02", after_job_id=0, upto_job_id=2) == [1, 2]
    stages = [{"stageId": 1, "attemptId": 0, "status": "COMPLETE", "shuffleWriteBytes": 10, "shuffleReadBytes": 0,
               "peakExecutorMetrics": {"JVMHeapMemory": 500}},
              {"stageId": 2, "attemptId": 0, "status": "FAILED", "shuffleWriteBytes": 5, "shuffleReadBytes": 3},
              {"stageId": 2, "attemptId": 1, "status": "COMPLETE", "shuffleWriteBytes": 5, "shuffleReadBytes": 3,
               "peakExecutorMetrics": {"JVMHeapMemory": 700}},
              {"stageId": 3, "attemptId": 0, "status": "SKIPPED", "shuffleWriteBytes": 0},
              {"stageId": 4, "attemptId": 0, "status": "COMPLETE", "shuffleWriteBytes": 99}]
    figures = scale.aggregate_stages(jobs, stages, [1, 2])
    assert figures["jobs"] == 2 and figures["stages"] == 2 and figures["stages_skipped"] == 1
    assert figures["shuffle_write_bytes"] == 20 and figures["shuffle_read_bytes"] == 6  # every attempt did the work
    assert figures["jvm_heap_peak_bytes"] == 700


@pytest.mark.integration
def test_process_tree_finds_descendants_and_splits_driver_from_workers():
    child = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                              "subprocess.run([sys.executable, '-c', 'import time; time.sleep(30)'])"])
    try:
        deadline = time.monotonic() + 10
        tree = scale.process_tree(child.pid)
        while len(tree) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            tree = scale.process_tree(child.pid)
        assert len(tree) == 2 and child.pid in tree and all(p["rss_bytes"] > 0 for p in tree.values())
        split = scale.memory_split(child.pid, tree)
        assert split["jvm_rss_bytes"] == 0 and split["python_driver_rss_bytes"] == tree[child.pid]["rss_bytes"]
        assert split["total_rss_bytes"] == sum(p["rss_bytes"] for p in tree.values())
        assert 0 < split["total_pss_bytes"] <= split["total_rss_bytes"]
        assert child.pid not in scale.process_tree(1 << 30)  # no such root: an empty tree
    finally:
        for pid in scale.process_tree(child.pid):
            if pid != child.pid:
                os.kill(pid, signal.SIGKILL)  # the sleeping grandchild, by its pid
        child.kill()
        child.wait()


def test_reference_slopes_grow_as_n_and_n_log_n():
    xs, linear, nlogn = scale.reference_lines(1_000, 10.0, 100_000, points=3)
    assert xs == pytest.approx([1_000, 10_000, 100_000])
    assert linear == pytest.approx([10.0, 100.0, 1_000.0])
    assert nlogn[2] == pytest.approx(1_000.0 * 5 / 3)  # log(1e5) / log(1e3)


def test_byte_and_count_formats_read_at_a_glance():
    assert [scale.human_bytes(n) for n in (512, 2048, 5 * 1024 ** 3, None)] == ["512 B", "2.0 KiB", "5.0 GiB", "-"]
    counts = (999, 4980, 249_000, 24_900_000, None)
    assert [scale.human_count(n) for n in counts] == ["999", "5.0k", "249k", "24.9M", "-"]


def test_quality_shares_carry_their_wilson_interval():
    assert scale._share_with_interval(90, 100) == "0.900 (90/100; 95% 0.826-0.945)"
    assert scale._share_with_interval(0, 0) == "-"
    lines = scale.quality_table([{"label": "x", "quality": {"sources": {
        "musicbrainz": {"tp": 90, "judged": 100, "positives": 120}}}}])
    assert lines[-1].startswith("| x | 0.900 (90/100; 95% 0.826-0.945) | 0.750 (90/120;") and lines[-1].endswith("| - | - |")


def test_missed_planted_positives_get_their_own_table_when_the_evaluation_has_them():
    missed = {"musicbrainz": {"other_film": 3, "review_exact_tie": 12, "review": 5, "no_link": 10,
                              "recall_without_exact_ties": 0.9167}}
    lines = scale.quality_table([{"label": "x", "quality": {"sources": {
        "musicbrainz": {"tp": 90, "judged": 100, "positives": 120}}, "missed": missed}}])
    assert lines[-1] == "| x | musicbrainz | 3 | 12 | 5 | 10 | 0.917 |"


def test_rank_share_calibration_gets_a_column_per_share_bin_with_a_dash_where_a_size_has_none():
    small = {"musicbrainz": [{"low": 0.99, "high": 1.0, "n": 230, "first_right": 1.0, "mean_share": 1.0}]}
    large = {"musicbrainz": [{"low": 0.75, "high": 0.9, "n": 278, "first_right": 0.881, "mean_share": 0.833},
                             {"low": 0.99, "high": 1.0, "n": 20613, "first_right": 0.999, "mean_share": 0.999}]}
    lines = scale.quality_table([{"label": size, "quality": {"sources": {
        "musicbrainz": {"tp": 1, "judged": 1, "positives": 1}}, "rank_share_calibration": cal}}
        for size, cal in (("1pct", small), ("100pct", large))])
    assert lines[-4:-2] == ["| size | source | 0.75-0.9 | 0.99-1 |", "|---|---|---|---|"]
    assert lines[-2] == "| 1pct | musicbrainz | - | 1.000 / 1.000 (230) |"
    assert lines[-1] == "| 100pct | musicbrainz | 0.881 / 0.833 (278) | 0.999 / 0.999 (20,613) |"


def _record(steps: dict, requested: list[str], **extra) -> dict:
    return {"label": "100pct", "lake_root": "/l", "run_id": "scale-100pct", "steps_requested": requested,
            "records_in": {"total": 100}, "percent": None,
            "steps": {n: {"status": st, "seconds": sec} for n, (st, sec) in steps.items()},
            "started_at": extra.get("started_at", "t0"), "load_average_before": [1.0, 1.0, 1.0],
            "load_average_after": [2.0, 2.0, 2.0], "code": {"commit": extra.get("commit", "a" * 40)},
            "status": "failed" if any(st != "succeeded" for st, _ in steps.values()) else "succeeded",
            "seconds": {"process_wall": 10.0}, "candidate_pairs": extra.get("pairs", {"valid": None}),
            "shuffle": {"shuffle_read_bytes": 5, "shuffle_write_bytes": 5},
            "memory": {"peak_driver_rss_bytes": extra.get("peak", 1), "jvm": {"heap_peak_bytes": extra.get("peak", 1)}},
            "cpu_seconds": {"run": 4.0, **{n: 1.0 for n in steps}}, "quality": extra.get("quality")}


def test_a_run_resumed_at_the_failed_step_continues_the_earlier_record():
    earlier = _record({"01": ("succeeded", 70.0), "02": ("succeeded", 900.0), "03": ("failed", 0.1)},
                      ["01", "02", "03"], pairs={"valid": 7}, peak=4)
    later = _record({"03": ("succeeded", 300.0)}, ["03"], started_at="t1", commit="b" * 40, peak=3,
                    quality={"sources": {}})
    merged = scale.resumed(earlier, later)
    assert merged["steps_requested"] == ["01", "02", "03"] and merged["status"] == "succeeded"
    assert merged["seconds"]["steps_total"] == 1270.0 and merged["seconds"]["process_wall"] == 20.0
    assert merged["memory"]["peak_driver_rss_bytes"] == 4 and merged["memory"]["jvm"]["heap_peak_bytes"] == 4
    assert merged["shuffle"]["shuffle_read_bytes"] == 10 and merged["candidate_pairs"]["valid"] == 7
    assert merged["started_at"] == "t0" and merged["quality"] == {"sources": {}}
    assert [seg["steps_requested"] for seg in merged["segments"]] == [["01", "02", "03"], ["03"]]
    doc = scale.merge_results({"runs": {"100pct": earlier}}, [later], {"cores": 2})
    assert doc["runs"]["100pct"]["steps"]["03"]["seconds"] == 300.0
    # not a continuation: a run from 01, another lake, or a gap in the steps replaces the record
    assert scale.resumed(earlier, _record({"01": ("succeeded", 1.0)}, ["01"])) is None
    assert scale.resumed(earlier, {**later, "lake_root": "/other"}) is None
    assert scale.resumed(earlier, _record({"04": ("succeeded", 1.0)}, ["04"])) is None
