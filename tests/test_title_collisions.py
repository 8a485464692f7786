"""bench/title_collisions.py: the title-collision realism check (pure functions, and a small run of the script)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import title_collisions  # noqa: E402


def test_collisions_are_counted_on_normalised_titles_so_an_article_or_case_does_not_hide_one():
    share, words = title_collisions.collision_share_and_vocabulary(["The Witness", "witness", "Heat", "Heat 2"])
    assert share == 0.5           # 'The Witness' and 'witness' share a key; 'heat' and 'heat 2' do not
    assert words == 3             # witness, heat, 2


def test_heaps_fit_recovers_an_exact_power_law():
    k, b = title_collisions.heaps_fit([(n, round(12.5 * n ** 0.7)) for n in (1000, 4000, 16000, 64000)])
    assert k == pytest.approx(12.5, rel=0.01) and b == pytest.approx(0.7, abs=0.002)


@pytest.mark.slow   # the script over the real and a generated catalogue (~7 s)
def test_the_script_prints_real_and_generated_rows(capsys):
    assert title_collisions.main(["--max-generated", "10000"]) == 0
    out = capsys.readouterr().out
    assert "| 9,742 |" in out and "Heaps' law on the real titles" in out
    assert "| 100,000 |" not in out   # more titles than were generated: no row rather than a wrong one
