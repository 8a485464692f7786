"""One rate-limited, retrying HTTP session that every API client (TMDB, Discogs, MusicBrainz) is built on.

Nothing is left to library defaults: connect and read timeouts are explicit, requests are spaced by a
client-side limiter, and retries are our own loop (not urllib3's `Retry`) so that every retry is logged
with its cause and a 200 with a truncated body is retried like a dropped connection. 429 honours
`Retry-After` (seconds or an HTTP date); 5xx, connection errors and read timeouts back off exponentially.
401/403/404 fail at once with an error that names the request: the URL without credentials (a TMDB
`api_key` is stripped; tokens travel in headers and never appear).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

import requests

from ..log import redact
from .urls import strip_url_secrets

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Settings

# Statuses worth another try: rate limiting and server-side trouble (TMDB 502/503/504 are backend down,
# maintenance and timeout; Discogs answers 500 "Query time exceeded" on heavy searches).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
# Longest single wait: a Retry-After or backoff beyond this is capped, so a misbehaving server cannot park
# a nightly run for hours on one request; 120 s covers Discogs' whole 60 s moving window twice.
MAX_WAIT_S = 120.0
# Characters of an error body quoted in an exception: enough for TMDB's status_message and Discogs' message.
ERROR_BODY_CHARS = 300


class ApiError(RuntimeError):
    """An API request failed; the message names the request (method and secret-free URL) and the cause."""

    def __init__(self, message: str, url: str = "", status: int | None = None):
        super().__init__(redact(message))
        self.url = url
        self.status = status


class ApiAuthError(ApiError):
    """401/403: the credentials are missing, wrong or lack the right; retrying cannot help."""


class ApiNotFound(ApiError):
    """404: the resource does not exist (a film deleted between discover and details, a bad id)."""


class ApiRetriesExhausted(ApiError):
    """Every retry failed (429/5xx/timeouts/bad bodies); the last cause is in the message."""


@dataclass
class ApiResponse:
    url: str                      # the request URL without credentials: what Bronze stores as _source_uri
    status: int
    text: str                     # the body as received (Bronze keeps it verbatim)
    data: Any                     # the parsed JSON body
    headers: Mapping[str, str] = field(default_factory=dict)


class RateLimiter:
    """Spaces calls at least `per_seconds / max_requests` apart (thread-safe), with room for extra pauses.

    Even spacing rather than bursts: at most `max_requests` start in any `per_seconds` window, which also
    keeps a moving-window server limit (Discogs) from ever seeing a burst.
    """

    def __init__(self, max_requests: float, per_seconds: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if max_requests <= 0 or per_seconds <= 0:
            raise ValueError("rate limit must be positive")
        self.interval = per_seconds / max_requests
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until the next slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        waited = start - now
        if waited > 0:
            self._sleep(waited)
        return waited

    def pause(self, seconds: float) -> None:
        """No call starts within `seconds` from now (after a 429, or when the server says the quota is low)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _error_detail(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:ERROR_BODY_CHARS].strip()
    if isinstance(body, dict):
        message = body.get("status_message") or body.get("message") or body.get("error") or ""
        code = body.get("status_code")
        return f"{message} (status_code {code})" if code is not None else str(message)
    return str(body)[:ERROR_BODY_CHARS]


