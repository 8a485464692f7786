"""Re-link only what changed: steps 03, 04 and 05 of an incremental run, and what their full runs leave in the state.

The state (state.py) holds, beside each source's registry (extract.py):
- `films`, `releases`, `pairs`: staged Silver rows with their contract result (`_failed`, empty = valid);
- `discogs_records`: every Discogs Bronze record in the shape the master fold works on, with its feed and id;
- `film_keys`, `release_keys`, `pair_keys`: every blocking key of every film and release, and the keys that
  proposed each pair (transforms/blocking.py);
- `features`: every valid pair's features and the four titles its title-word overlap is computed from;
- `rarity`: the catalogue's title-word rarity (transforms/features.py), a statistic over all films and releases;
- `links`: the current gold/soundtrack_matches; `history`: gold/link_history.

What an incremental run recomputes, and why that equals a full run:
- 03: films and MusicBrainz groups of changed ids are normalised again (one Bronze row -> one Silver row); Discogs
  masters whose records changed are folded again from all their current records. A blocking key's pairs depend
  only on the films and releases that have the key, so only the keys of changed films and releases (old and new
  versions) are blocked again, over every film and release that has them; every other key's pairs stay.
- 04: a key's uniqueness and a row's rules depend only on the rows of its key, so only changed keys are checked; a
  pair is checked again when it changed or its film or release did (references).
- 05: a pair's features depend on its film, its release and the title-word rarity. Pairs whose film, release or
  rules changed are scored from scratch; the others keep their features, except the three rarity features
  (title_specificity, film_title_coverage, release_title_coverage), recomputed for every pair one of whose words
  changed rarity. Rarity is log(N / df) on a fixed scale: adding or deleting any title changes N, so after adds and
  deletes nearly every pair's rarity features are recomputed (a Spark join and sum, no Python), while the string
  similarities (Python workers) run only for changed pairs. A release is decided again when any of its pairs'
  features changed or its candidate set did; every other release's link is carried over untouched.
"""
from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructField, StructType

from ..tables import quarantine, schema_of, staged, table
from ..transforms.blocking import (PAIR_KEY, RELEASE_KEY, STOPWORDS, block_keys, film_keys_of, pairs_of,
                                   release_keys_of)
from ..transforms.contracts import (ContractViolation, check_rows, check_schema, contract_counts, quarantine_rows,
                                    systemic_faults, valid_rows)
from ..transforms.silver import (conform, discogs_records, films_from_bronze, fold_discogs, musicbrainz_releases,
                                 with_release_norms)
from .plan import Plan

if TYPE_CHECKING:  # pragma: no cover
    from ..base_step import StepContext

FAILED_TYPE = ArrayType(StructType([StructField("rule", StringType()), StructField("reason", StringType())]))
DISCOGS_TABLES = ("bronze/discogs_masters", "bronze/discogs_releases", "bronze/discogs_search_results")
DISCOGS_FEEDS = {"bronze/discogs_masters": ("discogs_masters", lambda: F.col("master_id").cast("string")),
                 "bronze/discogs_releases": ("discogs_releases", lambda: F.col("release_id").cast("string")),
                 "bronze/discogs_search_results": ("discogs_search", lambda: F.regexp_extract(
                     "_source_uri", r"/discogs/search/(.+)$", 1))}
TITLE_COLUMNS = ("film_title_norm", "film_original_title_norm", "release_title_norm", "release_film_hint_norm")
RARITY_FEATURES = ("title_specificity", "film_title_coverage", "release_title_coverage")
KEY_COLUMNS = ["rule", "key"]
# Between a record's feed, id and payload hash while it passes through the Discogs fold (see discogs_rows).
_SEP = "\u0001"


def checked_schema(name: str) -> StructType:
    return StructType([*schema_of(name).fields, StructField("_failed", FAILED_TYPE)])


FILM_KEYS_SCHEMA = "tmdb_id long, year int, rule string, key string"
RELEASE_KEYS_SCHEMA = "source string, release_kind string, release_id string, year int, rule string, key string"
PAIR_KEYS_SCHEMA = "tmdb_id long, source string, release_kind string, release_id string, rule string, key string"
RARITY_SCHEMA = "token string, rarity double"
FILM_IDS = "tmdb_id long"
RELEASE_IDS = "source string, release_kind string, release_id string"
PAIR_IDS = "tmdb_id long, source string, release_kind string, release_id string"
REASONS_SCHEMA = "source string, release_kind string, release_id string, reason string"
ALBUMS_SCHEMA = "tmdb_id long, composer_albums long"


