"""The scale generator's realism (issue 25): title sharing and vocabulary growth as in real titles, popularity as a
prior, Discogs master/release id twins; and a 0.1% input generated in seconds. Pure Python: no Spark."""
from __future__ import annotations

import csv
import gzip
import json
import math
import re
import sys
import time
from collections import Counter
from pathlib import Path
from random import Random

import pytest

from bench import generate_scale as gen
from bench import scale_vocab

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import title_collisions  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# 0.1% of the full dumps.
PERMILLE = dict(films=1000, releases=18000, masters=2400, mb_groups=3500)


@pytest.fixture(scope="module")
def vocab():
    return gen.vocabulary()


@pytest.fixture(scope="module")
def permille(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen_0.1pct")
    start = time.perf_counter()
    summary = gen.generate(**PERMILLE, out=out, seed=7, workers=1)
    return {"out": out, "summary": summary, "seconds": time.perf_counter() - start}


@pytest.fixture(scope="module")
def real_titles():
    return title_collisions.movielens_titles(REPO / "data" / "sample" / "movielens" / "movies.csv")


def _titles(vocab, n: int, seed: int = 7) -> list[str]:
    rng = Random(seed)
    return [gen.film_title(rng, vocab) for _ in range(n)]


def test_a_tenth_of_a_percent_input_is_generated_in_seconds(permille):
    assert permille["seconds"] < 30
    counts = permille["summary"]["counts"]
    assert (counts["films"], counts["releases"], counts["masters"]) == (1000, 18000, 2400)


def test_generated_titles_are_shared_as_often_as_real_ones_at_the_real_list_size(vocab, real_titles):
    n = len(real_titles)
    real_share = title_collisions.real_curves(real_titles, [n])[n][0]
    generated_share, _ = title_collisions.collision_share_and_vocabulary(_titles(vocab, n))
    assert real_share == pytest.approx(0.069, abs=0.002)
    assert generated_share == pytest.approx(real_share, abs=0.015)


def test_the_vocabulary_keeps_growing_past_the_sample_lexicon_like_heaps_law(vocab, real_titles):
    sizes = [2000, 9742, 60000]
    grown = title_collisions.growth(_titles(vocab, sizes[-1]), sizes)
    real = title_collisions.real_curves(real_titles, sizes[:2])
    assert grown[9742][1] == pytest.approx(real[9742][1], rel=0.15)
    k, b = title_collisions.heaps_fit([(n, real[n][1]) for n in sizes[:2]])
    # Past the sample: more distinct words than the sample's whole Latin lexicon, near the real fit's extrapolation.
    assert grown[60000][1] > len(vocab.film_words.lexicon)
    assert grown[60000][1] == pytest.approx(k * 60000 ** b, rel=0.25)


def test_minted_words_are_letters_distinct_and_never_a_stopword():
    words = [scale_vocab.minted_word(i) for i in range(200_000)]
    assert len(set(words)) == len(words)
    assert all(w.isalpha() and w.islower() and 5 <= len(w) <= 9 for w in words)
    assert not set(words) & scale_vocab.STOPWORDS
    hashed = {scale_vocab.minted_word(i) for i in range(10**15, 10**15 + 20_000)}
    assert len(hashed) == 20_000 and max(map(len, hashed)) <= 9


def test_a_work_keeps_its_title_and_frequent_works_are_real_one_word_titles(vocab):
    works = vocab.film_works
    assert works.title(123_456_789) == works.title(123_456_789)
    one_word = [works.title(j) for j in range(200) if len(scale_vocab.content_words(works.title(j))) == 1]
    assert one_word and all(scale_vocab.content_words(t)[0].lower() in works.one_word for t in one_word)


def test_the_work_law_fit_recovers_its_own_parameters():
    points = [(n, title_collisions.work_law_share(n, 0.3, 1000.0)) for n in (250, 1000, 4000, 9742)]
    shape, scale = title_collisions.fit_work_law(points)
    assert shape == pytest.approx(0.3, rel=0.05) and scale == pytest.approx(1000.0, rel=0.1)


def test_the_work_law_share_is_what_draws_from_it_give():
    import numpy as np

    rng = np.random.default_rng(5)
    shares = []
    for _ in range(20):
        counts = title_collisions.work_law_sample(rng, 5000, scale_vocab.WORK_SHAPE, scale_vocab.WORK_SCALE)
        shares.append(sum(c for c in counts if c > 1) / 5000)
    expected = title_collisions.work_law_share(5000, scale_vocab.WORK_SHAPE, scale_vocab.WORK_SCALE)
    assert sum(shares) / len(shares) == pytest.approx(expected, abs=0.005)


def test_exact_subsample_curves_match_counting_on_the_whole_list():
    titles = ["Heat", "Heat", "Alien", "Alien", "Alien", "Crash", "Up", "Down"]
    curves = title_collisions.real_curves(titles, [len(titles)])
    share, words = title_collisions.collision_share_and_vocabulary(titles)
    assert curves[len(titles)] == (pytest.approx(share), pytest.approx(words))


def test_planted_films_are_more_popular_than_the_catalogue(permille):
    out = permille["out"]
    films = {}
    for path in (out / "tmdb").glob("*.jsonl.gz"):
        for line in gzip.open(path, "rt", encoding="utf-8"):
            film = json.loads(line)
            films[film["id"]] = film["popularity"]
    with open(out / "truth.csv", encoding="utf-8") as fh:
        planted = {int(r["tmdb_id"]) for r in csv.DictReader(fh) if r["label"] == "1"}
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    assert median([p for i, p in films.items() if i in planted]) > median(
        [p for i, p in films.items() if i not in planted])


def test_popularity_pools_are_on_one_scale_and_the_labelled_pool_holds_labelled_films(vocab):
    medians = vocab.stats["popularity_median"]
    assert medians["labelled"] > medians["catalogue"]
    assert len(vocab.tmdb_numbers_labelled) == len(scale_vocab.labelled_films())
    intercept, slope = scale_vocab.POPULARITY_2017_TO_RECENT
    assert scale_vocab.recent_scale_popularity(100.0, recent=False) == pytest.approx(
        math.exp(intercept + slope * math.log(100.0)), rel=1e-3)
    assert scale_vocab.recent_scale_popularity(7.5, recent=True) == 7.5


def test_popularity_vintage_is_told_apart_by_the_2017_export_and_fitted_log_log(tmp_path):
    sample = tmp_path / "sample"
    (sample / "tmdb").mkdir(parents=True)
    films = [{"id": 1, "popularity": 10.0}, {"id": 2, "popularity": math.exp(-1 + 0.5 * math.log(40.0))},
             {"id": 3, "popularity": math.exp(-1 + 0.5 * math.log(90.0))}, {"id": 4, "popularity": 2.0}]
    with gzip.open(sample / "tmdb" / "tmdb_movies.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(f) + "\n" for f in films)
    export = tmp_path / "tmdb_5000_movies.csv"
    export.write_text("id,popularity\n1,10.0\n2,40.0\n3,90.0\n", encoding="utf-8")
    result = scale_vocab.popularity_vintage(export, sample)
    assert result["vintage"] == {1: "2017", 2: "recent", 3: "recent", 4: "recent"}
    assert (result["pairs"], result["intercept"], result["slope"]) == (2, -1.0, 0.5)


def test_some_masterless_releases_share_their_number_with_a_master_at_the_real_rate(permille):
    collisions = permille["summary"]["discogs_id_collisions"]
    assert 0.09 <= collisions["share"] <= 0.13      # about 11% in the 2020-08 dump
    assert collisions["planted_twins"] >= 2
    assert collisions["stage_and_screen_both"] >= collisions["planted_twins"]


def test_a_planted_twin_is_a_masterless_release_numbered_like_another_films_master(permille):
    out = permille["out"]
    releases = "".join(gzip.open(p, "rt").read() for p in sorted((out / "discogs").glob("*releases*.xml.gz")))
    masters = "".join(gzip.open(p, "rt").read() for p in sorted((out / "discogs").glob("*masters*.xml.gz")))
    release_ids = [int(i) for i in re.findall(r'<release id="(\d+)"', releases)]
    assert release_ids == sorted(release_ids) and len(set(release_ids)) == len(release_ids)
    bodies = dict(re.findall(r'<release id="(\d+)"(.*?)</release>', releases, re.S))
    master_ids = set(re.findall(r'<master id="(\d+)"', masters))
    with open(out / "truth.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    twins = [r for r in rows if "twin" in r["note"]]
    assert twins
    for twin in twins:
        number = twin["release_id"]
        assert twin["release_kind"] == "release" and number in master_ids and "<master_id" not in bodies[number]
        same_number = [r for r in rows if r["source"] == "discogs" and r["release_id"] == number and r is not twin]
        assert any(r["release_kind"] == "master" and r["tmdb_id"] != twin["tmdb_id"] and r["label"] == "1"
                   for r in same_number)


def test_every_twin_the_plan_announces_is_found_at_its_host_release():
    v = gen.vocabulary()
    plan = gen.make_plan(**PERMILLE, seed=7, vocab=v)
    hosts = {c: plan.twin_host(c) for c in range(plan.cases)}
    assert Counter(h is not None for h in hosts.values())[True] >= 2
    for c, r in hosts.items():
        if r is not None:
            assert plan.twin_at(r) == c
            assert plan.release_id(r) - 1 == plan.master_id(plan.case_slot_index(c, 0, plan.masters))
    assert all(plan.master_index(plan.master_id(m)) == m for m in range(0, plan.masters, 7))
    assert plan.master_index(6) is None   # master ids skip the multiples of 6


def test_the_pool_title_law_follows_the_same_real_curve_and_saturates(vocab, real_titles):
    n = len(real_titles)
    try:
        vocab.film_works.law = "pool"
        titles = _titles(vocab, 100_000)
    finally:
        vocab.film_works.law = "work"
    grown = title_collisions.growth(titles, [n, 100_000])
    assert grown[n][0] == pytest.approx(title_collisions.real_curves(real_titles, [n])[n][0], abs=0.015)
    expected = title_collisions.pool_share(100_000, scale_vocab.POOL_SHARE, scale_vocab.POOL_TITLES)
    assert grown[100_000][0] == pytest.approx(expected, abs=0.02)
    with pytest.raises(ValueError, match="title law"):
        gen.make_plan(**PERMILLE, seed=7, vocab=vocab, title_law="zipf")
