"""The review page: a small Werkzeug app on 127.0.0.1 serving one run's queue, and the verdicts it records.

    GET  /                     the page (static/page.html; its CSS and script are served from static/, no CDN)
    GET  /api/queue?source=&reason=&decade=&band=&sample=&status=   items in worth order, facets, progress
    GET  /api/item?key=K       one item with both sides in full, the runner-up film and the contributions
    GET  /api/films?q=TITLE    the catalogue searched by title (for "another film")
    POST /api/decisions        {key, verdict, chosen_tmdb_id?}: written to the decisions store before the reply
    POST /api/audit            {size}: draw a random sample of automatic matches to check

Write requests need the session's token in the `X-Review-Token` header (the page reads it from its own markup; a
page of another site can neither read it nor send the header without a CORS preflight, which is never granted),
and every request must name this server in its Host header (a DNS-rebinding page names its own host).
"""
from __future__ import annotations

import hmac
import json
import secrets
import threading
from pathlib import Path
from typing import Any, Callable

from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ..transforms.features import FEATURE_DOCS
from .queue import AUDIT_SIZE, ReviewData
from .store import DecisionError

STATIC = Path(__file__).with_name("static")
TOKEN_HEADER = "X-Review-Token"
MAX_BODY = 4096          # a verdict is ~150 bytes of JSON; anything far larger is not one
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CONTENT_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, default=str), status=status, mimetype="application/json")


class ReviewApp:
    """WSGI app over one `ReviewData`; `reviewer` names who decides, `token` guards the writes."""

    def __init__(self, data: ReviewData, reviewer: str, token: str | None = None):
        self.data = data
        self.reviewer = reviewer
        self.token = token or secrets.token_urlsafe(32)
        self.allowed_hosts: set[str] = set()
        self._write_lock = threading.Lock()   # one draw or verdict at a time: audit draws must not overlap
        self.urls = Map([
            Rule("/", endpoint="page"), Rule("/static/<name>", endpoint="static"),
            Rule("/api/queue", endpoint="queue"), Rule("/api/item", endpoint="item"),
            Rule("/api/films", endpoint="films"),
            Rule("/api/decisions", endpoint="decide", methods=["POST"]),
            Rule("/api/audit", endpoint="audit", methods=["POST"]),
        ])

    def allow_port(self, port: int) -> None:
        self.allowed_hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    # --- WSGI ----------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_BODY
        try:
            if self.allowed_hosts and request.host not in self.allowed_hosts:
                raise Forbidden(f"host {request.host!r} is not this review server")
            endpoint, args = self.urls.bind_to_environ(environ).match()
            handler: Callable[..., Response] = getattr(self, f"on_{endpoint}")
            response = handler(request, **args)
        except HTTPException as exc:
            response = _json({"error": exc.description}, exc.code or 500)
        except DecisionError as exc:
            response = _json({"error": str(exc)}, 400)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response(environ, start_response)

    def _write_body(self, request: Request) -> dict[str, Any]:
        sent = request.headers.get(TOKEN_HEADER, "")
        if not sent or not hmac.compare_digest(sent.encode(), self.token.encode()):
            raise Forbidden(f"missing or wrong {TOKEN_HEADER}: reload the review page")
        if request.mimetype != "application/json":
            raise BadRequest("send the body as application/json")
        try:
            body = json.loads(request.get_data(cache=False) or b"{}")
        except ValueError:
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    # --- pages and reads -----------------------------------------------------------------------------------
    def on_page(self, request: Request) -> Response:
        page = (STATIC / "page.html").read_text(encoding="utf-8")
        config = {"token": self.token, "run_id": self.data.run_id, "reviewer": self.reviewer,
                  "matcher_version": self.data.matcher_version, "thresholds": self.data.thresholds,
                  "features": FEATURE_DOCS, "audit_size": AUDIT_SIZE}
        # The JSON goes into an attribute: escape what HTML would read as markup.
        attr = json.dumps(config).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
        return Response(page.replace("{{config}}", attr), mimetype="text/html")

    def on_static(self, request: Request, name: str) -> Response:
        path = STATIC / name
        if path.suffix not in CONTENT_TYPES or not path.is_file() or path.parent != STATIC:
            raise NotFound()
        return Response(path.read_bytes(), content_type=CONTENT_TYPES[path.suffix])

    def on_queue(self, request: Request) -> Response:
        args = {k: request.args.get(k, "")[:100] for k in ("source", "reason", "decade", "band", "sample", "status")}
        return _json(self.data.listing(**args))

    def on_item(self, request: Request) -> Response:
        key = request.args.get("key", "")
        if key not in self.data.items:
            raise NotFound(f"no item {key!r} on this page")
        return _json(self.data.detail(key))

    def on_films(self, request: Request) -> Response:
        return _json({"films": self.data.search_films(request.args.get("q", ""))})

    # --- writes --------------------------------------------------------------------------------------------
    def on_decide(self, request: Request) -> Response:
        body = self._write_body(request)
        key, verdict = body.get("key"), body.get("verdict")
        if not isinstance(key, str) or not isinstance(verdict, str):
            raise BadRequest("key and verdict must be strings")
        with self._write_lock:
            record = self.data.decide(key, verdict, self.reviewer, body.get("chosen_tmdb_id"))
        return _json({"decision": record, "verdict": self.data.verdicts().get(self.data.items[key].pair).verdict})

    def on_audit(self, request: Request) -> Response:
        body = self._write_body(request)
        size = body.get("size", AUDIT_SIZE)
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 200:
            raise BadRequest("size must be a whole number from 1 to 200")
        with self._write_lock:
            drawn = self.data.draw_audit(size, self.reviewer)
        return _json({"drawn": len(drawn), "keys": [i.summary()["key"] for i in drawn]})


def serve(data: ReviewData, reviewer: str, port: int = 0, ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted, on 127.0.0.1 only; `ready(url)` is told the address once it listens."""
    app = ReviewApp(data, reviewer)
    data.store.sweep_leftovers()
    server = make_server("127.0.0.1", port, app, threaded=True)
    app.allow_port(server.server_port)
    url = f"http://127.0.0.1:{server.server_port}/"
    if ready:
        ready(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