def _schema(ddl: str) -> StructType:
    return StructType.fromDDL(ddl)


def _empty_bronze(spark, name: str) -> DataFrame:
    return spark.createDataFrame([], schema_of(name))


def discogs_records_schema(spark) -> StructType:
    shape = discogs_records(*(_empty_bronze(spark, t) for t in DISCOGS_TABLES)).schema
    return StructType([*shape.fields, StructField("_feed", StringType()), StructField("_record_id", StringType())])


def discogs_rows(bronze: dict[str, DataFrame]) -> DataFrame:
    """Every Discogs Bronze record in the fold's shape (transforms/silver.discogs_records) with its feed and id.

    The fold's shape keeps no record id, so the feed and id ride through `_payload_sha256` (which only becomes the
    `_bronze_ref` pointer) and are split off again afterwards: the rows are exactly the full run's."""
    spark = next(iter(bronze.values())).sparkSession
    tagged = {}
    for name in DISCOGS_TABLES:
        feed, record_id = DISCOGS_FEEDS[name]
        tagged[name] = bronze[name].withColumn("_payload_sha256", F.concat_ws(
            _SEP, F.lit(feed), record_id(), F.coalesce(F.col("_payload_sha256"), F.col("_source_uri"), F.lit("?"))))
    rows = discogs_records(*(tagged[t] for t in DISCOGS_TABLES))
    ref = F.split(F.col("_bronze_ref"), _SEP)
    prefix = F.substring_index(ref[0], ":", 1)
    return (rows.withColumn("_feed", F.substring_index(ref[0], ":", -1))
            .withColumn("_record_id", ref[1])
            .withColumn("_bronze_ref", F.concat(prefix, F.lit(":"), ref[2]))
            .select(*[f.name for f in discogs_records_schema(spark).fields]))


# --- full runs: what the steps leave in the state -------------------------------------------------------------
def capture_blocking(plan: Plan, bronze: dict[str, DataFrame], blocking) -> None:
    """Step 03 of a full run: the Discogs records and every blocking key, for the next incremental run."""
    plan.write_table("discogs_records", discogs_rows(bronze))
    plan.write_table("film_keys", blocking.film_keys)
    plan.write_table("release_keys", blocking.release_keys)
    plan.write_table("pair_keys", blocking.pair_keys)


def capture_checked(plan: Plan, name: str, checked: DataFrame) -> None:
    """Step 04 of a full run: a Silver table's staged rows with their contract result."""
    plan.write_table(name.split("/", 1)[1].replace("candidate_", ""), checked)


def capture_features(plan: Plan, features: DataFrame, films: DataFrame, releases: DataFrame,
                     rarity: DataFrame) -> DataFrame:
    """Step 05 of a full run: store every pair's features with its titles and the rarity; return the features read
    back (so the matcher does not compute them twice)."""
    plan.write_table("rarity", rarity)
    plan.write_table("features", with_titles(features, films, releases))
    return plan.read_table("features", features_schema()).drop(*TITLE_COLUMNS)


def features_schema() -> StructType:
    from ..transforms.features import FEATURES_SCHEMA

    return StructType([*FEATURES_SCHEMA.fields, *[StructField(c, StringType()) for c in TITLE_COLUMNS]])


def with_titles(features: DataFrame, films: DataFrame, releases: DataFrame) -> DataFrame:
    """Features + the four normalised titles the rarity features are computed from (for a later refresh)."""
    film_titles = films.select("tmdb_id", F.col("title_norm").alias("film_title_norm"),
                               F.col("original_title_norm").alias("film_original_title_norm"))
    release_titles = releases.select(*RELEASE_KEY, F.col("title_norm").alias("release_title_norm"),
                                     F.col("film_hint_norm").alias("release_film_hint_norm"))
    return (features.join(film_titles, "tmdb_id").join(release_titles, list(RELEASE_KEY))
            .select(*[f.name for f in features_schema().fields]))


