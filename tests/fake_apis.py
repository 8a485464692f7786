"""Local stand-ins for TMDB, Discogs and MusicBrainz, served by pytest-httpserver with the real payload shapes.

TMDB details are the real E.T./Interstellar responses (tests/fixtures/tmdb_api), combined the way
`append_to_response=credits` combines them; other ids reuse that shape with their own id and title.
Discogs search pages are the saved real pages (data/sample/discogs/search) re-paginated; Discogs details
and MusicBrainz search pages follow the documented shapes. Every fake records when each request arrived
(server side) and can be told to fail from the N-th request on, to simulate a crash mid-extract.
"""
from __future__ import annotations

import copy
import json
import math
import re
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

from werkzeug import Request, Response

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tmdb_api"
SEARCH_PAGES = REPO / "data" / "sample" / "discogs" / "search"


def tmdb_details(tmdb_id: int) -> dict:
    """A `/movie/{id}?append_to_response=credits` body: real for 601 and 157336, the same shape otherwise."""
    real = tmdb_id if tmdb_id in (601, 157336) else 601
    doc = json.loads((FIXTURES / f"movie_{real}_details.json").read_text())
    doc["credits"] = {k: v for k, v in json.loads((FIXTURES / f"movie_{real}_credits.json").read_text()).items()
                      if k != "id"}
    if tmdb_id != real:
        doc["id"], doc["title"], doc["imdb_id"] = tmdb_id, f"Film {tmdb_id}", None
    return doc


def json_response(body, status=200, headers=None) -> Response:
    return Response(json.dumps(body), status, headers=headers or {}, content_type="application/json")


class FakeApi:
    """Request log with server-side arrival times, and a switch that breaks the server after N requests."""

    def __init__(self):
        self.times: list[float] = []
        self.paths: list[str] = []
        self.headers: list[dict] = []
        self.fail_after: int | None = None
        self._lock = threading.Lock()

    def _arrived(self, request: Request) -> Response | None:
        with self._lock:
            self.times.append(time.monotonic())
            self.paths.append(request.full_path)
            self.headers.append(dict(request.headers))
            broken = self.fail_after is not None and len(self.times) > self.fail_after
        if broken:
            return Response('{"status_code": 11, "status_message": "Internal error: Something went wrong."}', 500,
                            content_type="application/json")
        return None

    def count(self, fragment: str) -> int:
        return sum(1 for p in self.paths if fragment in p)


class FakeTmdb(FakeApi):
    """`/discover/movie` over a catalogue {date: number of films}, and `/movie/{id}`; `missing` ids answer 404."""

    def __init__(self, server, catalogue: dict[date, int], missing: frozenset = frozenset()):
        super().__init__()
        self.catalogue = catalogue
        self.missing = missing
        server.expect_request("/discover/movie").respond_with_handler(self.discover)
        server.expect_request(re.compile(r"^/movie/\d+$")).respond_with_handler(self.details)

    @staticmethod
    def film_id(day: date, n: int) -> int:
        return day.toordinal() * 100_000 + n

    def ids(self) -> list[int]:
        return sorted(self.film_id(d, n) for d, count in self.catalogue.items() for n in range(count))

    def discover(self, request: Request) -> Response:
        broken = self._arrived(request)
        if broken:
            return broken
        lo = date.fromisoformat(request.args["primary_release_date.gte"])
        hi = date.fromisoformat(request.args["primary_release_date.lte"])
        page = int(request.args.get("page", 1))
        if page > 500:
            return json_response({"success": False, "status_code": 22,
                                  "status_message": "Invalid page: Pages start at 1 and max at 500."}, 400)
        days = sorted(d for d in self.catalogue if lo <= d <= hi)
        total = sum(self.catalogue[d] for d in days)
        start = (page - 1) * 20
        results, seen = [], 0
        for d in days:  # only the requested slice is built: a day can hold thousands of films
            count = self.catalogue[d]
            for n in range(max(0, start - seen), min(count, start + 20 - seen)):
                results.append({"adult": False, "id": self.film_id(d, n), "title": f"Film {n}",
                                "original_title": f"Film {n}", "release_date": d.isoformat(), "popularity": 1.0,
                                "video": False, "vote_average": 6.0, "vote_count": 10, "genre_ids": [18]})
            seen += count
            if seen >= start + 20:
                break
        return json_response({"page": page, "results": results, "total_pages": math.ceil(total / 20),
                              "total_results": total})

    def details(self, request: Request) -> Response:
        broken = self._arrived(request)
        if broken:
            return broken
        tmdb_id = int(request.path.rsplit("/", 1)[1])
        if tmdb_id in self.missing:
            return json_response({"success": False, "status_code": 34,
                                  "status_message": "The resource you requested could not be found."}, 404)
        assert request.args.get("append_to_response") == "credits"
        return json_response(tmdb_details(tmdb_id))


