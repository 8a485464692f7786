"""Progress on the console: one human line per step start and end on a terminal, JSON lines otherwise (the log
file is always JSON), and a byte-level monitor of the input files a step reads. No Spark here."""
from __future__ import annotations

import io
import json
import logging
import os
import time

from scripts_spark.log import configure_logging, get_logger
from scripts_spark.progress import InputReadMonitor, _open_offsets, step_input_files


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def play_run(log_file=None, console=None, human=None) -> None:
    configure_logging("INFO", log_file, console=console, human=human)
    log = get_logger("r1")
    log.info("run_started", steps=["01", "05"], step_names={"01": "extract_tmdb", "05": "match_enrich"},
             input_dir="/nowhere", lake_root="/tmp/lake")
    step = log.bind(step="01")
    step.info("step_started", name="extract_tmdb", inputs=[], outputs=[])
    step.info("rows_read", rows=3)
    step.info("step_finished", status="succeeded", seconds=1.25, rows_in=6193, rows_out=6190, quarantined=0,
              rejected=3, filtered=0)
    step = log.bind(step="05")
    step.info("step_started", name="match_enrich", inputs=[], outputs=[])
    step.warning("slow_partition", partition=3)
    step.error("step_failed", error="Traceback (most recent call last):\n  x\nValueError: bad score", seconds=2.0)
    log.error("run_failed", failed_step="05_match_enrich", cause="ValueError: bad score")


def test_a_terminal_gets_one_readable_line_per_step_start_and_end_with_what_is_next(tmp_path):
    screen = Terminal()
    play_run(str(tmp_path / "run.log"), console=screen)
    logging.getLogger("soundtrack_lake").handlers[-1].flush()
    lines = screen.getvalue().splitlines()
    assert lines[0].startswith("run r1: steps 01-05")
    assert lines[1] == "[1/2] step 01 extract_tmdb started"
    assert lines[2] == ("[1/2] step 01 extract_tmdb done in 1.2 s: 6,193 rows in, 6,190 out, rejected 3 · next: "
                        "05 match_enrich")
    assert lines[3] == "[2/2] step 05 match_enrich started"
    assert lines[4].startswith("  warning: step 05 slow_partition (partition=3")
    assert lines[5] == "[2/2] step 05 match_enrich FAILED after 2.0 s: ValueError: bad score"
    assert lines[6] == "run r1 failed in step 05_match_enrich: ValueError: bad score"
    assert len(lines) == 7, "events that are not progress (rows_read) stay in the log file"
    events = [json.loads(line) for line in (tmp_path / "run.log").read_text().splitlines()]
    assert [e["event"] for e in events][:3] == ["run_started", "step_started", "rows_read"]
    finished = next(e for e in events if e["event"] == "step_finished")
    assert finished["position"] == "1/2" and finished["next"] == "05 match_enrich"
    configure_logging("INFO")


def test_without_a_terminal_the_console_gets_the_same_events_as_json_lines():
    pipe = io.StringIO()
    play_run(console=pipe)
    events = [json.loads(line) for line in pipe.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["run_started", "step_started", "rows_read", "step_finished",
                                            "step_started", "slow_partition", "step_failed", "run_failed"]
    assert events[3]["position"] == "1/2" and events[3]["rows_out"] == 6190
    configure_logging("INFO")


def test_the_input_monitor_measures_bytes_read_from_the_open_file_offsets(tmp_path):
    data = tmp_path / "dump.xml.gz"
    data.write_bytes(b"x" * 10_000)
    other = tmp_path / "other.gz"
    other.write_bytes(b"y" * 5_000)
    monitor = InputReadMonitor([str(data), str(other)], "reading", poll_s=0.05)
    fd = os.open(data, os.O_RDONLY)
    try:
        os.read(fd, 4_000)
        assert _open_offsets({str(data)}) == {str(data): 4_000}, "this process holds the file open at byte 4,000"
        assert monitor.done_bytes() == 4_000
    finally:
        os.close(fd)
    assert monitor.done_bytes() == 10_000, "a file seen open and then closed was read to its end"
    figures = monitor.figures(15_000, 3.0)
    assert figures["bytes_total"] == 15_000 and figures["eta_s"] == 0.0


def test_the_monitor_logs_json_progress_when_nobody_watches_a_bar(tmp_path, monkeypatch):
    import scripts_spark.progress as progress

    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    data = tmp_path / "dump.gz"
    data.write_bytes(b"z" * 1_000)
    seen = []

    class Log:
        def info(self, event, **fields):
            seen.append((event, fields))
    monitor = InputReadMonitor([str(data)], "reading", log=Log(), stream=io.StringIO(), poll_s=0.02,
                               offsets=lambda paths: {str(data): 500}).start()
    time.sleep(0.2)
    monitor.stop()
    assert seen and seen[0][0] == "input_progress" and seen[0][1]["bytes_read"] == 500


def test_a_steps_declared_inputs_resolve_to_its_files(tmp_path):
    (tmp_path / "discogs").mkdir()
    (tmp_path / "discogs" / "a.xml.gz").write_bytes(b"")
    (tmp_path / "discogs" / "b.txt").write_bytes(b"")
    assert step_input_files(["input:discogs/*.xml.gz", "bronze/x", "api:discogs"], str(tmp_path)) == [
        str(tmp_path / "discogs" / "a.xml.gz")]