# --- step 03 -----------------------------------------------------------------------------------------------
def normalise_and_block(ctx: "StepContext", plan: Plan, blocking_settings) -> dict[str, Any]:
    """Step 03 of an incremental run: staged Silver rows of the changed films and releases, the changed candidate
    pairs, and the next state's Discogs records and keys. Returns the step's metrics."""
    spark = ctx.spark
    bronze = {t: ctx.read(t) for t in ("bronze/tmdb_movies", "bronze/musicbrainz_release_groups", *DISCOGS_TABLES)}
    # A state table built only from feeds this run left unread is the base's: carried, not rewritten (on the usual
    # night, a new TMDB export alone, that spares rewriting every Discogs record and release key).
    discogs_same = plan.left_unread(*(feed for feed, _ in DISCOGS_FEEDS.values()))
    films_same = plan.left_unread("tmdb")
    releases_same = discogs_same and plan.left_unread("musicbrainz")

    film_ids = _ids(plan.read_changes("tmdb"), F.col("record_id").cast("long").alias("tmdb_id"))
    ctx.write(staged("silver/films"), films_from_bronze(bronze["bronze/tmdb_movies"]))
    delta_films = ctx.read(staged("silver/films"))

    # Discogs: the records of changed ids leave, this run's records come in; every master (or master-less release)
    # that lost or gained a record is folded again from all its current records. A fold group is a kind and an id:
    # master 217585 and the master-less release 217585 are two groups.
    record_schema = discogs_records_schema(spark)
    base_records = plan.read_base("discogs_records", record_schema)
    changed_records = reduce(DataFrame.unionByName, [
        plan.read_changes(feed).select(F.lit(feed).alias("_feed"), F.col("record_id").alias("_record_id"))
        for feed in ("discogs_masters", "discogs_releases", "discogs_search")])
    new_records = discogs_rows(bronze)
    leaving = base_records.join(changed_records, ["_feed", "_record_id"], "left_semi")
    if not discogs_same:
        plan.write_table("discogs_records", base_records.join(changed_records, ["_feed", "_record_id"], "left_anti")
                         .unionByName(new_records))
    records = plan.read_table("discogs_records", record_schema)
    group = ["release_kind", "group_id"]
    refold_ids = leaving.select(*group).unionByName(new_records.select(*group)).distinct()
    # Records without an id never merge (fold_discogs): they are folded again every run, to be quarantined.
    refold = fold_discogs(records.join(refold_ids, group, "left_semi")
                          .unionByName(records.where(F.col("group_id").isNull()))
                          .drop("_feed", "_record_id"))
    # every MusicBrainz row is a release group (transforms/silver.musicbrainz_releases)
    mb_ids = plan.read_changes("musicbrainz").select(F.lit("musicbrainz").alias("source"),
                                                    F.lit("release_group").alias("release_kind"),
                                                    F.col("record_id").alias("release_id"))
    release_ids = _ids(mb_ids.unionByName(refold_ids.select(F.lit("discogs").alias("source"), "release_kind",
                                                            F.col("group_id").alias("release_id"))),
                       *RELEASE_KEY)
    ctx.write(staged("silver/releases"),
              musicbrainz_releases(bronze["bronze/musicbrainz_release_groups"]).unionByName(refold)
              .transform(with_release_norms).transform(lambda df: conform(df, schema_of("silver/releases"))))
    delta_releases = ctx.read(staged("silver/releases"))
    if not films_same:   # an absent change set reads as empty
        plan.write_changes("films", film_ids)
    if not releases_same:
        plan.write_changes("releases", release_ids)

    # Blocking: the keys of changed films and releases, old and new, are blocked again over all their holders.
    film_ids, release_ids = plan.read_changes("films", _schema(FILM_IDS)), plan.read_changes("releases",
                                                                                            _schema(RELEASE_IDS))
    base_fk = plan.read_base("film_keys", _schema(FILM_KEYS_SCHEMA))
    base_rk = plan.read_base("release_keys", _schema(RELEASE_KEYS_SCHEMA))
    new_fk = film_keys_of(delta_films, blocking_settings)
    new_rk = release_keys_of(delta_releases, blocking_settings)
    if not films_same:
        plan.write_table("film_keys", base_fk.join(film_ids, "tmdb_id", "left_anti").unionByName(new_fk))
    if not releases_same:
        plan.write_table("release_keys", base_rk.join(release_ids, list(RELEASE_KEY), "left_anti")
                         .unionByName(new_rk))
    film_keys = plan.read_table("film_keys", _schema(FILM_KEYS_SCHEMA))
    release_keys = plan.read_table("release_keys", _schema(RELEASE_KEYS_SCHEMA))
    affected = reduce(DataFrame.unionByName, [
        base_fk.join(film_ids, "tmdb_id", "left_semi").select(*KEY_COLUMNS),
        film_keys.join(film_ids, "tmdb_id", "left_semi").select(*KEY_COLUMNS),
        base_rk.join(release_ids, list(RELEASE_KEY), "left_semi").select(*KEY_COLUMNS),
        release_keys.join(release_ids, list(RELEASE_KEY), "left_semi").select(*KEY_COLUMNS)]).distinct()
    nothing_changed = films_same and releases_same   # no key to block again: the base's pair keys stay
    if not nothing_changed:
        plan.write_changes("keys", affected)
    affected = plan.read_changes("keys", _schema("rule string, key string"))
    base_pk = plan.read_base("pair_keys", _schema(PAIR_KEYS_SCHEMA))
    if not nothing_changed:
        blocking = block_keys(film_keys.join(affected, KEY_COLUMNS, "left_semi"),
                              release_keys.join(affected, KEY_COLUMNS, "left_semi"), blocking_settings)
        plan.write_changes("pair_keys", blocking.pair_keys)
    reblocked = plan.read_changes("pair_keys", _schema(PAIR_KEYS_SCHEMA))
    if not nothing_changed:
        plan.write_table("pair_keys", base_pk.join(affected, KEY_COLUMNS, "left_anti").unionByName(reblocked))
    pair_keys = plan.read_table("pair_keys", _schema(PAIR_KEYS_SCHEMA))

    touched = (base_pk.join(affected, KEY_COLUMNS, "left_semi").select(*PAIR_KEY)
               .unionByName(reblocked.select(*PAIR_KEY)).distinct())
    now = pairs_of(pair_keys.join(touched, list(PAIR_KEY), "left_semi"))
    before = plan.read_base("pairs", checked_schema("silver/candidate_pairs")).join(touched, list(PAIR_KEY),
                                                                                   "left_semi")
    same = now.join(before.select(*PAIR_KEY, F.col("rules").alias("_before")), list(PAIR_KEY), "left").where(
        F.col("_before").isNotNull() & (F.col("rules") == F.col("_before")))
    ctx.write(staged("silver/candidate_pairs"), now.join(same.select(*PAIR_KEY), list(PAIR_KEY), "left_anti"))
    plan.write_changes("pairs_removed", before.select(*PAIR_KEY).join(now.select(*PAIR_KEY), list(PAIR_KEY),
                                                                      "left_anti"))
    counts = _counts(spark, {
        "films_normalised": delta_films, "releases_normalised": delta_releases,
        "films_changed": film_ids, "releases_changed": release_ids, "keys_reblocked": affected,
        "pairs_changed": ctx.read(staged("silver/candidate_pairs")),
        "pairs_removed": plan.read_changes("pairs_removed", _schema(PAIR_IDS))})
    return counts


