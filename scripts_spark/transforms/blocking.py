"""Candidate pairs (blocking): the film x release pairs the matcher will score, and nothing it could not find.

The rules are data (Splink-style): each names a key built on the film side and a key built on the release side,
and proposes every film-release pair of the same source that shares a key. The rules are unioned; each pair keeps
the names of the rules that proposed it. No rule looks at years: reissues and undated releases are common, years
are left to scoring.

Skew guard: a key shared by n films and m releases proposes n x m pairs. A key whose n x m exceeds its rule's
`max_pairs_per_key` is not used whole (and is reported), so a title word like 'love' or 'music', or a prolific
composer, cannot explode the pair count. It is split by year instead of dropped: the key then pairs a film only
with releases of the film's year +/- `year_band` (films and releases both dated), and each (key, year) obeys the
same cap. This matters at catalogue scale, where n and m both grow with the input so n x m grows with its square:
the same absolute cap that never fires on the sample would drop a fifth of the exact-title keys of a full TMDB x
Discogs run (and their true pairs), while the year split keeps the usual case (a soundtrack out within a year of
its film) and stays linear. Other rules still see those pairs when they have a better key.

The year split cannot place an undated release (or film). For a rule with `pair_undated`, each undated release of a
split key is a block of its own against all the key's films, under the same cap (n films x 1 release), and each
undated film likewise against the key's releases: linear again, at most the cap per undated release and key.

The rules, caps and year band are settings (the `blocking` section of match_settings.json), measured on the
bundled sample against data/eval/dev_labels.csv (see the step's metrics and `blocking_quality`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ..sources.labels import label_release_key, read_labels
from ..tables import schema_of
from ..tables.silver import RELEASE_KEY as SILVER_RELEASE_KEY
from .normalise import normalised_names

# A release is (source, release_kind, release_id): a Discogs master and a master-less release can share an id.
RELEASE_KEY = list(SILVER_RELEASE_KEY)
PAIR_KEY = ["tmdb_id", *RELEASE_KEY]


@dataclass(frozen=True)
class BlockingRule:
    name: str
    film_keys: str            # a key builder in FILM_KEYS
    release_keys: str         # a key builder in RELEASE_KEYS
    max_pairs_per_key: int    # skew guard: a key proposing more pairs than this is dropped from the rule
    doc: str = ""
    pair_undated: bool = False  # a split key still pairs its undated releases (films) with all its films (releases)


@dataclass(frozen=True)
class BlockingSettings:
    """The `blocking` section of match_settings.json (read by scripts_spark/match_settings.py), where the caps and
    the year band are chosen and measured."""
    rules: tuple[BlockingRule, ...]
    stopwords: frozenset[str]
    skew_examples: int = 5    # dropped keys listed in the step metrics, largest first
    year_band: int = 1        # a key over its cap is split by year: film year +/- year_band against the release year


# Title words that carry no identity in any language of the catalogue (the skew guard handles the rest).
STOPWORDS = frozenset("""the of and a an in on at to for from with by is are it its my me you your i we he she his
    her our their this that no not de la le les el los las del des du di da il lo un une und der die das den et y e o
    part vol volume""".split())

# --- keys ----------------------------------------------------------------------------------------------------------
def _empty() -> Column:
    return F.array().cast("array<string>")


def _non_empty(values: Column) -> Column:
    return F.filter(values, lambda v: v.isNotNull() & (v != ""))


def _affixes(key: Column) -> Column:
    """Every proper leading and trailing run of words of a key: 'a b c' -> ['a', 'a b', 'c', 'b c']."""
    words = F.split(key, " ")
    n = F.size(words)
    positions = F.when(n > 1, F.sequence(F.lit(1), n - 1)).otherwise(F.array().cast("array<int>"))
    leading = F.transform(positions, lambda i: F.array_join(F.slice(words, 1, i), " "))
    trailing = F.transform(positions, lambda i: F.array_join(F.slice(words, i + 1, n - i), " "))
    return F.concat(leading, trailing)


def _words(titles: Column, stopwords: frozenset[str]) -> Column:
    words = F.flatten(F.transform(titles, lambda t: F.split(t, " ")))
    return F.filter(words, lambda w: (w != "") & ~w.isin(*sorted(stopwords)))


def _name_word_pairs(names: Column, words: Column) -> Column:
    """'name | word' for every name x title word: a key that needs both the person and a shared word."""
    return F.flatten(F.transform(_non_empty(names), lambda n: F.transform(words, lambda w: F.concat_ws(" | ", n, w))))


def _film_titles() -> Column:
    return _non_empty(F.array(F.col("title_norm"), F.col("original_title_norm")))


def _release_titles() -> Column:
    return _non_empty(F.array(F.col("title_norm"), F.col("film_hint_norm")))


def _credited_names() -> Column:
    credits = normalised_names(F.coalesce(F.col("credits"), _empty()))
    return F.concat(F.coalesce(F.col("artists_norm"), _empty()), credits)


KeyBuilder = Callable[[BlockingSettings], Column]

FILM_KEYS: dict[str, KeyBuilder] = {
    "titles": lambda s: _film_titles(),
    "title_affixes": lambda s: F.flatten(F.transform(_film_titles(), _affixes)),
    "title_words": lambda s: _words(_film_titles(), s.stopwords),
    "composer_title_words": lambda s: _name_word_pairs(F.coalesce(F.col("composers_norm"), _empty()),
                                                       F.array_distinct(_words(_film_titles(), s.stopwords))),
    # an exact identifier: the film's IMDb id, which a release names through its IMDb URL relationships
    "imdb_id": lambda s: _non_empty(F.array(F.col("imdb_id"))),
}
RELEASE_KEYS: dict[str, KeyBuilder] = {
    "titles": lambda s: _release_titles(),
    "title_affixes": lambda s: F.flatten(F.transform(_release_titles(), _affixes)),
    "title_words": lambda s: _words(_release_titles(), s.stopwords),
    "credited_name_title_words": lambda s: _name_word_pairs(F.array_distinct(_credited_names()),
                                                            F.array_distinct(_words(_release_titles(), s.stopwords))),
    "imdb_ids": lambda s: F.coalesce(F.col("imdb_ids"), _empty()),
}


def _keys(df: DataFrame, ids: list[str], builders: Mapping[str, KeyBuilder], side: str,
          settings: BlockingSettings) -> DataFrame:
    """(ids..., year, rule, key) for every rule at once; each id's keys are distinct within a rule."""
    per_rule = F.array(*[F.struct(F.lit(rule.name).alias("rule"),
                                  F.array_distinct(_non_empty(builders[getattr(rule, side)](settings))).alias("keys"))
                         for rule in settings.rules])
    present = F.lit(True)
    for col in ids:
        present = present & F.col(col).isNotNull()
    return (df.filter(present)
            .select(*ids, "year", F.explode(per_rule).alias("r"))
            .select(*ids, "year", F.col("r.rule").alias("rule"), F.explode("r.keys").alias("key")))


