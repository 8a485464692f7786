"""Structured logging: one JSON object a line (ts, level, run_id, step, event, ...fields).

`get_logger(run_id)` returns a small adapter; `log.info("rows_written", step="03", rows=12)`.
Values that look like credentials are masked before they are written, as a last line of defence
behind `Secret` (a token pasted into a URL or an exception message must not reach a log file).

Where events go (`configure_logging`): the log file, when given, gets every event as JSON. The console gets them
as JSON too when it is not a terminal (cron, CI, a pipe), or as one human line per step start and end (position,
rows in/out, seconds, what is next) and per warning when it is one. Step events carry `position` ("3/7") and
`next` in both. While a step reads input files, `progress.InputReadMonitor` shows a bar with rate and ETA.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import datetime, timezone
from typing import Any

from .progress import InputReadMonitor, is_terminal, set_console_stream, step_input_files

_LOGGER_NAME = "soundtrack_lake"

# key=..., secret=..., token=..., api_key=..., password=... in URLs or messages, and bearer/Discogs auth values.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(\b(?:api_key|key|secret|token|password|sig|access_token)=)([^&\s\"',]+)"),
    re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._\-]+)"),
    re.compile(r"(?i)(\bAccountKey=)([^;\s\"']+)"),
]


def redact(text: str) -> str:
    """Mask credential-looking values inside free text (URLs, exception messages)."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "run_id": getattr(record, "run_id", None),
            "step": getattr(record, "step", None),
            "event": record.getMessage(),
        }
        doc.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(_redact_value(doc), default=str, ensure_ascii=False)


class EventLogger:
    """Thin adapter: `event` is a short snake_case name, everything else goes in as fields."""

    def __init__(self, logger: logging.Logger, run_id: str | None = None, step: str | None = None):
        self._logger = logger
        self.run_id = run_id
        self.step = step

    def bind(self, *, step: str | None = None, run_id: str | None = None) -> "EventLogger":
        return EventLogger(self._logger, run_id or self.run_id, step or self.step)

    def _log(self, level: int, event: str, exc_info: Any = None, **fields: Any) -> None:
        step = fields.pop("step", self.step)
        self._logger.log(level, event, exc_info=exc_info,
                         extra={"run_id": self.run_id, "step": step, "fields": fields})

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, **fields)

    def error(self, event: str, exc_info: Any = None, **fields: Any) -> None:
        self._log(logging.ERROR, event, exc_info=exc_info, **fields)


# --- the console ------------------------------------------------------------------------------------------------
STEP_EVENTS = ("step_started", "step_finished", "step_failed", "step_skipped")
RUN_END_EVENTS = ("run_finished", "run_failed", "run_interrupted")
# Step names as the run announced them (run_started's `step_names`): the log layer never imports the steps.
_step_names: dict[str, str] = {}


def _step_label(number: str) -> str:
    name = _step_names.get(number)
    return f"{number} {name}" if name else str(number)


