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


def gzip_problem(path: str, block_bytes: int = 1 << 20) -> str | None:
    """Read every gzip member of a file to its end (CRC and length checked); None when the file is whole, else
    where it stops and why. A dry run calls this on every .gz input: a truncated download is found before a run."""
    from .bronze import READ_ERRORS, open_input

    done = 0
    try:
        with open_input(path) as fh:
            while chunk := fh.read1(block_bytes):
                done += len(chunk)
    except READ_ERRORS as exc:
        return (f"{path}: unreadable from byte {done:,} of the decompressed data (file size "
                f"{os.path.getsize(path):,} bytes): {type(exc).__name__}: {exc}")
    return None


def gzip_problems(input_dir: str | Path) -> list[str]:
    """`gzip_problem` of every .gz input file of every source."""
    files = sorted({f for source in INPUT_GLOBS for f in input_files(input_dir, source) if f.endswith(".gz")})
    return [problem for problem in map(gzip_problem, files) if problem]