class RateLimitedSession:
    """GET JSON with timeouts, client-side pacing and retries; shared by the per-API clients."""

    def __init__(self, name: str, *, max_requests: float, per_seconds: float, connect_timeout_s: float,
                 read_timeout_s: float, max_retries: int, backoff_s: float, headers: Mapping[str, str] | None = None,
                 params: Mapping[str, str] | None = None, log=None,
                 on_response: Callable[[requests.Response, "RateLimitedSession"], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.name = name
        self.limiter = RateLimiter(max_requests, per_seconds, sleep=sleep)
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.log = log
        self.on_response = on_response
        self._sleep = sleep
        self._auth_params = dict(params or {})
        self.session = requests.Session()
        self.session.headers.update(headers or {})
        self.requests_sent = 0
        self.retries = 0

    @classmethod
    def from_settings(cls, settings: "Settings", *, name: str, max_requests: float, per_seconds: float,
                      headers: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None, log=None,
                      on_response=None) -> "RateLimitedSession":
        return cls(name, max_requests=max_requests, per_seconds=per_seconds,
                   connect_timeout_s=settings.http_connect_timeout_s, read_timeout_s=settings.http_read_timeout_s,
                   max_retries=settings.http_max_retries, backoff_s=settings.http_backoff_s, headers=headers,
                   params=params, log=log, on_response=on_response)

    def close(self) -> None:
        self.session.close()

    def backoff(self, attempt: int) -> float:
        return min(MAX_WAIT_S, self.backoff_s * (2 ** attempt))

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> ApiResponse:
        """GET `url` and parse its JSON body, retrying what can succeed on a second try."""
        query = {**(params or {}), **self._auth_params}
        safe_url = strip_url_secrets(requests.Request("GET", url, params=params or {}).prepare().url) or url
        cause = ""
        for attempt in range(self.max_retries + 1):
            self.limiter.acquire()
            wait: float | None = None
            self.requests_sent += 1
            try:
                resp = self.session.get(url, params=query, timeout=self.timeout)
            except requests.exceptions.ReadTimeout:
                cause = f"read timeout after {self.timeout[1]} s"
            except requests.exceptions.ConnectTimeout:
                cause = f"connect timeout after {self.timeout[0]} s"
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                cause = f"connection error: {type(exc).__name__}"
            else:
                if self.on_response:
                    self.on_response(resp, self)
                if resp.status_code == 200:
                    try:
                        return ApiResponse(safe_url, 200, resp.text, json.loads(resp.text), resp.headers)
                    except ValueError as exc:
                        cause = f"truncated or malformed JSON body ({len(resp.text)} chars): {exc}"
                elif resp.status_code in RETRY_STATUSES:
                    cause = f"HTTP {resp.status_code}: {_error_detail(resp)}"
                    wait = retry_after_seconds(resp.headers.get("Retry-After"))
                elif resp.status_code in AUTH_STATUSES:
                    raise ApiAuthError(f"{self.name}: GET {safe_url} -> HTTP {resp.status_code} "
                                       f"{_error_detail(resp)}: check the {self.name} credentials in .env",
                                       safe_url, resp.status_code)
                elif resp.status_code == 404:
                    raise ApiNotFound(f"{self.name}: GET {safe_url} -> HTTP 404 {_error_detail(resp)}",
                                      safe_url, 404)
                else:
                    raise ApiError(f"{self.name}: GET {safe_url} -> HTTP {resp.status_code} {_error_detail(resp)}",
                                   safe_url, resp.status_code)
            if attempt == self.max_retries:
                break
            delay = min(MAX_WAIT_S, wait) if wait is not None else self.backoff(attempt)
            self.retries += 1
            if self.log:
                self.log.warning("http_retry", api=self.name, url=safe_url, attempt=attempt + 1, cause=cause,
                                 wait_s=round(delay, 3))
            self.limiter.pause(delay)
        raise ApiRetriesExhausted(f"{self.name}: GET {safe_url} failed after {self.max_retries + 1} attempts; "
                                  f"last cause: {cause}", safe_url)


class Progress:
    """Progress of a long extract: done/total, rate and ETA, logged at most every `every_s` seconds; on an
    interactive terminal also a live bar (progress.bar: tqdm, with rate and ETA)."""

    def __init__(self, log, what: str, total: int | None = None, every_s: float = 10.0, done: int = 0,
                 clock: Callable[[], float] = time.monotonic):
        from ..progress import bar

        self.log, self.what, self.total, self.every_s = log, what, total, every_s
        self.done = self._start_done = done
        self._clock = clock
        self._t0 = self._last = clock()
        self._bar = bar(what, total, initial=done, unit="req")

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        if self._clock() - self._last >= self.every_s:
            self.report()

    def figures(self) -> dict[str, Any]:
        elapsed = max(self._clock() - self._t0, 1e-9)
        rate = (self.done - self._start_done) / elapsed
        eta = (self.total - self.done) / rate if self.total is not None and rate > 0 else None
        return {"what": self.what, "done": self.done, "total": self.total, "rate_per_s": round(rate, 2),
                "eta_s": None if eta is None else round(eta, 1), "elapsed_s": round(elapsed, 1)}

    def report(self, final: bool = False) -> dict[str, Any]:
        self._last = self._clock()
        figures = self.figures()
        if self.log:
            self.log.info("extract_finished" if final else "extract_progress", **figures)
        if final and self._bar is not None:
            self._bar.close()
            self._bar = None
        return figures
