"""The shared HTTP session against a real local server: pacing, retries, Retry-After, timeouts, bad bodies, auth."""
from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timedelta, timezone

import pytest
from werkzeug import Response

from scripts_spark.log import get_logger
from scripts_spark.sources.http import (ApiAuthError, ApiError, ApiNotFound, ApiRetriesExhausted, Progress,
                                        RateLimitedSession, RateLimiter, retry_after_seconds)
from scripts_spark.sources.urls import strip_text_secrets, strip_url_secrets

TOKEN = "tok-SECRET-4711"


def session(max_requests=200.0, per_seconds=1.0, retries=3, backoff=0.01, read_timeout=2.0, **kw) -> RateLimitedSession:
    return RateLimitedSession("tmdb", max_requests=max_requests, per_seconds=per_seconds, connect_timeout_s=1.0,
                              read_timeout_s=read_timeout, max_retries=retries, backoff_s=backoff,
                              log=get_logger("t", "01"), **kw)


class Stamped:
    """A handler that records when each request reached the server and answers from a script of responses."""

    def __init__(self, *responses):
        self.times: list[float] = []
        self.requests = []
        self.responses = list(responses)

    def __call__(self, request):
        self.times.append(time.monotonic())
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return answer if isinstance(answer, Response) else answer()


def ok(body=None):
    return Response(json.dumps(body if body is not None else {"ok": True}), 200, content_type="application/json")


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


def busiest_window(times, width):
    """Most requests the server saw inside any window of `width` seconds (what a server-side limiter counts)."""
    return max(sum(1 for t in times if start <= t < start + width) for start in times)


