"""Step 05 applies people's verdicts: accepted links are human matches, rejected links never come back (the release
may take its next film), 'another film' links the chosen film, and verdicts on vanished pairs are reported, kept."""
from __future__ import annotations

import json

import pytest

from review_world import MATCHES, REVIEWS, gold, settings_for, write_silver
from scripts_spark.pipeline import run_pipeline
from scripts_spark.review.store import DecisionStore, Pair, new_decision

RUN_ID = "apply"
pytestmark = pytest.mark.slow   # steps 05 and 06, run twice


def verdict(store, release_id, tmdb_id, verdict, chosen=None, at=None, source="musicbrainz"):
    kind = "release_group" if source == "musicbrainz" else "master"
    store.append(new_decision(Pair(source, kind, release_id, tmdb_id), verdict, reviewer="tester",
                              chosen_tmdb_id=chosen, run_id=RUN_ID, matcher_version="review-test", match_score=0.6,
                              model_decision="review", now=at))


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("apply"))
    write_silver(spark, settings, RUN_ID)
    first = run_pipeline(settings, RUN_ID, "05", spark=spark)
    before = gold(spark, settings, RUN_ID)
    store = DecisionStore(settings.lake_root)
    verdict(store, "rg-heat", 3, "accept")
    verdict(store, "rg-smoke", 5, "reject")
    verdict(store, "rg-serenity", 4, "another_film", chosen=11)      # a film blocking never proposed
    verdict(store, "rg-jaws", 1, "accept", at=1_000)                 # accepted long ago ...
    verdict(store, "rg-jaws", 1, "reject", at=2_000)                 # ... rejected later: the later verdict wins
    verdict(store, "rg-gold", 999, "accept")                         # a film that is not in the catalogue (any more)
    second = run_pipeline(settings, RUN_ID, "05-06", spark=spark)
    return settings, first, before, second, store


def test_without_verdicts_every_link_is_the_models(runs):
    _, first, before, _, _ = runs
    assert {k: v["tmdb_id"] for k, v in before.items() if v["decision"] == "match"} == MATCHES
    assert {k[1]: v["tmdb_id"] for k, v in before.items() if v["decision"] == "review"} == REVIEWS
    assert {v["decision_source"] for v in before.values()} == {"model"}
    assert first["steps"]["05"]["metrics"]["review_decisions"]["verdicts"] == 0


def test_an_accepted_link_becomes_a_human_match(spark, runs):
    settings, _, _, _, _ = runs
    heat = gold(spark, settings, RUN_ID)[("musicbrainz", "rg-heat")]
    assert (heat["tmdb_id"], heat["decision"], heat["decision_source"]) == (3, "match", "human")
    assert json.loads(heat["reasons"])["decision_source"] == "human"
    assert ("musicbrainz", "rg-heat") in gold(spark, settings, RUN_ID, "gold/film_soundtracks")


def test_a_rejected_link_lets_the_release_take_its_next_film(spark, runs):
    settings, _, _, _, _ = runs
    smoke = gold(spark, settings, RUN_ID)[("musicbrainz", "rg-smoke")]
    assert (smoke["tmdb_id"], smoke["decision"], smoke["decision_source"]) == (6, "review", "model")
    # Alone now, the other Smoke is no longer a tie: the guard is met, only the score keeps it in review.
    assert json.loads(smoke["reasons"])["unmet_requirements"] == []


def test_another_film_links_the_chosen_film_even_when_blocking_never_proposed_it(spark, runs):
    settings, _, _, second, _ = runs
    serenity = gold(spark, settings, RUN_ID)[("musicbrainz", "rg-serenity")]
    assert (serenity["tmdb_id"], serenity["decision"], serenity["decision_source"]) == (11, "match", "human")
    assert second["steps"]["05"]["metrics"]["review_decisions"]["pairs_added_by_people"] == 1


def test_the_latest_verdict_of_a_pair_wins_and_a_rejected_match_is_not_linked_again(spark, runs):
    settings, _, _, _, _ = runs
    assert ("musicbrainz", "rg-jaws") not in gold(spark, settings, RUN_ID)


def test_decided_links_leave_the_review_queue(spark, runs):
    settings, _, _, _, _ = runs
    queue = gold(spark, settings, RUN_ID, "gold/review_queue")
    assert {k[1]: v["tmdb_id"] for k, v in queue.items()} == {
        "rg-smoke": 6, "rg-gold": 7, "rg-memory": 8, "rg-alive": 9, "rg-cargo": 10}


def test_a_verdict_whose_pair_is_gone_is_reported_in_the_run_notes_and_kept(runs):
    _, _, _, second, store = runs
    step = second["steps"]["05"]
    assert step["metrics"]["review_decisions"]["pairs_gone"] == 1
    assert any("no longer exists" in n and "rg-gold / film 999" in n for n in step["notes"])
    assert len(store.read_all()) == 6
    assert second["steps"]["06"]["status"] == "succeeded"


def test_step_accounting_still_balances_with_verdicts(runs):
    step = runs[3]["steps"]["05"]
    assert step["rows_in"] == step["rows_out"] + step["filtered"] and step["rejected"] == 0
    # smoke/5 and jaws/1 rejected, serenity/4 rejected by choosing another film
    assert step["metrics"]["review_decisions"]["pairs_rejected_by_people"] == 3
