"""Structured logging: one JSON object a line (ts, level, run_id, step, event, ...fields).

`get_logger(run_id)` returns a small adapter; `log.info("rows_written", step="03", rows=12)`.
Values that look like credentials are masked before they are written, as a last line of defence
behind `Secret` (a token pasted into a URL or an exception message must not reach a log file).
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

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


def configure_logging(level: str = "INFO", log_file: str | None = None) -> None:
    """Send JSON lines to stderr (and a file when given). Safe to call more than once."""
    logger = logging.getLogger(_LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JsonFormatter())
    logger.addHandler(stream)
    if log_file:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter())
        logger.addHandler(file_handler)


def get_logger(run_id: str | None = None, step: str | None = None) -> EventLogger:
    return EventLogger(logging.getLogger(_LOGGER_NAME), run_id, step)
