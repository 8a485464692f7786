"""bench/spark_events.py: an event log's SQL executions, in order, with their durations and paths (no Spark)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import spark_events  # noqa: E402

START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
END = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"


def _log(tmp_path: Path) -> Path:
    lines = [
        {"Event": "SparkListenerApplicationStart", "Timestamp": 0},
        {"Event": START, "executionId": 0, "time": 1_000, "description": "parquet at NativeMethodAccessorImpl.java:0",
         "physicalPlanDescription": ("Execute InsertIntoHadoopFsRelationCommand (3)\n+- Scan parquet (1)\n\n(1) Scan "
                                     "parquet\nLocation: InMemoryFileIndex [file:/lake/bronze/tmdb_movies]\n\n(3) "
                                     "Execute InsertIntoHadoopFsRelationCommand\nInput: []\nArguments: "
                                     "file:/lake/silver/films, false, Parquet")},
        {"Event": END, "executionId": 0, "time": 3_500},
        {"Event": START, "executionId": 1, "time": 4_000, "description": "count at NativeMethodAccessorImpl.java:0",
         "physicalPlanDescription": "Scan parquet [file:/lake/gold/soundtrack_matches/run_id=r]"},
        {"Event": END, "executionId": 1, "time": 4_200},
    ]
    path = tmp_path / "events_1_local-1"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def test_executions_are_read_in_order_with_the_table_written_else_the_first_path(tmp_path):
    rows = spark_events.executions(_log(tmp_path))
    assert [(r["what"], r["start"], r["end"], r["path"]) for r in rows] == [
        ("parquet", 1_000, 3_500, "file:/lake/silver/films"),
        ("count", 4_000, 4_200, "file:/lake/gold/soundtrack_matches/run_id=r")]


def test_show_lists_the_long_executions_and_the_driver_time_between_them(tmp_path, capsys):
    assert spark_events.main(["show", str(_log(tmp_path)), "--min-seconds", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "parquet" in out[0] and out[0].rstrip().endswith("file:/lake/silver/films")
    assert out[1] == "2 executions: 2.7 s of 3.2 s from the first to the last (0.5 s between them: driver time)"
