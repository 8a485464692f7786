"""Bad input and faults never corrupt the state: a truncated snapshot is refused, a run that fails keeps the previous
state, its rerun builds on it, and --full rebuilds to the same Gold. Tiny inputs (40 labelled pairs of the sample)
keep runs short."""
from __future__ import annotations

import json

import pytest

from incremental_world import tiny_world, write_tiny_input
from scripts_spark.base_step import StepFailed
from scripts_spark.config import load_settings
from scripts_spark.incremental import relink
from scripts_spark.incremental.compare import compare_gold
from scripts_spark.incremental.state import StateStore
from scripts_spark.lake import Lake
from scripts_spark.pipeline import run_pipeline

pytestmark = pytest.mark.slow
STEPS = "01-05"


def _settings(tmp, lake, folder, **extra):
    return load_settings(env_file=tmp / "no.env", environ={}, lake_root=str(lake), input_dir=str(folder),
                         log_dir=str(tmp / "logs"), **extra)


# A film of the tiny world whose one album by its composer has the film's title and year ('Silence'-like titles are
# too common to score a link), and a game's album cloned from that score: same title and date, by someone else.
GAME_FILM, GAME_SCORE = "297556", "8178559c-9839-4c16-b9b0-e2fc2e30e281"
GAME = "00000000-0000-4000-8000-0000000game1"