# --- step 04 -------------------------------------------------------------------------------------------------
def validate(ctx: "StepContext", plan: Plan, max_quarantine_share: float) -> dict[str, Any]:
    """Step 04 of an incremental run: check the changed rows, carry the rest, write the complete Silver tables."""
    film_ids = plan.read_changes("films", _schema(FILM_IDS))
    release_ids = plan.read_changes("releases", _schema(RELEASE_IDS))
    checked: dict[str, DataFrame] = {}
    for name, ids, key in (("silver/films", film_ids, ["tmdb_id"]),
                           ("silver/releases", release_ids, list(RELEASE_KEY))):
        contract = table(name)
        rows = ctx.read(staged(name))
        check_schema(rows, contract)
        state = _state_name(name)
        # TMDB left unread: no film id changed and none was staged, so the base's checked films are the next ones.
        # (Releases are not carried so: Discogs records without an id are folded and checked again every run.)
        if not (name == "silver/films" and plan.left_unread("tmdb")):
            plan.write_table(state, plan.read_base(state, checked_schema(name)).join(ids, key, "left_anti")
                             .unionByName(check_rows(rows, contract)))
        checked[name] = plan.read_table(state, checked_schema(name))

    name = "silver/candidate_pairs"
    contract = table(name)
    delta = ctx.read(staged(name))
    check_schema(delta, contract)
    base = plan.read_base("pairs", checked_schema(name))
    removed = plan.read_changes("pairs_removed", _schema(PAIR_IDS))
    gone = delta.select(*PAIR_KEY).unionByName(removed)
    kept = base.join(gone, list(PAIR_KEY), "left_anti")
    refs_moved = (kept.join(film_ids, "tmdb_id", "left_semi")
                  .unionByName(kept.join(release_ids, list(RELEASE_KEY), "left_semi")).select(*PAIR_KEY).distinct())
    recheck = kept.join(refs_moved, list(PAIR_KEY), "left_semi").drop("_failed").unionByName(delta)
    references = {ref.table: valid_rows(checked[ref.table], table(ref.table)) for ref in contract.references}
    # No pair staged or removed and no film or release changed: no pair can need a check, and the base's checked pairs
    # are the next ones (carried). Asked of the small change sets, so the base's pairs are not scanned twice.
    if any(_counts(ctx.spark, {"staged": delta, "removed": removed, "films": film_ids,
                               "releases": release_ids}).values()):
        plan.write_changes("pairs_checked", recheck.select(*PAIR_KEY).unionByName(removed))
        plan.write_table("pairs", kept.join(refs_moved, list(PAIR_KEY), "left_anti")
                         .unionByName(check_rows(recheck, contract, references)))
    checked[name] = plan.read_table("pairs", checked_schema(name))

    counts = {n: contract_counts(df, table(n)) for n, df in checked.items()}
    faults = [f for c in counts.values() for f in systemic_faults(c, max_quarantine_share)]
    if faults:
        ctx.log.error("contract_systemic_fault", faults=faults)
        raise ContractViolation("systemic fault: " + " | ".join(faults))
    for n, df in checked.items():
        ctx.write(quarantine(n), quarantine_rows(df, table(n)))
        ctx.write(n, valid_rows(df, table(n)))
    return {"counts": counts, "rechecked": _counts(ctx.spark, {
        "films": ctx.read(staged("silver/films")), "releases": ctx.read(staged("silver/releases")),
        "pairs": recheck})}


