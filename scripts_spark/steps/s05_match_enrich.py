"""Step 05: score candidate pairs, apply people's verdicts (review/decisions), decide match / review, and enrich the
matches into Gold."""
from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import functions as F

from ..base_step import BaseStep, StepContext, StepResult
from .. import match_settings
from ..transforms.blocking import PAIR_KEY, RELEASE_KEY
from ..transforms.decide import link_pairs, soundtrack_matches
from ..review.store import effective_verdicts, read_lake_decisions
from ..transforms.enrich import film_soundtracks, review_queue
from ..transforms.features import add_film_guards, composer_albums, covered_films, pair_features, title_token_rarity
from ..incremental import relink
from ..incremental.carry import verdicts_fingerprint
from ..incremental.plan import FULL, plan_of
from ..transforms.review import missing_verdicts, verdict_frame, with_accepted_pairs

# Decisions whose pair is gone that the run's notes name one by one; the metrics count them all.
MISSING_NAMED = 10


class MatchAndEnrich(BaseStep):
    number = "05"
    name = "match_enrich"
    description = ("Score every candidate pair with the fitted matcher, apply people's verdicts, keep the best film "
                   "per release, decide match / review, and write the Gold links, the review queue and the enriched "
                   "film soundtracks")
    inputs = ("silver/films", "silver/releases", "silver/candidate_pairs", "review/decisions")
    outputs = ("gold/soundtrack_matches", "gold/review_queue", "gold/film_soundtracks", "gold/link_history")

    def preview(self, ctx: StepContext) -> list[str]:
        """The matcher this run would use; fails the dry run when the settings do not fit the features."""
        return match_settings.describe(match_settings.load(ctx.settings.match_settings_path))

    def execute(self, ctx: StepContext) -> StepResult:
        config = match_settings.load(ctx.settings.match_settings_path)
        settings = config.matcher
        ctx.log.info("matcher_loaded", version=settings.version, match_threshold=settings.match_threshold,
                     review_threshold=settings.review_threshold)
        films, releases, proposed = (ctx.read(t) for t in self.inputs[:3])
        records = read_lake_decisions(ctx.lake, ctx.spark)
        verdicts = verdict_frame(ctx.spark, effective_verdicts(records).values()).cache()
        candidates = with_accepted_pairs(proposed, verdicts, films, releases)
        missing = [r.asDict() for r in missing_verdicts(verdicts, films, releases).orderBy("decided_at").collect()]

        # Persisted once: three Gold tables and the counts read the links, and scoring runs the Python workers.
        plan = plan_of(ctx)
        if plan is not None:   # the next state keeps which verdicts its links reflect (incremental/carry.py)
            plan.note("decisions", verdicts_fingerprint(records))
        links, reasons, held = self._links(ctx, plan, candidates, films, releases, settings, verdicts)
        links = links.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            ctx.write("gold/soundtrack_matches", soundtrack_matches(links))
            ctx.write("gold/review_queue", review_queue(links, films, releases))
            film_rows = ctx.write_checked("gold/film_soundtracks", film_soundtracks(links, films, releases))
            if plan is not None:
                relink.record_links(ctx, plan, reasons)
            by_source = {row["source"]: row.asDict() for row in links.groupBy("source").agg(
                F.sum((F.col("decision") == "match").cast("long")).alias("match"),
                F.sum((F.col("decision") == "review").cast("long")).alias("review"),
                F.sum((F.col("decision_source") == "human").cast("long")).alias("human")).collect()}
        finally:
            links.unpersist()
            for frame in held:
                frame.unpersist()

        pairs_in = candidates.count()
        pairs_added = pairs_in - proposed.count()
        pairs_rejected = candidates.join(verdicts.filter(F.col("verdict") == "reject"), PAIR_KEY, "left_semi").count()
        pairs_decided = verdicts.count()
        verdicts.unpersist()
        releases_proposed = candidates.select(*RELEASE_KEY).distinct().count()
        matched = sum(v["match"] for v in by_source.values())
        reviewed = sum(v["review"] for v in by_source.values())
        human = sum(v["human"] for v in by_source.values())
        return StepResult(
            rows_in=pairs_in,
            rows_out=matched + reviewed,
            # A pair that is not its release's best film, or whose best score is below the review band, is dropped
            # by design (filtered, not broken: nothing is wrong with it); both counts are in the metrics.
            filtered=pairs_in - matched - reviewed,
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
                "by_source": {src: {"match": v["match"], "review": v["review"], "human": v["human"]}
                              for src, v in sorted(by_source.items())},
                "review_decisions": {"verdicts": len(records), "pairs_decided": pairs_decided,
                                     "human_links": human, "pairs_added_by_people": pairs_added,
                                     "pairs_rejected_by_people": pairs_rejected, "pairs_gone": len(missing)},
            },
            notes=[gone_note(missing)] if missing else [],
        )

    @staticmethod
    def _links(ctx: StepContext, plan, candidates, films, releases, settings, verdicts):
        """(links, why each release was decided again, frames to unpersist once the links are written). Incremental
        run: the releases whose pairs' features or candidates changed are decided again, the others' links carried
        over (incremental/relink.py). Full run: every pair is scored, and with a plan its features are kept for the
        next incremental run. Either way the film guards (features.GUARD_FEATURES) and the release-context features
        (features.RELEASE_CONTEXT) come from every pair's features."""
        if plan is not None and plan.incremental:
            features, reasons = relink.rescore(ctx, plan, candidates, films, releases, always=verdicts)
            decided = soundtrack_matches(link_pairs(features, settings, verdicts))
            return relink.carried_links(plan, reasons).unionByName(decided), reasons, []
        rarity = title_token_rarity(films, releases)
        features = pair_features(candidates, films, releases, rarity=rarity)
        held = []
        if plan is not None and plan.mode == FULL:
            features = relink.capture_features(plan, features, films, releases, rarity)
        else:
            # read twice below (the films' composer albums, then the links): computed once
            features = features.persist(StorageLevel.MEMORY_AND_DISK)
            held.append(features)
        guarded = add_film_guards(features, composer_albums(features), covered_films(features))
        return link_pairs(guarded, settings, verdicts), None, held


def gone_note(missing: list[dict]) -> str:
    """The run's note on verdicts whose pair no longer exists: how many, and the first MISSING_NAMED of them."""
    named = "; ".join(f"{m['source']} {m['release_kind']} {m['release_id']} / film {m['tmdb_id']} ({m['verdict']}, "
                      f"{m['decided_at']})" for m in missing[:MISSING_NAMED])
    more = f"; and {len(missing) - MISSING_NAMED} more" if len(missing) > MISSING_NAMED else ""
    return (f"{len(missing)} review verdict(s) name a pair that no longer exists (film or release gone upstream); "
            f"they stay in review/decisions and apply again if the pair comes back: {named}{more}")
