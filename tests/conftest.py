"""Shared fixtures: one session-scoped local SparkSession (2 shuffle partitions, no UI) for the whole suite."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
LABELS = REPO / "data" / "eval" / "dev_labels.csv"
sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    jars = "/usr/share/java/postgresql.jar"
    builder = (SparkSession.builder.master("local[2]").appName("soundtrack-lake-tests")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.default.parallelism", "2")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
               .config("spark.pyspark.python", sys.executable)
               .config("spark.driver.memory", "2g"))
    if os.path.exists(jars):
        builder = builder.config("spark.jars", jars)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path):
    """Settings for a test run: lake in a temp folder, the bundled sample as input, no .env file read."""
    from scripts_spark.config import load_settings

    return load_settings(env_file=tmp_path / "no.env", environ={}, lake_root=str(tmp_path / "lake"),
                         input_dir=str(SAMPLE), log_dir=str(tmp_path / "logs"))
