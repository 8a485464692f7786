"""A tiny catalogue for the review-loop tests: nine films, nine releases, hand-set matcher weights, so which links
are matches and which wait for review follows from the features alone (as in test_match_step).

    2 matches:  rg-jaws -> Jaws (1975), m-alien -> Alien (1979)
    7 reviews:  titles equal but no composer, years or soundtrack type to confirm (rg-heat, rg-serenity, rg-smoke
                (two films named Smoke: a tie), rg-gold, rg-memory, rg-alive, rg-cargo)
"""
from __future__ import annotations

import json
from pathlib import Path

from test_features import film_row, pair_row, release_row

REPO = Path(__file__).resolve().parent.parent
WEIGHTS_ON = {"title_exact": 3.0, "composer_match": 3.0, "year_same": 1.0, "year_far": -4.0,
              "title_nonfilm_marker": -4.0}


def matcher_settings() -> dict:
    """The shipped settings file with a hand-set matcher (blocking and guards as shipped)."""
    from scripts_spark.transforms.features import FEATURE_VERSION, MODEL_FEATURES

    doc = json.loads((REPO / "scripts_spark" / "match_settings.json").read_text())
    weights = {name: 0.0 for name in MODEL_FEATURES} | WEIGHTS_ON
    doc["matcher"] = {"version": "review-test", "feature_version": FEATURE_VERSION, "weights": weights,
                      "intercept": -2.5, "ranker": {"weights": weights, "intercept": 0.0},
                      "thresholds": {"match": 0.9, "review": 0.5}, "match_requires": ["release_is_soundtrack"]}
    return doc


def _film(tmdb_id, title, year, composers=(), popularity=1.0):
    return film_row(tmdb_id, title, year, composers) | {"popularity": popularity}


FILMS = [
    _film(1, "Jaws", 1975, ["John Williams"], 40.0),
    _film(2, "Alien", 1979, ["Jerry Goldsmith"], 90.0),
    _film(3, "Heat", 1995, ["Elliot Goldenthal"], 60.0),
    _film(4, "Serenity", 2005, ["David Newman"], 20.0),
    _film(5, "Smoke", 1995, ["Rachel Portman"], 8.0),
    _film(6, "Smoke", 2021, [], 2.0),
    _film(7, "Gold", 2016, ["Daniel Pemberton"], 10.0),
    _film(8, "Memory", 2022, ["Rupert Parkes"], 15.0),
    _film(9, "Alive", 1993, ["James Newton Howard"], 12.0),
    _film(10, "Cargo", 2017, ["Antony Partos"], 5.0),
    _film(11, "Firefly Class", 2005, ["David Newman"], 1.0),   # the 'another film' pick for rg-serenity
]
RELEASES = [
    release_row("rg-jaws", "Jaws", 1975, ["John Williams"]),
    release_row("m-alien", "Alien", 1979, ["Jerry Goldsmith"], source="discogs", primary_type=None,
                secondary_types=(), genres=["Stage & Screen"], styles=["Score"]),
    release_row("rg-heat", "Heat", None, ["Someone"]),
    release_row("rg-serenity", "Serenity", None, ["Someone Else"]),
    release_row("rg-smoke", "Smoke", None, ["Band"]),
    release_row("rg-gold", "Gold", None, ["Spandau Ballet"]),
    release_row("rg-memory", "Memory", None, ["Barbra"]),
    release_row("rg-alive", "Alive", None, ["Pearl Jam"]),
    release_row("rg-cargo", "Cargo", None, ["MGMT"]),
]
CANDIDATES = [(1, "musicbrainz", "rg-jaws"), (2, "discogs", "m-alien"), (3, "musicbrainz", "rg-heat"),
              (4, "musicbrainz", "rg-serenity"), (5, "musicbrainz", "rg-smoke"), (6, "musicbrainz", "rg-smoke"),
              (7, "musicbrainz", "rg-gold"), (8, "musicbrainz", "rg-memory"), (9, "musicbrainz", "rg-alive"),
              (10, "musicbrainz", "rg-cargo")]
MATCHES = {("musicbrainz", "rg-jaws"): 1, ("discogs", "m-alien"): 2}
REVIEWS = {"rg-heat": 3, "rg-serenity": 4, "rg-smoke": 5, "rg-gold": 7, "rg-memory": 8, "rg-alive": 9,
           "rg-cargo": 10}


def settings_for(root: Path):
    """Settings for a lake under `root`, reading the hand-set matcher."""
    from scripts_spark.config import load_settings

    root.mkdir(parents=True, exist_ok=True)
    path = root / "match_settings.json"
    path.write_text(json.dumps(matcher_settings()))
    return load_settings(env_file=root / "no.env", environ={}, lake_root=str(root / "lake"),
                         log_dir=str(root / "logs"), match_settings_path=str(path))


def write_silver(spark, settings, run_id: str) -> None:
    from scripts_spark.lake import Lake
    from scripts_spark.tables import schema_of

    lake = Lake(settings.lake_root)
    lake.write_table(spark.createDataFrame(FILMS, schema_of("silver/films")), "silver/films", run_id)
    lake.write_table(spark.createDataFrame(RELEASES, schema_of("silver/releases")), "silver/releases", run_id)
    lake.write_table(spark.createDataFrame([pair_row(*c, ["title_exact"]) for c in CANDIDATES],
                                           schema_of("silver/candidate_pairs")), "silver/candidate_pairs", run_id)


def gold(spark, settings, run_id: str, table: str = "gold/soundtrack_matches") -> dict:
    from scripts_spark.lake import Lake
    from scripts_spark.tables import schema_of

    rows = Lake(settings.lake_root).read_table(spark, table, run_id, schema_of(table)).collect()
    return {(r["source"], r["release_id"]): r.asDict() for r in rows}


def pair_key(release_id: str, tmdb_id: int, source: str = "musicbrainz") -> str:
    kind = "release_group" if source == "musicbrainz" else "master"
    return f"{source}|{kind}|{release_id}|{tmdb_id}"
