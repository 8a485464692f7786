"""The input folder of file mode: which files belong to which source. A missing folder means that source is skipped."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

INPUT_GLOBS: dict[str, tuple[str, ...]] = {
    "tmdb": ("tmdb/*.jsonl.gz", "tmdb/*.jsonl"),
    "musicbrainz": ("musicbrainz/*.jsonl.gz", "musicbrainz/*.jsonl"),
    "discogs_dump": ("discogs/*.xml.gz", "discogs/*.xml"),
    "discogs_search": ("discogs/search/**/*.json",),
    "movielens": ("movielens/*.csv",),
}


def input_files(input_dir: str | Path, source: str) -> list[str]:
    """Files of one source under the input folder, sorted for a deterministic read order."""
    files: list[str] = []
    for pattern in INPUT_GLOBS[source]:
        files += glob.glob(os.path.join(str(input_dir), pattern), recursive=True)
    return sorted(set(files))


def describe_inputs(input_dir: str | Path) -> dict[str, Any]:
    """Per source: files and bytes (for the manifest and the report's 'data sources' table)."""
    out = {}
    for source in INPUT_GLOBS:
        files = input_files(input_dir, source)
        out[source] = {"files": len(files), "bytes": sum(os.path.getsize(f) for f in files)}
    return out
