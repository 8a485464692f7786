"""The one place that knows whether Spark runs locally or on a cluster."""
from __future__ import annotations

import os
import sys

from .config import Settings
from .lake import abfss_spark_conf, parse_abfss


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark settings for this run: sized for the machine, quiet, adaptive, lake credentials when remote."""
    cores = os.cpu_count() or 2
    partitions = settings.spark_shuffle_partitions or max(4, 2 * cores)
    conf = {
        "spark.app.name": "soundtrack-lake",
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.sql.adaptive.skewJoin.enabled": "true",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Bigger Arrow batches amortise the Python worker hand-off: 0.28 -> 0.72 of bare cpdist (bench/match_throughput.py).
        "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.ui.enabled": str(settings.spark_ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        # Python workers must use this interpreter (the venv), not whatever python3 is first on PATH:
        # under cron the venv is not activated and mapInPandas would fail on a missing pyarrow.
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=ERROR",
        # PySpark's DataFrame debugging (on by default) wraps every Column call: it looks up the active session, reads
        # a conf and records the Python call site over py4j, and walks the Python stack. Building the matcher's plans
        # makes thousands of such calls: steps 01-06 on a 40-film input took 52.3 s with it and 38.0 s without
        # (tests/incremental_world.tiny_world in a warm JVM; docs/operations.md#tests). The cost is only a Python
        # file:line in some SQL error messages.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
    }
    if os.path.exists(settings.jdbc_jar):
        conf["spark.jars"] = settings.jdbc_jar
    if settings.lake_root.startswith("abfss://"):
        account = parse_abfss(settings.lake_root).account
        conf.update(abfss_spark_conf(account, account_key=settings.azure_storage_key.reveal(),
                                     client_id=settings.azure_client_id,
                                     client_secret=settings.azure_client_secret.reveal(),
                                     tenant_id=settings.azure_tenant_id))
    return conf


def get_spark(settings: Settings, extra_conf: dict[str, str] | None = None):
    """Return the active session (Databricks, tests) or build one from the settings."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder
    if settings.spark_master != "cluster":
        builder = builder.master(settings.spark_master)
    for key, value in {**spark_conf(settings), **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
