"""The matcher as one settings file: blocking rules and caps, the decision's guards and the fitted matcher."""
from __future__ import annotations

import json

import pytest

from scripts_spark import match_settings as ms
from scripts_spark.config import REPO_ROOT

SHIPPED = REPO_ROOT / "scripts_spark" / "match_settings.json"


def _copy(tmp_path, change) -> str:
    doc = json.loads(SHIPPED.read_text(encoding="utf-8"))
    change(doc)
    path = tmp_path / "match_settings.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def test_the_shipped_file_holds_blocking_guards_and_matcher():
    config = ms.load(SHIPPED)
    assert [r.name for r in config.blocking.rules][0] == "title_exact"
    assert config.blocking.rules[0].pair_undated and config.blocking.year_band == 1
    assert config.matcher.min_rank_share == 0.9
    assert len(config.fingerprint) == 12


def test_a_cap_changed_in_the_file_reaches_the_blocking_settings(tmp_path):
    path = _copy(tmp_path, lambda d: d["blocking"]["rules"][3].update(max_pairs_per_key=7))
    assert ms.load(path).blocking.rules[3].max_pairs_per_key == 7
    assert ms.load(path).fingerprint != ms.load(SHIPPED).fingerprint


def test_a_guard_changed_in_the_file_reaches_the_decision(tmp_path):
    path = _copy(tmp_path, lambda d: d["guards"].update(min_rank_share=0.75))
    assert ms.load(path).matcher.min_rank_share == 0.75


@pytest.mark.parametrize("change, message", [
    (lambda d: d["blocking"]["rules"][0].update(film_keys="shoe_size"), "unknown key builder"),
    (lambda d: d["blocking"]["rules"][0].update(max_pairs_per_key=0), "max_pairs_per_key"),
    (lambda d: d["blocking"]["rules"].append(dict(d["blocking"]["rules"][0])), "uniquely named"),
    (lambda d: d.pop("blocking"), "section blocking"),
    (lambda d: d["guards"].update(min_rank_share=1.5), "min_rank_share"),
    (lambda d: d.pop("guards"), "guards"),
])
def test_a_broken_section_is_refused_with_the_file_named(tmp_path, change, message):
    path = _copy(tmp_path, change)
    with pytest.raises(ms.MatchSettingsError, match=message) as err:
        ms.load(path)
    assert str(path) in str(err.value)


def test_describe_lists_thresholds_guard_and_every_rule():
    lines = "\n".join(ms.describe(ms.load(SHIPPED)))
    assert "match >=" in lines and "odds share >= 0.9" in lines and "bridged by an IMDb id is a match" in lines
    for rule in ("title_exact", "rare_title_word", "composer_artist", "imdb_bridge"):
        assert f"rule {rule}" in lines
