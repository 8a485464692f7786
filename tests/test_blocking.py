"""Blocking rules, the skew guard and blocking quality on tiny Silver frames built with the real normaliser.

Completeness on the dev labels over the bundled sample is measured end to end in tests/test_silver_steps.py.
"""
from __future__ import annotations

import dataclasses

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from scripts_spark.tables import schema_of
from scripts_spark import match_settings
from scripts_spark.config import REPO_ROOT
from scripts_spark.transforms.blocking import (block, blocking_quality, candidate_pairs,
                                               skew_report)
from scripts_spark.transforms.normalise import normalise_names, normalise_title

BLOCKING_SETTINGS = match_settings.load(REPO_ROOT / "scripts_spark" / "match_settings.json").blocking


def film(tmdb_id, title, year=None, composers=(), original_title=None):
    norm, original = normalise_title(title), normalise_title(original_title or title)
    return dict(tmdb_id=tmdb_id, title=title, original_title=original_title or title, year=year,
                composers=list(composers), title_norm=norm.title_norm, original_title_norm=original.title_norm,
                title_tokens=norm.title_norm.split(), composers_norm=normalise_names(composers),
                title_norm_is_fallback=norm.is_fallback, _bronze_ref=f"bronze/tmdb_movies:{tmdb_id}")


def release(release_id, title, year=None, artists=(), source="musicbrainz", credits=()):
    norm = normalise_title(title)
    return dict(source=source, release_id=release_id,
                release_kind="release_group" if source == "musicbrainz" else "master", title=title,
                artists=list(artists), year=year, credits=list(credits), title_norm=norm.title_norm,
                title_tokens=norm.title_norm.split(), film_hint_norm=norm.film_hint_norm,
                artists_norm=normalise_names(artists), title_norm_is_fallback=norm.is_fallback,
                _bronze_ref=f"bronze/x:{release_id}")


FILMS = [
    film(240, "The Godfather Part II", 1974, ["Nino Rota"]),
    film(542178, "The French Dispatch of the Liberty, Kansas Evening Sun", 2021),
    film(466272, "Once Upon a Time... in Hollywood", 2019),
    film(397538, "Borg vs McEnroe", 2017),
    film(269149, "Zootopia", 2016, ["Michael Giacchino"]),
    film(671, "Harry Potter and the Philosopher's Stone", 2001, ["John Williams"]),
    film(537915, "tick, tick...BOOM!", 2021),
    film(496243, "Parasite", 2019, original_title="기생충"),
]
RELEASES = [
    release("godfather-2", "The Godfather: Part II", 2008),   # a reissue 34 years later: years do not gate
    release("dispatch", "The French Dispatch: Original Score", 2021),
    release("hollywood", "Quentin Tarantino’s Once Upon a Time in Hollywood: Original Motion Picture Soundtrack"),
    release("borg", "Borg McEnroe", 2017),
    release("46342", "Harry Potter And The Sorcerer's Stone", 2001, ["John Williams (4)"], source="discogs"),
    release("try-everything", "Try Everything", 2016, ["Shakira"]),
    release("louder", 'Louder Than Words (From "tick, tick... BOOM!")', 2021),
    release("parasite", "기생충 OST", 2019),
]


@pytest.fixture(scope="module")
def proposed(spark):
    films = spark.createDataFrame([{**f, **{k: None for k in schema_of("silver/films").fieldNames() if k not in f}} for f in FILMS],
                                  schema_of("silver/films"))
    releases = spark.createDataFrame(
        [{**r, **{k: None for k in schema_of("silver/releases").fieldNames() if k not in r}} for r in RELEASES], schema_of("silver/releases"))
    return {(r["tmdb_id"], r["release_id"]): r["rules"] for r in candidate_pairs(films, releases, BLOCKING_SETTINGS).collect()}


def test_each_rule_proposes_the_pairs_it_is_made_for_and_names_itself(proposed):
    assert "title_exact" in proposed[(240, "godfather-2")]
    assert "release_title_in_film_title" in proposed[(542178, "dispatch")]
    assert "film_title_in_release_title" in proposed[(466272, "hollywood")]
    assert proposed[(397538, "borg")] == ["rare_title_word"]
    assert "composer_artist" in proposed[(671, "46342")]
    assert "title_exact" in proposed[(537915, "louder")]          # through the film named in the qualifier
    assert "title_exact" in proposed[(496243, "parasite")]        # through the original title


def test_a_reissue_decades_after_the_film_is_still_proposed(proposed):
    assert (240, "godfather-2") in proposed


def test_a_release_sharing_nothing_with_any_film_gets_no_candidate(proposed):
    assert not [pair for pair in proposed if pair[1] == "try-everything"]


def test_pairs_are_unique_and_every_pair_names_sorted_rules(proposed):
    assert all(rules == sorted(set(rules)) and rules for rules in proposed.values())


def test_rows_without_ids_are_never_paired(spark):
    films = spark.createDataFrame([{**film(None, "Jaws"), "tmdb_id": None}, film(578, "Jaws")], schema_of("silver/films"))
    releases = spark.createDataFrame([{**release(None, "Jaws"), "release_id": None}, release("jaws", "Jaws")],
                                     schema_of("silver/releases"))
    assertDataFrameEqual(candidate_pairs(films, releases, BLOCKING_SETTINGS).select("tmdb_id", "release_id"),
                         [Row(tmdb_id=578, release_id="jaws")])