# --- pairs ---------------------------------------------------------------------------------------------------------
@dataclass
class Blocking:
    pairs: DataFrame       # tmdb_id, source, release_kind, release_id, rules (schema_of("silver/candidate_pairs"))
    key_stats: DataFrame   # rule, source, key, n_films, n_releases, pairs, kept: every key both sides share
    year_stats: DataFrame  # rule, source, key, year, pairs, kept: the (key, year) splits of the keys over the cap
    undated: DataFrame     # PAIR_KEY, rule, key: the undated ends' pairs of split keys (pair_undated)
    _persisted: tuple[DataFrame, ...] = ()
    # Where each pair comes from: (PAIR_KEY, rule, key) for every key that proposed it, and the
    # keys of every film and release. A key's pairs depend only on the films and releases that have the key, which
    # is what lets an incremental run re-block just the keys its changed records touch (incremental/relink.py).
    pair_keys: DataFrame | None = None
    film_keys: DataFrame | None = None
    release_keys: DataFrame | None = None

    def persist(self) -> "Blocking":
        """Keep the keys and their statistics, so that writing the pairs and reporting the skew guard read them once."""
        for df in self._persisted:
            df.persist()
        return self

    def unpersist(self) -> None:
        for df in self._persisted:
            df.unpersist()


def film_keys_of(films: DataFrame, settings: BlockingSettings) -> DataFrame:
    """(tmdb_id, year, rule, key) of every film with an id."""
    return _keys(films, ["tmdb_id"], FILM_KEYS, "film_keys", settings)


def release_keys_of(releases: DataFrame, settings: BlockingSettings) -> DataFrame:
    """(source, release_kind, release_id, year, rule, key) of every release with an id."""
    return _keys(releases, RELEASE_KEY, RELEASE_KEYS, "release_keys", settings)


def block(films: DataFrame, releases: DataFrame, settings: BlockingSettings) -> Blocking:
    """Every rule's pairs in one pass (keys are namespaced by rule), de-duplicated, with the rules that proposed each.

    Films and releases without ids are left out: a pair needs both ends (step 04 quarantines such rows anyway).
    """
    return block_keys(film_keys_of(films, settings), release_keys_of(releases, settings), settings)


