"""Generated film titles against real ones: how often a title is shared, and how the vocabulary grows with size.

The realism check behind the scale benchmark's look-alikes (issue 25). Real titles are MovieLens' films
(`data/sample/movielens/movies.csv`, one row per film, so remakes that share a title stay); generated ones are
`bench/generate_scale.py`'s `film_title` draws. Both are counted on the matcher's own key (`normalise_title`).

Real curves are exact expectations over random subsamples of the 9,742 real titles (no shuffle noise): the share of
films whose key another film of the subsample has, and the number of distinct words of the keys. Beyond 9,742
titles nothing real is bundled, so the real curves are extrapolated with two fits, each with its uncertainty:
- vocabulary: Heaps' law, words = K n^b, least squares on the log curve at 1,000 to 9,742 titles; the band's low
  end keeps instead the local slope of the last doubling (the real curve bends down: its local exponent falls from
  0.85 at 250 titles to 0.62 at 9,742), the high end is the fit;
- shared titles: the work law the generator draws titles with (`scale_vocab.FilmWorks`), a work j taken with
  P(j >= x) = (1 + x / scale)^-shape; fitted by least squares on the log of the real curve at 250 to 9,742 titles.
  Its band is the 5-95% range of a parametric bootstrap (samples of 9,742 titles drawn from the fitted law, their
  curve refitted and extrapolated), and a back-test refits on 250 to 4,871 titles and predicts 9,742. The same
  curve is fitted as well by a pool of classic titles (a share of films take one of a fixed number of titles), which
  saturates: its extrapolation is printed beside the work law's as the model uncertainty.

    .venv/bin/python bench/title_collisions.py [--max-generated 1000000] [--seed 7] [--bootstrap 20] [--title-law pool]
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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scripts_spark.transforms.normalise import normalise_title  # noqa: E402

MOVIELENS_YEAR = re.compile(r"\s*\(\d{4}\)\s*$")
REAL_SIZES = (250, 500, 1000, 2000, 4000, 8000)
HEAPS_FROM = 1000                       # Heaps' law is fitted from this size up (below it the curve is nearly linear)
EXTRAPOLATED_SIZES = (100_000, 1_000_000)
# The work law's expected share is summed exactly over the first EXACT_WORKS works and integrated beyond.
EXACT_WORKS = 20_000


def keys_of(titles: list[str]) -> list[str]:
    return [normalise_title(t).title_norm for t in titles]


def collision_share_and_vocabulary(titles: list[str]) -> tuple[float, int]:
    """(share of titles whose normalised key another title has, distinct words of the keys)."""
    keys = keys_of(titles)
    counts = Counter(k for k in keys if k)
    shared = sum(1 for k in keys if k and counts[k] > 1)
    words = {w for k in counts for w in k.split()}
    return shared / len(keys), len(words)


def growth(titles: list[str], sizes: list[int]) -> dict[int, tuple[float, int]]:
    """collision_share_and_vocabulary of each prefix titles[:n], in one pass."""
    keys = keys_of(titles[:max(sizes)])
    counts: Counter = Counter()
    words: set[str] = set()
    shared = 0
    out = {}
    for i, k in enumerate(keys, 1):
        if k:
            counts[k] += 1
            shared += 2 if counts[k] == 2 else (1 if counts[k] > 2 else 0)
            words.update(k.split())
        if i in sizes:
            out[i] = (shared / i, len(words))
    return out


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def expected_share(key_counts: list[int], total: int, n: int) -> float:
    """Expected shared-title share of a random subsample of n of `total` titles (keys with these counts)."""
    shared = 0.0
    for c in key_counts:
        if c > 1:
            alone = c * math.exp(_log_choose(total - c, n - 1) - _log_choose(total, n)) if total - c >= n - 1 else 0.0
            shared += c * n / total - alone
    return shared / n


def expected_vocabulary(word_titles: list[int], total: int, n: int) -> float:
    """Expected distinct words of a random subsample of n of `total` titles (each word in this many titles)."""
    none = _log_choose(total, n)
    return sum(1.0 - (math.exp(_log_choose(total - f, n) - none) if total - f >= n else 0.0) for f in word_titles)


def real_curves(titles: list[str], sizes: list[int]) -> dict[int, tuple[float, float]]:
    keys = keys_of(titles)
    key_counts = list(Counter(keys).values())
    word_titles = list(Counter(w for k in keys for w in set(k.split())).values())
    return {n: (expected_share(key_counts, len(keys), n), expected_vocabulary(word_titles, len(keys), n))
            for n in sizes}


def heaps_fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares fit of log V = log K + b log n; returns (K, b)."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(v) for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return math.exp(my - b * mx), b


def work_law_share(n: int, shape: float, scale: float) -> float:
    """Expected shared-title share of n films whose works are drawn with P(j >= x) = (1 + x / scale)^-shape."""
    x = np.arange(EXACT_WORKS + 1, dtype=float)
    tail = (1 + x / scale) ** -shape
    p = tail[:-1] - tail[1:]
    share = float(np.sum(p * -np.expm1((n - 1) * np.log1p(-p))))
    xs = np.geomspace(EXACT_WORKS, 1e30, 3000)
    px = shape / scale * (1 + xs / scale) ** (-shape - 1)
    return share + float(np.trapezoid(px * -np.expm1(-(n - 1) * px), xs))


START_GRID = tuple((a, q) for a in (0.15, 0.5, 1.5) for q in (300.0, 3000.0, 30000.0))


def fit_work_law(points: list[tuple[int, float]], starts=START_GRID) -> tuple[float, float]:
    """(shape, scale) minimising the squared log error of work_law_share on (n, share) points (Nelder-Mead from
    each start, the best kept)."""
    from scipy.optimize import minimize

    def loss(theta):
        shape, scale = math.exp(theta[0]), math.exp(theta[1])
        return sum((math.log(work_law_share(n, shape, scale)) - math.log(s)) ** 2 for n, s in points)

    best = min((minimize(loss, [math.log(a), math.log(q)], method="Nelder-Mead",
                         options={"xatol": 1e-4, "fatol": 1e-12, "maxiter": 500})
                for a, q in starts), key=lambda r: r.fun)
    return float(math.exp(best.x[0])), float(math.exp(best.x[1]))


def pool_share(n: int, share: float, pool: float) -> float:
    """Expected shared-title share when a `share` of films take one of `pool` titles at random and the rest a title
    of their own: the other way to read the same real curve, which saturates at `share` instead of growing on."""
    return share * -math.expm1((n - 1) * math.log1p(-share / pool))


def fit_pool(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(share, pool) minimising the squared log error of pool_share on (n, share) points."""
    from scipy.optimize import minimize

    def loss(theta):
        share, pool = 1 / (1 + math.exp(-theta[0])), math.exp(theta[1])
        return sum((math.log(pool_share(n, share, pool)) - math.log(s)) ** 2 for n, s in points)

    best = min((minimize(loss, [x, y], method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-14, "maxiter": 2000})
                for x in (-2.0, 0.0) for y in (8.0, 11.0)), key=lambda r: r.fun)
    return 1 / (1 + math.exp(-best.x[0])), math.exp(best.x[1])


