"""Step 06: Gold analytics marts from the run's matched film-soundtrack links."""
from __future__ import annotations

from pyspark.sql import functions as F

from ..base_step import BaseStep, StepContext, StepResult
from ..transforms.marts import MART_BUILDERS, NO_GENRE

SOURCE_TABLE = "gold/film_soundtracks"


class BuildMarts(BaseStep):
    number = "06"
    name = "marts"
    description = ("genre by decade, popularity by soundtrack genre, film genre x soundtrack genre and composer "
                   "statistics, counted in films, from the run's matched links")
    inputs = (SOURCE_TABLE,)
    outputs = tuple(MART_BUILDERS)

    def execute(self, ctx: StepContext) -> StepResult:
        links = ctx.read(SOURCE_TABLE)

        tables = {}
        for table, build in MART_BUILDERS.items():
            tables[table] = ctx.write_checked(table, links.transform(build))

        by_genre = ctx.read("gold/popularity_by_soundtrack_genre")
        untagged, genres = by_genre.agg(
            F.sum(F.when(F.col("soundtrack_genre") == NO_GENRE, F.col("films"))),
            F.count(F.when(F.col("soundtrack_genre") != NO_GENRE, True))).first()
        metrics = {"films": links.select("tmdb_id").distinct().count(),
                   "films_without_soundtrack_genre": int(untagged or 0), "soundtrack_genres": int(genres),
                   "composers": tables["gold/composer_stats"]}
        rows_in = links.count()
        # An empty frame writes no partition, so 'step 05 found nothing' and 'step 05 never ran' read alike here.
        notes = [] if rows_in else [f"no matched films in {SOURCE_TABLE} for run {ctx.run_id} (none matched, or "
                                    "step 05 has not run): the marts are empty"]
        ctx.log.info("marts_written", **tables)
        # Marts aggregate links into groups: read != written by design, so the counts are explained in metrics.
        return StepResult(rows_in=rows_in, rows_out=sum(tables.values()), balances=False, tables=tables,
                          metrics=metrics, notes=notes)
