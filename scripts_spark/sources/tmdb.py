"""TMDB: the details payload (`/movie/{id}?append_to_response=credits`) parsed into Bronze, and the API walk.

File mode reads `tmdb/*.jsonl.gz` (one details payload a line). API mode enumerates films with
`/discover/movie` over `primary_release_date` windows small enough for TMDB's 500-page cap, then fetches the
details of every film; both modes end in the same parser (`parse_tmdb_movies`), so a film looks the same in
Bronze whichever way it came in.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Iterator

from .bronze import KEPT, REJECTED, UNREADABLE, with_reader_columns
from .checkpoint import Checkpoint, fetch_in_batches
from .http import Progress, RateLimitedSession

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from ..config import Settings

SOURCE = "tmdb"
# Crew jobs that name the film's composer (TMDB puts "Original Music Composer" under department Sound;
# older entries use "Music"). Both feed the matcher's composer cross-check.
COMPOSER_JOBS = ("Original Music Composer", "Music")
# TMDB serves at most 500 pages of 20 results for one query (status_code 22 beyond); a window whose first
# page reports more is split until every window fits.
MAX_PAGES = 500
DISCOVER_SORT = "primary_release_date.asc"  # deterministic order inside a window: resume sees the same pages
# Films per checkpoint unit: a kill loses at most this many detail calls (5 s at the default 20 requests/s),
# and a full catalogue (~1M films) stays at ~10,000 small staged files.
DETAIL_BATCH = 100
# Detail calls in flight: one connection waits ~100 ms per call, so one thread alone cannot reach the rate
# limit; the shared limiter keeps the total at TMDB_RATE_LIMIT_PER_S whatever the number of threads.
DETAIL_WORKERS = 4

# Only the fields Bronze parses; the payload keeps everything else as received.
DETAILS_DDL = ("id LONG, imdb_id STRING, title STRING, original_title STRING, original_language STRING, "
               "release_date STRING, genres ARRAY<STRUCT<id: LONG, name: STRING>>, popularity DOUBLE, "
               "vote_count LONG, vote_average DOUBLE, "
               "credits STRUCT<crew: ARRAY<STRUCT<job: STRING, department: STRING, name: STRING>>>, "
               "_corrupt_record STRING")


# --- parsing -------------------------------------------------------------------------------------
def parse_details(doc: dict[str, Any]) -> dict[str, Any]:
    """Bronze key columns of one details payload (plain Python: dry run and tests use it)."""
    crew = ((doc.get("credits") or {}).get("crew")) or []
    composers: list[str] = []
    for member in crew:
        if member.get("job") in COMPOSER_JOBS and member.get("name") and member["name"] not in composers:
            composers.append(member["name"])
    return {
        "tmdb_id": doc.get("id"),
        "imdb_id": doc.get("imdb_id"),
        "title": doc.get("title"),
        "original_title": doc.get("original_title"),
        "original_language": doc.get("original_language"),
        "release_date": doc.get("release_date"),
        "genres": [g.get("name") for g in doc.get("genres") or []],
        "popularity": doc.get("popularity"),
        "vote_count": doc.get("vote_count"),
        "vote_average": doc.get("vote_average"),
        "composers": composers,
    }


def parse_tmdb_movies(raw: "DataFrame") -> "DataFrame":
    """`raw` (payload, _source_uri[, _source_pos, _pre, _reject_hint]) -> parsed key columns + payload + `_status`
    (kept | rejected | unreadable) + reject hint. A line the reader already rejected (not UTF-8) is not parsed."""
    from pyspark.sql import functions as F

    raw = with_reader_columns(raw)
    parsed = raw.withColumn("j", F.when(F.col("_pre").isNull(), F.from_json(
        "payload", DETAILS_DDL, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"})))
    crew = F.coalesce(F.col("j.credits.crew"), F.array())
    composers = F.array_distinct(F.transform(
        F.filter(crew, lambda m: m["job"].isin(*COMPOSER_JOBS) & m["name"].isNotNull()), lambda m: m["name"]))
    bad = F.col("j").isNull() | F.col("j._corrupt_record").isNotNull() | F.col("j.id").isNull()
    return parsed.select(
        F.col("j.id").alias("tmdb_id"),
        F.col("j.imdb_id").alias("imdb_id"),
        F.col("j.title").alias("title"),
        F.col("j.original_title").alias("original_title"),
        F.col("j.original_language").alias("original_language"),
        F.col("j.release_date").alias("release_date"),
        F.transform(F.coalesce(F.col("j.genres"), F.array()), lambda g: g["name"]).alias("genres"),
        F.col("j.popularity").alias("popularity"),
        F.col("j.vote_count").alias("vote_count"),
        F.col("j.vote_average").alias("vote_average"),
        composers.alias("composers"),
        "payload", "_source_uri", "_source_pos",
        F.coalesce(F.col("j.id").cast("string"), F.regexp_extract("payload", r'"id"\s*:\s*(\d+)', 1)).alias("_record_ref"),
        F.when(F.col("_pre") == UNREADABLE, F.lit(UNREADABLE)).when(F.col("_pre") == REJECTED, F.lit(REJECTED))
         .when(bad, F.lit(REJECTED)).otherwise(F.lit(KEPT)).alias("_status"),
        "_reject_hint",
    )


# --- API -----------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Window:
    """An inclusive `primary_release_date` range of the discover walk."""
    start: date
    end: date

    @property
    def key(self) -> str:
        return f"{self.start.isoformat()}_{self.end.isoformat()}"

    def halves(self) -> tuple["Window", "Window"]:
        middle = self.start + timedelta(days=(self.end - self.start).days // 2)
        return Window(self.start, middle), Window(middle + timedelta(days=1), self.end)

    @property
    def splittable(self) -> bool:
        return self.end > self.start


class TmdbClient:
    """TMDB v3 over the shared rate-limited session; the bearer token travels in a header, never in a URL."""

    def __init__(self, settings: "Settings", session: RateLimitedSession | None = None, log=None):
        headers = {"Accept": "application/json"}
        params: dict[str, str] = {}
        if settings.tmdb_bearer_token:
            headers["Authorization"] = f"Bearer {settings.tmdb_bearer_token.reveal()}"
        elif settings.tmdb_api_key:
            params["api_key"] = settings.tmdb_api_key.reveal()  # v3 fallback; stripped from every logged URL
        self.base_url = settings.tmdb_base_url.rstrip("/")
        self.http = session or RateLimitedSession.from_settings(
            settings, name="tmdb", max_requests=settings.tmdb_rate_limit_per_s, per_seconds=1.0,
            headers=headers, params=params, log=log)

    def discover_page(self, window: "Window", page: int) -> dict[str, Any]:
        return self.http.get_json(f"{self.base_url}/discover/movie", params={
            "primary_release_date.gte": window.start.isoformat(),
            "primary_release_date.lte": window.end.isoformat(),
            "sort_by": DISCOVER_SORT, "include_adult": "false", "include_video": "false", "page": page}).data

    def movie_details(self, tmdb_id: int):
        """The raw details+credits response (text as received and the secret-free URL it came from)."""
        return self.http.get_json(f"{self.base_url}/movie/{int(tmdb_id)}", params={"append_to_response": "credits"})


def window_ids(client: TmdbClient, window: Window, page1: dict[str, Any], limit: int | None = None,
               progress: Progress | None = None) -> tuple[list[int], bool]:
    """Film ids of one window (all its pages up to the cap, or until `limit` ids) and whether the cap cut it."""
    total_pages = int(page1.get("total_pages") or 0)
    ids = [int(r["id"]) for r in page1.get("results") or [] if r.get("id") is not None]
    for page in range(2, min(total_pages, MAX_PAGES) + 1):
        if limit is not None and len(ids) >= limit:
            break
        ids += [int(r["id"]) for r in client.discover_page(window, page).get("results") or [] if r.get("id") is not None]
        if progress:
            progress.advance()
    return ids, total_pages > MAX_PAGES


def walk_windows(client: TmdbClient, checkpoint: Checkpoint, first: Window, log, max_films: int = 0) -> dict[str, int]:
    """Discover every film id in `first`, window by window, each window staged as one checkpoint unit.

    A window whose first page reports more than the 500-page cap is halved until every window fits (the
    split is remembered, so a resumed run does not ask again); a single day still over the cap cannot be
    split by date and is walked to the cap with a warning, counted as truncated, never silently.
    """
    progress = Progress(log, "tmdb discover pages")
    split = set(checkpoint.get("windows_split", []))
    found = sum(json.loads(line)["count"] for unit in checkpoint.units("windows")
                for line in checkpoint.read_unit("windows", unit))
    truncated = 0
    pending = [first]
    while pending and not (max_films and found >= max_films):
        window = pending.pop()
        if checkpoint.is_done("windows", window.key):
            continue
        if window.key in split:
            pending += reversed(window.halves())
            continue
        page1 = client.discover_page(window, 1)
        progress.advance()
        total_pages = int(page1.get("total_pages") or 0)
        if total_pages > MAX_PAGES and window.splittable:
            log.info("tmdb_window_split", window=window.key, total_pages=total_pages)
            split.add(window.key)
            checkpoint.set(windows_split=sorted(split))
            pending += reversed(window.halves())  # left half on top: the walk stays in date order
            continue
        ids, cut = window_ids(client, window, page1, limit=(max_films - found) if max_films else None,
                              progress=progress)
        if cut:
            truncated += 1
            log.warning("tmdb_window_truncated", window=window.key, total_pages=total_pages, kept_pages=MAX_PAGES)
        checkpoint.stage("windows", window.key, [json.dumps({"window": window.key, "count": len(ids), "ids": ids,
                                                             "total_pages": total_pages, "truncated": cut})])
        found += len(ids)
    progress.report(final=True)
    return {"windows": len(checkpoint.units("windows")), "windows_split": len(split), "windows_truncated": truncated,
            "discover_requests": progress.done}


def film_ids(checkpoint: Checkpoint, export_path: str = "", max_films: int = 0) -> list[int]:
    """The films to fetch: the export's ids or the discovered ones, deduplicated and sorted (stable batches)."""
    if export_path:
        ids: set[int] = set(read_id_export(export_path))
    else:
        ids = {i for unit in checkpoint.units("windows") for line in checkpoint.read_unit("windows", unit)
               for i in json.loads(line)["ids"]}
    ordered = sorted(ids)
    return ordered[:max_films] if max_films else ordered


