"""Where a pipeline run's Spark time goes: run it with Spark's event log on, then list its SQL executions.

    flock /tmp/spark.lock .venv/bin/python bench/spark_events.py run --lake-root LAKE --input-dir DIR --run-id R \
        [--steps 01-06] [--events /tmp/spark-events]
    .venv/bin/python bench/spark_events.py show EVENT_LOG [--min-seconds 0.5]

`run` is `run_pipeline` in this process with `spark.eventLog.enabled` (uncompressed, into `--events`), the lake's
settings otherwise as `python -m scripts_spark run` resolves them (incremental when the lake has a state); it prints
each step's seconds and the event log's path. `show` lists every SQL execution of an event log in order: its start
(seconds since the first), its duration, what Spark calls it (`parquet` = a write) and the table it writes (else the
first file path in its plan: a table it reads), then the executions' total against the run's span. The gaps between executions
are driver time: Python, plan building and analysis over py4j, file commits. Used for docs/incremental.md's profile
of an incremental night.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FIRST_PATH = re.compile(r"(file:[^,\s\]]+|abfss://[^,\s\]]+)")
# A write's target: the first path of a write plan is usually a table it reads (a features write first names the pairs).
WRITE_TARGET = re.compile(r"InsertIntoHadoopFsRelationCommand\nInput: \[[^\]]*\]\nArguments: (file:[^,\s]+|abfss://[^,\s]+)")


def run(args: argparse.Namespace) -> int:
    from scripts_spark.config import load_settings
    from scripts_spark.pipeline import run_pipeline
    from scripts_spark.spark_session import get_spark

    events = Path(args.events).resolve()
    events.mkdir(parents=True, exist_ok=True)
    settings = load_settings(lake_root=args.lake_root, input_dir=args.input_dir)
    spark = get_spark(settings, {"spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri(),
                                 "spark.eventLog.compress": "false"})
    started = time.perf_counter()
    manifest = run_pipeline(settings, args.run_id, args.steps, spark=spark)
    print(f"{args.run_id}: {manifest['status']}, mode {manifest.get('incremental', {}).get('mode')}, "
          f"{time.perf_counter() - started:.1f} s; steps: "
          + ", ".join(f"{n} {r['seconds']}" for n, r in sorted(manifest["steps"].items())))
    app = spark.sparkContext.applicationId
    logs = sorted(events.glob(f"*{app}*/events_*")) or sorted(events.glob(f"*{app}*"))
    print("event log:", logs[0] if logs else f"{events} (application {app})")
    return 0 if manifest["status"] == "succeeded" else 1


def executions(path: Path) -> list[dict]:
    """The SQL executions of an event log: start and end (ms), description, the first file path of the plan."""
    found: dict[int, dict] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            event = json.loads(line)
            kind = event.get("Event", "")
            if kind.endswith("SparkListenerSQLExecutionStart"):
                plan = event.get("physicalPlanDescription", "")
                match = WRITE_TARGET.search(plan) or FIRST_PATH.search(plan)
                found[event["executionId"]] = {"start": event["time"], "end": None,
                                               "what": event.get("description", "").split(" at ")[0],
                                               "path": match.group(1) if match else ""}
            elif kind.endswith("SparkListenerSQLExecutionEnd") and event["executionId"] in found:
                found[event["executionId"]]["end"] = event["time"]
    return [found[k] for k in sorted(found)]


def show(args: argparse.Namespace) -> int:
    rows = executions(Path(args.event_log))
    if not rows:
        print("no SQL executions in", args.event_log)
        return 1
    first = min(r["start"] for r in rows)
    last = max(r["end"] or r["start"] for r in rows)
    busy = 0.0
    for r in rows:
        seconds = ((r["end"] or r["start"]) - r["start"]) / 1000
        busy += seconds
        if seconds >= args.min_seconds:
            print(f"{(r['start'] - first) / 1000:8.1f} {seconds:7.2f}  {r['what']:10s} {r['path'][-args.width:]}")
    span = (last - first) / 1000
    print(f"{len(rows)} executions: {busy:.1f} s of {span:.1f} s from the first to the last "
          f"({span - busy:.1f} s between them: driver time)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the pipeline with the event log on")
    p_run.add_argument("--lake-root", required=True)
    p_run.add_argument("--input-dir", required=True)
    p_run.add_argument("--run-id", required=True)
    p_run.add_argument("--steps", default="01-06")
    p_run.add_argument("--events", default="/tmp/spark-events", help="folder of the event logs")
    p_show = sub.add_parser("show", help="list an event log's SQL executions")
    p_show.add_argument("event_log")
    p_show.add_argument("--min-seconds", type=float, default=0.5, help="list executions at least this long")
    p_show.add_argument("--width", type=int, default=90, help="characters of the path shown (its end)")
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else show(args)


if __name__ == "__main__":
    sys.exit(main())
