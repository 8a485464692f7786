"""Pair features for the soundtrack matcher, computed in Spark.

`pair_features(candidates, films, releases)` turns Silver candidate pairs into one row per pair with the
numeric features the fitted model scores (`MODEL_FEATURES`) plus a few descriptive values that go into
each link's reasons (`year_diff`, `composer_sim`, ...). Everything cheap is a native Spark expression;
the string similarities run batch-wise inside `mapInPandas` with `rapidfuzz.process.cpdist` (C++, one call
per similarity per Arrow batch), never a Python loop over rows.

Every feature is in 0..1 so the fitted weights read as "how much this signal moves the log-odds".
"""
from __future__ import annotations

import math
import re
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, LongType, StringType, StructField, StructType

from .blocking import RELEASE_KEY, STOPWORDS
from .normalise import LEADING_ARTICLES

PAIR_KEY = ("tmdb_id", *RELEASE_KEY)

# The model's inputs, in the order the weights are stored in match_settings.json. Changing a definition
# below means refitting (`python -m scripts_spark.fit_matcher`); FEATURE_VERSION is recorded with the fit. Version
# 15: version 14's weighted features, plus `release_cites_film` and the guards that read it (GUARD_DOCS), and
# `imdb_bridge`, which decides on its own (decide.py). Version 16: plus `other_film_covered` (RELEASE_CONTEXT).
# Version 17: `composer_mismatch` spares a release that names the film as its source (add_artist_identity).
FEATURE_VERSION = "17"
FEATURE_DOCS: dict[str, str] = {
    "title_ratio": "best Levenshtein ratio over film {title, original title} x release {title, film hint}",
    "title_exact": "some title combination is equal after normalisation",
    "title_loose_exact": "some title combination is equal after a loose spelling fold (doubled letters, aa/ee/oo, w/v, ph/f, "
                         "h after a consonant: 'Baahubali' / 'Bāhubali')",
    "title_specificity": "how rare the words the two titles share are in the catalogue (0 = only common words)",
    "film_title_coverage": "share of the film title's words (weighted by rarity) found in the release title or hint",
    "release_title_coverage": "share of the release title's words (weighted by rarity) found in the film's titles",
    "year_same": "release year equals film year",
    "year_before": "the release came out the year before the film (its own first-release year, not a reissue's)",
    "year_after": "the release came out the year after the film (late album, December films)",
    "year_near": "2 to 5 years apart",
    "year_far": "more than 5 years apart (no year on either side: all year flags 0, no evidence either way)",
    "release_undated": "the release has no year (half the MusicBrainz release groups)",
    "composer_match": "a film composer is a release artist or credited composer (joint credits split, Japanese names "
                      "romanised, a name contained in the other: 'Finneas O'Connell' / 'FINNEAS')",
    "composer_mismatch": "both sides name people and none agree (nothing to compare, e.g. only 'Various Artists': 0; "
                         "a release that names the film as its source: 0, its performer need not be the composer)",
    "release_is_soundtrack": "MusicBrainz secondary type Soundtrack / Discogs Stage & Screen with Score or Soundtrack",
    "release_is_single_or_ep": "MusicBrainz primary type Single/EP, Discogs format Single/EP",
    "single_unrelated": "a single or EP whose artist is not the film's composer and whose title names no film "
                        "(no film hint, no 'Motion Picture')",
    "single_unrelated_undated": "single_unrelated, and the single has no year ('Incantation' by Lex Mandrake, "
                                "'Last Breath' by Realma): nothing ties it to the film but its title",
    "release_nonfilm_style": "Musical, Story, Spoken Word, Video Game (Discogs styles, MusicBrainz types/tags)",
    "release_collection": "the release is a collection of several works: 'Collection', 'Trilogy', 'Anthology', 'Box Set' "
                          "... in its title (not in the film's) or a Box Set format",
    "franchise_collection": "a collection (release_collection) whose title does not hold the whole film title: "
                            "'Indiana Jones: The Soundtracks Collection' belongs to no one film of the franchise",
    "title_nonfilm_marker": "release title words for stage casts or games that the film title does not have",
    "title_film_marker": "release title says Motion Picture / Film / Movie (and the film title does not)",
    "number_mismatch": "sequel or part numbers differ ('II' vs 'III', 'Ted' vs 'Ted 2', 'Shaft 2019'); a record's "
                       "volume number ('Baby Driver Volume 2') is not a sequel number",
    "title_year_mismatch": "the raw release title names a year other than the film's ('Need for Speed (2015)')",
    "franchise_prefix_only": "one title is only the other's franchise prefix ('Predator' vs 'Predator: Badlands')",
    "title_article_differs": "the titles are equal only once a leading article is dropped ('The Witness' vs 'Witness')",
    "other_film_covered": "the release title holds another candidate film's whole title, rare words and all, but not "
                          "this film's: 'Indiana Jones And The Raiders Of The Lost Ark (Original Motion Picture "
                          "Soundtrack)' names 'Raiders of the Lost Ark', not 'Indiana Jones and the Dial of Destiny'",
}
MODEL_FEATURES: tuple[str, ...] = tuple(FEATURE_DOCS)

# Weighted features that read the release's other candidate pairs, so they are computed at decide time with the
# guards (add_film_guards), never stored with a pair's features (FEATURES_SCHEMA holds PAIR_FEATURES): an incremental
# run decides a release again whenever any of its pairs' features or its candidate set changed (incremental/relink.py),
# which is all `other_film_covered` reads. Measured before it was shipped (docs/matching.md, feature version 16): the
# ranker put the 2024 'Indiana Jones And The Raiders Of The Lost Ark' reissue on 'Dial of Destiny' (2023, one year
# off) over 'Raiders' (1981), whose title it holds whole.
RELEASE_CONTEXT: tuple[str, ...] = ("other_film_covered",)
PAIR_FEATURES: tuple[str, ...] = tuple(n for n in MODEL_FEATURES if n not in RELEASE_CONTEXT)
# A film's title counts as held whole by a release when every word of it is (film_title_coverage from
# FULL_TITLE_COVERAGE on) and the words shared are rare enough to name a film, not 'Love' or 'Home' alone
# (title_specificity, 0..1), and the release names no other sequel number or year than the film's
# (number_mismatch, title_year_mismatch): 'The LEGO Movie 2: Original Motion Picture Score' holds 'The Lego Movie'
# whole but is not its album. On the dev + batch 2 frames (out of fold, three seeds, C 3) the feature with a
# specificity floor of 0.5 lowered the decision's log loss in every seed (0.0480/0.0454/0.0463 -> 0.0459/0.0437/0.0451)
# and marked 1 positive among 4,194 pairs; without the floor it marked 8 positives among 5,439 (the shorter film title
# of a look-alike pair is often held whole by chance). Sparing films named with another number or year lowered it
# again in every seed (C 10: 0.0427/0.0400/0.0426 -> 0.0423/0.0396/0.0421; docs/matching.md, feature version 16).
WHOLE_TITLE_MIN_SPECIFICITY = 0.5

