"""bench/pair_similarities.py on a tiny frame of pair sides (the frame given, so no Spark starts)."""
from __future__ import annotations

import json

import pandas as pd

from bench import pair_similarities


def test_the_bench_times_every_slice_and_reports_how_repetitive_the_pairs_are(tmp_path, capsys):
    frame = pd.DataFrame({
        "tmdb_id": [1, 2, 3], "source": ["musicbrainz"] * 3, "release_kind": ["release_group"] * 3,
        "release_id": ["a", "b", "c"], "film_title_norm": ["jaws", "jaws", "up"],
        "film_original_title_norm": [None, None, "up"], "release_title_norm": ["jaws", "jaws 2", "up"],
        "release_film_hint_norm": [None, None, None], "film_composers_norm": [["john williams"]] * 2 + [[]],
        "release_artists": [["John Williams"], ["John Williams"], None],
        "release_artists_norm": [["john williams"], ["john williams"], None], "release_credits": [[], [], None]})
    path = tmp_path / "pairs.parquet"
    frame.to_parquet(path)
    assert pair_similarities.main(["--frame", str(path), "--repeats", "2", "--batch", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"] == 3 and len(report["seconds"]) == 2 and report["pairs_per_s"] > 0
    assert report["distinct_per_row_in_first_batch"]["film_title_norm"] == 0.5   # 'jaws' twice in the first slice
