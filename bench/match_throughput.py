"""Throughput of the matcher's string similarities inside Spark vs bare rapidfuzz, and step 05 end to end.

    .venv/bin/python bench/match_throughput.py --lake-root /tmp/match/lake --run-id m1 [--pairs 2000000] [--repeats 5]

Needs a lake where steps 01-04 of `--run-id` ran (the bundled sample is enough). What it measures:
1. Pairs: `--pairs` film x release title pairs built from that run's Silver titles (the sample's 7,353 candidate
   pairs are too few to time a throughput), collected once so Spark and the bare loop score the very same strings.
2. Bare: `rapidfuzz.process.cpdist` over the whole columns in this process (workers=-1: every core; and 1).
3. Spark: the same cpdist inside `mapInPandas` over a cached DataFrame of those pairs (one partition per core),
   forced with a `noop` write, for a few configurations: Arrow batch size (spark.sql.execution.arrow
   .maxRecordsPerBatch) and cpdist threads per worker.
4. The step's own `similarity_batch` (every title and composer similarity of step 05, several cpdist calls per
   batch) inside Spark vs the same function called once on the whole pandas frame.
5. Step 05 end to end on the run (features, decisions, three Gold writes), through the pipeline.
Every figure is the median over `--repeats`; the machine's load average is printed with them, because other
processes on a shared machine move these numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts_spark.config import load_settings  # noqa: E402
from scripts_spark.lake import Lake  # noqa: E402
from scripts_spark.tables import schema_of  # noqa: E402

BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"
SPARK_DEFAULT_BATCH = 10_000


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def title_pairs(spark, lake: Lake, run_id: str, n_pairs: int) -> pd.DataFrame:
    """n film x release pairs of normalised titles (plus the other columns similarity_batch reads)."""
    from pyspark.sql import functions as F

    films = lake.read_table(spark, "silver/films", run_id, schema_of("silver/films"))
    releases = lake.read_table(spark, "silver/releases", run_id, schema_of("silver/releases"))
    film_side = films.select("tmdb_id", F.col("title_norm").alias("film_title_norm"),
                             F.col("original_title_norm").alias("film_original_title_norm"),
                             F.col("composers_norm").alias("film_composers_norm"))
    release_side = releases.select("source", "release_kind", "release_id",
                                   F.col("title_norm").alias("release_title_norm"),
                                   F.col("film_hint_norm").alias("release_film_hint_norm"),
                                   F.col("artists").alias("release_artists"),
                                   F.col("artists_norm").alias("release_artists_norm"),
                                   F.col("credits").alias("release_credits"))
    return film_side.crossJoin(release_side).limit(n_pairs).toPandas()


def bare_cpdist(frame: pd.DataFrame, workers: int) -> None:
    from rapidfuzz import fuzz, process

    process.cpdist(frame["film_title_norm"].tolist(), frame["release_title_norm"].tolist(), scorer=fuzz.ratio,
                   workers=workers, dtype=np.float64)


def spark_cpdist(df, workers: int) -> None:
    from pyspark.sql.types import DoubleType, StructField, StructType

    def score(batches):
        from rapidfuzz import fuzz, process

        for frame in batches:
            yield pd.DataFrame({"score": process.cpdist(frame["film_title_norm"].tolist(),
                                                        frame["release_title_norm"].tolist(), scorer=fuzz.ratio,
                                                        workers=workers, dtype=np.float64)})

    (df.select("film_title_norm", "release_title_norm")
       .mapInPandas(score, StructType([StructField("score", DoubleType())]))
       .write.format("noop").mode("overwrite").save())


def spark_similarity_batch(df) -> None:
    from scripts_spark.transforms.features import add_string_similarities

    add_string_similarities(df).write.format("noop").mode("overwrite").save()


def step05_seconds(settings, run_id: str, repeats: int, spark) -> float:
    from scripts_spark.pipeline import run_pipeline

    return median_seconds(lambda: run_pipeline(settings, run_id, "05", spark=spark), repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--pairs", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--big-batch", type=int, default=100_000, help="Arrow batch size of the tuned runs")
    parser.add_argument("--skip-step", action="store_true", help="do not time step 05 end to end")
    args = parser.parse_args(argv)

    from scripts_spark.spark_session import get_spark
    from scripts_spark.transforms.features import similarity_batch

    settings = load_settings(lake_root=args.lake_root)
    spark = get_spark(settings)
    cores = spark.sparkContext.defaultParallelism
    lake = Lake(settings.lake_root)
    frame = title_pairs(spark, lake, args.run_id, args.pairs)
    n = len(frame)
    df = spark.createDataFrame(frame).repartition(cores).cache()
    df.count()
    rate = lambda seconds: n / seconds  # noqa: E731
    rows: list[tuple[str, float]] = []

    bare_all = median_seconds(lambda: bare_cpdist(frame, -1), args.repeats)
    rows.append(("bare cpdist ratio, workers=-1 (all cores)", rate(bare_all)))
    rows.append(("bare cpdist ratio, workers=1", rate(median_seconds(lambda: bare_cpdist(frame, 1), args.repeats))))
    spark_runs = {}
    for batch, workers in ((SPARK_DEFAULT_BATCH, 1), (SPARK_DEFAULT_BATCH, -1), (args.big_batch, 1),
                           (args.big_batch, -1)):
        spark.conf.set(BATCH_CONF, str(batch))
        spark_cpdist(df, workers)  # warm the Python workers
        seconds = median_seconds(lambda: spark_cpdist(df, workers), args.repeats)
        spark_runs[(batch, workers)] = seconds
        rows.append((f"Spark mapInPandas cpdist ratio, batch {batch}, workers={workers}", rate(seconds)))

    bare_batch = median_seconds(lambda: similarity_batch(frame), args.repeats)
    rows.append(("bare similarity_batch (all step-05 similarities), one process", rate(bare_batch)))
    spark.conf.set(BATCH_CONF, str(args.big_batch))
    spark_similarity_batch(df)
    spark_batch = median_seconds(lambda: spark_similarity_batch(df), args.repeats)
    rows.append((f"Spark similarity_batch, batch {args.big_batch}", rate(spark_batch)))
    spark.conf.set(BATCH_CONF, str(SPARK_DEFAULT_BATCH))

    best_key = min(spark_runs, key=spark_runs.get)
    result = {
        "pairs": n, "cores": cores, "repeats": args.repeats, "load_average": os.getloadavg(),
        "pairs_per_s": {name: round(value) for name, value in rows},
        "ratio_spark_over_bare": {
            "plain (batch 10000, workers=1)": round(bare_all / spark_runs[(SPARK_DEFAULT_BATCH, 1)], 3),
            f"best (batch {best_key[0]}, workers={best_key[1]})": round(bare_all / spark_runs[best_key], 3),
            "similarity_batch in Spark vs in one process": round(bare_batch / spark_batch, 3),
        },
    }
    if not args.skip_step:
        result["step05_seconds_median"] = round(step05_seconds(settings, args.run_id, args.repeats, spark), 2)
    for name, value in rows:
        print(f"{value:>14,.0f} pairs/s  {name}")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