# Guards computed at decide time, once every candidate pair of a film has its features (never stored with a pair's
# features: composer_album_elsewhere depends on the film's other pairs). Not weighted: `match_requires` and
# `match_forbids` in match_settings.json name them, so a link that misses one goes to review at best. Fitted as a
# weight, composer_album_elsewhere cost 0.2 points of out-of-fold MusicBrainz recall on the dev + batch 2 labels (the
# threshold moved up); as a guard it changed no out-of-fold link there and took the generated set's precision from
# 0.983 to 0.994 (docs/matching.md section 7). A release that names the film as its source (`release_cites_film`) is
# that film's music whatever its source files it under, and is no other work's album: among the dev + batch 2
# labelled releases' candidate pairs it marks 9, all positives (Celine Dion's Titanic theme single, filed as Pop, among
# them), and no wrong pair.
GUARD_DOCS: dict[str, str] = {
    "release_is_film_music": "release_is_soundtrack, or the release title names this film as its source (its film "
                             "hint is the film's title: 'My Heart Will Go On (Love Theme From 'Titanic')', a theme "
                             "single its source files as Pop)",
    "composer_album_elsewhere": "the release names people and not the film's composer, has the film's exact title "
                                "without naming the film as its source, and another candidate release of the film is "
                                "a soundtrack with that title by the film's composer: a game's or another same-titled "
                                "work's album next to the film's own score",
}
GUARD_FEATURES: tuple[str, ...] = tuple(GUARD_DOCS)

# The sign each fitted weight is held to (+1: evidence for a link, -1: evidence against, 0: either, as the data
# says). A title that matches better never counts against a link, a far year never counts for it; without these
# bounds, correlated title similarities trade signs between folds and a link's reasons stop making sense.
FEATURE_SIGNS: dict[str, int] = {
    "title_ratio": 1, "title_exact": 1, "title_loose_exact": 1, "title_specificity": 1, "film_title_coverage": 1,
    "release_title_coverage": 1,
    "year_same": 1, "year_before": -1, "year_after": 0, "year_near": -1, "year_far": -1, "release_undated": 0,
    "composer_match": 1, "composer_mismatch": -1,
    "release_is_soundtrack": 1, "release_is_single_or_ep": 0, "single_unrelated": -1, "single_unrelated_undated": -1,
    "release_nonfilm_style": -1, "release_collection": -1, "franchise_collection": -1,
    "title_nonfilm_marker": -1, "title_film_marker": 1, "number_mismatch": -1, "title_year_mismatch": -1,
    "franchise_prefix_only": 0, "title_article_differs": -1, "other_film_covered": -1,
}

# Name similarity (0..100, best of plain and token-sort ratio after folding) from which a composer and an artist count as the same
# person. Measured on the candidate pairs of the labelled releases (run m1): true pairs score 100 or 85.7 ('Tim
# Williams' / 'Timothy Williams') or below 75 (a different credited artist); wrong pairs never fall between 75 and
# 95; distinct composers with a shared name stay far below ('Thomas Newman' / 'Randy Newman' 64).
COMPOSER_MATCH_MIN = 85.0

# Release artists that say nothing about the composer.
NON_CREDIT_ARTISTS = ("various artists", "various", "unknown", "[unknown]", "soundtrack", "original soundtrack")

# Film composer entries that are placeholders in TMDB ('Unknown' appears 77 times in the catalogue).
UNKNOWN_COMPOSERS = ("unknown", "")

# A title token's rarity is its idf on a fixed scale, log(N / df) / log(RARITY_SCALE_DOCS), at most 1.0: a word
# used once in 10,000 titles or more rarely counts 1.0, 'the' ~0. The scale is fixed, not log(N), so that a word
# keeps its rarity as the catalogue grows (its share of titles does not change): divided by log(N), every rarity
# fell by a third from the 8,213 titles of the dev-label run to the 1.4M of the full-size input, and with it the
# match scores the weights were calibrated on. Look-alike films in a large catalogue are the ranker's and the tie
# guard's business, not this feature's. A pair's title specificity sums the rarities of the words both titles share,
# capped at this many "unique-word equivalents" (then scaled to 0..1): two rare shared words identify a title,
# while 'Love' or 'Home' alone stay low however exactly they match.
RARITY_SCALE_DOCS = 10_000
SPECIFICITY_CAP = 2.0
# Rarity is rounded to steps of 1 / RARITY_LEVELS (a step is a factor of 10,000^(1/32) = 1.33 in a word's share
# of titles). Unrounded, any title added or deleted anywhere moved the rarity of every uncapped word, so an
# incremental run refreshed the title features of 99% of the pairs and decided nearly every release again
# (docs/incremental.md); rounded, a word's rarity moves only when its share crosses a step: 103 words and 2.6% of the
# pairs on the 10% generated input with 0.5% of every source changed (4,782 words and 99% unrounded). The half step
# of error is below what the weights resolve: the refit gave the same out-of-fold figures.
RARITY_LEVELS = 32

# Release-style vocabulary (case-insensitive): Discogs styles from the issue, and the MusicBrainz secondary types and
# tags that mean the same. MusicBrainz's 'musical' tag is left out: film musicals carry it too ('Frozen II').
# Discogs spells the game style 'Video Game Music'; matching only 'video game' let game albums with a film's title
# through as soundtracks (31 of 50 Discogs false matches on the 10% scale input, bench/scale.py).
DISCOGS_NONFILM_STYLES = ("musical", "story", "spoken word", "video game music", "video game", "audiobook")
MUSICBRAINZ_NONFILM_LABELS = ("audiobook", "audio drama", "spokenword", "interview", "video game music",
                              "video game", "game music", "cast recording")
SOUNDTRACK_STYLES = ("score", "soundtrack")

# A Discogs release this many years or more after the film may be a reissue (see add_year_features).
REISSUE_MIN_GAP = 2

# Words in a release title that mark a stage cast recording or a game album when the film's own title lacks them
# (a 'Les Misérables (1991 Dutch cast)' album is not the 2012 film's; 'The Imitation Game' keeps 'game'). 'Musical'
# is not one of them: 'Mank: Original Musical Score' is the film's.
# Words of a release that holds several works (box sets, trilogy and franchise collections belong to none of their
# films: the 'Indiana Jones: The Soundtracks Collection' and 'Back To The Future Trilogy' Discogs masters were linked to
# one film of the franchise before this); a word the film's own title has does not count.
COLLECTION_PATTERN = (r"\b(collection|trilogy|anthology|box set|boxset|soundtracks|complete scores|greatest|best of"
                      r"|film music of|music of the films|film themes)\b")

NONFILM_TITLE_WORDS = ("cast", "broadway", "game", "games", "gaming", "videogame", "update", "dlc", "esports", "arcade")
FILM_TITLE_PATTERN = r"\b(motion picture|film|movie|cinema)\b"

