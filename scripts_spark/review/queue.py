"""What the review page shows: a run's review queue (and audit draws) with both sides in full, in the order a
decision is worth most. Read with pyarrow from the local lake: serving the page needs no Spark.

Order ("worth"): log(1 + film popularity) x how close the link is to being decided either way, where closeness is 1
for a tie between look-alike films (`clear_best_film` unmet: a person settles it at a glance, the matcher never will)
and otherwise the score as a share of the match threshold (a link at 0.79 under a 0.82 threshold is nearly a match;
one at 0.40 is nearly dropped). Popular films first because their soundtracks are the ones people look up.
"""
from __future__ import annotations

import json
import math
import random
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ..transforms.normalise import normalise_title
from .store import (AUDITS, DecisionError, DecisionStore, Pair, effective_verdicts, local_root, new_decision,
                    utc_stamp, write_durably)

TIE = "clear_best_film"
NO_REASON = "score below the match threshold"
FILM_COLUMNS = ["tmdb_id", "title", "original_title", "year", "release_date", "genres", "popularity", "composers",
                "imdb_id", "title_norm", "original_title_norm"]
RELEASE_COLUMNS = ["source", "release_id", "release_kind", "title", "artists", "year", "release_date", "primary_type",
                   "secondary_types", "genres", "styles", "labels", "formats", "country", "credits"]
SEARCH_LIMIT = 20
# An audit draw large enough to say something per draw (20 verdicts: a 95% interval of about +-10 points at 90%
# precision), small enough to finish in a few minutes by keyboard.
AUDIT_SIZE = 20
AUDIT_MAX = 200


def _partition(root: Path, table: str, run_id: str) -> Path:
    return root.joinpath(*table.split("/"), f"run_id={run_id}")


def _read(root: Path, table: str, run_id: str, columns: list[str] | None = None,
          flt: ds.Expression | None = None) -> pa.Table:
    path = _partition(root, table, run_id)
    if not path.exists():
        return pa.table({})
    dataset = ds.dataset(str(path), format="parquet")
    present = [c for c in columns if c in dataset.schema.names] if columns else None
    return dataset.to_table(columns=present, filter=flt)


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist() if table.num_rows else []


def band_of(score: float) -> str:
    low = min(math.floor(score * 10), 9) / 10
    return f"{low:.1f}-{low + 0.1:.1f}"


def decade_of(year: int | None) -> str:
    return f"{year // 10 * 10}s" if year else "no year"


def worth(popularity: float | None, score: float, unmet: list[str], match_threshold: float) -> float:
    closeness = 1.0 if TIE in unmet else min(1.0, score / match_threshold)
    return round(math.log1p(max(popularity or 0.0, 0.0)) * closeness, 4)


def pair_key(pair: Pair) -> str:
    return f"{pair.source}|{pair.release_kind}|{pair.release_id}|{pair.tmdb_id}"


def parse_key(key: str) -> Pair:
    source, kind, release_id, tmdb_id = key.split("|")
    return Pair(source, kind, release_id, int(tmdb_id))


@dataclass
class Item:
    pair: Pair
    sample: str                  # queue | audit
    match_score: float
    model_decision: str          # review | match
    reasons: dict[str, Any]
    film: dict[str, Any] = field(default_factory=dict)
    release: dict[str, Any] = field(default_factory=dict)
    worth: float = 0.0

    @property
    def unmet(self) -> list[str]:
        return list(self.reasons.get("unmet_requirements") or [])

    @property
    def reason_labels(self) -> list[str]:
        return self.unmet or [NO_REASON]

    def summary(self) -> dict[str, Any]:
        return {"key": pair_key(self.pair), **self.pair.as_dict(), "sample": self.sample,
                "match_score": round(self.match_score, 4), "model_decision": self.model_decision,
                "film_title": self.film.get("title"), "film_year": self.film.get("year"),
                "release_title": self.release.get("title"), "release_year": self.release.get("year"),
                "reasons": self.reason_labels, "band": band_of(self.match_score),
                "decade": decade_of(self.film.get("year")), "worth": self.worth}