def test_requests_are_spaced_by_the_rate_limit_as_seen_by_the_server(httpserver):
    handler = Stamped(ok())
    httpserver.expect_request("/movie/1").respond_with_handler(handler)
    rate = 20.0  # 50 ms apart
    http = session(max_requests=rate)
    for _ in range(21):
        http.get_json(httpserver.url_for("/movie/1"))
    times = handler.times
    # Arrival times carry the server's own scheduling jitter (a busy machine delays one request and the next
    # one lands close behind it), so judge them as a server limiter would: by requests per window.
    assert busiest_window(times, 0.5) <= rate * 0.5 + 1
    assert times[-1] - times[0] >= 20 / rate - 0.05
    assert sorted(gaps(times))[len(times) // 2] >= 0.9 / rate


def test_429_waits_for_retry_after_then_succeeds(httpserver):
    handler = Stamped(Response('{"status_code": 25, "status_message": "over the limit"}', 429,
                               headers={"Retry-After": "1"}, content_type="application/json"), ok({"id": 5}))
    httpserver.expect_request("/movie/5").respond_with_handler(handler)
    http = session(backoff=0.01)
    resp = http.get_json(httpserver.url_for("/movie/5"))
    assert resp.data == {"id": 5}
    assert gaps(handler.times)[0] >= 0.95  # Retry-After, not the 10 ms backoff
    assert http.retries == 1


def test_500_then_success_backs_off_and_returns_the_body_as_received(httpserver):
    body = '{"id": 601,   "title": "E.T."}'
    handler = Stamped(Response("oops", 500), Response("down", 503),
                      Response(body, 200, content_type="application/json"))
    httpserver.expect_request("/movie/601").respond_with_handler(handler)
    resp = session(backoff=0.05).get_json(httpserver.url_for("/movie/601"))
    assert resp.text == body and resp.data["title"] == "E.T."
    first, second = gaps(handler.times)
    assert first >= 0.045 and second >= 0.095  # exponential: 50 ms, then 100 ms


@pytest.fixture
def threaded_server():
    """A server that answers the retry while the timed-out request is still being worked on (as real ones do)."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_read_timeout_is_retried(threaded_server):
    def slow():
        time.sleep(0.6)
        return ok({"late": True})

    handler = Stamped(slow, ok({"late": False}))
    threaded_server.expect_request("/slow").respond_with_handler(handler)
    http = session(read_timeout=0.2)
    assert http.get_json(threaded_server.url_for("/slow")).data == {"late": False}
    assert http.retries == 1


def test_truncated_json_is_retried_then_fails_with_a_clear_error(httpserver):
    truncated = Response('{"page": 1, "results": [{"id": 1', 200, content_type="application/json")
    httpserver.expect_request("/discover/movie").respond_with_handler(Stamped(truncated))
    with pytest.raises(ApiRetriesExhausted, match=r"failed after 3 attempts; last cause: truncated or malformed JSON"):
        session(retries=2).get_json(httpserver.url_for("/discover/movie"), params={"page": 1})


def test_401_fails_at_once_naming_the_request_but_not_the_token(httpserver):
    handler = Stamped(Response('{"status_code": 7, "status_message": "Invalid API key: You must be granted a valid key."}',
                               401, content_type="application/json"))
    httpserver.expect_request("/movie/601").respond_with_handler(handler)
    http = session(headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(ApiAuthError) as err:
        http.get_json(httpserver.url_for("/movie/601"), params={"append_to_response": "credits"})
    message = str(err.value)
    assert "GET http://" in message and "/movie/601?append_to_response=credits" in message
    assert "HTTP 401" in message and "Invalid API key" in message and "(status_code 7)" in message
    assert TOKEN not in message
    assert len(handler.times) == 1  # no retry on 401
    assert handler.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_api_key_in_the_query_is_sent_but_never_named_in_errors(httpserver):
    handler = Stamped(Response('{"status_code": 34, "status_message": "The resource you requested could not be found."}',
                               404, content_type="application/json"))
    httpserver.expect_request("/movie/9").respond_with_handler(handler)
    http = session(params={"api_key": TOKEN})
    with pytest.raises(ApiNotFound) as err:
        http.get_json(httpserver.url_for("/movie/9"))
    assert handler.requests[0].args["api_key"] == TOKEN
    assert TOKEN not in str(err.value) and TOKEN not in err.value.url and err.value.status == 404


def test_other_client_errors_are_not_retried(httpserver):
    handler = Stamped(Response('{"status_code": 22, "status_message": "Invalid page: Pages start at 1 and max at 500."}',
                               400, content_type="application/json"))
    httpserver.expect_request("/discover/movie").respond_with_handler(handler)
    with pytest.raises(ApiError, match="HTTP 400 Invalid page"):
        session().get_json(httpserver.url_for("/discover/movie"), params={"page": 501})
    assert len(handler.times) == 1


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(ApiRetriesExhausted, match="connection error"):
        session(retries=1).get_json(f"http://127.0.0.1:{port}/movie/1")


def test_retries_are_logged_with_cause_and_without_secrets(httpserver, caplog):
    import logging

    from scripts_spark.log import JsonFormatter

    handler = Stamped(Response("busy", 503), ok())
    httpserver.expect_request("/x").respond_with_handler(handler)
    logger = logging.getLogger("soundtrack_lake")
    logger.setLevel("INFO")
    with caplog.at_level("INFO", logger="soundtrack_lake"):
        session(params={"api_key": TOKEN}).get_json(httpserver.url_for("/x"), params={"q": "jaws"})
    lines = [JsonFormatter().format(r) for r in caplog.records]
    retry = [json.loads(line) for line in lines if '"http_retry"' in line]
    assert retry and retry[0]["cause"].startswith("HTTP 503") and retry[0]["url"].endswith("/x?q=jaws")
    assert all(TOKEN not in line for line in lines)


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds((now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT"), now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_rate_limiter_spaces_calls_and_honours_pauses():
    clock = [0.0]
    slept = []

    def sleep(s):
        slept.append(round(s, 6))
        clock[0] += s

    limiter = RateLimiter(4, 1.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        limiter.acquire()
    limiter.pause(2.0)
    limiter.acquire()
    assert slept == [0.25, 0.25, 2.0]  # 2 s from the pause at t=0.5, not from the last slot
    with pytest.raises(ValueError):
        RateLimiter(0, 1.0)


def test_progress_reports_rate_and_eta():
    clock = [0.0]
    progress = Progress(None, "films", total=100, every_s=5, clock=lambda: clock[0])
    clock[0] = 10.0
    progress.advance(25)
    figures = progress.figures()
    assert figures["rate_per_s"] == 2.5 and figures["eta_s"] == 30.0 and figures["done"] == 25


def test_secrets_are_stripped_from_urls_and_text_alike():
    url = "https://api.discogs.com/database/search?q=Blade+Runner&type=release&key=K1&secret=S1&page=2"
    assert strip_url_secrets(url) == "https://api.discogs.com/database/search?q=Blade+Runner&type=release&page=2"
    text = json.dumps({"next": url, "first": "https://x/y?token=T2&q=1", "last": "https://x/y?q=1&api_key=A3"})
    stripped = strip_text_secrets(text)
    assert not any(s in stripped for s in ("K1", "S1", "T2", "A3"))
    assert "q=Blade+Runner&type=release&page=2" in stripped and "https://x/y?q=1" in stripped