def _with_game(records: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    score = json.loads(records["musicbrainz"][GAME_SCORE])
    game = {**score, "id": GAME, "title": json.loads(records["tmdb"][GAME_FILM])["title"],
            "artist-credit": [{"name": "Zed Nobody", "joinphrase": "",
                               "artist": {"id": "00000000-0000-4000-8000-00000000zed1", "name": "Zed Nobody"}}]}
    return {**records, "musicbrainz": {**records["musicbrainz"], GAME: json.dumps(game)}}


# A soundtrack whose title shares no word with any film, but which names a film's IMDb id through a URL relationship
# (the dump's shape; the bundled sample has these removed): the identifier bridge links it (tests/test_imdb_bridge.py).
BRIDGE = "00000000-0000-4000-8000-0000000imdb1"


def _bridged_film(films: list[str], records: dict[str, dict[str, str]]) -> tuple[str, str]:
    """The last film of the tiny world that has an IMDb id, and that id."""
    return next((f, doc["imdb_id"]) for f in reversed(films)
                for doc in [json.loads(records["tmdb"][f])] if doc.get("imdb_id"))


def _with_bridge(records: dict[str, dict[str, str]], imdb_id: str) -> dict[str, dict[str, str]]:
    score = json.loads(records["musicbrainz"][GAME_SCORE])
    bridge = {**score, "id": BRIDGE, "title": "Qwzx Lumbervale Nocturnes",
              "relations": [{"type": "IMDb", "url": {"resource": f"https://www.imdb.com/title/{imdb_id}/"}}]}
    return {**records, "musicbrainz": {**records["musicbrainz"], BRIDGE: json.dumps(bridge)}}


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    """A lake whose state holds the tiny input (with a game's album next to a film's score), and the pieces to
    derive other inputs from it."""
    tmp = tmp_path_factory.mktemp("faults")
    films, groups, records = tiny_world()
    assert GAME_FILM in films and GAME_SCORE in groups, "the tiny world no longer holds the film the game album copies"
    groups, records = groups + [GAME, BRIDGE], _with_bridge(_with_game(records), _bridged_film(films, records)[1])
    first = write_tiny_input(tmp / "in0", films, groups, records)
    lake = tmp / "lake"
    run_pipeline(_settings(tmp, lake, first), "f0", STEPS, spark=spark)
    return tmp, lake, films, groups, records


def test_a_group_that_names_a_film_s_imdb_id_is_linked_to_it_from_the_input_file_on(spark, world):
    _, lake, films, _, records = world
    film = int(_bridged_film(films, records)[0])
    read = lambda table: Lake(str(lake)).read_table(spark, table, "f0", _schema(table)).where(  # noqa: E731
        f"release_id = '{BRIDGE}'").collect()
    assert [(r.tmdb_id, r.rules) for r in read("silver/candidate_pairs")] == [(film, ["imdb_bridge"])]
    [link] = read("gold/soundtrack_matches")
    assert (link.tmdb_id, link.decision) == (film, "match")
    assert json.loads(link.reasons)["exact_identifier"] == "imdb"


def _version(lake) -> str:
    return StateStore(Lake(str(lake))).current().version


def test_a_snapshot_missing_most_of_a_source_is_refused_and_the_state_stays(spark, world):
    tmp, lake, films, groups, records = world
    before = _version(lake)
    truncated = write_tiny_input(tmp / "in_truncated", films[: len(films) // 2], groups, records)
    with pytest.raises(StepFailed, match=r"tmdb snapshot would delete [\d,]+ of the [\d,]+ records .*more than "
                                         r"INCREMENTAL_MAX_VANISHED_SHARE=20%"):
        run_pipeline(_settings(tmp, lake, truncated), "f1", STEPS, spark=spark)
    assert _version(lake) == before
    assert not Lake(str(lake)).list_names(StateStore(Lake(str(lake))).path("pending"))


def test_a_failed_run_keeps_the_state_its_rerun_builds_on_it_and_a_full_rebuild_agrees(spark, world, monkeypatch):
    tmp, lake, films, groups, records = world
    base = StateStore(Lake(str(lake))).current()
    before = base.version
    edited = dict(records["tmdb"])
    doc = json.loads(edited[films[0]])
    doc["title"] = f"{doc['title']} Reloaded"
    edited[films[0]] = json.dumps(doc)
    # ... and the film's score leaves, so the game album beside it, unchanged itself, must be decided again
    changed = write_tiny_input(tmp / "in_edit", films[1:] + [films[0]], [g for g in groups if g != GAME_SCORE],
                               {"tmdb": edited, "musicbrainz": records["musicbrainz"]})

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk gone in the middle of step 05")

    monkeypatch.setattr(relink, "rescore", broken)
    with pytest.raises(StepFailed, match="disk gone"):
        run_pipeline(_settings(tmp, lake, changed), "f2", STEPS, spark=spark)
    assert _version(lake) == before
    monkeypatch.undo()

    doc = run_pipeline(_settings(tmp, lake, changed), "f2", STEPS, spark=spark)
    assert doc["incremental"]["mode"] == "incremental" and doc["incremental"]["base_version"] == before
    assert doc["incremental"]["feeds"]["tmdb"]["edited"] == 1
    assert _version(lake) != before
    # No Discogs input now, nor when the base was built: those feeds count as unread, and the state table built from
    # them alone stays in the base's version instead of being written again.
    assert doc["incremental"]["absent_feeds"] == ["discogs_masters", "discogs_releases", "discogs_search"]
    assert StateStore(Lake(str(lake))).current().tables["discogs_records"] == base.tables["discogs_records"]
    # The game album was in review beside the film's score (features.GUARD_DOCS); with the score gone it is decided
    # again and linked, though its own pairs did not change.
    game = {r["event_run_id"]: r.asDict() for r in Lake(str(lake)).read_table(
        spark, "gold/link_history", "f2", _schema("gold/link_history")).where(f"release_id = '{GAME}'").collect()}
    assert (game["f0"]["event"], game["f0"]["decision"]) == ("added", "review"), game
    assert (game["f2"]["event"], game["f2"]["decision"]) == ("decision_changed", "match"), game
    assert game["f2"]["reason"] == "a candidate film's album by its own composer appeared or went"

    # --full on the same lake: the state is rebuilt from nothing, says why, and gives the incremental rerun's Gold.
    full = run_pipeline(_settings(tmp, lake, changed, incremental="full"), "f3", STEPS, spark=spark)
    assert full["incremental"]["mode"] == "full" and "--full" in full["incremental"]["reason"]
    assert StateStore(Lake(str(lake))).current().run_id == "f3"
    differences = compare_gold(str(lake), "f2", str(lake), "f3", tables=("gold/soundtrack_matches",
                                                                         "gold/review_queue", "gold/film_soundtracks"))
    assert not any(differences.values()), differences

    # A run of part of the chain neither uses nor advances the state.
    alone = run_pipeline(_settings(tmp, lake, changed), "f3", "05", spark=spark)
    assert alone["incremental"]["mode"] == "off"
    assert StateStore(Lake(str(lake))).current().run_id == "f3"


def _schema(name):
    from scripts_spark.tables import schema_of

    return schema_of(name)
