"""Shared fixtures: one session-scoped local SparkSession for the whole suite, and the bundled sample run once.

Markers (pytest.ini): `slow` tests run whole steps or the pipeline (the sample run, steps on inline input, a child
run); `integration` tests start an outside process (PostgreSQL, Azurite, Chromium, sshd, the CLI, make or a shell
script). Unit tests call transforms on tiny inline frames. `make test-fast`
leaves both out; `make test` runs everything. A test that uses `sample_run`, or a fixture that starts a server, is
marked here from the fixtures it uses, so it can never slip into the fast set.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from scripts_spark.config import Settings
    from scripts_spark.lake import Lake

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
LABELS = REPO / "data" / "eval" / "dev_labels.csv"
SAMPLE_RUN_ID = "sample"
SAMPLE_STEPS = "01-06"   # step 07 (the recommender) runs on a MovieLens slice in test_recommend_step.py
sys.path.insert(0, str(REPO))

# Tuned for many small queries on tiny frames, measured as JVM CPU seconds over tests/test_blocking.py (the heaviest
# unit module): 105 s with Spark's defaults; 48 s with whole-stage codegen off (Janino compiles every new plan
# otherwise); 43 s with the serial GC (a 2 GiB heap on 2 cores gains nothing from G1's threads); 39 s with adaptive
# execution off (it re-plans every join after each shuffle, which tiny frames never profit from). The JIT keeps its
# tiers: stopping it at C1 paid while PySpark's DataFrame debugging spent the time in Python, but with that off
# (below) the JVM does the work and C2 pays back within the suite (2026-12-07, one warm JVM: steps 01-06 on
# incremental_world.tiny_world 40.7 and 43.9 s at C1, 29.5 and 26.2 s tiered; `make test-fast` 247 s -> 210 s).
# Expressions are interpreted, not compiled (`spark.sql.codegen.factoryMode=NO_CODEGEN`, the switch Spark's own
# suites use to test that path): Janino's compile of every new projection is most of a JVM's first pipeline run, and
# a tiny frame never repays it (one warm JVM, tiered: tiny-world steps 01-06 first run 63.6 -> 47.7 s, later runs
# 29.5/26.2 -> 24.3/21.2 s; `make test-fast` 210 -> 191 s). The product keeps codegen: at catalogue scale it pays.
# -Xss16m: ALS's recursion (test_recommend.py) overflowed the default thread stack under C1. One shuffle partition:
# a tiny frame split in two only doubles the tasks (tests/test_blocking.py, test_release_kind_key.py and
# test_decide.py 54-60 s -> 42-47 s; steps 01-05 on incremental_world.tiny_world about 21 s -> 17.5-18.8 s;
# local[1] instead of local[2] was slower, 20-21 s). The default parallelism stays 2: with one partition
# test_recommend.py's ALS lands in another, poor optimum (RMSE 2.2: its result depends on the partitioning).
TEST_SPARK_CONF = {
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.pyspark.python": sys.executable,
    "spark.driver.memory": "2g",
    "spark.driver.extraJavaOptions": "-Dlog4j2.level=ERROR -XX:+UseSerialGC -Xss16m",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
    # As in the product (spark_session.spark_conf, which says why).
    "spark.python.sql.dataFrameDebugging.enabled": "false",
}
# A child run (a fresh clone's `make run`, the reliability tests' CLI runs) gets the product's own settings: on these
# small inputs the product itself stops the JIT at C1 and interprets expressions (spark_session.spark_profile).
JDBC_JAR = "/usr/share/java/postgresql.jar"

# bench_run: test_scale_bench.py's pipeline run in a child JVM.
SLOW_FIXTURES = {"sample_run", "bench_run"}
INTEGRATION_FIXTURES = {"pg_server", "azurite", "sshd", "bench_run"}   # server processes, a child JVM


# `make test` hands whole files to its two workers in collection order (--dist loadfile --no-loadscope-reorder;
# xdist's own reordering puts files with many tests first, which left the longest files, a few tests each, for
# last). The longest files go first, so that the two workers finish together; the rest keep their order. Seconds of
# one file on one worker, from `make test PYTEST_ARGS=--junitxml=FILE` (2026-12-06, a busy machine: only the order
# matters). The second file does not need the sample run, so the second worker does not wait for it.
LONGEST_FIRST = (
    "test_incremental_equality.py",     # 139 s: the sample run and three more runs of steps 01-06
    "test_incremental_api.py",          # 111 s
    "test_incremental_skip.py",         # 98 s: four runs of steps 01-05 (feeds left unread)
    "test_end_to_end.py",               # 134 s: a fresh clone's `make run` in a child JVM
    "test_incremental_faults.py",       # 85 s
    "test_silver_steps.py",             # 87 s
    "test_recommend_step.py",           # 70 s
    "reliability/test_kill_and_signals.py",   # 68 s
    "test_scale_bench.py",              # 49 s
    "reliability/test_run_manifests.py",      # 48 s
    "reliability/test_bad_input.py",    # 41 s
    "test_sync.py",                     # 41 s
)


def _longest_first(item) -> int:
    path = item.nodeid.split("::", 1)[0].removeprefix("tests/")
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


@pytest.hookimpl(wrapper=True)   # marks set before other plugins' hooks see the items
def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if used & INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)
    items.sort(key=_longest_first)   # stable: tests keep their order within a file
    return (yield)


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    builder = SparkSession.builder.master("local[2]").appName("soundtrack-lake-tests")
    for key, value in TEST_SPARK_CONF.items():
        builder = builder.config(key, value)
    if os.path.exists(JDBC_JAR):
        builder = builder.config("spark.jars", JDBC_JAR)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def make_settings(root: Path, **overrides: Any) -> "Settings":
    """Settings for a test run: lake and logs under `root`, the bundled sample as input, no .env file read."""
    from scripts_spark.config import load_settings

    values = {"lake_root": str(root / "lake"), "input_dir": str(SAMPLE), "log_dir": str(root / "logs"),
              "local_pg_dir": str(root / "local_pg"), **overrides}
    return load_settings(env_file=root / "no.env", environ={}, **values)


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@dataclass(frozen=True)
class SampleRun:
    """The bundled sample through steps 01-06 and the report, in a lake of its own (see `sample_run`)."""
    settings: "Settings"
    lake: "Lake"
    run_id: str
    manifest: dict
    report: Path

    def read(self, spark: "SparkSession", table: str) -> "DataFrame":
        from scripts_spark.tables import schema_of

        return self.lake.read_table(spark, table, self.run_id, schema_of(table)).drop("run_id")

    def step(self, number: str) -> dict:
        return self.manifest["steps"][number]


@pytest.fixture(scope="session")
def sample_run(spark, tmp_path_factory, worker_id) -> SampleRun:
    """The bundled sample run once per session, in this process and its SparkSession: every test about the sample's
    tables, counts, quality, manifest or report reads this one lake. Tests that need a step on other input build a
    few rows inline instead of running the sample again.

    `make test` spreads test files over pytest-xdist workers (--dist loadfile): the first worker to need the sample
    runs it into the session's shared temp folder under a file lock; the others wait and read the same lake."""
    import fcntl
    import json

    from scripts_spark.lake import Lake
    from scripts_spark.pipeline import run_pipeline
    from scripts_spark.report import write_report

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    root = shared / "sample_run"
    root.mkdir(exist_ok=True)
    settings = make_settings(root, labels_path=str(LABELS))
    done = root / "done.json"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            manifest, report = json.loads(done.read_text())
        else:
            manifest = run_pipeline(settings, SAMPLE_RUN_ID, SAMPLE_STEPS, spark=spark)
            report = str(write_report(settings, SAMPLE_RUN_ID))
            done.write_text(json.dumps([manifest, report], default=str))
    return SampleRun(settings, Lake(settings.lake_root), SAMPLE_RUN_ID, manifest, Path(report))


def fresh_clone(target: Path) -> Path:
    """A copy of the repository as `git clone` would give it (tracked and not-ignored files: no lake, no .env, no
    logs), so a test can run `make` targets without writing into the working tree."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / rel)
    return target
