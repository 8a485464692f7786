"""Three snapshots of the bundled sample that add, edit (title, date, composer) and delete records in every source.

    s1 = the sample without some held-back records of every source (linked films and releases among them)
    s2 = s1 + half the held-back records back, edits of titles, dates and composers in every source, deletions
         (linked films and releases among them), and new records: a clone of a linked film under a new id (it ties
         with the original for the original's soundtrack), a new release folded into an existing Discogs master, a
         cloned Discogs master, a cloned MusicBrainz group, a new search page
    s3 = the bundled sample itself: everything held back or deleted comes back, s2's edits are undone and its new
         records vanish, so the last incremental run adds, edits and deletes in every source too

The last snapshot is the sample so that the full run it is compared against is the session's sample run
(conftest.sample_run): the chain costs three runs, not four.

Targets are drawn from the labelled positive pairs (data/eval/dev_labels.csv), so the changes reach Gold: links move,
change decision and score, appear and vanish. The choice is fixed (seeded), so the snapshots are the same every time.
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from bench.snapshots import SOURCES, Changes, clone_discogs, clone_musicbrainz, clone_tmdb, derive, iter_records, \
    source_files

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
LABELS = REPO / "data" / "eval" / "dev_labels.csv"
SEED = 22


def _records(source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in source_files(SAMPLE)[source]:
        for record_id, text in iter_records(source, path, SAMPLE):
            out.setdefault(record_id, text)
    return out


def _soundtrack(text: str) -> bool:
    return any(m in text for m in ("Screen</genre>", ">Soundtrack</style>", ">Score</style>"))


def plan_changes() -> tuple[Changes, Changes]:
    """(s1, s2) changes against the sample (s3 is the sample)."""
    rng = random.Random(SEED)
    with open(LABELS, newline="", encoding="utf-8") as fh:
        positives = [r for r in csv.DictReader(fh) if r["label"] == "1"]
    mb_pairs = [(r["tmdb_id"], r["release_id"]) for r in positives if r["source"] == "musicbrainz"]
    rng.shuffle(mb_pairs)
    records = {s: _records(s) for s in SOURCES}
    linked_films = list(dict.fromkeys(f for f, _ in mb_pairs if f in records["tmdb"]))
    linked_groups = list(dict.fromkeys(g for _, g in mb_pairs if g in records["musicbrainz"]))
    masters = sorted(i for i, t in records["discogs_masters"].items() if _soundtrack(t))
    releases = sorted(i for i, t in records["discogs_releases"].items() if _soundtrack(t))
    pages = sorted(records["discogs_search"])
    others = {s: sorted(records[s]) for s in ("tmdb", "musicbrainz")}

    def take(pool: list[str], n: int) -> list[str]:
        picked = pool[:n]
        del pool[:n]
        return picked

    rng.shuffle(masters)
    rng.shuffle(releases)
    rng.shuffle(pages)
    for pool in others.values():
        rng.shuffle(pool)
    held = {"tmdb": take(linked_films, 4) + take(others["tmdb"], 20),
            "musicbrainz": take(linked_groups, 4) + take(others["musicbrainz"], 20),
            "discogs_masters": take(masters, 4), "discogs_releases": take(releases, 4),
            "discogs_search": take(pages, 2)}
    edits2 = {"tmdb": _kinds(take(linked_films, 6)), "musicbrainz": _kinds(take(linked_groups, 6)),
              "discogs_masters": _kinds(take(masters, 3)), "discogs_releases": _kinds(take(releases, 3)),
              "discogs_search": _kinds(take(pages, 3))}
    deletes2 = {"tmdb": take(linked_films, 3) + take(others["tmdb"], 10),
                "musicbrainz": take(linked_groups, 3) + take(others["musicbrainz"], 10),
                "discogs_masters": take(masters, 2), "discogs_releases": take(releases, 2),
                "discogs_search": take(pages, 1)}

    def clones(step: int) -> dict[str, list[str]]:
        film = take(linked_films, 2)
        group = take(linked_groups, 2)
        release_ids = take(releases, 2)
        page = take(pages, 1)
        return {"tmdb": [clone_tmdb(records["tmdb"][f], 9_000_000 + 10 * step + i) for i, f in enumerate(film)],
                "musicbrainz": [clone_musicbrainz(records["musicbrainz"][g], f"s{step}") for g in group],
                "discogs_masters": [clone_discogs(records["discogs_masters"][m], 80_000_000 + 10 * step + i)
                                    for i, m in enumerate(take(masters, 1))],
                "discogs_releases": [clone_discogs(records["discogs_releases"][r], 90_000_000 + 10 * step + i)
                                     for i, r in enumerate(release_ids)],
                "discogs_search": [f"added/page_{step}.json\n" + _retitled(records["discogs_search"][p])
                                   for p in page]}

    adds2 = clones(2)
    s1 = Changes()
    for s in SOURCES:
        s1.delete[s] = set(held[s])
    s2 = Changes()
    for s in SOURCES:
        half = held[s][: len(held[s]) // 2]
        s2.delete[s] = set(held[s][len(half):]) | set(deletes2[s])
        s2.edit[s] = dict(edits2[s])
        s2.add[s] = list(adds2[s])
    return s1, s2


def _kinds(ids: list[str]) -> dict[str, str]:
    return {record_id: ("title", "date", "composer")[i % 3] for i, record_id in enumerate(ids)}


def _retitled(page_text: str) -> str:
    page = json.loads(page_text)
    for result in page.get("results") or []:
        result["id"] = int(result.get("id") or 0) + 50_000_000
        result["title"] = f"{result.get('title') or ''} (Expanded)"
    return json.dumps(page, indent=2)


def build_snapshots(root: Path) -> list[Path]:
    """s1 and s2 under `root` (each a complete input folder), then s3: the bundled sample's own folder."""
    out = []
    for n, changes in enumerate(plan_changes(), start=1):
        folder = root / f"s{n}"
        derive(SAMPLE, folder, changes)
        out.append(folder)
    return out + [SAMPLE]


def write_tiny_input(folder: Path, films: list[str], groups: list[str], records: dict[str, dict[str, str]]) -> Path:
    """An input folder holding only the given TMDB films and MusicBrainz groups of the sample (no Discogs)."""
    import gzip

    for source, ids, sub in (("tmdb", films, "tmdb/tmdb_movies.jsonl.gz"),
                             ("musicbrainz", groups, "musicbrainz/musicbrainz_release_groups.jsonl.gz")):
        path = folder / sub
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for record_id in ids:
                fh.write(records[source][record_id] + "\n")
    return folder


def tiny_world(n: int = 40) -> tuple[list[str], list[str], dict[str, dict[str, str]]]:
    """`n` labelled (film, MusicBrainz group) pairs of the sample, plus as many unlabelled films: a lake in seconds."""
    with open(LABELS, newline="", encoding="utf-8") as fh:
        positives = [r for r in csv.DictReader(fh) if r["label"] == "1" and r["source"] == "musicbrainz"]
    records = {s: _records(s) for s in ("tmdb", "musicbrainz")}
    pairs = [(r["tmdb_id"], r["release_id"]) for r in positives
             if r["tmdb_id"] in records["tmdb"] and r["release_id"] in records["musicbrainz"]]
    films = list(dict.fromkeys(f for f, _ in pairs[:n]))
    films += [f for f in sorted(records["tmdb"]) if f not in films][:n]
    groups = list(dict.fromkeys(g for _, g in pairs[:n]))
    return films, groups, records