# A one-word name counts as contained in a longer one only from this many letters ('finneas' in 'finneas o connell';
# not 'john' in 'john williams').
CONTAINED_NAME_MIN_LETTERS = 6

# rapidfuzz threads per cpdist call. 1 inside Spark: each Python worker already has a core of its own
# (bench/match_throughput.py measures the alternative).
CPDIST_WORKERS = 1

# Columns computed in the Python workers (add_string_similarities); every other feature is a Spark expression.
SIMILARITY_OUTPUTS = ("title_ratio", "title_exact", "title_loose_exact", "composer_sim", "composer_match",
                      "composer_mismatch")


def _lower_array(col: Column) -> Column:
    return F.transform(F.coalesce(col, F.array().cast("array<string>")), lambda x: F.lower(F.trim(x)))


def _any_in(col: Column, values: tuple[str, ...]) -> Column:
    return F.exists(_lower_array(col), lambda x: x.isin(*values))


def pair_sides(candidates: DataFrame, films: DataFrame, releases: DataFrame,
               rarity: DataFrame | None = None) -> DataFrame:
    """Candidate pairs with the film's and the release's fields they are compared on (`film_*`, `release_*`); with
    `rarity` (title_token_rarity) also each side's `*_title_weights` (title_word_weights) for add_title_overlap."""
    film_side = films.select(
        "tmdb_id",
        F.col("title").alias("film_title"),
        F.col("original_title").alias("film_original_title"),
        F.col("title_norm").alias("film_title_norm"),
        F.col("original_title_norm").alias("film_original_title_norm"),
        F.col("year").alias("film_year"),
        F.col("composers_norm").alias("film_composers_norm"),
        F.col("imdb_id").alias("film_imdb_id"),
    )
    release_side = releases.select(
        "source", "release_id", "release_kind",
        F.col("title").alias("release_title"),
        F.col("title_norm").alias("release_title_norm"),
        F.col("film_hint_norm").alias("release_film_hint_norm"),
        F.col("year").alias("release_year"),
        F.col("primary_type").alias("release_primary_type"),
        F.col("secondary_types").alias("release_secondary_types"),
        F.col("genres").alias("release_genres"),
        F.col("styles").alias("release_styles"),
        F.col("formats").alias("release_formats"),
        F.col("artists").alias("release_artists"),
        F.col("artists_norm").alias("release_artists_norm"),
        F.col("credits").alias("release_credits"),
        F.col("imdb_ids").alias("release_imdb_ids"),
    )
    if rarity is not None:
        film_side = film_side.join(title_word_weights(
            film_side.join(candidates.select("tmdb_id").distinct(), "tmdb_id", "left_semi"), ["tmdb_id"],
            FILM_TITLE_COLUMNS, rarity).withColumnRenamed("title_weights", "film_title_weights"), "tmdb_id", "left")
        release_side = release_side.join(title_word_weights(
            release_side.join(candidates.select(*RELEASE_KEY).distinct(), RELEASE_KEY, "left_semi"), RELEASE_KEY,
            RELEASE_TITLE_COLUMNS, rarity).withColumnRenamed("title_weights", "release_title_weights"), RELEASE_KEY,
            "left")
    return (candidates.select(*PAIR_KEY)
            .join(film_side, "tmdb_id")
            .join(release_side, RELEASE_KEY))


def _split_words(col: str) -> Column:
    return F.filter(F.split(F.coalesce(F.col(col), F.lit("")), " "), lambda w: w != "")


def title_token_rarity(films: DataFrame, releases: DataFrame) -> DataFrame:
    """(token, rarity): idf of each normalised title word over all films (title + original title) and releases
    (title + film hint), on the fixed scale of RARITY_SCALE_DOCS, capped at 1 and rounded to 1 / RARITY_LEVELS, so it
    lies in 0..1."""
    docs = (films.select(F.array_union(_split_words("title_norm"), _split_words("original_title_norm")).alias("t"))
            .unionByName(releases.select(F.array_union(_split_words("title_norm"), _split_words("film_hint_norm"))
                                         .alias("t"))))
    n_docs = docs.agg(F.count(F.lit(1)).alias("n_docs"))
    return (docs.select(F.explode("t").alias("token"))
            .groupBy("token").agg(F.count(F.lit(1)).alias("df"))
            .crossJoin(F.broadcast(n_docs))
            .select("token",
                    F.when(F.col("n_docs") > 1,
                           F.round(F.least(F.lit(1.0),
                                           F.log(F.col("n_docs") / F.col("df")) / math.log(RARITY_SCALE_DOCS))
                                   * RARITY_LEVELS) / RARITY_LEVELS)
                    .otherwise(F.lit(1.0)).alias("rarity")))


# The four word sets a pair's title overlap is measured on, and the titles each side's words come from.
_WORD_SETS = {"ft": "film_title_norm", "fo": "film_original_title_norm", "rt": "release_title_norm",
              "rh": "release_film_hint_norm"}
FILM_TITLE_COLUMNS = ("film_title_norm", "film_original_title_norm")
RELEASE_TITLE_COLUMNS = ("release_title_norm", "release_film_hint_norm")


def title_word_weights(sides: DataFrame, key: list[str], title_columns: tuple[str, ...],
                       rarity: DataFrame) -> DataFrame:
    """(key, title_weights): each film's or release's distinct title words (from `title_columns` of `sides`), each
    with the weight the title overlap gives it: its rarity, 1.0 for a word the rarity table lacks, 0 for a blocking
    stopword. Once per film and per release rather than per pair: a pair's overlap is then lookups in its two sides'
    maps, where exploding every pair's words, joining them to the rarity and summing them per pair shuffled about
    eight rows per pair twice and the pairs once more (the 10% input's features: 33 s, 17 s of them this)."""
    words = F.array_distinct(F.flatten(F.array(*[_split_words(c) for c in title_columns])))
    weight = F.when(F.col("token").isin(*sorted(STOPWORDS)), F.lit(0.0)).otherwise(F.coalesce("rarity", F.lit(1.0)))
    return (sides.select(*key, F.explode(words).alias("token"))
            .join(rarity, "token", "left")
            .groupBy(*key).agg(F.map_from_entries(F.collect_list(F.struct("token", weight))).alias("title_weights")))