def extract_api(client: TmdbClient, checkpoint: Checkpoint, settings: "Settings", log,
                today: date | None = None) -> dict[str, Any]:
    """The whole API extract into checkpoint files; returns its figures. Resumes from `checkpoint`."""
    metrics: dict[str, Any] = {"resumed": checkpoint.resumed}
    if settings.tmdb_id_export:
        log.info("tmdb_ids_from_export", path=settings.tmdb_id_export)
        metrics["id_source"] = "export"
    else:
        last = date.fromisoformat(settings.tmdb_date_to) if settings.tmdb_date_to else (today or date.today())
        first = Window(date.fromisoformat(settings.tmdb_date_from), last)
        metrics.update(walk_windows(client, checkpoint, first, log, settings.tmdb_max_films))
        metrics["id_source"] = "discover"
    ids = film_ids(checkpoint, settings.tmdb_id_export, settings.tmdb_max_films)
    metrics.update(fetch_in_batches(checkpoint, "details", ids, client.movie_details, log, what="tmdb films",
                                    batch_size=DETAIL_BATCH, workers=DETAIL_WORKERS))
    metrics["http_requests_this_run"] = client.http.requests_sent
    metrics["http_retries_this_run"] = client.http.retries
    return metrics


def read_id_export(path: str) -> Iterator[int]:
    """Film ids of a daily export `movie_ids_MM_DD_YYYY.json.gz` (one JSON object a line, not one document).

    Adult and video entries are left out, as the discover walk leaves them out (include_adult/include_video).
    """
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                doc = json.loads(line)
                if doc.get("id") is not None and not doc.get("adult") and not doc.get("video"):
                    yield int(doc["id"])


__all__ = ["COMPOSER_JOBS", "DETAILS_DDL", "MAX_PAGES", "SOURCE", "TmdbClient", "Window", "extract_api",
           "film_ids", "parse_details", "parse_tmdb_movies", "read_id_export", "walk_windows",
           "window_ids"]
