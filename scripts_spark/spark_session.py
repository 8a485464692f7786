"""The one place that knows whether Spark runs locally or on a cluster."""
from __future__ import annotations

import os
import sys

from .config import Settings
from .lake import abfss_spark_conf, parse_abfss
from .log import get_logger
from .sources.inputs import describe_inputs

# A short run is one whose compiles never pay back. C2 (the JVM's optimising JIT) and Janino (Spark's compiler of
# generated code for every new projection and stage) cost seconds of CPU up front and save time per row: steps 01-06
# through the CLI on the bundled sample (5 MiB) took 75.8/74.7/71.8 s with them and 62.1/60.8/60.0 s without (Gold
# equal), on the 1% scale input (106 MiB) 80.0/81.0 against 73.7/80.5 s, and on the 10% input (1.1 GB) expression
# codegen paid: 251 s with it, 288 s without (docs/operations.md#spark-profile). The threshold sits between the
# largest size measured to gain and the smallest measured to lose.
SHORT_RUN_INPUT_BYTES = 128 * 2**20
# 240 MiB of code cache is the tiered default, which a JIT stopped at C1 does not reserve (a run ran out of it once).
SHORT_RUN_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
SHORT_RUN_SQL = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


def spark_profile(settings: Settings) -> tuple[str, str]:
    """'short' or 'long' for a local run's JVM and SQL compiles, and why (dryrun prints it, the run logs it)."""
    if settings.spark_profile != "auto":
        return settings.spark_profile, f"SPARK_PROFILE={settings.spark_profile}"
    if not settings.spark_master.startswith("local"):
        return "long", f"master {settings.spark_master}"
    api = [name for name, mode in (("TMDB", settings.tmdb_mode), ("Discogs", settings.discogs_mode),
                                   ("MusicBrainz", settings.musicbrainz_mode)) if mode == "api"]
    if api:   # an API walk's size is not known up front (a first TMDB walk is a million films)
        return "long", f"{', '.join(api)} in API mode"
    size = sum(source["bytes"] for source in describe_inputs(settings.input_dir).values())
    if size < SHORT_RUN_INPUT_BYTES:
        return "short", f"input {size / 2**20:.1f} MiB, under {SHORT_RUN_INPUT_BYTES // 2**20} MiB"
    return "long", f"input {size / 2**20:.0f} MiB, at least {SHORT_RUN_INPUT_BYTES // 2**20} MiB"


def spark_conf(settings: Settings, profile: str = "long") -> dict[str, str]:
    """Spark settings for this run: sized for the machine, quiet, adaptive, lake credentials when remote; `profile`
    from `spark_profile`."""
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
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=ERROR"
                                         + (" " + SHORT_RUN_JAVA_OPTIONS if profile == "short" else ""),
        # PySpark's DataFrame debugging (on by default) wraps every Column call: it looks up the active session, reads
        # a conf and records the Python call site over py4j, and walks the Python stack. Building the matcher's plans
        # makes thousands of such calls: steps 01-06 on a 40-film input took 52.3 s with it and 38.0 s without
        # (tests/incremental_world.tiny_world in a warm JVM; docs/operations.md#tests). The cost is only a Python
        # file:line in some SQL error messages.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
    }
    if profile == "short":
        conf.update(SHORT_RUN_SQL)
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
    profile, why = spark_profile(settings)
    for key, value in {**spark_conf(settings, profile), **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    get_logger().info("spark_session", profile=profile, reason=why, master=settings.spark_master)
    return spark