def _state_name(name: str) -> str:
    return name.split("/", 1)[1].replace("candidate_", "")


# --- step 05 -------------------------------------------------------------------------------------------------
def rescore(ctx: "StepContext", plan: Plan, candidates: DataFrame, films: DataFrame,
            releases: DataFrame, always: DataFrame | None = None) -> tuple[DataFrame, DataFrame]:
    """Step 05 of an incremental run: the next state's features, and (features of the releases to decide again,
    why each is decided again). `candidates` are the pairs to score (valid pairs, and any a person added);
    `always` names releases to decide again whatever changed (those with people's verdicts)."""
    from ..transforms.features import add_film_guards, add_title_overlap, composer_albums, covered_films, \
        pair_features, title_token_rarity, with_title_weights

    spark = ctx.spark
    plan.write_table("rarity", title_token_rarity(films, releases))
    rarity = plan.read_table("rarity", _schema(RARITY_SCHEMA))
    base_rarity = plan.read_base("rarity", _schema(RARITY_SCHEMA))
    # Each intermediate below is written to the pending state and read back: as one plan, the features write held
    # a dozen sorts and aggregations in one stage and ran out of execution memory on the 10% input
    # (bench/incremental.py); read back, the small sides (changed ids, stale pairs) are broadcast by their size.
    plan.write_changes("tokens_rarity_changed", rarity.join(base_rarity.withColumnRenamed("rarity", "_before"),
                                                            "token", "full_outer")
                       .where(~F.col("rarity").eqNullSafe(F.col("_before"))).select("token"))
    changed_tokens = plan.read_changes("tokens_rarity_changed", _schema("token string"))

    film_ids = plan.read_changes("films", _schema(FILM_IDS))
    release_ids = plan.read_changes("releases", _schema(RELEASE_IDS))
    pairs_changed = plan.read_changes("pairs_checked", _schema(PAIR_IDS))
    # The base's features (every pair, with titles) are read by each write below: held once rather than read and
    # joined again five times (step 05 took as long as in a full run with a few pairs changed). Unless nothing
    # reached a pair: then only their keys are read (Parquet reads just those columns) and the features are carried.
    base = plan.read_base("features", features_schema())
    quiet = not any(_counts(spark, {"films": film_ids, "releases": release_ids, "pairs": pairs_changed,
                                    "tokens": changed_tokens}).values())
    if not quiet:
        base = base.persist(StorageLevel.MEMORY_AND_DISK)
    plan.write_changes("pairs_current", candidates.select(*PAIR_KEY).distinct())
    pairs = plan.read_changes("pairs_current", _schema(PAIR_IDS))
    kept = base.join(pairs, list(PAIR_KEY), "left_semi")
    # a pair whose film, release or blocking changed is scored from scratch, and so is any pair without features
    plan.write_changes("pairs_stale", (pairs.join(film_ids, "tmdb_id", "left_semi")
                                       .unionByName(pairs.join(release_ids, list(RELEASE_KEY), "left_semi"))
                                       .unionByName(pairs.join(pairs_changed, list(PAIR_KEY), "left_semi"))
                                       .unionByName(pairs.join(kept.select(*PAIR_KEY), list(PAIR_KEY), "left_anti"))
                                       ).distinct())
    stale = plan.read_changes("pairs_stale", _schema(PAIR_IDS))
    kept = kept.join(stale, list(PAIR_KEY), "left_anti")
    words = F.array_distinct(F.flatten(F.array(*[F.split(F.coalesce(F.col(c), F.lit("")), " ")
                                                 for c in TITLE_COLUMNS])))
    # A stopword weighs 0 in the overlap whatever its rarity (add_title_overlap), so its rarity moving (it does
    # whenever the catalogue's size does) moves no pair. No word's rarity moved (quiet): no pair's did.
    if not quiet:
        plan.write_changes("pairs_rarity_moved", kept.select(*PAIR_KEY, F.explode(words).alias("token"))
                           .join(changed_tokens.where(~F.col("token").isin(*sorted(STOPWORDS))), "token", "left_semi")
                           .select(*PAIR_KEY).distinct())
    moved = plan.read_changes("pairs_rarity_moved", _schema(PAIR_IDS))
    # No pair to score or refresh and none gone: the next features are the base's, carried instead of rewritten
    # (a night on which nothing reached a pair; the table holds every pair, so rewriting it is most of the step).
    features_same = not any(_counts(spark, {"stale": stale, "moved": moved,
                                            "gone": base.join(pairs, list(PAIR_KEY), "left_anti")}).values())
    if not features_same:
        columns = [f.name for f in features_schema().fields]
        plan.write_changes("features_refreshed", add_title_overlap(with_title_weights(
            kept.join(moved, list(PAIR_KEY), "left_semi").drop(*RARITY_FEATURES), rarity)).select(*columns))
        plan.write_changes("features_scored", with_titles(pair_features(
            candidates.join(stale, list(PAIR_KEY), "left_semi"), films, releases, rarity=rarity), films, releases)
            .select(*columns))
        plan.write_table("features", kept.join(moved, list(PAIR_KEY), "left_anti").select(*columns)
                         .unionByName(plan.read_changes("features_refreshed", features_schema()))
                         .unionByName(plan.read_changes("features_scored", features_schema())))
    features = plan.read_table("features", features_schema())
    # The film guards read every pair of a film (features.add_film_guards): a film whose count of own-composer albums
    # moved has each of its candidate releases decided again (none can have moved when the features are carried).
    plan.write_changes("film_composer_albums", composer_albums(features))
    albums = plan.read_changes("film_composer_albums", _schema(ALBUMS_SCHEMA))
    if not features_same:
        before = composer_albums(base).withColumnRenamed("composer_albums", "_before")
        plan.write_changes("films_albums_moved", albums.join(before, "tmdb_id", "full_outer")
                           .where(~F.col("composer_albums").eqNullSafe(F.col("_before"))).select("tmdb_id"))
    albums_moved = plan.read_changes("films_albums_moved", _schema(FILM_IDS))

    # Why each release is decided again (for gold/link_history), most specific cause first.
    release_of = lambda df: df.select(*RELEASE_KEY)  # noqa: E731
    causes = [
        (release_ids, "release added, edited or deleted"),
        (release_of(pairs.join(film_ids, "tmdb_id", "left_semi"))
         .unionByName(release_of(base.join(film_ids, "tmdb_id", "left_semi"))), "a candidate film changed"),
        (release_of(pairs_changed), "its candidate films changed"),
        (release_of(base.join(pairs, list(PAIR_KEY), "left_anti")), "a candidate film left"),
        (release_of(pairs.join(albums_moved, "tmdb_id", "left_semi")),
         "a candidate film's album by its own composer appeared or went"),
        (release_of(moved), "title-word rarity moved (the catalogue grew or shrank)"),
    ]
    if always is not None:
        causes.append((always.select(*RELEASE_KEY), "a person's verdict"))
    reasons = (reduce(DataFrame.unionByName, [df.select(*RELEASE_KEY, F.lit(i).alias("_rank"), F.lit(text)
                                                        .alias("reason")) for i, (df, text) in enumerate(causes)])
               .groupBy(*RELEASE_KEY).agg(F.min_by("reason", "_rank").alias("reason")))
    plan.write_changes("releases_redecided", reasons)
    base.unpersist()
    reasons = plan.read_changes("releases_redecided", _schema(REASONS_SCHEMA))
    plan.note("rescored", _counts(spark, {"pairs_scored": plan.read_table("features", features_schema())
                                          .join(stale, list(PAIR_KEY), "left_semi"),
                                          "pairs_rarity_refreshed": moved, "tokens_rarity_changed": changed_tokens,
                                          "films_composer_albums_moved": albums_moved,
                                          "releases_redecided": reasons}))
    redecided = features.drop(*TITLE_COLUMNS).join(reasons.select(*RELEASE_KEY), list(RELEASE_KEY), "left_semi")
    # A release decided again has every one of its pairs here, so the release-context features see its whole
    # candidate set; a release not decided again had none of its pairs' features change, so neither did they.
    return add_film_guards(redecided, albums, covered_films(redecided)), reasons