def block_keys(film_keys: DataFrame, release_keys: DataFrame, settings: BlockingSettings) -> Blocking:
    """`block` on the films' and releases' keys (`film_keys_of`, `release_keys_of`)."""
    caps = F.create_map(*[x for rule in settings.rules for x in (F.lit(rule.name), F.lit(rule.max_pairs_per_key))])
    key_stats = _pair_counts(film_keys, release_keys, ["rule", "key"], caps)
    whole = _pairs_of_kept_keys(film_keys.drop("year"), release_keys.drop("year"), key_stats, ["rule", "key"])

    # Keys over the cap, split by year: the film side is repeated for each year of its band.
    heavy = key_stats.filter(~F.col("kept")).select("rule", "source", "key")
    band = F.sequence(F.col("year") - settings.year_band, F.col("year") + settings.year_band)
    film_years = (film_keys.where(F.col("year").isNotNull())
                  .join(heavy.select("rule", "key").distinct(), ["rule", "key"], "left_semi")
                  .select("tmdb_id", "rule", "key", F.explode(band).alias("year")))
    release_years = (release_keys.where(F.col("year").isNotNull())
                     .join(heavy, ["rule", "source", "key"], "left_semi"))
    year_stats = _pair_counts(film_years, release_years, ["rule", "key", "year"], caps)
    by_year = _pairs_of_kept_keys(film_years, release_years, year_stats, ["rule", "key", "year"])

    undated = _undated_pairs(film_keys, release_keys, key_stats, caps, settings)

    pair_keys = whole.unionByName(by_year).unionByName(undated)
    pairs = pairs_of(pair_keys)
    # undated is persisted too: the pairs' write computes it and skew_report counts it from the cache
    return Blocking(pairs, key_stats, year_stats, undated,
                    (film_keys, release_keys, key_stats, year_stats, undated), pair_keys, film_keys, release_keys)


def pairs_of(pair_keys: DataFrame) -> DataFrame:
    """Candidate pairs (schema_of("silver/candidate_pairs")) from the keys that proposed them."""
    return (pair_keys.groupBy(*PAIR_KEY).agg(F.array_sort(F.collect_set("rule")).alias("rules"))
            .select(*[F.col(f.name).cast(f.dataType) for f in schema_of("silver/candidate_pairs").fields]))


def _undated_pairs(film_keys: DataFrame, release_keys: DataFrame, key_stats: DataFrame, caps: Column,
                   settings: BlockingSettings) -> DataFrame:
    """(PAIR_KEY, rule, key) of the undated ends of split keys, for the rules with `pair_undated`:
    every undated release with all films of a key that has at most the cap of films, every undated film with all
    releases of a key that has at most the cap of releases."""
    rules = [rule.name for rule in settings.rules if rule.pair_undated]
    split = key_stats.filter(~F.col("kept") & F.col("rule").isin(*rules))
    few_films = split.filter(F.col("n_films") <= caps[F.col("rule")]).select("rule", "source", "key")
    few_releases = split.filter(F.col("n_releases") <= caps[F.col("rule")]).select("rule", "source", "key")
    undated_releases = (release_keys.where(F.col("year").isNull()).drop("year")
                        .join(few_films, ["rule", "source", "key"], "left_semi"))
    releases_of_few = release_keys.drop("year").join(few_releases, ["rule", "source", "key"], "left_semi")
    undated_films = film_keys.where(F.col("year").isNull()).drop("year")
    return (film_keys.drop("year").join(undated_releases, ["rule", "key"]).select(*PAIR_KEY, "rule", "key")
            .unionByName(undated_films.join(releases_of_few, ["rule", "key"]).select(*PAIR_KEY, "rule", "key")))


def _pair_counts(film_keys: DataFrame, release_keys: DataFrame, key: list[str], caps: Column) -> DataFrame:
    """Per shared key (and source): films, releases, the pairs it would propose, and whether that is within the cap."""
    return (film_keys.groupBy(*key).agg(F.count(F.lit(1)).alias("n_films"))
            .join(release_keys.groupBy("source", *key).agg(F.count(F.lit(1)).alias("n_releases")), key)
            .withColumn("pairs", F.col("n_films") * F.col("n_releases"))
            .withColumn("kept", F.col("pairs") <= caps[F.col("rule")])
            .select("source", *key, "n_films", "n_releases", "pairs", "kept"))


def _pairs_of_kept_keys(film_keys: DataFrame, release_keys: DataFrame, stats: DataFrame, key: list[str]) -> DataFrame:
    """(PAIR_KEY, rule, key) for every film and release sharing a key within its cap."""
    kept = release_keys.join(stats.filter("kept").select("source", *key), ["source", *key], "left_semi")
    return film_keys.join(kept, key).select(*PAIR_KEY, "rule", "key")


