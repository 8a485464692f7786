"""TMDB API mode without a nightly full walk: the changes feed since the watermark, the daily export's new and gone
ids, details fetched only for those; a feed that repeats ids, names unknown ones or fails half way (500, 429, a
timeout) never corrupts the state. A local fake TMDB (tests/fake_apis.py) answers in the real payload shapes."""
from __future__ import annotations

import gzip
import json
import time
from datetime import date

import pytest
from werkzeug import Request, Response

from fake_apis import FakeTmdb, catalogue, json_response
from scripts_spark.base_step import StepFailed
from scripts_spark.config import load_settings
from scripts_spark.incremental.compare import compare_gold
from scripts_spark.incremental.state import StateStore
from scripts_spark.incremental.tmdb_changes import ChangeWindow, change_windows, changed_ids
from scripts_spark.lake import Lake
from scripts_spark.log import get_logger
from scripts_spark.pipeline import run_pipeline
from scripts_spark.sources.checkpoint import Checkpoint
from scripts_spark.sources.http import ApiError
from scripts_spark.sources.tmdb import TmdbClient

TOKEN = "tmdb-SECRET-bearer-9z"
FILMS = catalogue(date(2015, 6, 1), [3, 2, 4])


class FakeChanges:
    """`/movie/changes`: per window the ids given, 2 a page; can repeat ids, answer 429 once, fail or stall."""

    def __init__(self, server, ids_by_day: dict[date, list[int]], per_page: int = 2):
        self.ids_by_day, self.per_page = ids_by_day, per_page
        self.asked: list[tuple[str, str, int]] = []
        self.fail_on_request: int | None = None
        self.throttle_once = False
        self.stall_s = 0.0
        server.expect_request("/movie/changes").respond_with_handler(self.changes)

    def changes(self, request: Request) -> Response:
        start, end = date.fromisoformat(request.args["start_date"]), date.fromisoformat(request.args["end_date"])
        assert (end - start).days < 14, "a window spans at most 14 days"
        page = int(request.args.get("page", 1))
        self.asked.append((start.isoformat(), end.isoformat(), page))
        if self.throttle_once:
            self.throttle_once = False
            return json_response({"status_code": 25, "status_message": "Your request count is over the limit."}, 429,
                                 headers={"Retry-After": "0"})
        if self.fail_on_request is not None and len(self.asked) >= self.fail_on_request:
            return json_response({"status_code": 11, "status_message": "Internal error."}, 500)
        if self.stall_s:
            time.sleep(self.stall_s)
        ids = [i for day, found in sorted(self.ids_by_day.items()) if start <= day <= end for i in found]
        pages = max(1, -(-len(ids) // self.per_page))
        chunk = ids[(page - 1) * self.per_page: page * self.per_page]
        return json_response({"results": [{"id": i, "adult": False} for i in chunk], "page": page,
                              "total_pages": pages, "total_results": len(ids)})


def _client(httpserver, **extra):
    settings = load_settings(environ={}, tmdb_base_url=httpserver.url_for("").rstrip("/"), tmdb_bearer_token=TOKEN,
                             tmdb_rate_limit_per_s=500.0, http_backoff_s=0.01, **extra)
    return TmdbClient(settings)


def test_change_windows_cover_every_day_in_windows_of_at_most_fourteen_days():
    windows = change_windows(date(2026, 1, 1), date(2026, 2, 10))
    assert windows[0] == ChangeWindow(date(2026, 1, 1), date(2026, 1, 14))
    assert all((w.end - w.start).days <= 13 for w in windows)
    assert [w.start for w in windows[1:]] == [date.fromordinal(w.end.toordinal() + 1) for w in windows[:-1]]
    assert windows[-1].end == date(2026, 2, 10)
    assert change_windows(date(2026, 1, 1), date(2026, 1, 1)) == [ChangeWindow(date(2026, 1, 1), date(2026, 1, 1))]


def test_the_feed_gives_each_id_once_and_a_restart_asks_only_the_unfinished_windows(httpserver, tmp_path):
    feed = FakeChanges(httpserver, {date(2026, 1, 2): [5, 7, 5, 9], date(2026, 1, 20): [7, 11, 11]})
    checkpoint = Checkpoint(Lake(str(tmp_path / "lake")), "r1", "tmdb")
    feed.fail_on_request = 4   # the second window's first page breaks after the first window was done
    with pytest.raises(ApiError):
        changed_ids(_client(httpserver, http_max_retries=0), checkpoint, date(2026, 1, 1), date(2026, 1, 28),
                    get_logger("t"))
    asked = len(feed.asked)
    feed.fail_on_request = None
    resumed = Checkpoint(Lake(str(tmp_path / "lake")), "r1", "tmdb")
    ids = changed_ids(_client(httpserver), resumed, date(2026, 1, 1), date(2026, 1, 28), get_logger("t"))
    assert ids == [5, 7, 9, 11]
    assert {w for w, _, _ in feed.asked[asked:]} == {"2026-01-15"}, "the finished window is not asked again"


def test_a_429_is_waited_out_and_a_stalled_feed_fails_after_its_retries(httpserver, tmp_path):
    feed = FakeChanges(httpserver, {date(2026, 1, 2): [5]})
    feed.throttle_once = True
    checkpoint = Checkpoint(Lake(str(tmp_path / "lake")), "r1", "tmdb")
    assert changed_ids(_client(httpserver), checkpoint, date(2026, 1, 1), date(2026, 1, 3), get_logger("t")) == [5]
    feed.stall_s = 1.0
    stalled = Checkpoint(Lake(str(tmp_path / "lake2")), "r1", "tmdb")
    with pytest.raises(ApiError, match="timeout"):
        changed_ids(_client(httpserver, http_read_timeout_s=0.2, http_max_retries=1), stalled, date(2026, 1, 1),
                    date(2026, 1, 3), get_logger("t"))


# --- the pipeline in API mode -----------------------------------------------------------------------------------
class EditableTmdb(FakeTmdb):
    """FakeTmdb whose films can be retitled after the first run."""

    def __init__(self, server, films, missing=frozenset()):
        super().__init__(server, films, missing)
        self.titles: dict[int, str] = {}

    def details(self, request: Request) -> Response:
        response = super().details(request)
        tmdb_id = int(request.path.rsplit("/", 1)[1])
        if response.status_code == 200 and tmdb_id in self.titles:
            doc = json.loads(response.get_data())
            doc["title"] = self.titles[tmdb_id]
            return json_response(doc)
        return response


def _groups_input(folder, ids: list[int]):
    """MusicBrainz soundtrack groups titled like the fake's films ('Film <id>'), composed by John Williams."""
    path = folder / "musicbrainz" / "musicbrainz_release_groups.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        for n, tmdb_id in enumerate(ids):
            fh.write(json.dumps({"id": f"00000000-0000-0000-0000-{n:012d}", "title": f"Film {tmdb_id}",
                                 "primary-type": "Album", "secondary-types": ["Soundtrack"],
                                 "first-release-date": "2015", "artist-credit": [{"name": "John Williams"}],
                                 "tags": []}) + "\n")
    return folder


def _export(path, ids: list[int]) -> str:
    with gzip.open(path, "wt") as fh:
        for i in ids:
            fh.write(json.dumps({"adult": False, "id": i, "original_title": f"Film {i}", "popularity": 1.0,
                                 "video": False}) + "\n")
    return str(path)


@pytest.mark.slow
def test_an_api_run_fetches_only_changed_and_new_films_and_equals_a_full_walk(spark, httpserver, tmp_path):
    tmdb = EditableTmdb(httpserver, FILMS)
    ids = tmdb.ids()
    feed = FakeChanges(httpserver, {})
    inputs = _groups_input(tmp_path / "in", ids)
    base = httpserver.url_for("").rstrip("/")

    def settings(lake, **extra):
        return load_settings(env_file=tmp_path / "no.env", environ={}, lake_root=str(lake), input_dir=str(inputs),
                             log_dir=str(tmp_path / "logs"), tmdb_mode="api", tmdb_base_url=base,
                             tmdb_bearer_token=TOKEN, tmdb_date_from="2015-06-01", tmdb_date_to="2015-06-03",
                             tmdb_rate_limit_per_s=500.0, http_backoff_s=0.01, http_max_retries=1, **extra)

    lake = tmp_path / "lake"
    first = run_pipeline(settings(lake), "a1", "01-05", spark=spark)
    assert first["incremental"]["mode"] == "full"
    watermark = StateStore(Lake(str(lake))).current().meta["tmdb_watermark"]

    # Since the first run: one film retitled, named twice by the feed; an id TMDB never had (404); a film gone from
    # the export; a new film only the export lists. The new film is the first day's next id (a discover walk finds it).
    edited, gone, unknown = ids[0], ids[1], 99_999_999
    new = FakeTmdb.film_id(date(2015, 6, 1), 3)
    tmdb.catalogue[date(2015, 6, 1)] = 4
    tmdb.titles[edited] = "Film Retitled"
    tmdb.missing = frozenset({unknown, gone})
    today = date.today()
    feed.ids_by_day = {today: [edited, unknown, edited]}
    export = _export(tmp_path / "movie_ids.json.gz", [i for i in ids if i != gone] + [new])
    before = len(tmdb.paths)
    second = run_pipeline(settings(lake, tmdb_id_export=export), "a2", "01-05", spark=spark)
    fetched = sorted(int(p.split("?")[0].rsplit("/", 1)[1]) for p in tmdb.paths[before:] if p.startswith("/movie/"))
    assert fetched == sorted([edited, unknown, new]), "only changed and new films are fetched, each once"
    assert second["incremental"]["mode"] == "incremental"
    assert second["incremental"]["feeds"]["tmdb"] == {"mode": "incremental", "live_before": len(ids), "added": 1,
                                                      "edited": 1, "deleted": 1, "unchanged": len(ids) - 2}
    assert StateStore(Lake(str(lake))).current().meta["tmdb_watermark"] == today.isoformat() >= watermark

    full = run_pipeline(settings(tmp_path / "full", tmdb_id_export=export), "f", "01-05", spark=spark)
    assert full["incremental"]["mode"] == "full"
    differences = compare_gold(str(lake), "a2", str(tmp_path / "full"), "f",
                               tables=("gold/soundtrack_matches", "gold/review_queue", "gold/film_soundtracks"))
    assert not any(differences.values()), differences

    # A feed that breaks half way fails the run; the state and its watermark stay where they were.
    kept = StateStore(Lake(str(lake))).current()
    feed.fail_on_request = len(feed.asked) + 1
    with pytest.raises(StepFailed, match="HTTP 500"):
        run_pipeline(settings(lake, tmdb_id_export=export), "a3", "01-05", spark=spark)
    after = StateStore(Lake(str(lake))).current()
    assert (after.version, after.meta) == (kept.version, kept.meta)
