"""A feed's input files and their fingerprint: what lets an incremental run leave a feed unread when its files are
byte for byte the ones the state's registry was built from (steps 01 and 02, and the dry run; plain Python).

A fingerprint lists each file of a feed by its path relative to the input folder, its size and the sha256 of its bytes
as stored (the gzip, not what it inflates to: the 10% input's 1.1 GB of files hashed in 0.9 s, files in the page
cache; reading them takes steps 01-02 about 43 s), and digests that list. A file renamed, added, dropped or changed by
one byte changes it; a new mtime does not (a copy or a `touch` is no change).

The state keeps, per feed, the fingerprint of the files its registry was last built from and what that read counted
(`input_record`), in the version's meta (state.py): it advances with the registries, in the same pointer switch.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .state import Version

HASH_BLOCK_BYTES = 1 << 20
SHORT = 12   # hex digits of a fingerprint shown in logs and manifests


def fingerprint_files(input_dir: str, paths: list[str]) -> dict[str, Any]:
    """{"fingerprint": sha256 over the file list, "files": [{"path", "bytes", "sha256"}] sorted by path}."""
    files = []
    for path in paths:
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        files.append({"path": os.path.relpath(path, input_dir).replace(os.sep, "/"), "bytes": os.path.getsize(path),
                      "sha256": digest})
    files.sort(key=lambda f: f["path"])
    listing = json.dumps([[f["path"], f["bytes"], f["sha256"]] for f in files]).encode()
    return {"fingerprint": hashlib.sha256(listing).hexdigest(), "files": files}


def input_record(run_id: str, files: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    """What the state keeps of a feed read by `run_id`: its files' fingerprint and what the read counted (`records`
    registered, their distinct `ids`, and the records the reader `set_aside` before any parse, by status)."""
    return {"run": run_id, **files, **read}


def unchanged_since(base: "Version | None", feed: str, files: dict[str, Any]) -> dict[str, Any] | None:
    """The state's record of `feed` when `files` are exactly the files its registry was built from, else None.

    A feed whose last read stopped at an unreadable file is read again: the run then stops, or reports the loss
    with ALLOW_PARTIAL_INPUT, as it would have on that read."""
    if base is None or f"registry_{feed}" not in base.tables:
        return None
    record = (base.meta.get("inputs") or {}).get(feed)
    if not record or record.get("fingerprint") != files["fingerprint"]:
        return None
    return None if record.get("set_aside", {}).get("unreadable") else record


def files_difference(base: "Version | None", feed: str, files: dict[str, Any]) -> str:
    """How `files` differ from those the state's record of `feed` names (for the log and the manifest)."""
    record = ((base.meta.get("inputs") or {}).get(feed) if base else None)
    if not record:
        return "no fingerprint of this feed's files in the state: read and diffed"
    before = {f["path"]: f["sha256"] for f in record["files"]}
    now = {f["path"]: f["sha256"] for f in files["files"]}
    parts = [f"{label}: {', '.join(paths)}" for label, paths in (
        ("added", sorted(now.keys() - before.keys())), ("dropped", sorted(before.keys() - now.keys())),
        ("changed", sorted(p for p in now.keys() & before.keys() if now[p] != before[p]))) if paths]
    if not parts:
        return f"the files run {record['run']} read, whose read stopped at an unreadable file: read again"
    return f"files differ from those run {record['run']} read ({'; '.join(parts)}): read and diffed"


def short(files: dict[str, Any]) -> str:
    return files["fingerprint"][:SHORT]
