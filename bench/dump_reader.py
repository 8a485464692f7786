"""Throughput and memory of the Discogs dump reader, on the sample and on dumps of growing size.

    python bench/dump_reader.py [--sizes 1,10,50] [--kind releases] [--driver-memory 1g] [--workdir /tmp/bench]

Builds `releases` dumps by repeating the real excerpt (data/sample/discogs/*releases.sample1000.xml.gz: 1,000
real records) 1x, 10x, 50x, then, for each size in a fresh process (so that one size's peak cannot hide
another's), reads it the way step 02 does (`discogs.read_dump_records`: the file split into records in a Python
worker, only soundtrack-marked records decoded; `from_xml` with the declared schema, soundtrack filter, a count per
status), and, as the reference, Spark's text source split on `<release ` (`read_dump_chunks` + `dump_records`,
every record parsed). Reported per size and reader:
records/s (Spark session start and one warm-up pass excluded), the JVM's peak heap after the run (old generation = what
survived collections, i.e. what the reader retains), the process tree's peak RSS (JVM + Python, sampled
every 50 ms), and the plain-Python streaming reader (used by the dry run) with its own peak RSS. A
constant-memory reader shows flat peaks while the file grows 50-fold.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SAMPLE = {kind: REPO / "data" / "sample" / "discogs" / f"discogs_20200806_{kind}.sample1000.xml.gz"
          for kind in ("releases", "masters")}
RSS_SAMPLE_S = 0.05


def build_dump(kind: str, times: int, workdir: Path) -> Path:
    """The excerpt's records repeated `times` times under one root element (ids repeat; the reader does not care)."""
    from scripts_spark.sources.discogs import DUMP_KINDS, iter_dump_records, open_dump

    element = DUMP_KINDS[kind]
    target = workdir / f"discogs_bench_{kind}.x{times}.xml.gz"
    if target.exists():
        return target
    with open_dump(str(SAMPLE[kind])) as fh:
        records = list(iter_dump_records(fh, element))
    tmp = target.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<{kind}>\n')
        for _ in range(times):
            for record in records:
                out.write(record + "\n")
        out.write(f"</{kind}>\n")
    tmp.rename(target)
    return target


