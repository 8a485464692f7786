"""Input snapshots that add, edit and delete records of every source, for the incremental tests and bench.

A snapshot is an input folder in the pipeline's layout (tmdb/, musicbrainz/, discogs/ dumps and search/ pages,
movielens/). `derive(src, dst, changes)` streams every file of `src` into `dst` record by record: a deleted record is
left out, an edited one rewritten (its title, its date or its composer), an added one appended to the source's last
file; every other record is copied byte for byte, so its content hash does not change. MovieLens files are linked.

    .venv/bin/python bench/snapshots.py SRC DST --share 0.005 --seed 1    # change 0.5% of every source's records

`--share` splits evenly into deletes, edits (title, date, composer in turn) and adds (clones of existing records with
new ids, so a new film or release competes with an old one), chosen by a hash of the seed and the record id.
`--sources tmdb` changes only the named sources and links every other source's files unchanged (their bytes are the
base's, as on a night that brings a new TMDB export only: an incremental run leaves those sources unread).
"""
from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import re
import shutil
import sys
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts_spark.sources.discogs import dump_kind, iter_dump_record_bytes  # noqa: E402

SOURCES = ("tmdb", "musicbrainz", "discogs_masters", "discogs_releases", "discogs_search")
EDITS = ("title", "date", "composer")
XML_ID = re.compile(rb'^<(?:master|release) id="([^"]*)"')
COMPRESSLEVEL = 1   # snapshots are scratch data: fast to write matters more than size


@dataclass
class Changes:
    """What a derived snapshot changes, per source: ids to delete, ids to edit (-> kind), records to add (the
    record's text; a search page is '<path under discogs/search/>\n<page text>')."""
    delete: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SOURCES})
    edit: dict[str, dict[str, str]] = field(default_factory=lambda: {s: {} for s in SOURCES})
    add: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SOURCES})
    # Hash-chosen changes (bench): share of each source's records to change, and the seed.
    share: float = 0.0
    seed: int = 0

    def counts(self) -> dict[str, dict[str, int]]:
        return {s: {"deleted": len(self.delete[s]), "edited": len(self.edit[s]), "added": len(self.add[s])}
                for s in SOURCES}


# --- record edits ---------------------------------------------------------------------------------------------
def edit_tmdb(line: str, kind: str) -> str:
    doc = json.loads(line)
    if kind == "title":
        doc["title"] = f"{doc.get('title') or ''} Redux"
    elif kind == "date":
        doc["release_date"] = _shift_date(doc.get("release_date"), 3)
    else:
        doc.setdefault("credits", {})["crew"] = [{"job": "Original Music Composer", "department": "Sound",
                                                  "name": "Edited Composer"}]
    return json.dumps(doc, ensure_ascii=False)


def edit_musicbrainz(line: str, kind: str) -> str:
    doc = json.loads(line)
    if kind == "title":
        doc["title"] = f"{doc.get('title') or ''} Redux"
    elif kind == "date":
        doc["first-release-date"] = _shift_date(doc.get("first-release-date"), 3) or "1999"
    else:
        doc["artist-credit"] = [{"name": "Edited Composer", "joinphrase": "",
                                 "artist": {"id": "00000000-0000-0000-0000-000000000001", "name": "Edited Composer"}}]
    return json.dumps(doc, ensure_ascii=False)


def edit_discogs(fragment: str, kind: str) -> str:
    root = ET.fromstring(fragment)
    if kind == "title":
        title = root.find("title")
        if title is not None:
            title.text = f"{title.text or ''} Redux"
    elif kind == "date":
        for tag in ("released", "year"):
            node = root.find(tag)
            if node is not None and node.text:
                node.text = _shift_date(node.text, 3) if tag == "released" else str(int(node.text) + 3)
    else:
        names = root.findall("extraartists/artist/name") or root.findall("artists/artist/name")
        for node in names[:1]:
            node.text = "Edited Composer"
    return ET.tostring(root, encoding="unicode")


def edit_search_page(text: str, kind: str) -> str:
    page = json.loads(text)
    for result in (page.get("results") or [])[:2]:
        if kind == "title":
            result["title"] = f"{result.get('title') or ''} Redux"
        elif kind == "date":
            result["year"] = str(int(result["year"]) + 3) if str(result.get("year") or "").isdigit() else "1999"
        else:
            artist, _, title = (result.get("title") or "").partition(" - ")
            result["title"] = f"Edited Composer - {title or artist}"
    return json.dumps(page, indent=2, ensure_ascii=False)


def _shift_date(text: str | None, years: int) -> str | None:
    if not text or not text[:4].isdigit():
        return text
    return f"{int(text[:4]) + years:04d}{text[4:]}"


EDITORS: dict[str, Callable[[str, str], str]] = {
    "tmdb": edit_tmdb, "musicbrainz": edit_musicbrainz, "discogs_masters": edit_discogs,
    "discogs_releases": edit_discogs, "discogs_search": edit_search_page}


# --- clones: new records that compete with old ones --------------------------------------------------------------
def clone_tmdb(line: str, new_id: int) -> str:
    doc = json.loads(line)
    doc["id"] = new_id
    doc["imdb_id"] = None
    return json.dumps(doc, ensure_ascii=False)


def clone_musicbrainz(line: str, salt: str) -> str:
    doc = json.loads(line)
    doc["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{doc['id']}/{salt}"))
    return json.dumps(doc, ensure_ascii=False)


def clone_discogs(fragment: str, new_id: int) -> str:
    return re.sub(r'^<(master|release) id="[^"]*"', lambda m: f'<{m.group(1)} id="{new_id}"', fragment, count=1)