class RunProgress(logging.Filter):
    """Follows a run through its events: adds `position` and `next` to step events, and watches the input files
    of a step while it runs (progress.InputReadMonitor)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []
        self.input_dir = ""
        self.monitor = None

    def filter(self, record: logging.LogRecord) -> bool:
        event, fields, step = record.getMessage(), getattr(record, "fields", None), getattr(record, "step", None)
        if fields is None:
            return True
        if event == "run_started":
            self.steps, self.input_dir = list(fields.get("steps") or []), fields.get("input_dir") or ""
            _step_names.update(fields.get("step_names") or {})
        elif event in STEP_EVENTS and step in self.steps:
            i = self.steps.index(step)
            fields.setdefault("position", f"{i + 1}/{len(self.steps)}")
            if event != "step_started":
                fields.setdefault("next", _step_label(self.steps[i + 1]) if i + 1 < len(self.steps) else "commit")
            self._stop_monitor()
            if event == "step_started":
                self._start_monitor(getattr(record, "run_id", None), step, fields)
        elif event in RUN_END_EVENTS:
            self._stop_monitor()
        return True

    def _start_monitor(self, run_id: str | None, step: str, fields: dict) -> None:
        files = step_input_files(fields.get("inputs") or [], self.input_dir) if self.input_dir else []
        if files:
            self.monitor = InputReadMonitor(files, f"step {step} reading {len(files)} input file(s)",
                                            log=get_logger(run_id, step)).start()

    def _stop_monitor(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor = None


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _one_line(text: Any, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


class HumanConsole(logging.Handler):
    """One readable line per step start and end, per warning and per error; nothing else (the log file has it)."""

    def __init__(self, stream) -> None:
        super().__init__()
        self.stream = stream
        self.skip_reason: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.render(record)
            if line:
                from tqdm import tqdm

                tqdm.write(redact(line), file=self.stream)   # above any progress bar, not through it
                self.stream.flush()
        except Exception:  # noqa: BLE001 - a console glitch must never stop a run
            self.handleError(record)

    def render(self, record: logging.LogRecord) -> str | None:
        event, f = record.getMessage(), getattr(record, "fields", {}) or {}
        step = getattr(record, "step", None)
        at = f"[{f['position']}] " if f.get("position") else ""
        if event == "run_started":
            steps = f.get("steps") or []
            span = f"{steps[0]}-{steps[-1]}" if len(steps) > 1 else "".join(steps)
            return f"run {record.run_id}: steps {span}, input {f.get('input_dir')}, lake {f.get('lake_root')}"
        if event == "step_started":
            return f"{at}step {_step_label(step)} started"
        if event == "step_skipped":
            self.skip_reason[step] = _one_line(f.get("reason"))
            return None
        if event == "step_finished":
            then = f" · next: {f['next']}" if f.get("next") else ""
            if f.get("status") == "skipped":
                return f"{at}step {_step_label(step)} skipped ({f.get('seconds', 0):.1f} s): " \
                       f"{self.skip_reason.get(step, '')}{then}"
            extra = "".join(f", {name} {_count(f[name])}" for name in ("filtered", "quarantined", "rejected")
                            if f.get(name))
            return (f"{at}step {_step_label(step)} done in {f.get('seconds', 0):.1f} s: "
                    f"{_count(f.get('rows_in', 0))} rows in, {_count(f.get('rows_out', 0))} out{extra}{then}")
        if event == "step_failed":
            return f"{at}step {_step_label(step)} FAILED after {f.get('seconds', 0):.1f} s: " \
                   f"{_one_line(str(f.get('error', '')).strip().splitlines()[-1] if f.get('error') else '')}"
        if event == "run_finished":
            return f"run {record.run_id} {f.get('status', 'finished')} (commit {f.get('commit_seconds', 0):.1f} s)"
        if event == "run_failed":
            return f"run {record.run_id} failed" + (f" in step {f['failed_step']}" if f.get("failed_step") else "") \
                + f": {_one_line(f.get('cause', ''))}"
        if event == "run_interrupted":
            return f"run {record.run_id} interrupted by {f.get('signal')}: nothing of this attempt was committed"
        if record.levelno >= logging.WARNING:
            detail = ", ".join(f"{k}={_one_line(v, 80)}" for k, v in f.items() if k not in ("exc_info",))
            where = f"step {step} " if step else ""
            return f"  {record.levelname.lower()}: {where}{event}" + (f" ({_one_line(detail, 160)})" if detail else "")
        return None


def configure_logging(level: str = "INFO", log_file: str | None = None, console=None,
                      human: bool | None = None) -> None:
    """Send events to the console (`console`, default stderr) and to `log_file` when given, always as JSON there.
    On the console they are JSON lines, or human progress lines when `human` (default: the console is a terminal).
    Safe to call more than once."""
    logger = logging.getLogger(_LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    for old in [f for f in logger.filters if isinstance(f, RunProgress)]:
        old._stop_monitor()
        logger.removeFilter(old)
    logger.addFilter(RunProgress())
    stream = console or sys.stderr
    set_console_stream(console)
    if human is None:
        human = is_terminal(stream)
    if human:
        logger.addHandler(HumanConsole(stream))
    else:
        json_console = logging.StreamHandler(stream)
        json_console.setFormatter(JsonFormatter())
        logger.addHandler(json_console)
    if log_file:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter())
        logger.addHandler(file_handler)


def divert_native_stderr(path: str) -> None:
    """Send file descriptor 2 (where the JVM, log4j and Spark's Python workers write their console noise) to `path`,
    while Python's own `sys.stderr` keeps the terminal for our error messages. For an interactive `run`; under
    run_pipeline_safe.sh the shell does the same with `2>>`."""
    terminal = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding="utf-8", errors="replace")


def get_logger(run_id: str | None = None, step: str | None = None) -> EventLogger:
    return EventLogger(logging.getLogger(_LOGGER_NAME), run_id, step)