def _tree_rss_kb(pid: int) -> int:
    """RSS of a process and all its descendants (the Spark JVM is a child of the Python driver)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def measure_spark(path: str, kind: str, driver_memory: str, reader: str = "step02") -> dict:
    """One size in this process: Spark read + parse + classify + count, with memory figures. `reader`: step02
    (Python record splitter, step 02's) or text (Spark's text source with the tag as record separator)."""
    from pyspark.sql import SparkSession

    from scripts_spark.sources import discogs
    from scripts_spark.sources.bronze import status_counts

    peak = {"rss_kb": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak["rss_kb"] = max(peak["rss_kb"], _tree_rss_kb(os.getpid()))
            time.sleep(RSS_SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # step 02's reader runs in Python workers: they must start this interpreter (the venv's), not python3 from PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master("local[2]").appName("dump-reader-bench")
             .config("spark.driver.memory", driver_memory).config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    element = discogs.DUMP_KINDS[kind]
    parse = discogs.parse_dump_releases if kind == "releases" else discogs.parse_dump_masters

    def run(paths):
        if reader == "step02":
            records = discogs.read_dump_records(spark, paths, element, keep_unmarked=False)
        else:
            records = discogs.dump_records(discogs.read_dump_chunks(spark, paths, element), element)
        return status_counts(parse(records, True))

    # One pass over the 1,000-record excerpt first: JIT and code generation are paid once per session (tens of
    # seconds on a busy machine) and would otherwise be billed to the smallest file.
    t0 = time.perf_counter()
    run([str(SAMPLE[kind])])
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    counts = run([path])
    seconds = time.perf_counter() - t0
    jvm = spark._jvm
    heap_peak = old_peak = 0
    for pool in jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans():
        if str(pool.getType()) == "Heap memory":
            used = pool.getPeakUsage().getUsed()
            heap_peak += used
            if "Old" in pool.getName() or "Tenured" in pool.getName():
                old_peak = max(old_peak, used)
    spark.stop()
    stop.set()
    sampler.join()
    records = sum(counts.values())
    return {"records": records, "counts": counts, "seconds": round(seconds, 2), "warmup_s": round(warmup, 1),
            "records_per_s": round(records / seconds), "jvm_heap_peak_mb": round(heap_peak / 2**20),
            "jvm_old_gen_peak_mb": round(old_peak / 2**20), "tree_rss_peak_mb": round(peak["rss_kb"] / 1024)}


def measure_python(path: str, kind: str) -> dict:
    from scripts_spark.sources import discogs

    element = discogs.DUMP_KINDS[kind]
    parse = discogs.parse_release_xml if kind == "releases" else discogs.parse_master_xml
    t0 = time.perf_counter()
    n = kept = 0
    with discogs.open_dump(path) as fh:
        for fragment in discogs.iter_dump_records(fh, element):
            record = parse(fragment)
            n += 1
            kept += discogs.is_soundtrack(record["genres"], record["styles"])
    seconds = time.perf_counter() - t0
    return {"records": n, "kept": kept, "records_per_s": round(n / seconds),
            "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,50", help="repetitions of the excerpt (default 1,10,50)")
    parser.add_argument("--kind", default="releases", choices=("releases", "masters"))
    parser.add_argument("--driver-memory", default="1g", help="Spark driver heap (default 1g)")
    parser.add_argument("--workdir", default="/tmp/dump_reader_bench", help="where the grown dumps are written")
    parser.add_argument("--one", nargs=3, metavar=("ENGINE", "PATH", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # child process: measure one file with one engine, print JSON
        engine, path, kind = args.one
        result = (measure_python(path, kind) if engine == "python"
                  else measure_spark(path, kind, args.driver_memory, "step02" if engine == "spark" else "text"))
        print(json.dumps(result))
        return 0

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for times in (int(x) for x in args.sizes.split(",")):
        path = build_dump(args.kind, times, workdir)
        uncompressed = sum(len(chunk) for chunk in iter(lambda f=gzip.open(path, "rb"): f.read(1 << 20), b""))
        result = {"times": times, "gz_mb": round(path.stat().st_size / 2**20, 1), "xml_mb": round(uncompressed / 2**20, 1)}
        for engine in ("spark", "spark_text", "python"):
            out = subprocess.run([sys.executable, __file__, "--driver-memory", args.driver_memory, "--one", engine,
                                  str(path), args.kind], capture_output=True, text=True, check=True)
            result[engine] = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(result)
        print(json.dumps(result), flush=True)
    print(f"\n{args.kind}, local[2], driver heap {args.driver_memory}: step 02 = Python record splitter + from_xml "
          f"of marked records; text = Spark text(lineSep='<release ') + from_xml of every record; ratio = step 02 "
          f"rec/s / text rec/s")
    print(f"{'size':>5} {'xml MB':>7} {'gz MB':>6} {'records':>8} | {'step02 rec/s':>12} {'heap peak':>9} "
          f"{'RSS peak':>9} | {'text rec/s':>10} {'heap peak':>9} {'RSS peak':>9} | {'ratio':>5} | "
          f"{'python rec/s':>12} {'RSS peak':>9}")
    for r in rows:
        s, t, p = r["spark"], r["spark_text"], r["python"]
        print(f"{r['times']:>4}x {r['xml_mb']:>7} {r['gz_mb']:>6} {s['records']:>8} | {s['records_per_s']:>12} "
              f"{s['jvm_heap_peak_mb']:>6} MB {s['tree_rss_peak_mb']:>6} MB | {t['records_per_s']:>10} "
              f"{t['jvm_heap_peak_mb']:>6} MB {t['tree_rss_peak_mb']:>6} MB | {s['records_per_s'] / t['records_per_s']:>5.2f} | "
              f"{p['records_per_s']:>12} {p['rss_peak_mb']:>6} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