def candidate_pairs(films: DataFrame, releases: DataFrame,
                    settings: BlockingSettings) -> DataFrame:
    """silver candidate pairs (schema_of("silver/candidate_pairs")) of Silver films and releases."""
    return block(films, releases, settings).pairs


def skew_report(blocking: Blocking, settings: BlockingSettings) -> dict:
    """Per rule: keys over the cap (not used whole), the pairs they would have proposed, the largest few, what
    their split by year kept: (key, year) splits used and dropped, and the pairs they proposed, and the pairs of
    their undated ends (`pair_undated` rules)."""
    key_stats, year_stats = blocking.key_stats, blocking.year_stats
    dropped = key_stats.filter(~F.col("kept"))
    totals = {r["rule"]: (r["keys"], r["pairs"]) for r in dropped.groupBy("rule").agg(
        F.count(F.lit(1)).alias("keys"), F.sum("pairs").alias("pairs")).collect()}
    splits = {r["rule"]: r for r in year_stats.groupBy("rule").agg(
        F.sum(F.col("kept").cast("long")).alias("kept"), F.sum((~F.col("kept")).cast("long")).alias("dropped"),
        F.sum(F.when(F.col("kept"), F.col("pairs"))).alias("pairs")).collect()}
    undated = {r["rule"]: r["n"] for r in blocking.undated.groupBy("rule").agg(F.count(F.lit(1)).alias("n")).collect()}
    rank = F.row_number().over(Window.partitionBy("rule").orderBy(F.desc("pairs"), "key", "source"))
    largest = dropped.withColumn("rank", rank).filter(F.col("rank") <= settings.skew_examples).collect()
    report = {}
    for rule in settings.rules:
        keys, pairs = totals.get(rule.name, (0, 0))
        examples = sorted((r for r in largest if r["rule"] == rule.name), key=lambda r: r["rank"])
        split = splits.get(rule.name)
        report[rule.name] = {
            "max_pairs_per_key": rule.max_pairs_per_key, "keys_dropped": keys, "pairs_avoided": pairs,
            "largest_dropped": [f"{r['key']} ({r['source']}: {r['n_films']} x {r['n_releases']})" for r in examples],
            "year_splits_kept": int(split["kept"] or 0) if split else 0,
            "year_splits_dropped": int(split["dropped"] or 0) if split else 0,
            "year_split_pairs": int(split["pairs"] or 0) if split else 0,
            "undated_pairs": undated.get(rule.name, 0)}
    return report


# --- quality against labels ----------------------------------------------------------------------------------------
def label_positives(spark: SparkSession, labels_path: str) -> DataFrame:
    """Labelled positive pairs of a labels CSV (data/eval/dev_labels.csv): tmdb_id and the release as the labels
    name it (sources/labels.label_release_key)."""
    labels = read_labels(spark, labels_path)
    return (labels.filter((F.col("label") == 1) & F.col("tmdb_id").isNotNull())
            .select("tmdb_id", *label_release_key(labels)).distinct())


def blocking_quality(candidates_df: DataFrame, films_count: int, releases_count: int | Mapping[str, int],
                     labels_path: str) -> dict:
    """Per labelled source: pair completeness (labelled positives that are candidates), found, positives,
    candidates, and the reduction ratio 1 - candidates / (films x releases).

    `releases_count` is the number of Silver releases of each source ({'musicbrainz': n, 'discogs': m}); a single
    int is taken as every source's release count (the comparison space then spans all releases). Pairs are counted
    as the labels name them: without the release kind for labels that have none (as the reference scorer counts).
    """
    spark = candidates_df.sparkSession
    positives = label_positives(spark, labels_path).cache()
    pair = positives.columns
    candidates = candidates_df.select(*pair).distinct()
    by_source = {r["source"]: r["n"] for r in candidates.groupBy("source").agg(F.count(F.lit(1)).alias("n")).collect()}
    found = {r["source"]: r["n"] for r in positives.join(candidates, pair, "left_semi")
             .groupBy("source").agg(F.count(F.lit(1)).alias("n")).collect()}
    n_positives = {r["source"]: r["n"] for r in positives.groupBy("source").agg(F.count(F.lit(1)).alias("n")).collect()}
    positives.unpersist()
    out = {}
    for source in sorted(n_positives):
        n_releases = releases_count.get(source, 0) if isinstance(releases_count, Mapping) else releases_count
        space = films_count * n_releases
        n_candidates = by_source.get(source, 0)
        out[source] = {
            "pair_completeness": round(found.get(source, 0) / n_positives[source], 4),
            "found": found.get(source, 0),
            "positives": n_positives[source],
            "candidates": n_candidates,
            "reduction_ratio": round(1 - n_candidates / space, 6) if space else None,
        }
    return out