def with_title_weights(pairs: DataFrame, rarity: DataFrame) -> DataFrame:
    """`pairs` (PAIR_KEY and the four titles) with both sides' `*_title_weights`, from the pairs' own titles, for
    pairs that did not come from pair_sides (an incremental run's refresh of the rarity features,
    incremental/relink.py). A film's (a release's) titles are the same in each of its pairs: one map per side."""
    film_weights = title_word_weights(pairs.select("tmdb_id", *FILM_TITLE_COLUMNS).distinct(), ["tmdb_id"],
                                      FILM_TITLE_COLUMNS, rarity)
    release_weights = title_word_weights(pairs.select(*RELEASE_KEY, *RELEASE_TITLE_COLUMNS).distinct(),
                                         list(RELEASE_KEY), RELEASE_TITLE_COLUMNS, rarity)
    return (pairs.join(film_weights.withColumnRenamed("title_weights", "film_title_weights"), "tmdb_id", "left")
            .join(release_weights.withColumnRenamed("title_weights", "release_title_weights"), list(RELEASE_KEY),
                  "left"))


def add_title_overlap(pairs: DataFrame) -> DataFrame:
    """Rarity-weighted word overlap of the titles (Splink's term-frequency idea: a shared rare word says more than
    a shared 'love'; blocking's stopwords weigh nothing), summed over each side's distinct words with the weights of
    `film_title_weights` and `release_title_weights` (title_word_weights; dropped here):
    - title_specificity: rarity of the words both sides share, capped at SPECIFICITY_CAP, scaled to 0..1;
    - film_title_coverage: share of the film title's rarity found in the release title or hint (best of the film's
      title and original title): 'Raiders of the Lost Ark' is covered by 'Indiana Jones and the Raiders of the Lost
      Ark', 'Indiana Jones and the Dial of Destiny' is not;
    - release_title_coverage: share of the release title's (or hint's) rarity found in the film's titles:
      'Big Brother 2003' is not covered by 'Brother'."""
    words = {k: F.array_distinct(_split_words(c)) for k, c in _WORD_SETS.items()}
    film_words = F.array_union(words["ft"], words["fo"])
    release_words = F.array_union(words["rt"], words["rh"])
    weights = {"f": F.col("film_title_weights"), "r": F.col("release_title_weights")}
    other_words = {"f": release_words, "r": film_words}

    def total(tokens: Column, side: str) -> Column:
        return F.aggregate(tokens, F.lit(0.0), lambda acc, t: acc + weights[side][t])

    def coverage(k: str) -> Column:
        held = total(words[k], k[0])
        found = total(F.filter(words[k], lambda t: F.array_contains(other_words[k[0]], t)), k[0])
        return F.when(held > 0, found / held).otherwise(0.0)

    shared = total(F.array_intersect(film_words, release_words), "f")
    return (pairs.withColumn("title_specificity", F.least(shared, F.lit(SPECIFICITY_CAP)) / SPECIFICITY_CAP)
            .withColumn("film_title_coverage", F.greatest(coverage("ft"), coverage("fo")))
            .withColumn("release_title_coverage", F.greatest(coverage("rt"), coverage("rh")))
            .fillna(0.0, subset=["title_specificity", "film_title_coverage", "release_title_coverage"])
            .drop("film_title_weights", "release_title_weights"))


def add_year_features(pairs: DataFrame) -> DataFrame:
    """Year difference as buckets, the one-year gap signed. A missing year is its own value (`release_undated` for the
    release; all year flags 0): no evidence either way, and the reasons show it with a null year_diff (half the
    MusicBrainz rows have no date).

    The sign of a one-year gap matters: on the labelled pairs a MusicBrainz album dated the year after its film is the
    film's 48 times in 70 (late albums, December releases), one dated the year before only 4 times in 31 (same-titled
    albums of other works that predate the film; data/eval labels, 2026-12).

    A Discogs year later than the film's is not evidence against either: Discogs keeps the year of the pressings it
    has seen, and reissues come decades after the film (the 2016 'Back To The Future - Original Score', the 2024-only
    'Raiders of the Lost Ark'). A MusicBrainz release group's date is its first release, so there it counts."""
    gap = F.col("release_year") - F.col("film_year")
    diff = F.abs(gap)
    possible_reissue = (F.col("source") == "discogs") & (gap >= REISSUE_MIN_GAP)
    flag = lambda cond: F.when(possible_reissue, F.lit(0.0)).otherwise(F.coalesce(cond.cast("double"), F.lit(0.0)))  # noqa: E731
    return (pairs.withColumn("year_diff", diff.cast("int"))
            .withColumn("year_same", flag(diff == 0))
            .withColumn("year_before", flag(gap == -1))
            .withColumn("year_after", flag(gap == 1))
            .withColumn("year_near", flag((diff >= 2) & (diff <= 5)))
            .withColumn("year_far", flag(diff > 5))
            .withColumn("release_undated", F.col("release_year").isNull().cast("double")))


def add_release_type_signals(pairs: DataFrame) -> DataFrame:
    """What kind of record the release is, from the source's own typing (types, genres, styles, formats)."""
    is_mb = F.col("source") == "musicbrainz"
    mb_soundtrack = F.exists(_lower_array(F.col("release_secondary_types")), lambda x: x.contains("soundtrack"))
    discogs_soundtrack = (_any_in(F.col("release_genres"), ("stage & screen",))
                          & _any_in(F.col("release_styles"), SOUNDTRACK_STYLES))
    single_or_ep = (F.lower(F.coalesce(F.col("release_primary_type"), F.lit(""))).isin("single", "ep")
                    | _any_in(F.col("release_formats"), ("single", "ep", "maxi-single")))
    mb_labels = F.concat(_lower_array(F.col("release_secondary_types")), _lower_array(F.col("release_genres")))
    nonfilm = F.when(is_mb, F.exists(mb_labels, lambda x: x.isin(*MUSICBRAINZ_NONFILM_LABELS))).otherwise(
        _any_in(F.col("release_styles"), DISCOGS_NONFILM_STYLES))
    film_titles = F.lower(F.concat_ws(" ", F.col("film_title"), F.col("film_original_title")))
    collection_word = F.regexp_extract(F.lower(F.coalesce(F.col("release_title"), F.lit(""))), COLLECTION_PATTERN, 1)
    collection = (((collection_word != "") & ~film_titles.rlike(COLLECTION_PATTERN))
                  | _any_in(F.col("release_formats"), ("box set",)))
    return (pairs
            .withColumn("release_is_soundtrack",
                        F.when(is_mb, mb_soundtrack).otherwise(discogs_soundtrack).cast("double"))
            .withColumn("release_is_single_or_ep", single_or_ep.cast("double"))
            .withColumn("release_nonfilm_style", nonfilm.cast("double"))
            .withColumn("release_collection", collection.cast("double")))


def _words(col: Column) -> Column:
    """Lower-cased word tokens of a raw title (letters and digits, any script)."""
    return F.filter(F.split(F.lower(F.coalesce(col, F.lit(""))), r"[^\p{L}\p{N}]+"), lambda w: w != "")


