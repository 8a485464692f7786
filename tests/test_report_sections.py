"""The report's readable sections from hand-made data (no Spark): rejected rows split by what they are, the review
table's runner-up film and unmet requirement, genres by decade as counts, links by source and decade, and coverage
by popularity band."""
from __future__ import annotations

import json
import re
from html import unescape

from scripts_spark.report.gather import Analytics, MatchQuality, ReportData, rejected_split
from scripts_spark.report.html import render

MANIFEST = {
    "run_id": "r1", "status": "succeeded", "started_at": "2026-01-01T00:00:00+00:00",
    "finished_at": "2026-01-01T00:02:00+00:00", "config_fingerprint": "abc", "steps_requested": ["01", "02", "05"],
    "steps": {
        "01": {"name": "extract_tmdb", "status": "succeeded", "rows_in": 10, "rows_out": 8, "rejected": 2,
               "seconds": 1.0},
        "02": {"name": "extract_releases", "status": "succeeded", "rows_in": 4109, "rows_out": 2173, "rejected": 0,
               "filtered": 1936, "seconds": 2.0},
        "05": {"name": "match_enrich", "status": "succeeded", "rows_in": 8644, "rows_out": 1590, "filtered": 7054,
               "seconds": 3.0, "tables": {"gold/film_soundtracks": 1548, "gold/review_queue": 42}},
    },
}


def review_row(unmet, runner_up, score=0.81):
    reasons = {"score": score, "rank_share": 0.5, "thresholds": {"match": 0.816, "review": 0.38},
               "unmet_requirements": unmet, "runner_up": runner_up, "contributions": []}
    return {"match_score": score, "film_title": "The Grudge", "film_year": 2004, "tmdb_id": 1970, "composers": [],
            "release_title": "The Grudge", "release_year": None, "source": "musicbrainz",
            "release_kind": "release_group", "release_id": "c01b", "release_artists": [],
            "reasons": json.dumps(reasons), "unmet": unmet, "rank_share": 0.5, "match_threshold": 0.816,
            "runner_up": ({"tmdb_id": runner_up["tmdb_id"], "score": runner_up["score"], "title": "The Grudge",
                           "year": 2019} if runner_up else None)}


def data() -> ReportData:
    quality = MatchQuality(decisions={"match": 3, "review": 2}, histogram={"match": [0] * 19 + [3],
                                                                           "review": [0] * 16 + [2, 0, 0, 0]},
                           review_total=2,
                           review_rows=[review_row(["clear_best_film"], {"tmdb_id": 465086, "score": 0.81}),
                                        review_row([], None, score=0.79)])
    analytics = Analytics(
        matched_films=856, charted_films=856,
        chart_genres=[{"soundtrack_genre": g, "films": n, "popularity_median": 5.0, "popularity_q1": 2.0,
                       "popularity_q3": 9.0, "popularity_p05": 1.0, "popularity_p95": 20.0, "popularity_mean": 6.0,
                       "vote_average_median": 6.5, "vote_average_q1": 6.0, "vote_average_q3": 7.0}
                      for g, n in (("score", 300), ("rock", 40))],
        decades=[{"decade": 1970, "decade_films": 5, "labels": 6}, {"decade": 2010, "decade_films": 851,
                                                                    "labels": 900}],
        decade_genre_films=[{"decade": 1970, "soundtrack_genre": "score", "films": 4},
                            {"decade": 2010, "soundtrack_genre": "score", "films": 296},
                            {"decade": 2010, "soundtrack_genre": "rock", "films": 40}],
        links_by_source_decade=[{"decade": 1970, "source": "discogs", "links": 6},
                                {"decade": 2010, "source": "musicbrainz", "links": 849},
                                {"decade": 2010, "source": "discogs", "links": 9}],
        film_genres=[{"film_genre": "Drama", "film_genre_films": 10}],
        heat_cells=[{"film_genre": "Drama", "soundtrack_genre": "score", "films": 4, "share": 0.4}],
        coverage=[{"band": "1–100", "films": 100, "linked": 17}, {"band": "101–500", "films": 400, "linked": 15},
                  {"band": "501+", "films": 5693, "linked": 1503}])
    return ReportData(run_id="r1", lake_root="/tmp/lake", manifest=MANIFEST, evaluation=None,
                      evaluation_note="no labels", quality=quality, analytics=analytics, history=[])


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_rejected_rows_are_split_into_not_chosen_filtered_and_malformed():
    assert rejected_split(MANIFEST) == {"not_chosen": 7054, "filtered": 1936, "malformed": 2}
    old = {"steps": {"02": {"rejected": 1936, "metrics": {"filtered_not_soundtrack": 1930}},
                     "05": {"rejected": 40}}}   # before the extract steps and step 05 counted filtered rows apart
    assert rejected_split(old) == {"not_chosen": 40, "filtered": 1930, "malformed": 6}
    html = render(data())
    page = text_of(html)
    assert "7,054 candidate pairs not chosen" in page and "1,936 records filtered by design" in page
    assert "2 malformed records rejected" in page and '<div class="k">rejected rows</div>' not in html


def test_the_review_table_names_the_runner_up_film_and_why_the_link_waits():
    page = text_of(render(data()))
    assert "why in review" in page and "runner-up film" in page
    assert "no clear best film (holds 50% of the release's odds)" in page
    assert "The Grudge (2019) tmdb 465086 · score 0.810" in page
    assert "score 0.790 < match threshold 0.816" in page and "none (one candidate film)" in page


def test_genres_by_decade_are_counts_and_links_and_coverage_have_their_own_sections():
    html = render(data())
    page = text_of(html)
    assert "films carrying the genre" in html and "share of the decade's genre labels" not in html
    assert "Counts, not shares" in page
    assert "Soundtrack links by source and decade" in page and "Matched soundtrack links" in page
    coverage = page[page.index("Coverage by film popularity"):]
    assert "1–100 100 17 17.0%" in coverage and "501+ 5,693 1,503 26.4%" in coverage