@pytest.mark.slow   # blocks a few thousand generated titles (~9 s)
def test_skew_guard_drops_a_word_shared_by_every_title_instead_of_pairing_everything(spark):
    n = 40   # 'love' is in 40 film titles and 40 release titles: 1,600 pairs if it were a key
    films = spark.createDataFrame([film(i, f"Love Zq{i}x") for i in range(1, n + 1)], schema_of("silver/films"))
    releases = spark.createDataFrame([release(f"r{i}", f"Zq{i}x Love Music") for i in range(1, n + 1)],
                                     schema_of("silver/releases"))

    guarded = block(films, releases, BLOCKING_SETTINGS)
    pairs = {(r["tmdb_id"], r["release_id"]) for r in guarded.pairs.collect()}
    assert pairs == {(i, f"r{i}") for i in range(1, n + 1)}       # only the rare word pairs
    report = skew_report(guarded, BLOCKING_SETTINGS)["rare_title_word"]
    assert report["keys_dropped"] == 1 and report["pairs_avoided"] == n * n
    assert report["largest_dropped"] == [f"love (musicbrainz: {n} x {n})"]

    loose_rules = tuple(dataclasses.replace(r, max_pairs_per_key=10_000) for r in BLOCKING_SETTINGS.rules)
    unguarded = block(films, releases, dataclasses.replace(BLOCKING_SETTINGS, rules=loose_rules))
    assert unguarded.pairs.count() == n * n


def test_blocking_quality_reports_completeness_and_reduction_per_source(spark, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("source,tmdb_id,release_id,label,note\n"
                      "musicbrainz,1,a,1,found\nmusicbrainz,2,b,1,missed\nmusicbrainz,3,c,0,negative\n"
                      "discogs,1,100,1,\"found, with a comma\"\n", encoding="utf-8")
    candidates = spark.createDataFrame([(1, "musicbrainz", "release_group", "a", ["title_exact"]),
                                        (3, "musicbrainz", "release_group", "c", ["x"]),
                                        (1, "discogs", "master", "100", ["x"])], schema_of("silver/candidate_pairs"))
    quality = blocking_quality(candidates, 100, {"musicbrainz": 10, "discogs": 5}, str(labels))
    assert quality == {
        "musicbrainz": {"pair_completeness": 0.5, "found": 1, "positives": 2, "candidates": 2,
                        "reduction_ratio": 0.998},
        "discogs": {"pair_completeness": 1.0, "found": 1, "positives": 1, "candidates": 1, "reduction_ratio": 0.998},
    }
    # one release count for every source: the comparison space spans all releases
    assert blocking_quality(candidates, 100, 20, str(labels))["discogs"]["reduction_ratio"] == 0.9995


def test_a_key_over_its_cap_is_split_by_year_so_its_dated_true_pairs_survive(spark):
    n = 30   # 30 films and 30 soundtracks all titled 'Home', one per year: 900 pairs > the exact-title cap of 100
    films = spark.createDataFrame([film(i, "Home", 1950 + 2 * i) for i in range(n)] + [film(99, "Home")],
                                  schema_of("silver/films"))
    releases = spark.createDataFrame([release(f"r{i}", "Home", 1950 + 2 * i) for i in range(n)]
                                     + [release("undated", "Home")], schema_of("silver/releases"))

    blocking = block(films, releases, BLOCKING_SETTINGS)
    pairs = {(r["tmdb_id"], r["release_id"]): r["rules"] for r in blocking.pairs.collect()}
    # years two apart: each film meets only its own year's release (band +/- 1); the undated release meets all 31
    # films and the undated film all 31 releases (31 <= the cap: exact titles pair their undated ends)
    dated = {(i, f"r{i}") for i in range(n)}
    undated = {(i, "undated") for i in [*range(n), 99]} | {(99, f"r{i}") for i in range(n)} | {(99, "undated")}
    assert set(pairs) == dated | undated
    assert "title_exact" in pairs[(0, "r0")] and pairs[(7, "undated")] == ["title_exact"]
    report = skew_report(blocking, BLOCKING_SETTINGS)["title_exact"]
    assert report["keys_dropped"] == 1 and report["pairs_avoided"] == (n + 1) * (n + 1)
    assert report["year_splits_kept"] >= n and report["year_splits_dropped"] == 0 and report["year_split_pairs"] == n
    assert report["undated_pairs"] == 2 * (n + 1)      # (99, 'undated') comes from both ends


def test_undated_ends_of_a_split_key_are_paired_only_within_the_cap(spark):
    n = 101  # one film more than the cap: an undated release would propose 101 pairs, so it stays out
    films = spark.createDataFrame([film(i, "Home Zqx", 1900 + i) for i in range(n)], schema_of("silver/films"))
    releases = spark.createDataFrame([release("dated", "Home Zqx", 1950), release("undated", "Home Zqx")],
                                     schema_of("silver/releases"))
    blocking = block(films, releases, BLOCKING_SETTINGS)
    pairs = {(r["tmdb_id"], r["release_id"]) for r in blocking.pairs.collect()}
    assert {p for p in pairs if p[1] == "undated"} == set()
    assert {p for p in pairs if p[1] == "dated"} == {(49, "dated"), (50, "dated"), (51, "dated")}
    # the shared rare word 'zqx' is over its cap of 20 too, and rare_title_word does not pair undated ends
    assert skew_report(blocking, BLOCKING_SETTINGS)["title_exact"]["undated_pairs"] == 0