def add_title_markers(pairs: DataFrame) -> DataFrame:
    """Qualifier words in the raw release title (bracketed text included, which normalisation removes)."""
    film_words = F.array_union(_words(F.col("film_title")), _words(F.col("film_original_title")))
    release_words = _words(F.col("release_title"))
    extra_words = F.array_except(release_words, film_words)
    film_marker = (F.lower(F.coalesce("release_title", F.lit(""))).rlike(FILM_TITLE_PATTERN)
                   & ~F.lower(F.coalesce("film_title", F.lit(""))).rlike(FILM_TITLE_PATTERN))
    return (pairs
            .withColumn("title_nonfilm_marker",
                        F.exists(extra_words, lambda w: w.isin(*NONFILM_TITLE_WORDS)).cast("double"))
            .withColumn("title_film_marker", film_marker.cast("double")))


def add_source_citation(pairs: DataFrame) -> DataFrame:
    """`release_cites_film`: the release title names this film as its source - its film hint ('My Heart Will Go On
    (Love Theme From 'Titanic')', '(From the Motion Picture "Wicked")') is the film's title or original title. Not
    weighted: the decision's guards read it (GUARD_DOCS)."""
    hint = F.col("release_film_hint_norm")
    cites = (hint == F.col("film_title_norm")) | (hint == F.col("film_original_title_norm"))
    return pairs.withColumn("release_cites_film", F.coalesce(cites, F.lit(False)).cast("double"))


def add_imdb_bridge(pairs: DataFrame) -> DataFrame:
    """`imdb_bridge`: the release names the film's IMDb id (a MusicBrainz IMDb URL relationship). An exact link,
    whatever the titles say: step 05 matches it (decide.py) and its reasons say so. Not weighted."""
    bridged = F.array_contains(F.coalesce(F.col("release_imdb_ids"), F.array().cast("array<string>")),
                               F.col("film_imdb_id"))
    return pairs.withColumn("imdb_bridge", F.coalesce(bridged, F.lit(False)).cast("double"))


# The articles normalisation drops from the front of a title, read here from the raw title (Java regex: the
# typographic apostrophe is not folded yet) so that 'The Witness' and 'Witness' - two films a catalogue of a million
# holds side by side - differ.
_LEADING_ARTICLE_RAW = rf"^(?i)\s*(?:({'|'.join(LEADING_ARTICLES)})\s+|(l)['\u2019]\s*)(?=\S)"


def _leading_article(col: Column) -> Column:
    """The raw title's leading article, lower-cased ('' when there is none); "L'" and "L\u2019" are the same."""
    title = F.coalesce(col, F.lit(""))
    return F.lower(F.concat(F.regexp_extract(title, _LEADING_ARTICLE_RAW, 1),
                            F.regexp_extract(title, _LEADING_ARTICLE_RAW, 2)))


def add_article_agreement(pairs: DataFrame) -> DataFrame:
    """`title_article_differs`: a film title equals the release title only once the leading article is gone, and
    no title of the film agrees with it article and all. A film hint inside a qualifier ('(From "...")') has no
    raw article to compare, so such releases never differ."""
    release_article = _leading_article(F.col("release_title"))

    def equal(norm: str, raw: str) -> tuple[Column, Column]:
        same = F.coalesce(F.col(norm) == F.col("release_title_norm"), F.lit(False))
        return same, same & (_leading_article(F.col(raw)) == release_article)

    same_title, agrees_title = equal("film_title_norm", "film_title")
    same_original, agrees_original = equal("film_original_title_norm", "film_original_title")
    differs = (F.col("release_film_hint_norm").isNull() & (same_title | same_original)
               & ~agrees_title & ~agrees_original)
    return pairs.withColumn("title_article_differs", differs.cast("double"))


def _numbers(col: Column) -> Column:
    return F.array_sort(F.array_distinct(F.regexp_extract_all(F.coalesce(col, F.lit("")), F.lit(r"\b(\d+)\b"), 1)))


def _title_year_mismatch() -> Column:
    """A year written in the raw release title, brackets included ('Les Misérables (1991 Dutch cast)', 'Need for
    Speed (2015)' for the 2014 film, 'Nosleep Christmas 2017'), that is not the film's year and not part of the
    film's title ('Blade Runner 2049'). No labelled true pair names a year in the release title at all, so no
    tolerance is given."""
    years = F.regexp_extract_all(F.coalesce(F.col("release_title"), F.lit("")), F.lit(r"(?<!\d)((?:18|19|20)\d\d)(?!\d)"), 1)
    film_years = F.regexp_extract_all(F.coalesce(F.col("film_title"), F.lit("")), F.lit(r"(?<!\d)(\d{4})(?!\d)"), 1)
    return F.coalesce(F.exists(years, lambda y: (y.cast("int") != F.col("film_year"))
                               & ~F.array_contains(film_years, y)), F.lit(False))


# A record's volume number ('Baby Driver Volume 2: The Score for a Score', 'Awesome Mix, Vol. 2'): the release's numbers
# agree with the film's with it ('Guardians of the Galaxy Vol. 2') or without it ('Baby Driver').
VOLUME_NUMBER = r"\b(?:vol|volume) \d+\b"


def add_sequel_and_franchise(pairs: DataFrame) -> DataFrame:
    """Sequel/part numbers that differ, and titles that share only a franchise prefix.

    Roman numerals are already digits in the normalised titles. A four-digit number equal to the film's year
    is a date qualifier ('Aladdin 2019'), not a sequel number, and is ignored on the release side; so is a volume
    number when the film's numbers agree without it.
    """
    film_year = F.coalesce(F.col("film_year").cast("string"), F.lit(""))
    without_volume = lambda col: F.regexp_replace(col, VOLUME_NUMBER, " ")  # noqa: E731
    release_sides = [F.coalesce("release_film_hint_norm", "release_title_norm"), F.col("release_title_norm")]
    release_number_sets = [F.filter(_numbers(side), lambda n: n != film_year)
                           for col in release_sides for side in (col, without_volume(col))]

    def agrees_with(film_col: str) -> Column:
        film_numbers = _numbers(F.col(film_col))
        agree = F.lit(False)
        for numbers in release_number_sets:
            agree = agree | (film_numbers == numbers)
        return agree

    same_numbers = agrees_with("film_title_norm") | agrees_with("film_original_title_norm")

    def prefix_only(film_col: str) -> Column:
        film, release = F.coalesce(F.col(film_col), F.lit("")), F.coalesce(F.col("release_title_norm"), F.lit(""))
        proper_prefix = lambda a, b: (F.length(a) > 0) & (F.length(a) < F.length(b)) & b.startswith(F.concat(a, F.lit(" ")))  # noqa: E731
        return proper_prefix(film, release) | proper_prefix(release, film)

    same_title = ((F.col("film_title_norm") == F.col("release_title_norm"))
                  | (F.col("film_original_title_norm") == F.col("release_title_norm"))
                  | (F.col("film_title_norm") == F.col("release_film_hint_norm")))
    return (pairs
            .withColumn("number_mismatch", (~same_numbers).cast("double"))
            .withColumn("title_year_mismatch", _title_year_mismatch().cast("double"))
            .withColumn("franchise_prefix_only",
                        (~F.coalesce(same_title, F.lit(False))
                         & (prefix_only("film_title_norm") | prefix_only("film_original_title_norm"))).cast("double")))


