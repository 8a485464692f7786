"""Step 05's string similarities on a run's real candidate pairs, outside Spark: seconds and pairs per second.

    flock /tmp/spark.lock .venv/bin/python bench/pair_similarities.py --lake-root LAKE --run-id RUN \
        --frame /tmp/pairs.parquet [--repeats 3] [--batch 100000]

Needs a lake where steps 01-04 of RUN ran. The first call builds the pairs' sides as step 05 hands them to
`similarity_batch` (`pair_sides` of the run's Silver, the similarity inputs only) in Spark and keeps them in
`--frame`; later calls read that file and start no Spark, so two versions of `scripts_spark` (a worktree of another
commit on PYTHONPATH) time the very same rows. Each repeat calls `similarity_batch` on every Arrow-sized slice
(`--batch`, step 05's `spark.sql.execution.arrow.maxRecordsPerBatch`) in this one process, one core; the figure is
the median. It also prints how repetitive the pairs are (distinct values per column in one slice), which is what
the similarities' per-distinct-value folding (transforms/features.py `_per_distinct`) trades on.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))   # appended: a PYTHONPATH worktree of another commit comes first


def build_frame(lake_root: str, run_id: str, out: Path) -> None:
    from scripts_spark.config import load_settings
    from scripts_spark.lake import Lake
    from scripts_spark.spark_session import get_spark
    from scripts_spark.tables import schema_of
    from scripts_spark.transforms.blocking import PAIR_KEY
    from scripts_spark.transforms.features import SIMILARITY_INPUTS, pair_sides

    settings = load_settings(lake_root=lake_root)
    spark = get_spark(settings)
    lake = Lake(settings.lake_root)
    films, releases, pairs = (lake.read_table(spark, name, run_id, schema_of(name)).drop("run_id")
                              for name in ("silver/films", "silver/releases", "silver/candidate_pairs"))
    sides = pair_sides(pairs, films, releases).select(*PAIR_KEY, *SIMILARITY_INPUTS)
    sides.write.mode("overwrite").parquet(str(out))
    spark.stop()


def time_batches(frame: pd.DataFrame, batch: int, repeats: int) -> list[float]:
    from scripts_spark.transforms.features import similarity_batch

    slices = [frame.iloc[i:i + batch] for i in range(0, len(frame), batch)]
    similarity_batch(slices[0].head(1000))   # imports and pykakasi's dictionary load, once, outside the timing
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        for part in slices:
            similarity_batch(part)
        seconds.append(time.perf_counter() - started)
    return seconds


def distinct_shares(part: pd.DataFrame) -> dict[str, float]:
    from scripts_spark.transforms.features import SIMILARITY_INPUTS

    shares = {}
    for col in SIMILARITY_INPUTS:
        values = part[col].map(lambda v: tuple(v) if v is not None and not isinstance(v, str) else v)
        shares[col] = round(values.nunique(dropna=True) / max(len(part), 1), 3)
    return shares


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake-root", help="lake of the run (needed when --frame does not exist yet)")
    parser.add_argument("--run-id", help="run whose steps 01-04 are in the lake")
    parser.add_argument("--frame", required=True, help="parquet of the pairs' sides: written once, then read")
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    frame_path = Path(args.frame)
    if not frame_path.exists():
        if not (args.lake_root and args.run_id):
            parser.error(f"{frame_path} does not exist: give --lake-root and --run-id to build it")
        build_frame(args.lake_root, args.run_id, frame_path)
    frame = pd.read_parquet(frame_path)
    import scripts_spark

    seconds = time_batches(frame, args.batch, args.repeats)
    median = statistics.median(seconds)
    print(json.dumps({
        "code": str(Path(scripts_spark.__file__).resolve().parent.parent),
        "pairs": len(frame), "batch": args.batch, "repeats": args.repeats,
        "seconds": [round(s, 2) for s in seconds], "median_s": round(median, 2),
        "pairs_per_s": round(len(frame) / median), "load_avg_1m": round(os.getloadavg()[0], 2),
        "distinct_per_row_in_first_batch": distinct_shares(frame.iloc[:args.batch]),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
