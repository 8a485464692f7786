"""MusicBrainz release groups: JSON-dump lines (file mode) or the web service's search (API mode) into Bronze.

Both shapes are the web service's JSON (`id`, `title`, `primary-type`, `secondary-types`,
`first-release-date`, `artist-credit`, `tags`, and in the dumps `relations`), so one parser serves both.
`secondary-types` is kept as received: 27 rows of the sample hold one comma-joined string (`["Compilation,
Soundtrack"]`), which is a Silver concern, not a Bronze one.

A group's IMDb URL relationships (`relations[].url.resource` = 'https://www.imdb.com/title/tt0120338/') become
`imdb_ids`, an exact bridge to the film with that IMDb id (transforms/blocking.py, decide.py). The JSON dumps carry
relations; the search the API mode walks does not (a lookup per group with `inc=url-rels` would cost a request per
group at one request a second), so API-mode groups have none. The bundled sample has them removed for evaluation.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Iterator

from .bronze import FILTERED, KEPT, REJECTED, UNREADABLE, with_reader_columns
from .checkpoint import Checkpoint, record_line
from .http import Progress, RateLimitedSession

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

    from ..config import Settings

SOURCE = "musicbrainz"
RELEASE_GROUP_DDL = ("id STRING, title STRING, `primary-type` STRING, `secondary-types` ARRAY<STRING>, "
                     "`first-release-date` STRING, "
                     "`artist-credit` ARRAY<STRUCT<name: STRING, joinphrase: STRING, "
                     "artist: STRUCT<id: STRING, name: STRING>>>, "
                     "tags ARRAY<STRUCT<name: STRING, count: LONG>>, "
                     "relations ARRAY<STRUCT<type: STRING, url: STRUCT<resource: STRING>>>, _corrupt_record STRING")
# An IMDb title URL ('https://www.imdb.com/title/tt0120338/', 'http://imdb.com/title/tt0120338'): its tt id.
IMDB_TITLE_URL = r"imdb\.com/title/(tt\d+)"
# The web service search that lists soundtrack release groups; 100 is its largest page.
SEARCH_QUERY = "secondarytype:soundtrack"
SEARCH_PAGE_SIZE = 100
# The word a soundtrack group's line must contain (its secondary types name it); the file reader checks the lines
# without it and counts the JSON objects among them as filtered (bronze.read_json_lines).
PREFILTER_WORD = "soundtrack"


def parse_release_group(doc: dict[str, Any]) -> dict[str, Any]:
    """Bronze key columns of one release group (plain Python: dry run and tests)."""
    return {
        "release_group_id": doc.get("id"),
        "title": doc.get("title"),
        "primary_type": doc.get("primary-type"),
        "secondary_types": list(doc.get("secondary-types") or []),
        "first_release_date": doc.get("first-release-date"),
        "artists": [c.get("name") or (c.get("artist") or {}).get("name") for c in doc.get("artist-credit") or []],
        "tags": [t.get("name") for t in doc.get("tags") or []],
        "imdb_ids": imdb_ids_of(doc),
    }


def imdb_ids_of(doc: dict[str, Any]) -> list[str]:
    """The IMDb title ids of a group's URL relationships, sorted and distinct."""
    found = (re.search(IMDB_TITLE_URL, ((r or {}).get("url") or {}).get("resource") or "")
             for r in doc.get("relations") or [])
    return sorted({m.group(1) for m in found if m})


def is_soundtrack_group(secondary_types: "Column") -> "Column":
    """A secondary type naming Soundtrack, also inside the comma-joined strings some rows carry."""
    from pyspark.sql import functions as F

    return F.exists(F.coalesce(secondary_types, F.array()), lambda t: F.lower(t).contains("soundtrack"))