# A film title counts as held by the release title from this coverage on (coverage is a ratio of rarity sums, so a
# title held whole can land a rounding error below 1).
FULL_TITLE_COVERAGE = 0.99


def add_release_form(pairs: DataFrame) -> DataFrame:
    """`franchise_collection`: a collection that does not name the whole film. A box set or 'Soundtracks Collection'
    of one film names it ('X: The Deluxe Box Set'; the generated planted truth holds 30 such Discogs positives), one
    of a franchise names only what its films share ('Indiana Jones: The Soundtracks Collection' against 'Kingdom of
    the Crystal Skull'). On the dev + batch 2 labels it marks 39 wrong pairs and no right one."""
    return pairs.withColumn("franchise_collection",
                            ((F.col("release_collection") >= 1.0)
                             & (F.col("film_title_coverage") < FULL_TITLE_COVERAGE)).cast("double"))


# --- string similarities, batch-wise in the Python workers ----------------------------------------------------
SIMILARITY_INPUTS = ("film_title_norm", "film_original_title_norm", "release_title_norm", "release_film_hint_norm",
                     "film_composers_norm", "release_artists", "release_artists_norm", "release_credits")


def _best_pairwise(scorer, left: list[pd.Series], right: list[pd.Series]) -> np.ndarray:
    """Row-wise maximum of `scorer` over every (left, right) column combination; a null side scores 0."""
    from rapidfuzz import process

    best = np.zeros(len(left[0]), dtype=np.float64)
    for lcol in left:
        for rcol in right:
            present = (lcol.notna() & rcol.notna() & (lcol != "") & (rcol != "")).to_numpy()
            if not present.any():
                continue
            scores = process.cpdist(lcol[present].tolist(), rcol[present].tolist(), scorer=scorer,
                                    workers=CPDIST_WORKERS, dtype=np.float64)
            best[present] = np.maximum(best[present], scores)
    return best / 100.0


