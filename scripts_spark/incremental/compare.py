"""Is the Gold of one run the Gold of another? The equality check behind the incremental tests and the benchmark.

    python -m scripts_spark.incremental.compare LAKE_A RUN_A LAKE_B RUN_B     exit 1 and the differences when not

Every Gold table a run of steps 05-06 writes (links, review queue, film soundtracks, marts) is read with pyarrow and
compared row by row on its key: the same rows, the same values, floating-point columns within `tolerance` (1e-9:
the sums behind the features may run in another order), and so are the numbers inside JSON text columns (a link's
`reasons` lists its feature values). `gold/link_history` is left out on purpose: a chain of incremental runs and one
full run have different histories by design.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..tables import table

COMPARED = ("gold/soundtrack_matches", "gold/review_queue", "gold/film_soundtracks", "gold/genre_by_decade",
            "gold/popularity_by_soundtrack_genre", "gold/film_genre_x_soundtrack_genre", "gold/composer_stats")
TOLERANCE = 1e-9
SHOWN = 5   # differing rows listed per table


def _rows(lake_root: str, name: str, run_id: str) -> list[dict]:
    import pyarrow.parquet as pq

    folder = Path(lake_root, *name.split("/"), f"run_id={run_id}")
    if not folder.exists():
        return []
    files = sorted(p for p in folder.rglob("*.parquet"))
    rows: list[dict] = []
    for path in files:
        rows += pq.read_table(path).to_pylist()
    return rows


def _same(a, b, tolerance: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tolerance
    if isinstance(a, str) and isinstance(b, str) and a != b and a[:1] in "{[" and b[:1] in "{[":
        # JSON text (a link's `reasons`) carries feature values as written: compared as values, to the tolerance
        try:
            return _same(json.loads(a), json.loads(b), tolerance)
        except ValueError:
            return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], tolerance) for k in a)
    return a == b


def compare_table(name: str, a: list[dict], b: list[dict], tolerance: float = TOLERANCE) -> list[str]:
    """Differences between two versions of a table's rows, keyed by its declared key."""
    declared = table(name)
    columns = [f.name for f in declared.schema.fields]
    key = list(declared.key) or columns

    def keyed(rows: list[dict]) -> dict[tuple, dict]:
        out: dict[tuple, dict] = {}
        for row in rows:
            out.setdefault(tuple(repr(row.get(k)) for k in key), row)
        return out

    ka, kb = keyed(a), keyed(b)
    out = []
    if len(ka) != len(a) or len(kb) != len(b):
        out.append(f"{name}: duplicate keys ({len(a) - len(ka)} / {len(b) - len(kb)})")
    only_a, only_b = sorted(set(ka) - set(kb)), sorted(set(kb) - set(ka))
    out += [f"{name}: only in A: {k}" for k in only_a[:SHOWN]] + [f"{name}: only in B: {k}" for k in only_b[:SHOWN]]
    if len(only_a) + len(only_b) > 2 * SHOWN:
        out.append(f"{name}: {len(only_a)} rows only in A, {len(only_b)} only in B")
    differing = [k for k in sorted(set(ka) & set(kb))
                 if not all(_same(ka[k].get(c), kb[k].get(c), tolerance) for c in columns)]
    for k in differing[:SHOWN]:
        cols = [c for c in columns if not _same(ka[k].get(c), kb[k].get(c), tolerance)]
        out.append(f"{name}: {k} differs in {', '.join(f'{c}: {ka[k].get(c)!r} != {kb[k].get(c)!r}' for c in cols)}")
    if len(differing) > SHOWN:
        out.append(f"{name}: {len(differing)} rows differ")
    return out


def compare_gold(lake_a: str, run_a: str, lake_b: str, run_b: str, tolerance: float = TOLERANCE,
                 tables: tuple[str, ...] = COMPARED) -> dict[str, list[str]]:
    """{table: differences} for every compared Gold table (an empty list: equal); local lakes only."""
    return {name: compare_table(name, _rows(lake_a, name, run_a), _rows(lake_b, name, run_b), tolerance)
            for name in tables}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts_spark.incremental.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lake_a")
    parser.add_argument("run_a")
    parser.add_argument("lake_b")
    parser.add_argument("run_b")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    args = parser.parse_args(argv)
    found = compare_gold(args.lake_a, args.run_a, args.lake_b, args.run_b, args.tolerance)
    for name, diffs in found.items():
        rows = len(_rows(args.lake_a, name, args.run_a))
        print(f"{name}: {'equal' if not diffs else 'DIFFERENT'} ({rows} rows)")
        for line in diffs:
            print(f"  {line}")
    return 1 if any(found.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