def parse_release_groups(raw: "DataFrame", soundtrack_filter: bool = False) -> "DataFrame":
    """`raw` (payload, _source_uri[, _source_pos, _pre, _reject_hint]) -> Bronze key columns + payload + `_status`
    + reject hint.

    With `soundtrack_filter`, a group whose secondary types do not name Soundtrack is `filtered` (counted, not
    stored). Most lines of a full dump lack the word: the file reader (`read_json_lines(prefilter=PREFILTER_WORD)`)
    has already parsed those, counting the JSON objects among them as filtered (`_pre`) and rejecting the rest with
    its reason. Here, a line without the word is filtered unparsed only when the reader did not look at it (`_pre`
    null: API pages, whose groups are objects this code serialised itself).
    """
    from pyspark.sql import functions as F

    raw = with_reader_columns(raw)
    pre = F.col("_pre")
    worth = F.lower(F.col("payload")).contains(PREFILTER_WORD) if soundtrack_filter else F.lit(True)
    parsed = raw.withColumn("_parse", pre.isNull() & worth).withColumn("j", F.when(F.col("_parse"), F.from_json(
        "payload", RELEASE_GROUP_DDL, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"})))
    bad = F.col("j").isNull() | F.col("j._corrupt_record").isNotNull() | F.col("j.id").isNull() | (F.col("j.id") == "")
    status = (F.when(pre == UNREADABLE, F.lit(UNREADABLE)).when(pre == REJECTED, F.lit(REJECTED))
              .when(~F.col("_parse"), F.lit(FILTERED)).when(bad, F.lit(REJECTED)))
    if soundtrack_filter:
        status = status.when(~is_soundtrack_group(F.col("j.`secondary-types`")), F.lit(FILTERED))
    credit = F.coalesce(F.col("j.`artist-credit`"), F.array())
    return parsed.select(
        F.col("j.id").alias("release_group_id"),
        F.col("j.title").alias("title"),
        F.col("j.`primary-type`").alias("primary_type"),
        F.coalesce(F.col("j.`secondary-types`"), F.array()).alias("secondary_types"),
        F.col("j.`first-release-date`").alias("first_release_date"),
        F.transform(credit, lambda c: F.coalesce(c["name"], c["artist"]["name"])).alias("artists"),
        F.transform(F.coalesce(F.col("j.tags"), F.array()), lambda t: t["name"]).alias("tags"),
        F.array_sort(F.array_distinct(F.filter(
            F.transform(F.coalesce(F.col("j.relations"), F.array()),
                        lambda r: F.regexp_extract(F.coalesce(r["url"]["resource"], F.lit("")), IMDB_TITLE_URL, 1)),
            lambda i: i != ""))).alias("imdb_ids"),
        "payload", "_source_uri", "_source_pos",
        F.coalesce(F.col("j.id"), F.regexp_extract("payload", r'"id"\s*:\s*"([^"]+)"', 1)).alias("_record_ref"),
        status.otherwise(F.lit(KEPT)).alias("_status"),
        "_reject_hint",
    ).withColumn("payload", F.when(F.col("_status") != FILTERED, F.col("payload")))  # filtered: counted, not kept


class MusicBrainzClient:
    """MusicBrainz web service: ~1 request/s per IP and a User-Agent with contact details, or it answers 503."""

    def __init__(self, settings: "Settings", session: RateLimitedSession | None = None, log=None):
        self.base_url = settings.musicbrainz_base_url.rstrip("/")
        self.http = session or RateLimitedSession.from_settings(
            settings, name="musicbrainz", max_requests=settings.musicbrainz_rate_limit_per_s, per_seconds=1.0,
            headers={"User-Agent": settings.musicbrainz_user_agent, "Accept": "application/json"}, log=log)

    def search_page(self, offset: int, query: str = SEARCH_QUERY):
        return self.http.get_json(f"{self.base_url}/release-group", params={
            "query": query, "fmt": "json", "limit": SEARCH_PAGE_SIZE, "offset": offset})


def page_release_groups(page: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from page.get("release-groups") or []




def extract_api(client: MusicBrainzClient, checkpoint: Checkpoint, log, max_pages: int = 0) -> dict[str, Any]:
    """Soundtrack release groups from the search, one checkpoint unit per page of 100 (by offset).

    Each group is staged as its own JSON text (the search page re-serialised per group), which is the
    same shape as a JSON-dump line, so file and API mode share the parser.
    """
    offset = int(checkpoint.get("next_offset", 0))
    progress = Progress(log, "musicbrainz release groups", total=checkpoint.get("total"), done=offset)
    total = checkpoint.get("total")
    while (total is None or offset < total) and not (max_pages and offset >= max_pages * SEARCH_PAGE_SIZE):
        resp = client.search_page(offset)
        total = int(resp.data.get("count") or 0)
        groups = list(page_release_groups(resp.data))
        if not groups:
            break
        offset += len(groups)
        checkpoint.stage("pages", f"offset-{offset - len(groups):08d}",
                         [record_line(resp.url, json.dumps(g, ensure_ascii=False)) for g in groups],
                         next_offset=offset, total=total)
        progress.total = total
        progress.advance(len(groups))
    progress.report(final=True)
    return {"resumed": checkpoint.resumed, "release_groups_listed": total or 0,
            "search_pages": len(checkpoint.units("pages")), "http_requests_this_run": client.http.requests_sent}