def work_law_sample(rng: np.random.Generator, n: int, shape: float, scale: float) -> list[int]:
    """Key counts of n titles drawn from the work law."""
    works = np.floor(scale * ((1.0 - rng.random(n)) ** (-1.0 / shape) - 1.0))
    return list(Counter(works.tolist()).values())


def bootstrap_work_law(shape: float, scale: float, total: int, sizes: list[int], reps: int,
                       seed: int = 3) -> list[tuple[float, float]]:
    """Refitted (shape, scale) of `reps` samples of `total` titles drawn from the fitted law."""
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(reps):
        counts = work_law_sample(rng, total, shape, scale)
        fits.append(fit_work_law([(n, expected_share(counts, total, n)) for n in sizes], starts=[(shape, scale)]))
    return fits


def movielens_titles(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [MOVIELENS_YEAR.sub("", row["title"]) for row in csv.DictReader(f) if row["title"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-generated", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bootstrap", type=int, default=20, help="parametric bootstrap samples of the work law")
    parser.add_argument("--title-law", choices=("work", "pool"), default="work",
                        help="the generator's title law (generate_scale.py --title-law)")
    args = parser.parse_args(argv)

    import generate_scale
    from scale_vocab import WORK_SCALE, WORK_SHAPE

    real = movielens_titles(REPO / "data" / "sample" / "movielens" / "movies.csv")
    sizes = sorted({*REAL_SIZES, len(real)})
    curves = real_curves(real, sizes)
    vocabulary, rng = generate_scale.vocabulary(), Random(args.seed)
    vocabulary.film_works.law = args.title_law
    generated = [generate_scale.film_title(rng, vocabulary) for _ in range(args.max_generated)]
    gen = growth(generated, [n for n in (*sizes, *EXTRAPOLATED_SIZES) if n <= len(generated)])

    k, b = heaps_fit([(n, curves[n][1]) for n in sizes if n >= HEAPS_FROM])
    last, before = sizes[-1], sizes[-2]
    local_b = math.log(curves[last][1] / curves[before][1]) / math.log(last / before)
    shape, scale = fit_work_law([(n, curves[n][0]) for n in sizes])
    half = [n for n in sizes if n <= len(real) // 2] + [len(real) // 2]
    back_shape, back_scale = fit_work_law([(n, expected_share(list(Counter(keys_of(real)).values()), len(real), n))
                                           for n in half])
    boots = bootstrap_work_law(shape, scale, len(real), sizes, args.bootstrap) if args.bootstrap else []
    pool_fraction, pool = fit_pool([(n, curves[n][0]) for n in sizes])

    def rms(share_of) -> float:
        return math.sqrt(sum(math.log(share_of(n) / curves[n][0]) ** 2 for n in sizes) / len(sizes))

    print(f"Real: {len(real):,} MovieLens titles. Generated: `film_title` of bench/generate_scale.py, "
          f"seed {args.seed}, "
          f"title law {args.title_law}.\n")
    print("| films | real: shared title | generated: shared title | real: title words | generated: title words |")
    print("|---|---|---|---|---|")
    for n in sizes:
        g = gen.get(n)
        print(f"| {n:,} | {curves[n][0]:.3f} | {g[0]:.3f} | {curves[n][1]:,.0f} | {g[1]:,} |" if g else
              f"| {n:,} | {curves[n][0]:.3f} | - | {curves[n][1]:,.0f} | - |")
    print(f"\nHeaps' law on the real titles ({HEAPS_FROM:,}-{len(real):,}): words = {k:.2f} n^{b:.3f}; "
          f"local exponent of the last step {local_b:.3f}.")
    print(f"Work law on the real shared-title curve: shape {shape:.3f}, scale {scale:,.0f}, rms log error "
          f"{rms(lambda n: work_law_share(n, shape, scale)):.3f} (the generator draws with "
          f"shape {WORK_SHAPE}, scale {WORK_SCALE:,.0f}). Back-test: fitted on {half[0]}-{half[-1]:,} titles it "
          f"predicts {work_law_share(len(real), back_shape, back_scale):.3f} at {len(real):,} "
          f"(real {curves[len(real)][0]:.3f}).")
    print(f"The other reading of the same curve, a pool of classic titles (a share {pool_fraction:.3f} of films take "
          f"one of {pool:,.0f} titles, the rest a title of their own), fits it with rms log error "
          f"{rms(lambda n: pool_share(n, pool_fraction, pool)):.3f} and saturates at "
          f"{pool_fraction:.3f}: the model uncertainty beyond the real list.\n")
    print("| films | real shared title, extrapolated: work law (bootstrap 5-95%) | pool of classics "
          "| generated: shared title | real words, extrapolated (local slope - fit) | generated: title words |")
    print("|---|---|---|---|---|---|")
    for n in EXTRAPOLATED_SIZES:
        if n > len(generated):
            break
        shares = sorted(work_law_share(n, a, q) for a, q in boots)
        band = f" ({shares[len(shares) // 20]:.3f}-{shares[-1 - len(shares) // 20]:.3f})" if shares else ""
        low = curves[last][1] * (n / last) ** local_b
        print(f"| {n:,} | {work_law_share(n, shape, scale):.3f}{band} | {pool_share(n, pool_fraction, pool):.3f} "
              f"| {gen[n][0]:.3f} | "
              f"{low:,.0f} - {k * n ** b:,.0f} | {gen[n][1]:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