def _per_distinct(values: pd.Series, transform: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`transform` applied once per distinct value and spread back over the rows (nulls stay null). A batch's pairs
    repeat their films' and releases' strings: 100,000 pairs of the 10% generated input hold about 20,000 distinct
    titles and 2,000 distinct composer lists, so folding each string once made the similarities 2.6 times as fast
    (bench/pair_similarities.py; docs/scale.md)."""
    codes, distinct = pd.factorize(values)
    done = transform(pd.Series(distinct, dtype=object)).to_numpy(dtype=object)
    out = np.full(len(values), None, dtype=object)
    present = codes >= 0
    out[present] = done[codes[present]]
    return pd.Series(out, index=values.index)


def _fold_names(names: pd.Series) -> pd.Series:
    """Person names compared loosely: case, punctuation, Discogs '(4)' disambiguation numbers."""
    return (names.str.lower()
            .str.replace(r"\(\d+\)", " ", regex=True)
            .str.replace(r"[^\w]+", " ", regex=True)
            .str.strip())


# A release artist credit can join several people ('Pivio & Aldo De Scalzi', 'Hans Zimmer And Lisa Gerrard') or carry an
# alias in brackets ('Tom Holkenborg (Junkie XL)'); each part is compared on its own. Matched on the raw credit: the
# normalised artist names have lost the '&'.
_JOINT_CREDIT = re.compile(r"\s*(?:&|,|/|\+|\band\b|\bfeat\.?|\bfeaturing\b|\bwith\b)\s*", re.IGNORECASE)
_BRACKETED_ALIAS = re.compile(r"\(([^()]*\D[^()]*)\)")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_kakasi = None


def _credit_parts(name: str) -> list[str]:
    """The whole credit, its bracketed alias, and each person of a joint credit."""
    with_alias = _BRACKETED_ALIAS.sub(lambda m: " | " + m.group(1), name)
    parts = [name] + [p for chunk in with_alias.split("|") for p in [chunk, *_JOINT_CREDIT.split(chunk)]]
    return [p for p in (p.strip() for p in parts) if p]


def romanised(name: str) -> str:
    """A Japanese name (kana or kanji) in Hepburn romaji, word by word ('やまだ豊' -> 'yamada yutaka', '石橋英子' ->
    'ishibashi eiko'), so that it meets TMDB's Latin spelling of the same composer; other names unchanged. Kanji
    readings are pykakasi's dictionary guesses: on the labelled pairs (dev + batch 2) it matches 7 of the 12 positives
    credited in Japanese script alone (it misreads 池頼広, 牛尾憲輔, 高梨康治, 住友紀人; 林強 is Taiwanese) and none of
    the 84 wrong pairs with such a credit; Korean names stay unmatched."""
    global _kakasi
    if not _JAPANESE.search(name):
        return name
    if _kakasi is None:
        import pykakasi

        _kakasi = pykakasi.kakasi()
    return " ".join(item["hepburn"] for item in _kakasi.convert(name)).strip()


def _squashed(name: str) -> str:
    return re.sub(r"[^a-z]", "", name).replace("ou", "o").replace("uu", "u")


def _contained(short: pd.Series, long_: pd.Series, token_set: np.ndarray) -> np.ndarray:
    """token_set_ratio is 100 when one name's words are a subset of the other's; it counts when the smaller name has
    two words or more, or is one word of CONTAINED_NAME_MIN_LETTERS letters or more."""
    words = np.minimum(short.str.count(" ").to_numpy(), long_.str.count(" ").to_numpy()) + 1
    shortest = np.minimum(short.str.len().to_numpy(), long_.str.len().to_numpy())
    return (token_set >= 100.0) & ((words >= 2) | (shortest >= CONTAINED_NAME_MIN_LETTERS))


def name_similarities(film_names: pd.Series, release_names: pd.Series) -> np.ndarray:
    """0..100 per (film composer, release name) row: the better of the plain and token-sorted ratio; 100 when one name
    is contained in the other ('finneas' / 'finneas o connell', 'tom holkenborg' / 'tom holkenborg junkie xl'); a
    Japanese-script name is compared romanised, and counts as the same when it spells the other in either name order
    ('sakamotoryuuichi' / 'ryuichi sakamoto'). Vectorised with cpdist; only Japanese-script rows go through Python."""
    from rapidfuzz import fuzz, process

    def scores(a: list[str], b: list[str]) -> np.ndarray:
        best = np.maximum(process.cpdist(a, b, scorer=fuzz.ratio, workers=CPDIST_WORKERS, dtype=np.float64),
                          process.cpdist(a, b, scorer=fuzz.token_sort_ratio, workers=CPDIST_WORKERS, dtype=np.float64))
        token_set = process.cpdist(a, b, scorer=fuzz.token_set_ratio, workers=CPDIST_WORKERS, dtype=np.float64)
        return np.where(_contained(pd.Series(a), pd.Series(b), token_set), 100.0, best)

    film_names, release_names = film_names.reset_index(drop=True), release_names.reset_index(drop=True)
    out = scores(film_names.tolist(), release_names.tolist())
    japanese = (film_names.str.contains(_JAPANESE) | release_names.str.contains(_JAPANESE)).to_numpy()
    if japanese.any():
        film_r = film_names[japanese].map(romanised)
        release_r = release_names[japanese].map(romanised)
        roman = scores(film_r.tolist(), release_r.tolist())
        for i, (whole, other) in enumerate(zip(film_r, release_r)):
            for a, b in ((whole, other), (other, whole)):
                words = b.split()
                if len(words) == 2 and _squashed(a) in (_squashed(words[0] + words[1]), _squashed(words[1] + words[0])):
                    roman[i] = 100.0
        out[japanese] = np.maximum(out[japanese], roman)
    return out


def _name_lists(frame: pd.DataFrame, columns: tuple[str, ...], exclude: tuple[str, ...], split: bool = False) -> pd.DataFrame:
    """Long frame (row, name) of the usable names in list columns, folded, placeholders removed; with `split`, joint
    credits are split into their people."""
    parts = []
    for col in columns:
        exploded = frame[col].explode()
        parts.append(pd.DataFrame({"row": exploded.index.to_numpy(), "name": exploded.to_numpy()}))
    names = pd.concat(parts, ignore_index=True).dropna()
    if split:
        names = names.assign(name=_per_distinct(names["name"].astype(str), lambda s: s.map(_credit_parts))
                             ).explode("name").dropna()
    names["name"] = _per_distinct(names["name"].astype(str), _fold_names)
    return names[~names["name"].isin(exclude) & (names["name"] != "")].drop_duplicates()


def best_composer_similarity(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row: best similarity (0..1) of a film composer to a release artist or credit, and whether there was
    anything to compare on both sides (name_similarities over every film composer x release name, joint credits
    split)."""
    n = len(frame)
    composers = _name_lists(frame, ("film_composers_norm",), UNKNOWN_COMPOSERS)
    artists = _name_lists(frame, ("release_artists", "release_artists_norm", "release_credits"), NON_CREDIT_ARTISTS,
                          split=True)
    comparable = np.zeros(n, dtype=bool)
    comparable[np.intersect1d(composers["row"].unique(), artists["row"].unique()).astype(int)] = True
    best = np.zeros(n, dtype=np.float64)
    combos = composers.merge(artists, on="row", suffixes=("_film", "_release"))
    if len(combos):
        # Each distinct (composer, release name) is scored once: a release's credits meet the same composers again in
        # every pair of a film that shares them.
        codes, _ = pd.factorize(combos["name_film"] + "\x1f" + combos["name_release"])
        first_rows = np.unique(codes, return_index=True)[1]
        distinct = combos.iloc[first_rows]
        scores = name_similarities(distinct["name_film"], distinct["name_release"])[codes]
        per_row = pd.Series(scores, index=combos["row"].to_numpy()).groupby(level=0).max()
        best[per_row.index.to_numpy().astype(int)] = per_row.to_numpy() / 100.0
    return best, comparable


# Transliterations of the same title differ in doubled letters and a few spellings ('Baahubali' / 'Bāhubali' once accents
# are gone, 'Bajirao' / 'Baajirao'); titles equal after this fold are `title_loose_exact`.
_LOOSE_FOLDS = (("aa", "a"), ("ee", "i"), ("oo", "u"), ("w", "v"), ("ph", "f"), ("z", "s"))


def loose_title(title: str | None) -> str | None:
    if not title:
        return None
    folded = re.sub(r"(.)\1+", r"\1", title)
    for a, b in _LOOSE_FOLDS:
        folded = folded.replace(a, b)
    return re.sub(r"(?<=[bcdfgjklmnpqrstvxz])h", "", folded)


def _loose_equal(films: list[pd.Series], releases: list[pd.Series]) -> np.ndarray:
    film_keys = [_per_distinct(col, lambda s: s.map(loose_title)) for col in films]
    release_keys = [_per_distinct(col, lambda s: s.map(loose_title)) for col in releases]
    equal = np.zeros(len(films[0]), dtype=bool)
    for f in film_keys:
        for r in release_keys:
            equal |= (f.notna() & r.notna() & (f == r)).to_numpy()
    return equal


def similarity_batch(frame: pd.DataFrame) -> pd.DataFrame:
    """Every string similarity of one Arrow batch: a handful of cpdist calls over whole columns."""
    from rapidfuzz import fuzz

    frame = frame.reset_index(drop=True)
    films = [frame["film_title_norm"], frame["film_original_title_norm"]]
    releases = [frame["release_title_norm"], frame["release_film_hint_norm"]]
    out = frame.drop(columns=list(SIMILARITY_INPUTS))
    out["title_ratio"] = _best_pairwise(fuzz.ratio, films, releases)
    out["title_exact"] = (out["title_ratio"] >= 1.0).astype(np.float64)
    out["title_loose_exact"] = np.maximum(out["title_exact"], _loose_equal(films, releases).astype(np.float64))
    composer_sim, comparable = best_composer_similarity(frame)
    out["composer_sim"] = np.where(comparable, composer_sim, np.nan)
    matched = composer_sim >= COMPOSER_MATCH_MIN / 100.0
    out["composer_match"] = matched.astype(np.float64)
    out["composer_mismatch"] = (comparable & ~matched).astype(np.float64)
    return out


def _similarities_in_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for frame in batches:
        yield similarity_batch(frame)


def add_string_similarities(pairs: DataFrame) -> DataFrame:
    """Title and composer similarities through mapInPandas (Arrow batches, rapidfuzz cpdist per column pair)."""
    kept = [f for f in pairs.schema.fields if f.name not in SIMILARITY_INPUTS]
    out_schema = StructType(kept + [StructField(name, DoubleType(), True) for name in SIMILARITY_OUTPUTS])
    return pairs.mapInPandas(_similarities_in_batches, out_schema)


# Features that need the string similarities (composer_match) and are computed after them.
AFTER_SIMILARITIES = ("single_unrelated", "single_unrelated_undated")


def add_artist_identity(pairs: DataFrame) -> DataFrame:
    """single_unrelated: a single or EP by someone who is not the film's composer, naming no film ('Last Breath' by
    Realma, 'Mother' by Socially Altered; on the labelled pairs such releases are the film's 13 times in 73).
    single_unrelated_undated: such a single without a year. A dated one can still be a performer's song from the
    film, released with it ('Try Everything', 2016); an undated one is the film's 4 times in 46 on the dev + batch 2
    labels, and apart from it the decision weighed it like any undated album with the film's exact title (out of
    fold: 'Incantation' and 'Last Breath' were two of the seven false MusicBrainz links).
    composer_mismatch is 0 for a release that names the film as its source (`release_cites_film`): a theme song's
    singer is not its composer, and the title already says whose music it is ('My Heart Will Go On (Love Theme From
    'Titanic')' by Celine Dion). On the dev + batch 2 labels such releases are 9 pairs, all positives, 4 of them with
    a mismatch; sparing them lowered the decision's out-of-fold log loss in three seeds of three (0.0423 / 0.0396 /
    0.0421 -> 0.0415 / 0.0390 / 0.0416) and found the Titanic single in each (docs/matching.md, feature version 17)."""
    cited = F.coalesce(F.col("release_cites_film"), F.lit(0.0)) >= 1.0
    no_match = F.col("composer_match") < 1.0
    single_unrelated = ((F.col("release_is_single_or_ep") >= 1.0) & no_match & ~F.col("release_has_hint")
                        & (F.col("title_film_marker") < 1.0))
    return (pairs.withColumn("single_unrelated", single_unrelated.cast("double"))
            .withColumn("single_unrelated_undated", (single_unrelated & (F.col("release_undated") >= 1.0))
                        .cast("double"))
            .withColumn("composer_mismatch", F.when(cited, F.lit(0.0)).otherwise(F.col("composer_mismatch"))))


def _title_equal() -> Column:
    return (F.col("title_exact") >= 1.0) | (F.col("title_loose_exact") >= 1.0)


def _composer_album() -> Column:
    return (F.col("composer_match") >= 1.0) & _title_equal() & (F.col("release_is_soundtrack") >= 1.0)


def composer_albums(features: DataFrame) -> DataFrame:
    """(tmdb_id, composer_albums): per film, how many of its candidate releases are soundtracks with its exact title
    by its own composer. Built from every candidate pair of the film (add_film_guards reads it)."""
    return features.where(_composer_album()).groupBy("tmdb_id").agg(F.count(F.lit(1)).alias("composer_albums"))


def _whole_title_held() -> Column:
    return ((F.col("film_title_coverage") >= FULL_TITLE_COVERAGE)
            & (F.col("title_specificity") >= WHOLE_TITLE_MIN_SPECIFICITY)
            & (F.coalesce(F.col("number_mismatch"), F.lit(0.0)) < 1.0)
            & (F.coalesce(F.col("title_year_mismatch"), F.lit(0.0)) < 1.0))


def covered_films(features: DataFrame) -> DataFrame:
    """(release key, covered_films): per release, how many of its candidate films it holds the whole title of, with
    rare words (WHOLE_TITLE_MIN_SPECIFICITY). Built from every candidate pair of the release (add_film_guards reads
    it)."""
    return (features.where(_whole_title_held()).groupBy(*RELEASE_KEY)
            .agg(F.count(F.lit(1)).alias("covered_films")))


def add_film_guards(features: DataFrame, albums: DataFrame, covered: DataFrame) -> DataFrame:
    """Adds GUARD_FEATURES and the RELEASE_CONTEXT features to pair features; `albums` is composer_albums over every
    candidate pair of the films, `covered` covered_films over every candidate pair of the releases."""
    elsewhere = (F.coalesce(F.col("composer_albums"), F.lit(0))
                 - F.when(_composer_album(), F.lit(1)).otherwise(F.lit(0)))
    cites = F.coalesce(F.col("release_cites_film"), F.lit(0.0)) >= 1.0
    soundtrack = F.coalesce(F.col("release_is_soundtrack"), F.lit(0.0)) >= 1.0
    others_held = F.coalesce(F.col("covered_films"), F.lit(0)) - F.when(_whole_title_held(), 1).otherwise(0)
    return (features.join(albums, "tmdb_id", "left").join(covered, list(RELEASE_KEY), "left")
            .withColumn("release_is_film_music", (soundtrack | cites).cast("double"))
            .withColumn("composer_album_elsewhere", ((F.col("composer_mismatch") >= 1.0) & _title_equal() & ~cites
                                                     & (elsewhere > 0)).cast("double"))
            .withColumn("other_film_covered", ((F.col("film_title_coverage") < FULL_TITLE_COVERAGE) & (others_held > 0))
                        .cast("double"))
            .drop("composer_albums", "covered_films"))


FEATURES_SCHEMA = StructType(
    [StructField("tmdb_id", LongType(), True), StructField("source", StringType(), True),
     StructField("release_id", StringType(), True), StructField("release_kind", StringType(), True),
     StructField("year_diff", IntegerType(), True), StructField("composer_sim", DoubleType(), True),
     StructField("release_cites_film", DoubleType(), True), StructField("imdb_bridge", DoubleType(), True)]
    + [StructField(name, DoubleType(), True) for name in PAIR_FEATURES])


def pair_features(candidates: DataFrame, films: DataFrame, releases: DataFrame,
                  rarity: DataFrame | None = None) -> DataFrame:
    """One row per candidate pair: key, release_kind, descriptive values and every model feature (FEATURES_SCHEMA).

    `rarity` (title_token_rarity of all films and releases) may be passed in when it is already computed: an
    incremental run scores a few pairs against the whole catalogue's statistics (incremental/relink.py)."""
    rarity = title_token_rarity(films, releases) if rarity is None else rarity
    native = (pair_sides(candidates, films, releases, rarity)
              .transform(add_year_features)
              .transform(add_release_type_signals)
              .transform(add_title_markers)
              .transform(add_source_citation)
              .transform(add_imdb_bridge)
              .transform(add_article_agreement)
              .transform(add_sequel_and_franchise)
              .transform(add_title_overlap)
              .transform(add_release_form)
              .withColumn("release_has_hint", F.col("release_film_hint_norm").isNotNull()))
    native_features = [n for n in PAIR_FEATURES if n not in SIMILARITY_OUTPUTS and n not in AFTER_SIMILARITIES]
    narrowed = native.select(*PAIR_KEY, "year_diff", "release_cites_film", "imdb_bridge", *native_features,
                             "release_has_hint", *SIMILARITY_INPUTS)
    return (narrowed.transform(add_string_similarities)
            .transform(add_artist_identity)
            .select(*[F.col(f.name).cast(f.dataType) for f in FEATURES_SCHEMA.fields]))


__all__ = ["MODEL_FEATURES", "FEATURE_VERSION", "FEATURES_SCHEMA", "pair_features", "pair_sides", "similarity_batch",
           "title_token_rarity", "title_word_weights", "with_title_weights", "add_title_overlap", "add_year_features",
           "add_release_type_signals",
           "add_title_markers", "add_source_citation", "add_imdb_bridge", "add_article_agreement", "add_release_form",
           "add_sequel_and_franchise",
           "add_string_similarities", "best_composer_similarity", "name_similarities", "romanised", "loose_title",
           "add_artist_identity", "GUARD_FEATURES", "composer_albums", "covered_films", "add_film_guards",
           "RELEASE_CONTEXT", "PAIR_FEATURES"]
