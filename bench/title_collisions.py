"""How often generated film titles collide, against real ones: the realism check behind the scale benchmark's
look-alikes (README, "Quality at scale").

For growing numbers of films it prints, for MovieLens' real films (`data/sample/movielens/movies.csv`, one row per
film, so remakes that share a title stay) and for titles drawn by `bench/generate_scale.py`'s `film_title`:
- the share of films whose normalised title (the matcher's own `normalise_title`) another film also has;
- the number of distinct title words.
It then fits Heaps' law (distinct words = K n^b) on the real titles and sets the generator's vocabulary at 100,000
and 1,000,000 titles beside the fit's extrapolation (an extrapolation: the real million-title list is not bundled).

    .venv/bin/python bench/title_collisions.py [--max-generated 1000000] [--seed 7]
"""
from __future__ import annotations

import argparse
import csv
import math
import re
import sys
from collections import Counter
from pathlib import Path
from random import Random

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scripts_spark.transforms.normalise import normalise_title  # noqa: E402

MOVIELENS_YEAR = re.compile(r"\s*\(\d{4}\)\s*$")


def collision_share_and_vocabulary(titles: list[str]) -> tuple[float, int]:
    """(share of titles whose normalised key another title has, distinct words of the keys)."""
    keys = [normalise_title(t).title_norm for t in titles]
    counts = Counter(k for k in keys if k)
    shared = sum(1 for k in keys if k and counts[k] > 1)
    words = {w for k in counts for w in k.split()}
    return shared / len(keys), len(words)


def heaps_fit(points: list[tuple[int, int]]) -> tuple[float, float]:
    """Least-squares fit of log V = log K + b log n; returns (K, b)."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(v) for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return math.exp(my - b * mx), b


def movielens_titles(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [MOVIELENS_YEAR.sub("", row["title"]) for row in csv.DictReader(f) if row["title"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-generated", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    import generate_scale

    real = movielens_titles(REPO / "data" / "sample" / "movielens" / "movies.csv")
    Random(3).shuffle(real)
    vocabulary, rng = generate_scale.vocabulary(), Random(args.seed)
    generated = [generate_scale.film_title(rng, vocabulary) for _ in range(args.max_generated)]

    print("| films | real: shared title | real: title words | generated: shared title | generated: title words |")
    print("|---|---|---|---|---|")
    points = []
    for n in sorted({1000, 2000, 4000, 8000, len(real)}):
        real_share, real_words = collision_share_and_vocabulary(real[:n])
        gen_share, gen_words = collision_share_and_vocabulary(generated[:n])
        points.append((n, real_words))
        print(f"| {n:,} | {real_share:.3f} | {real_words:,} | {gen_share:.3f} | {gen_words:,} |")
    k, b = heaps_fit(points)
    print(f"\nHeaps' law on the real titles: words = {k:.2f} n^{b:.3f}\n")
    print("| titles | generated: shared title | generated: title words | real words, extrapolated |")
    print("|---|---|---|---|")
    for n in (100_000, 1_000_000):
        if n > len(generated):
            break
        gen_share, gen_words = collision_share_and_vocabulary(generated[:n])
        print(f"| {n:,} | {gen_share:.3f} | {gen_words:,} | {k * n ** b:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