# --- reading and writing records -------------------------------------------------------------------------------
def source_files(folder: Path) -> dict[str, list[Path]]:
    dumps = sorted((folder / "discogs").glob("*.xml.gz")) + sorted((folder / "discogs").glob("*.xml"))
    return {"tmdb": sorted((folder / "tmdb").glob("*.jsonl*")),
            "musicbrainz": sorted((folder / "musicbrainz").glob("*.jsonl*")),
            "discogs_masters": [p for p in dumps if dump_kind(str(p)) == "masters"],
            "discogs_releases": [p for p in dumps if dump_kind(str(p)) == "releases"],
            "discogs_search": sorted((folder / "discogs" / "search").rglob("*.json"))}


def _open(path: Path, mode: str):
    if path.suffix == ".gz":
        return gzip.open(path, mode, compresslevel=COMPRESSLEVEL) if "w" in mode else gzip.open(path, mode)
    return open(path, mode)


def iter_records(source: str, path: Path, folder: Path) -> Iterator[tuple[str, str]]:
    """(record id, record text) of one file."""
    if source == "discogs_search":
        yield str(path.relative_to(folder / "discogs" / "search")), path.read_text(encoding="utf-8")
        return
    if source in ("tmdb", "musicbrainz"):
        with _open(path, "rt") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line.strip():
                    yield str(json.loads(line)["id"]), line
        return
    with _open(path, "rb") as fh:
        for raw in iter_dump_record_bytes(fh, "master" if source == "discogs_masters" else "release"):
            match = XML_ID.match(raw)
            yield (match.group(1).decode() if match else ""), raw.decode("utf-8")


def chosen(seed: int, source: str, record_id: str) -> float:
    """A record's place in [0, 1) for a seed: the same record is chosen the same way every time."""
    digest = hashlib.sha1(f"{seed}|{source}|{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def derive(src: Path, dst: Path, changes: Changes, sources: tuple[str, ...] = SOURCES) -> dict[str, dict[str, int]]:
    """Write snapshot `dst` = `src` with `changes` applied (and, with `changes.share`, hash-chosen ones) to
    `sources`, the other sources' files linked as they are; returns the counts per source."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    if (src / "movielens").exists():
        (dst / "movielens").symlink_to((src / "movielens").resolve(), target_is_directory=True)
    done: dict[str, dict[str, int]] = {}
    for source, files in source_files(src).items():
        if source not in sources:
            done[source] = _link_unchanged(files, src, dst)
            continue
        counts = {"records": 0, "deleted": 0, "edited": 0, "added": 0}
        max_id, clones = 0, []
        for n, path in enumerate(files):
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            records = []
            for record_id, text in iter_records(source, path, src):
                counts["records"] += 1
                if record_id.isdigit():
                    max_id = max(max_id, int(record_id))
                kind = changes.edit[source].get(record_id)
                if changes.share:
                    u = chosen(changes.seed, source, record_id)
                    third = changes.share / 3
                    if u < third:
                        changes.delete[source].add(record_id)
                    elif u < 2 * third:
                        kind = EDITS[int(u * 1e9) % 3]
                    elif u < changes.share:
                        clones.append(text)
                if record_id in changes.delete[source]:
                    counts["deleted"] += 1
                    continue
                if kind:
                    text = EDITORS[source](text, kind)
                    counts["edited"] += 1
                records.append(text)
            if n == len(files) - 1 and source != "discogs_search":
                added = list(changes.add[source]) + _clones(source, clones, max_id, changes.seed)
                counts["added"] += len(added)
                records += added
            _write(source, target, records)
        if source == "discogs_search":
            for page in changes.add[source]:   # '<path under discogs/search/>\n<page text>'
                name, _, text = page.partition("\n")
                (dst / "discogs" / "search" / name).parent.mkdir(parents=True, exist_ok=True)
                (dst / "discogs" / "search" / name).write_text(text, encoding="utf-8")
                counts["added"] += 1
        done[source] = counts
    return done


def _link_unchanged(files: list[Path], src: Path, dst: Path) -> dict[str, int]:
    for path in files:
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path.resolve())
    return {"deleted": 0, "edited": 0, "added": 0, "files_linked": len(files)}


def _clones(source: str, texts: list[str], max_id: int, seed: int) -> list[str]:
    if source == "tmdb":
        return [clone_tmdb(t, max_id + 1 + i) for i, t in enumerate(texts)]
    if source == "musicbrainz":
        return [clone_musicbrainz(t, f"{seed}-{i}") for i, t in enumerate(texts)]
    if source in ("discogs_masters", "discogs_releases"):
        return [clone_discogs(t, max_id + 1 + i) for i, t in enumerate(texts)]
    return []   # a search page is a file of its own: added pages come through `Changes.add` as (name, text) lines


def _write(source: str, target: Path, records: list[str]) -> None:
    if source == "discogs_search":
        if records:
            target.write_text(records[0], encoding="utf-8")
        return
    if source in ("tmdb", "musicbrainz"):
        with _open(target, "wt") as fh:
            for line in records:
                fh.write(line + "\n")
        return
    root = "masters" if source == "discogs_masters" else "releases"
    with _open(target, "wb") as fh:
        fh.write(f"<{root}>\n".encode())
        for record in records:
            fh.write(record.encode("utf-8") + b"\n")
        fh.write(f"</{root}>\n".encode())


def changes_copy(changes: Changes) -> Changes:
    return copy.deepcopy(changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--share", type=float, default=0.005, help="share of each source's records to change")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES),
                        help="the sources to change (default: all); the others' files are linked unchanged")
    args = parser.parse_args(argv)
    print(json.dumps(derive(args.src, args.dst, Changes(share=args.share, seed=args.seed), tuple(args.sources)),
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
