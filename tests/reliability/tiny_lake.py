"""Tiny inputs (a handful of records per source, written to a tmp folder) and lake helpers for the reliability suite.

Ten films and their ten MusicBrainz soundtracks ("<title>: Original Motion Picture Soundtrack") are enough for steps
01-04 to run for real: blocking proposes a pair per film, so no Silver table is empty.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
TITLES = ["Alpha Wolf", "Bright Harbour", "Cold Lantern", "Distant Orchard", "Ember Road", "Frozen Meadow",
          "Glass Canyon", "Hollow Crown", "Iron Garden", "Jade River", "Kestrel Bay", "Lunar Ferry"]


def film(tmdb_id: int, title: str, release_date: str = "2001-05-04", **extra) -> dict:
    return {"id": tmdb_id, "title": title, "original_title": title, "original_language": "en",
            "release_date": release_date, "genres": [{"id": 18, "name": "Drama"}], "popularity": 1.5,
            "vote_count": 10, "vote_average": 6.5,
            "credits": {"crew": [{"job": "Original Music Composer", "department": "Sound", "name": "Ann Composer"}]},
            **extra}


def group(mbid: str, title: str, secondary=("Soundtrack",)) -> dict:
    return {"id": mbid, "title": title, "primary-type": "Album", "secondary-types": list(secondary),
            "first-release-date": "2001-05-04",
            "artist-credit": [{"name": "Ann Composer", "joinphrase": "", "artist": {"id": "a1", "name": "Ann Composer"}}],
            "tags": [{"name": "soundtrack", "count": 1}]}


def release_xml(release_id: int, title: str, extra: str = "") -> str:
    return (f'<release id="{release_id}" status="Accepted"><title>{title}</title><genres><genre>Stage &amp; Screen'
            f'</genre></genres><styles><style>Soundtrack</style></styles><released>2001</released>{extra}</release>')


def master_xml(master_id: int, title: str) -> str:
    return (f'<master id="{master_id}"><main_release>{master_id * 10}</main_release><genres><genre>Stage &amp; '
            f'Screen</genre></genres><styles><style>Score</style></styles><year>2001</year><title>{title}</title>'
            f'<data_quality>Correct</data_quality></master>')


def write_gz(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data))
    return path


def json_lines(docs) -> bytes:
    return b"".join((d if isinstance(d, bytes) else json.dumps(d).encode()) + b"\n" for d in docs)


def dump(element: str, records) -> bytes:
    body = "\n".join(records)
    return f"<?xml version='1.0'?>\n<{element}s>\n{body}\n</{element}s>\n".encode()


def write_inputs(folder: Path, n_films: int = 10, *, title_suffix: str = "", films: list | None = None,
                 groups: list | None = None, releases: list[str] | None = None, masters: list[str] | None = None) -> Path:
    """An input folder in the documented layout; defaults give `n_films` films with one soundtrack each."""
    titles = [t + title_suffix for t in TITLES[:n_films]]
    films = films if films is not None else [film(i + 1, t) for i, t in enumerate(titles)]
    groups = groups if groups is not None else [group(f"mb-{i + 1}", f"{t}: Original Motion Picture Soundtrack")
                                                for i, t in enumerate(titles)]
    write_gz(folder / "tmdb" / "tmdb_movies.jsonl.gz", json_lines(films))
    write_gz(folder / "musicbrainz" / "release_groups.jsonl.gz", json_lines(groups))
    if releases is not None:
        write_gz(folder / "discogs" / "discogs_20200806_releases.xml.gz", dump("release", releases))
    if masters is not None:
        write_gz(folder / "discogs" / "discogs_20200806_masters.xml.gz", dump("master", masters))
    return folder


def truncate(path: Path, keep: float = 0.6) -> Path:
    """Cut a file after `keep` of its bytes, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def settings_for(tmp: Path, inputs: Path, **overrides):
    from scripts_spark.config import load_settings

    return load_settings(env_file=tmp / "no.env", environ={}, lake_root=str(tmp / "lake"), input_dir=str(inputs),
                         log_dir=str(tmp / "logs"), **overrides)


def partition_checksums(lake_root: str | Path, run_id: str) -> dict[str, str]:
    """sha256 of every data file of every committed partition of `run_id` (the bytes readers get)."""
    root = Path(lake_root)
    sums = {}
    for layer in ("bronze", "silver", "gold"):
        for path in sorted((root / layer).rglob("*")):
            if path.is_file() and f"run_id={run_id}" in path.parts and not path.name.startswith((".", "_")):
                sums[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def manifest(lake_root: str | Path, run_id: str) -> dict:
    return json.loads((Path(lake_root) / "_runs" / run_id / "manifest.json").read_text())


def cli(*args: str, env_extra: dict | None = None, **popen) -> subprocess.Popen:
    """`python -m scripts_spark ...` in a child process (its own JVM when it gets that far)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "scripts_spark", *args], cwd=REPO, env=env, text=True, **popen)


def wait_for(predicate, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is `pid` (the JVM a `python -m scripts_spark run` starts)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pids: list[int]) -> bool:
    return not [p for p in pids if Path(f"/proc/{p}").exists() and "zombie" not in _state(p)]


def _state(pid: int) -> str:
    try:
        return {"Z": "zombie"}.get((Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]), "alive")
    except OSError:
        return "zombie"
