"""An exact identifier bridge (issue 24): a MusicBrainz release group whose IMDb URL relationship names a film's IMDb
id is proposed for that film whatever the titles say, and linked to it as a match, with reasons that say so.

The bundled sample has the relationships removed (they are the answer key of the evaluation), so these fixtures
carry their own; tests/test_incremental_faults.py runs one through the whole pipeline from an input file."""
from __future__ import annotations

import json

from scripts_spark import match_settings
from scripts_spark.config import REPO_ROOT
from scripts_spark.sources import musicbrainz
from scripts_spark.tables import schema_of
from scripts_spark.transforms import decide
from scripts_spark.transforms.blocking import candidate_pairs
from scripts_spark.transforms.features import add_film_guards, composer_albums, covered_films, pair_features
from test_features import film_row, release_row

SHIPPED = match_settings.load(REPO_ROOT / "scripts_spark" / "match_settings.json")
RELATIONS = [{"type": "IMDb", "url": {"resource": "https://www.imdb.com/title/tt0120338/"}},
             {"type": "discogs", "url": {"resource": "https://www.discogs.com/master/13426"}},
             {"type": "IMDb", "url": {"resource": "http://imdb.com/title/tt0120338"}},        # the same id twice
             {"type": "wikidata", "url": {"resource": "https://www.wikidata.org/wiki/Q44578"}},
             {"type": "IMDb", "url": None}]
GROUP = {"id": "mbid-ship", "title": "Back to Titanic", "primary-type": "Album", "secondary-types": ["Soundtrack"],
         "first-release-date": "1998-08-18", "artist-credit": [{"name": "James Horner", "joinphrase": ""}],
         "relations": RELATIONS}


def test_the_imdb_title_ids_of_a_group_s_url_relationships_are_read_by_both_parsers(spark):
    assert musicbrainz.parse_release_group(GROUP)["imdb_ids"] == ["tt0120338"]
    assert musicbrainz.parse_release_group({**GROUP, "relations": None})["imdb_ids"] == []
    lines = [json.dumps(GROUP), json.dumps({**GROUP, "id": "mbid-none", "relations": []})]
    raw = spark.createDataFrame([(line, "file:/mb.jsonl.gz") for line in lines], "payload string, _source_uri string")
    assert [r.imdb_ids for r in musicbrainz.parse_release_groups(raw).collect()] == [["tt0120338"], []]


def _silver(spark, films, releases):
    def rows(records, table):
        return spark.createDataFrame([{**{k: None for k in schema_of(table).fieldNames()}, **r} for r in records],
                                     schema_of(table))
    return rows(films, "silver/films"), rows(releases, "silver/releases")


# Film 597 is the bridge's film; film 598 takes the release's title exactly and would win on titles alone.
FILMS = [film_row(597, "Titanic", 1997, ["James Horner"]) | {"imdb_id": "tt0120338"},
         film_row(598, "Echoes of the Lost Deep", 1998, ["James Horner"]) | {"imdb_id": "tt9999998"}]
RELEASES = [release_row("mbid-ship", "Echoes of the Lost Deep", 1998, ["James Horner"]) | {"imdb_ids": ["tt0120338"]},
            release_row("mbid-plain", "Echoes of the Lost Deep", 1998, ["James Horner"]) | {"imdb_ids": []}]


def test_the_bridge_proposes_the_named_film_even_when_no_title_word_is_shared(spark):
    films, releases = _silver(spark, FILMS, RELEASES)
    proposed = {(r.tmdb_id, r.release_id): r.rules for r in candidate_pairs(films, releases, SHIPPED.blocking).collect()}
    assert proposed[(597, "mbid-ship")] == ["imdb_bridge"]
    assert (597, "mbid-plain") not in proposed and "imdb_bridge" not in proposed[(598, "mbid-ship")]


def test_a_bridged_pair_is_matched_to_its_film_over_a_better_scoring_look_alike_and_says_why(spark):
    films, releases = _silver(spark, FILMS, RELEASES)
    pairs = candidate_pairs(films, releases, SHIPPED.blocking)
    # read by two actions, the second through three branches (the pairs, the films' composer albums, the releases'
    # covered films): cached, as step 05 holds them or reads them back, so the features are computed once
    features = pair_features(pairs, films, releases).cache()
    assert {(r.tmdb_id, r.release_id): r.imdb_bridge for r in features.collect()} == {
        (597, "mbid-ship"): 1.0, (598, "mbid-ship"): 0.0, (598, "mbid-plain"): 0.0}
    links = {r.release_id: r.asDict() for r in decide.link_pairs(
        add_film_guards(features, composer_albums(features), covered_films(features)), SHIPPED.matcher).collect()}
    ship, plain = links["mbid-ship"], links["mbid-plain"]
    assert (ship["tmdb_id"], ship["decision"]) == (597, "match")
    reasons = json.loads(ship["reasons"])
    assert reasons["exact_identifier"] == "imdb" and reasons["runner_up"]["tmdb_id"] == 598
    assert reasons["score"] < reasons["runner_up"]["score"]          # the titles alone point at the other film
    # without a bridge the same record goes to the film its title names, and the reasons name no identifier
    assert plain["tmdb_id"] == 598 and json.loads(plain["reasons"])["exact_identifier"] is None
    features.unpersist()
