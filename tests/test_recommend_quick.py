"""RECOMMEND_SEARCH=quick: the served point is taken as given (no validation search), every model is still scored
once on the test split, and the notes say where the point came from."""
from __future__ import annotations

import pytest

import dataclasses

import scripts_spark.transforms.recommend as rec
from scripts_spark.recommend_settings import DEFAULT, QUICK
from scripts_spark.steps.s07_recommend import Recommend
from tests.test_recommend import TINY, ratings_frame, two_taste_groups


@pytest.mark.slow   # fits the recommender
def test_quick_search_serves_the_given_point_with_test_rows_only(spark):
    quick = dataclasses.replace(TINY, tune_on_validation=False, served_model=rec.RESIDUAL_ALS)
    triples = sorted(two_taste_groups(size=8), key=lambda t: ((t[1] * 7 + t[0] * 3) % 13, t[0], t[1]))
    choice = rec.choose_and_evaluate(ratings_frame(spark, triples), quick)
    assert choice.als_model == rec.RESIDUAL_ALS and choice.als["rank"] == 2
    assert {m["split"] for m in choice.metrics} == {"test"} and set(choice.counts) == {"test"}
    assert set(choice.test_figures()) == {"global_mean", "most_popular", "baseline_biases", rec.PLAIN_ALS,
                                          rec.RESIDUAL_ALS}
    assert "an earlier full search chose (RECOMMEND_SEARCH=quick)" in choice.summary(quick.eval_k)[0]


def test_the_step_takes_its_search_from_the_setting(settings):
    assert Recommend().params_for(settings) is QUICK and not QUICK.tune_on_validation
    assert Recommend().params_for(settings.replace(recommend_search="full")) is DEFAULT
    assert Recommend(TINY).params_for(settings) is TINY
