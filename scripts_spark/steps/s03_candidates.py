"""Step 03: normalise Bronze into staged Silver films and releases, and propose candidate pairs (blocking)."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..base_step import BaseStep, StepContext, StepResult
from .. import match_settings
from ..incremental import relink
from ..incremental.plan import FULL, plan_of
from ..transforms.blocking import block, skew_report
from ..transforms.silver import films_from_bronze, releases_from_bronze

BRONZE_TABLES = ("bronze/tmdb_movies", "bronze/musicbrainz_release_groups", "bronze/discogs_masters",
                 "bronze/discogs_releases", "bronze/discogs_search_results")
DISCOGS_TABLES = BRONZE_TABLES[2:]


def _row_counts(tables: dict[str, DataFrame]) -> dict[str, int]:
    """Rows of several tables in one Spark job."""
    counts = [df.agg(F.count(F.lit(1)).alias("n")).select(F.lit(table).alias("table"), "n")
              for table, df in tables.items()]
    union = counts[0]
    for more in counts[1:]:
        union = union.unionByName(more)
    return {r["table"]: r["n"] for r in union.collect()}


def _by_source(df: DataFrame) -> dict[str, int]:
    return {r["source"]: r["n"] for r in df.groupBy("source").agg(F.count(F.lit(1)).alias("n")).collect()}


def accounting(bronze_rows: dict[str, int], n_films: int, releases_by_source: dict[str, int]) -> dict:
    """Bronze -> staged rows per source. Films and MusicBrainz release groups map one to one (a difference means
    rows were lost or invented: the step fails); Discogs records fold into one row per master."""
    films = {"bronze": bronze_rows["bronze/tmdb_movies"], "staged": n_films}
    musicbrainz = {"bronze": bronze_rows["bronze/musicbrainz_release_groups"],
                   "staged": releases_by_source.get("musicbrainz", 0)}
    broken = [f"{name} bronze {c['bronze']} != staged {c['staged']}"
              for name, c in (("films", films), ("musicbrainz", musicbrainz)) if c["bronze"] != c["staged"]]
    if broken:
        raise RuntimeError("Bronze -> staged Silver lost or added rows: " + ", ".join(broken))
    discogs_records = sum(bronze_rows[t] for t in DISCOGS_TABLES)
    discogs_rows = releases_by_source.get("discogs", 0)
    return {"films": films, "musicbrainz": musicbrainz,
            "discogs": {"bronze_records": discogs_records, "staged": discogs_rows,
                        "folded_into_masters": discogs_records - discogs_rows}}


class NormaliseAndBlock(BaseStep):
    number = "03"
    name = "normalise_block"
    description = ("Normalise Bronze films and releases into staged Silver (one Discogs row per master) and propose "
                   "candidate film-release pairs with the blocking rules")
    inputs = BRONZE_TABLES
    outputs = ("silver/staged/films", "silver/staged/releases", "silver/staged/candidate_pairs")

    def preview(self, ctx: StepContext) -> list[str]:
        blocking = match_settings.load(ctx.settings.match_settings_path).blocking
        rules = ", ".join(f"{r.name} (max {r.max_pairs_per_key} pairs/key)" for r in blocking.rules)
        return ctx.lake.presence(self.inputs, ctx.run_id) + [f"blocking rules: {rules}"]

    def execute(self, ctx: StepContext) -> StepResult:
        settings = match_settings.load(ctx.settings.match_settings_path)
        plan = plan_of(ctx)
        if plan is not None and plan.incremental:
            return self._incremental(ctx, plan, settings)
        read = ctx.read
        bronze = {table: read(table) for table in self.inputs}
        bronze_rows = _row_counts(bronze)
        ctx.log.info("bronze_read", rows=bronze_rows)

        films_table, releases_table, pairs_table = self.outputs
        ctx.write(films_table, films_from_bronze(bronze["bronze/tmdb_movies"]))
        ctx.log.info("table_written", table=films_table)
        ctx.write(releases_table, releases_from_bronze(*(bronze[t] for t in self.inputs[1:])))
        ctx.log.info("table_written", table=releases_table)
        # Blocking reads the written tables back, so the normalisation (Python workers) runs once.
        films, releases = read(films_table), read(releases_table)
        blocking = block(films, releases, settings.blocking).persist()
        try:
            ctx.write(pairs_table, blocking.pairs)
            ctx.log.info("table_written", table=pairs_table)
            skew = skew_report(blocking, settings.blocking)
            if plan is not None and plan.mode == FULL:
                relink.capture_blocking(plan, bronze, blocking)
        finally:
            blocking.unpersist()
        pairs = read(pairs_table)

        n_films, releases_by_source, pairs_by_source = films.count(), _by_source(releases), _by_source(pairs)
        n_releases, n_pairs = sum(releases_by_source.values()), sum(pairs_by_source.values())
        pairs_by_rule = {r["rule"]: r["n"] for r in pairs.select(F.explode("rules").alias("rule"))
                         .groupBy("rule").agg(F.count(F.lit(1)).alias("n")).collect()}
        ctx.log.info("candidates_proposed", pairs=n_pairs, by_source=pairs_by_source, by_rule=pairs_by_rule,
                     keys_dropped={rule: v["keys_dropped"] for rule, v in skew.items()})
        return StepResult(
            rows_in=sum(bronze_rows.values()),
            rows_out=n_films + n_releases,
            # Discogs records fold into one row per master and blocking fans out into pairs: the accounting is
            # per table in the metrics (films and MusicBrainz 1:1, Discogs records -> rows + folded).
            balances=False,
            tables={films_table: n_films, releases_table: n_releases, pairs_table: n_pairs},
            metrics={
                "bronze_rows": bronze_rows,
                "accounting": accounting(bronze_rows, n_films, releases_by_source),
                "candidate_pairs": {"total": n_pairs, "by_source": pairs_by_source, "by_rule": pairs_by_rule,
                                    "comparison_space": {s: n_films * n for s, n in releases_by_source.items()}},
                "skew_guard": skew,
            },
            notes=[f"{n_pairs} candidate pairs for {n_films} films x {n_releases} releases"],
        )

    def _incremental(self, ctx: StepContext, plan, settings) -> StepResult:
        """Only the changed films and releases are normalised, only the blocking keys they touch blocked again
        (incremental/relink.py); the staged tables hold this run's changes, the state the rest."""
        counts = relink.normalise_and_block(ctx, plan, settings.blocking)
        return StepResult(
            rows_in=counts["films_normalised"] + counts["releases_normalised"],
            rows_out=counts["films_normalised"] + counts["releases_normalised"], balances=False,
            tables={t: counts[k] for t, k in zip(self.outputs, ("films_normalised", "releases_normalised",
                                                                "pairs_changed"))},
            metrics={"mode": "incremental", "incremental": counts},
            notes=[f"incremental: {counts['films_changed']} films and {counts['releases_changed']} releases changed; "
                   f"{counts['keys_reblocked']} blocking keys blocked again; {counts['pairs_changed']} candidate "
                   f"pairs new or changed, {counts['pairs_removed']} gone"])