def carried_links(plan: Plan, reasons: DataFrame) -> DataFrame:
    """The base's links of every release not decided again (gold/soundtrack_matches rows)."""
    return (plan.read_base("links", schema_of("gold/soundtrack_matches"))
            .join(reasons.select(*RELEASE_KEY), list(RELEASE_KEY), "left_anti"))


def record_links(ctx: "StepContext", plan: Plan, reasons: DataFrame | None) -> None:
    """After step 05 wrote this run's gold/soundtrack_matches: its events in gold/link_history (the whole history
    so far), and the links and history of the next state."""
    from ..transforms.history import link_events

    after = ctx.read("gold/soundtrack_matches")
    before = plan.read_base("links", schema_of("gold/soundtrack_matches"))
    default = ("decided again" if plan.incremental else
               "full run" if plan.base is not None else "first run: the lake's link history starts here")
    events = link_events(before, after, ctx.run_id, plan.mode, reasons, default,
                         ctx.settings.link_history_score_tolerance)
    ctx.write("gold/link_history", plan.read_base("history", schema_of("gold/link_history")).unionByName(events))
    history = ctx.read("gold/link_history")
    this_run = history.where(F.col("event_run_id") == ctx.run_id)
    counted = {r["event"]: int(r["n"]) for r in this_run.groupBy("event").agg(F.count(F.lit(1)).alias("n")).collect()}
    plan.note("link_events", counted)
    # An incremental run that decided no release again carried every link as it was and has no event: the state
    # keeps the base's links and history rather than a copy of them.
    if not (plan.incremental and reasons is not None and not counted and reasons.limit(1).count() == 0):
        plan.write_table("links", after)
        plan.write_table("history", history)


# --- helpers ---------------------------------------------------------------------------------------------------
def _ids(df: DataFrame, *cols: Column | str) -> DataFrame:
    out = df.select(*cols)
    present = reduce(lambda a, b: a & b, [F.col(c).isNotNull() for c in out.columns])
    return out.where(present).distinct()


def _counts(spark, frames: dict[str, DataFrame]) -> dict[str, int]:
    """Rows of several frames in one Spark job."""
    parts = [df.agg(F.count(F.lit(1)).alias("n")).select(F.lit(name).alias("name"), "n")
             for name, df in frames.items()]
    return {r["name"]: int(r["n"]) for r in reduce(DataFrame.unionByName, parts).collect()}


__all__ = ["capture_blocking", "capture_checked", "capture_features", "normalise_and_block", "validate", "rescore",
           "carried_links", "record_links", "discogs_rows", "with_titles", "features_schema", "checked_schema"]
