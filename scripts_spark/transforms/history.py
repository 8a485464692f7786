"""Link identity and link history: `link_id`, and the events between two versions of gold/soundtrack_matches.

`link_id` names a (release, film) link, the same in every run, full or incremental, and outside Spark:
the first 24 hex digits of sha256('<source>|<release_kind>|<release_id>|<tmdb_id>'). In DuckDB:
`substr(sha256(source || '|' || release_kind || '|' || release_id || '|' || tmdb_id), 1, 24)`. A release that
moves to another film gets a new link_id (the review loop's verdicts are about one film for one release).
"""
from __future__ import annotations

import hashlib

from pyspark.sql import Column
from pyspark.sql import functions as F

LINK_ID_HEX = 24   # 96 bits: no collision in any catalogue (10M links: odds ~1e-15)


def link_id(source: Column | str = "source", release_kind: Column | str = "release_kind",
            release_id: Column | str = "release_id", tmdb_id: Column | str = "tmdb_id") -> Column:
    """The link's stable id (see the module docstring); null when a part is null."""
    parts = [F.col(c) if isinstance(c, str) else c for c in (source, release_kind, release_id, tmdb_id)]
    joined = F.concat(parts[0], F.lit("|"), parts[1], F.lit("|"), parts[2], F.lit("|"), parts[3].cast("string"))
    return F.substring(F.sha2(joined, 256), 1, LINK_ID_HEX)


def link_id_of(source: str, release_kind: str, release_id: str, tmdb_id: int) -> str:
    """`link_id` in plain Python (tools, the review page, tests)."""
    text = f"{source}|{release_kind}|{release_id}|{tmdb_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:LINK_ID_HEX]
