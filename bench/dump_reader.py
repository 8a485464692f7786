"""Step 02's Discogs dump reader against its floor, inflating the gzip: medians of repeated runs.

    .venv/bin/python bench/dump_reader.py [--times 20] [--input FILE.xml.gz] [--repeats 5] [--no-spark]
    flock /tmp/spark.lock .venv/bin/python bench/dump_reader.py ...   # on a shared machine: the Spark part

Input: the real 1,000-release dump excerpt (data/sample/discogs/*releases.sample1000.xml.gz) repeated `--times`
times under one root (ids repeat; the reader does not care), or any dump file (`--input`, for example a part that
bench/generate_scale.py wrote). On it, in this order, each `--repeats` times (the figure is the median):
- inflate: the file read through in 1 MB blocks and discarded, with Python's `gzip` (zlib), with `isal.igzip`
  (ISA-L, pinned in requirements_stable.txt: what `sources.bronze.open_input` uses since 65d5cef) and with
  `zlib_ng.gzip_ng` when installed: the floor of any reader that reads the dump through Python;
- split: step 02's worker function itself (`sources.discogs._records_of_files`: runs of about 1 MB of records cut on
  `<release `, soundtrack markers and closing tags found by scans of the whole run, marked records cut out and
  decoded, the others counted in one row per run, pandas batches) in this process, without Spark;
- step 02: the same reader in Spark as step 02 calls it (`read_dump_records` with the soundtrack filter on, then
  `parse_dump_releases` and a count per status: `from_xml` with the declared schema on the marked records), in a
  fresh local[2] session per file; one pass over the excerpt first pays JIT and code generation.
All on one core except step 02 (one task per file: one core per .gz file, so the file's time is the floor's).
"""
from __future__ import annotations

import argparse
import gzip
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SAMPLE = REPO / "data" / "sample" / "discogs" / "discogs_20200806_releases.sample1000.xml.gz"
BLOCK_BYTES = 1 << 20
# Python gzip-compatible readers: (label, module, opener attribute). A module that is not installed is skipped.
INFLATERS = (("zlib (gzip)", "gzip", "open"), ("isal (igzip)", "isal.igzip", "open"),
             ("zlib-ng (gzip_ng)", "zlib_ng.gzip_ng", "open"))


def build_dump(times: int, workdir: Path) -> Path:
    """The excerpt's records repeated `times` times under one root element."""
    from scripts_spark.sources.discogs import iter_dump_records, open_dump

    target = workdir / f"discogs_bench_releases.x{times}.xml.gz"
    if target.exists():
        return target
    with open_dump(str(SAMPLE)) as fh:
        records = list(iter_dump_records(fh, "release"))
    tmp = target.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<releases>\n')
        for _ in range(times):
            for record in records:
                out.write(record + "\n")
        out.write("</releases>\n")
    tmp.rename(target)
    return target


def inflate_seconds(opener, path: Path) -> tuple[float, int]:
    """(seconds, bytes of XML) to read the whole file through `opener` in 1 MB blocks."""
    start, size = time.perf_counter(), 0
    with opener(str(path), "rb") as fh:
        while block := fh.read(BLOCK_BYTES):
            size += len(block)
    return time.perf_counter() - start, size


def split_seconds(path: Path) -> tuple[float, int, int]:
    """(seconds, records, marked records) of step 02's worker function on the file, without Spark."""
    from scripts_spark.sources.discogs import _records_of_files

    start, records, marked = time.perf_counter(), 0, 0
    for frame in _records_of_files([{"path": [str(path)]}], "release", keep_unmarked=False):
        records += int(frame["_records"].sum())   # a run's unmarked records come as one counting row
        marked += int(frame["_marked"].sum())
    return time.perf_counter() - start, records, marked


def step02_seconds(path: Path, repeats: int, driver_memory: str) -> dict:
    """Step 02's reader in Spark on the file, `repeats` times in one session after a warm-up pass."""
    from pyspark.sql import SparkSession

    from scripts_spark.sources import discogs
    from scripts_spark.sources.bronze import status_counts

    # step 02's reader runs in Python workers: they must start this interpreter (the venv's), not python3 from PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master("local[2]").appName("dump-reader-bench")
             .config("spark.driver.memory", driver_memory).config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")

    def run(p: str) -> dict:
        return status_counts(discogs.parse_dump_releases(
            discogs.read_dump_records(spark, [p], "release", keep_unmarked=False), True))

    try:
        run(str(SAMPLE))
        seconds, counts = [], {}
        for _ in range(repeats):
            start = time.perf_counter()
            counts = run(str(path))
            seconds.append(time.perf_counter() - start)
    finally:
        spark.stop()
    return {"seconds": seconds, "counts": counts}


def median_row(label: str, seconds: list[float], xml_bytes: int, records: int) -> dict:
    s = statistics.median(seconds)
    return {"reader": label, "median_s": round(s, 3), "runs_s": [round(x, 3) for x in seconds],
            "xml_mb_per_s": round(xml_bytes / 2**20 / s, 1), "records_per_s": round(records / s)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--times", type=int, default=20, help="repetitions of the 1,000-release excerpt")
    parser.add_argument("--input", help="a releases dump file to read instead of the grown excerpt")
    parser.add_argument("--repeats", type=int, default=5, help="runs per reader; the median is reported")
    parser.add_argument("--no-spark", action="store_true", help="leave out step 02 in Spark (no JVM started)")
    parser.add_argument("--driver-memory", default="1g")
    parser.add_argument("--workdir", default="/tmp/dump_reader_bench", help="where the grown excerpt is written")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    if args.input:
        path = Path(args.input)
    else:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        path = build_dump(args.times, Path(args.workdir))
    rows, xml_bytes, records = [], 0, 0
    split = [split_seconds(path) for _ in range(args.repeats)]
    records, marked = split[0][1], split[0][2]
    for label, module, attr in INFLATERS:
        try:
            opener = getattr(importlib.import_module(module), attr)
        except ImportError:
            rows.append({"reader": label, "median_s": None, "note": f"{module} not installed"})
            continue
        runs = [inflate_seconds(opener, path) for _ in range(args.repeats)]
        xml_bytes = runs[0][1]
        rows.append(median_row(f"inflate: {label}", [s for s, _ in runs], xml_bytes, records))
    rows.append(median_row("split: step 02's worker, no Spark", [s for s, _, _ in split], xml_bytes, records))
    if not args.no_spark:
        spark = step02_seconds(path, args.repeats, args.driver_memory)
        rows.append(median_row("step 02 in Spark (local[2], one task)", spark["seconds"], xml_bytes, records)
                    | {"counts": spark["counts"]})
    result = {"file": str(path), "gz_mb": round(path.stat().st_size / 2**20, 1), "xml_mb": round(xml_bytes / 2**20, 1),
              "records": records, "marked": marked, "repeats": args.repeats, "load_avg_1m_start": os.getloadavg()[0],
              "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{path.name}: {result['gz_mb']} MB gzip, {result['xml_mb']} MB XML, {records:,} records "
          f"({marked:,} soundtrack-marked); median of {args.repeats} runs\n")
    print("| reader | median s | XML MB/s | records/s |")
    print("|---|---|---|---|")
    for r in rows:
        if r.get("median_s") is None:
            print(f"| {r['reader']} | - | - | {r['note']} |")
        else:
            print(f"| {r['reader']} | {r['median_s']:.2f} | {r['xml_mb_per_s']:,} | {r['records_per_s']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