class ReviewData:
    """One run's queue and audit items, the catalogue to search, and the decisions store."""

    def __init__(self, lake_root: str, run_id: str):
        self.root = local_root(lake_root)
        self.run_id = run_id
        self.store = DecisionStore(str(self.root))
        if not _partition(self.root, "gold/soundtrack_matches", run_id).exists():
            raise FileNotFoundError(f"run {run_id} has no gold/soundtrack_matches in {self.root}: run step 05 first")
        self.films = _read(self.root, "silver/films", run_id, FILM_COLUMNS)
        self._film_index = {t: i for i, t in enumerate(self.films.column("tmdb_id").to_pylist())}
        self.links = _read(self.root, "gold/soundtrack_matches", run_id)
        self.matcher_version, self.thresholds = self._matcher()
        queue = _read(self.root, "gold/review_queue", run_id, ["source", "release_kind", "release_id", "tmdb_id",
                                                                "match_score", "reasons"])
        self.items: dict[str, Item] = {}
        self._add([(r, "queue", "review") for r in _rows(queue)])
        self._add([(r, "audit", "match") for r in self._audit_rows()])

    # --- loading ---------------------------------------------------------------------------------------------
    def _matcher(self) -> tuple[str | None, dict[str, float]]:
        for text in self.links.column("reasons").to_pylist()[:1] if self.links.num_rows else []:
            reasons = json.loads(text)
            return reasons.get("settings_version"), reasons.get("thresholds") or {}
        return None, {}

    def _add(self, rows: Iterable[tuple[dict[str, Any], str, str]]) -> list[Item]:
        rows = list(rows)
        if not rows:
            return []
        wanted = {r["release_id"] for r, _, _ in rows}
        releases = _read(self.root, "silver/releases", self.run_id, RELEASE_COLUMNS,
                         ds.field("release_id").isin(sorted(wanted)))
        # a Discogs master and a master-less release can share an id: the kind tells them apart
        by_release = {(r["source"], r["release_kind"], r["release_id"]): r for r in _rows(releases)}
        match_t = float(self.thresholds.get("match") or 1.0)
        added = []
        for row, sample, decision in rows:
            pair = Pair(row["source"], row["release_kind"], str(row["release_id"]), int(row["tmdb_id"]))
            key = pair_key(pair)
            if key in self.items:
                continue
            reasons = json.loads(row["reasons"] or "{}")
            item = Item(pair, sample, float(row["match_score"]), decision, reasons, self.film(pair.tmdb_id) or {},
                        by_release.get((pair.source, pair.release_kind, pair.release_id), {}))
            item.worth = worth(item.film.get("popularity"), item.match_score, item.unmet, match_t)
            self.items[key] = item
            added.append(item)
        return added

    def _audit_folder(self) -> Path:
        return self.root.joinpath(*AUDITS, self.run_id)

    def _audit_rows(self) -> list[dict[str, Any]]:
        folder = self._audit_folder()
        keys = set()
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            keys.update(json.loads(path.read_text(encoding="utf-8"))["keys"])
        return [r for r in self._model_matches() if pair_key(Pair(r["source"], r["release_kind"], r["release_id"],
                                                                   r["tmdb_id"])) in keys]

    def _model_matches(self) -> list[dict[str, Any]]:
        links = self.links
        if not links.num_rows:
            return []
        automatic = pc.equal(links.column("decision"), "match")
        if "decision_source" in links.schema.names:
            automatic = pc.and_(automatic, pc.equal(pc.fill_null(links.column("decision_source"), "model"), "model"))
        return _rows(links.filter(automatic).select(["source", "release_kind", "release_id", "tmdb_id", "match_score",
                                                     "reasons"]))

    # --- reads -----------------------------------------------------------------------------------------------
    def film(self, tmdb_id: int | None) -> dict[str, Any] | None:
        index = self._film_index.get(tmdb_id) if tmdb_id is not None else None
        if index is None:
            return None
        row = self.films.slice(index, 1).to_pylist()[0]
        return {k: (str(v) if k == "release_date" and v is not None else v) for k, v in row.items()
                if not k.endswith("_norm")}

    def verdicts(self):
        return effective_verdicts(self.store.read_all())

    def listing(self, source: str = "", reason: str = "", decade: str = "", band: str = "", sample: str = "",
                status: str = "") -> dict[str, Any]:
        """Items in worth order (most worth first), filtered; the facets count every item."""
        verdicts = self.verdicts()
        rows = []
        for item in sorted(self.items.values(), key=lambda i: (-i.worth, -i.match_score, pair_key(i.pair))):
            summary = item.summary()
            v = verdicts.get(item.pair)
            summary["verdict"] = v.verdict if v else None
            rows.append(summary)
        facets = {name: sorted({str(v) for r in rows for v in (r[name] if name == "reasons" else [r[name]])})
                  for name in ("source", "reasons", "decade", "band", "sample")}
        keep = [r for r in rows if (not source or r["source"] == source) and (not reason or reason in r["reasons"])
                and (not decade or r["decade"] == decade) and (not band or r["band"] == band)
                and (not sample or r["sample"] == sample)
                and (not status or (status == "open") == (r["verdict"] is None))]
        decided = sum(1 for r in rows if r["verdict"])
        return {"items": keep, "facets": facets, "progress": {"items": len(rows), "decided": decided,
                                                              "open": len(rows) - decided}}

    def detail(self, key: str) -> dict[str, Any]:
        item = self.items[key]
        runner = (item.reasons.get("runner_up") or {})
        runner_film = self.film(runner.get("tmdb_id"))
        verdict = self.verdicts().get(item.pair)
        return {**item.summary(), "film": item.film, "release": item.release,
                "runner_up": ({"tmdb_id": runner.get("tmdb_id"), "title": runner_film.get("title"),
                               "year": runner_film.get("year"), "score": runner.get("score")} if runner_film else None),
                "explanation": {k: item.reasons.get(k) for k in ("score", "logit", "intercept", "thresholds",
                                                                 "rank_share", "year_diff", "composer_sim",
                                                                 "contributions", "unmet_requirements")},
                "verdict": verdict.verdict if verdict else None,
                "matcher_version": self.matcher_version}

    def search_films(self, query: str, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
        """Films whose (original) title holds every word of the query; exact titles first, then popularity. A bare
        number is a tmdb_id; a trailing year ('alien 1979') narrows to that year."""
        query = (query or "").strip()[:200]
        if query.isdigit():
            film = self.film(int(query))
            return [self._hit(film)] if film else []
        year = None
        m = re.search(r"\s(1[89]\d\d|20\d\d)$", query)
        if m:
            year, query = int(m.group(1)), query[:m.start()]
        norm = normalise_title(query).title_norm or ""
        words = norm.split()
        if not words:
            return []
        films = self.films
        hit = None
        for column in ("title_norm", "original_title_norm"):
            col = pc.fill_null(films.column(column), "")
            mask = pc.and_(*[pc.match_substring(col, w) for w in words]) if len(words) > 1 else \
                pc.match_substring(col, words[0])
            hit = mask if hit is None else pc.or_(hit, mask)
        if year is not None:
            hit = pc.and_(hit, pc.equal(pc.fill_null(films.column("year"), 0), year))
        found = films.filter(hit).to_pylist()
        found.sort(key=lambda f: (f["title_norm"] != norm, -(f["popularity"] or 0.0), f["tmdb_id"]))
        return [self._hit(f) for f in found[:limit]]

    @staticmethod
    def _hit(film: dict[str, Any]) -> dict[str, Any]:
        return {"tmdb_id": film["tmdb_id"], "title": film["title"], "original_title": film.get("original_title"),
                "year": film.get("year"), "popularity": film.get("popularity"),
                "composers": film.get("composers") or []}

    # --- writes ----------------------------------------------------------------------------------------------
    def decide(self, key: str, verdict: str, reviewer: str, chosen_tmdb_id: Any = None,
               via: str = "page") -> dict[str, Any]:
        """Record a verdict on an item of this run's queue or audit draws; the score and versions come from the
        item, not the request. A chosen film must be in the run's catalogue."""
        item = self.items.get(key)
        if item is None:
            raise DecisionError(f"{key.replace('|', ' ')} is not a link in run {self.run_id}'s review queue or "
                                "audit draws")
        if verdict == "another_film" and self.film(_as_int(chosen_tmdb_id)) is None:
            raise DecisionError(f"film {chosen_tmdb_id!r} is not in run {self.run_id}'s catalogue")
        record = new_decision(item.pair, verdict, reviewer=reviewer, chosen_tmdb_id=chosen_tmdb_id,
                              run_id=self.run_id, matcher_version=self.matcher_version,
                              match_score=item.match_score, model_decision=item.model_decision, sample=item.sample,
                              via=via)
        return self.store.append(record)

    def draw_audit(self, size: int, reviewer: str, rng: random.Random | None = None) -> list[Item]:
        """A uniform random draw of automatic matches not yet on the page: their verdicts estimate the matcher's
        precision. The draw is saved with the run, so the page shows it again after a restart."""
        rng = rng or random.SystemRandom()
        pool = [r for r in self._model_matches()
                if pair_key(Pair(r["source"], r["release_kind"], r["release_id"], r["tmdb_id"])) not in self.items]
        drawn = rng.sample(pool, min(max(size, 0), AUDIT_MAX, len(pool)))
        if not drawn:
            return []
        keys = [pair_key(Pair(r["source"], r["release_kind"], r["release_id"], r["tmdb_id"])) for r in drawn]
        stamp = utc_stamp()
        doc = {"run_id": self.run_id, "drawn_at": stamp, "reviewer": reviewer, "population": len(pool),
               "matcher_version": self.matcher_version, "keys": keys}
        name = f"{stamp.replace(':', '').replace('-', '').replace('.', '')}-{secrets.token_hex(3)}.json"
        write_durably(self._audit_folder(), name, json.dumps(doc, indent=1))
        return self._add([(r, "audit", "match") for r in drawn])


def _as_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
