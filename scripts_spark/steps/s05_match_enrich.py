"""Step 05: score candidate pairs, decide match / review, and enrich the matches into Gold."""
from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import functions as F

from ..base_step import BaseStep, StepContext, StepResult
from .. import match_settings
from ..transforms.decide import link_pairs, soundtrack_matches
from ..transforms.enrich import film_soundtracks, review_queue
from ..transforms.features import pair_features


class MatchAndEnrich(BaseStep):
    number = "05"
    name = "match_enrich"
    description = ("Score every candidate pair with the fitted matcher, keep the best film per release, decide "
                   "match / review, and write the Gold links, the review queue and the enriched film soundtracks")
    inputs = ("silver/films", "silver/releases", "silver/candidate_pairs")
    outputs = ("gold/soundtrack_matches", "gold/review_queue", "gold/film_soundtracks")

    def preview(self, ctx: StepContext) -> list[str]:
        """The matcher this run would use; fails the dry run when the settings do not fit the features."""
        return match_settings.describe(match_settings.load(ctx.settings.match_settings_path))

    def execute(self, ctx: StepContext) -> StepResult:
        config = match_settings.load(ctx.settings.match_settings_path)
        settings = config.matcher
        ctx.log.info("matcher_loaded", version=settings.version, match_threshold=settings.match_threshold,
                     review_threshold=settings.review_threshold)
        films, releases, candidates = (ctx.read(t) for t in self.inputs)

        # Persisted once: three Gold tables and the counts read the links, and scoring runs the Python workers.
        links = link_pairs(pair_features(candidates, films, releases), settings).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            ctx.write("gold/soundtrack_matches", soundtrack_matches(links))
            ctx.write("gold/review_queue", review_queue(links, films, releases))
            ctx.write("gold/film_soundtracks", film_soundtracks(links, films, releases))
            by_source = {row["source"]: row.asDict() for row in links.groupBy("source").agg(
                F.sum((F.col("decision") == "match").cast("long")).alias("match"),
                F.sum((F.col("decision") == "review").cast("long")).alias("review")).collect()}
        finally:
            links.unpersist()

        pairs_in = candidates.count()
        releases_proposed = candidates.select("source", "release_id").distinct().count()
        matched = sum(v["match"] for v in by_source.values())
        reviewed = sum(v["review"] for v in by_source.values())
        film_rows = ctx.read("gold/film_soundtracks").count()
        return StepResult(
            rows_in=pairs_in,
            rows_out=matched + reviewed,
            # A pair that is not its release's best film, or whose best score is below the review band, is dropped
            # by design; both counts are in the metrics.
            rejected=pairs_in - matched - reviewed,
            tables={"gold/soundtrack_matches": matched + reviewed, "gold/review_queue": reviewed,
                    "gold/film_soundtracks": film_rows},
            metrics={
                "matcher_version": settings.version,
                "thresholds": {"match": settings.match_threshold, "review": settings.review_threshold},
                "candidate_pairs": pairs_in,
                "releases_with_candidates": releases_proposed,
                "pairs_not_best_for_release": pairs_in - releases_proposed,
                "releases_below_review": releases_proposed - matched - reviewed,
                "matches": matched,
                "reviews": reviewed,
                "by_source": {src: {"match": v["match"], "review": v["review"]} for src, v in sorted(by_source.items())},
            },
        )