def catalogue(start: date, per_day: list[int]) -> dict[date, int]:
    return {start + timedelta(days=i): n for i, n in enumerate(per_day) if n}


def saved_results() -> list[dict]:
    """Every result of the 43 saved real search pages, in file order."""
    out = []
    for path in sorted(SEARCH_PAGES.rglob("*.json")):
        out += json.loads(path.read_text())["results"]
    return out


class FakeDiscogs(FakeApi):
    """`/database/search` paging through real saved results (followed via `pagination.urls.next`), plus
    `/masters/{id}` and `/releases/{id}`; rate-limit headers counted in a moving window."""

    def __init__(self, server, masters: list[dict], releases: list[dict], per_page: int = 100, limit: int = 60,
                 missing: frozenset = frozenset(), token: str = ""):
        super().__init__()
        self.server, self.per_page, self.limit, self.missing, self.token = server, per_page, limit, missing, token
        self.results = {"master": masters, "release": releases}
        server.expect_request("/database/search").respond_with_handler(self.search)
        server.expect_request(re.compile(r"^/(masters|releases)/\d+$")).respond_with_handler(self.detail)

    def _rate_headers(self) -> dict:
        now = time.monotonic()
        used = sum(1 for t in self.times if t > now - 60)
        return {"X-Discogs-Ratelimit": str(self.limit), "X-Discogs-Ratelimit-Used": str(used),
                "X-Discogs-Ratelimit-Remaining": str(max(0, self.limit - used))}

    def _auth_ok(self, request: Request) -> bool:
        return not self.token or request.headers.get("Authorization") == f"Discogs token={self.token}"

    def search(self, request: Request) -> Response:
        broken = self._arrived(request)
        if broken:
            return broken
        if not self._auth_ok(request):
            return json_response({"message": "You must authenticate to access this resource."}, 401)
        kind = request.args["type"]
        per_page = int(request.args.get("per_page", 50))
        page = int(request.args.get("page", 1))
        items = self.results[kind]
        pages = max(1, math.ceil(len(items) / per_page))
        base = {k: v for k, v in request.args.items() if k != "page"}
        urls = {}
        if page < pages:
            # Discogs echoes the caller's query (credentials included when sent as key/secret parameters).
            urls = {"next": self.server.url_for("/database/search") + "?" + urlencode({**base, "page": page + 1}),
                    "last": self.server.url_for("/database/search") + "?" + urlencode({**base, "page": pages})}
        body = {"pagination": {"page": page, "pages": pages, "per_page": per_page, "items": len(items), "urls": urls},
                "results": items[(page - 1) * per_page: page * per_page]}
        return json_response(body, headers=self._rate_headers())

    def detail(self, request: Request) -> Response:
        broken = self._arrived(request)
        if broken:
            return broken
        kind, record_id = request.path.strip("/").split("/")
        if int(record_id) in self.missing:
            return json_response({"message": "Release not found."}, 404, self._rate_headers())
        if kind == "masters":
            body = {"id": int(record_id), "main_release": int(record_id) * 10, "title": f"Master {record_id}",
                    "artists": [{"name": "John Williams (4)", "id": 1}], "year": 1977,
                    "genres": ["Stage & Screen"], "styles": ["Soundtrack", "Score"], "data_quality": "Correct"}
        else:
            body = {"id": int(record_id), "status": "Accepted", "master_id": 0, "title": f"Release {record_id}",
                    "artists": [{"name": "Vangelis", "id": 2}],
                    "extraartists": [{"name": "Vangelis", "role": "Composed By"}],
                    "genres": ["Electronic", "Stage & Screen"], "styles": ["Soundtrack"],
                    "formats": [{"name": "Vinyl", "qty": "1", "descriptions": ["LP", "Album"]}],
                    "country": "UK", "released": "1994-06-00", "labels": [{"name": "EastWest"}],
                    "data_quality": "Correct"}
        return json_response(body, headers=self._rate_headers())


class FakeMusicBrainz(FakeApi):
    """`/release-group?query=...&offset=N` search pages built from release-group documents (dump shape)."""

    def __init__(self, server, groups: list[dict], throttle_first: int = 0):
        super().__init__()
        self.groups, self.throttle_first = groups, throttle_first
        server.expect_request("/release-group").respond_with_handler(self.search)

    def search(self, request: Request) -> Response:
        broken = self._arrived(request)
        if broken:
            return broken
        if len(self.times) <= self.throttle_first:  # MusicBrainz throttles with 503
            return Response("Your requests are exceeding the allowable rate limit.", 503)
        offset, limit = int(request.args.get("offset", 0)), int(request.args.get("limit", 25))
        page = [copy.deepcopy(g) for g in self.groups[offset: offset + limit]]
        return json_response({"created": "2026-01-01T00:00:00.000Z", "count": len(self.groups), "offset": offset,
                              "release-groups": page})
