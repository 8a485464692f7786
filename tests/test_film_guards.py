"""Film guards (issue 24/25), computed when step 05 decides. `composer_album_elsewhere` reads every candidate pair
of a film: it marks a release with the film's exact title by other people when the film's own composer has a
soundtrack of that title among its candidates (a game's album next to the film's score); `match_forbids` sends such
a link to review at best. `release_is_film_music` (required for a match) is a soundtrack type, or a title that names
the film as its source ('Love Theme From "Titanic"'), which also lifts the first guard. `other_film_covered`, weighted
like a pair feature, reads every candidate pair of a release: another film whose whole title the release holds."""
from __future__ import annotations

import dataclasses
import json

from scripts_spark import fit_matcher as fm
from scripts_spark import match_settings as ms
from scripts_spark.transforms import decide
from scripts_spark.transforms import features as ft
from tests.test_decide import DECISION_SCHEMA, SETTINGS, _matcher_doc, _write, feature_row

COLUMNS = ("tmdb_id long, source string, release_id string, release_kind string, composer_match double, "
           "composer_mismatch double, title_exact double, title_loose_exact double, release_is_soundtrack double, "
           "release_cites_film double, film_title_coverage double, title_specificity double, number_mismatch double, "
           "title_year_mismatch double")


def _pair(film, release, match=0.0, mismatch=0.0, exact=0.0, loose=0.0, soundtrack=1.0, source="musicbrainz",
          cites=0.0, coverage=0.0, specificity=0.0, number=0.0, year=0.0):
    return (film, source, release, "release_group", match, mismatch, exact, loose, soundtrack, cites, coverage,
            specificity, number, year)


def _guarded(pairs):
    """add_film_guards as step 05 calls it: the films' composer albums and the releases' covered films from the same
    pairs."""
    return ft.add_film_guards(pairs, ft.composer_albums(pairs), ft.covered_films(pairs))


def test_a_same_titled_album_by_others_is_marked_only_next_to_the_film_s_own_composer_album(spark):
    pairs = spark.createDataFrame([
        _pair(1, "score", match=1.0, exact=1.0),              # the film's own score: its composer, its title
        _pair(1, "game", mismatch=1.0, exact=1.0),            # same title, other people
        _pair(1, "game_loose", mismatch=1.0, loose=1.0),      # same title once spelling is folded
        _pair(1, "other_title", mismatch=1.0),                # other people, another title: not this guard's case
        _pair(1, "various", exact=1.0),                       # 'Various Artists': nothing to compare, not marked
        _pair(2, "game", mismatch=1.0, exact=1.0),            # film 2 has no album by its composer
        _pair(2, "composer_single", match=1.0, exact=1.0, soundtrack=0.0),   # its composer, but not a soundtrack
        _pair(3, "score_a", match=1.0, exact=1.0),            # two own-composer albums: neither is marked
        _pair(3, "score_b", match=1.0, exact=1.0, source="discogs"),
        _pair(4, "game", mismatch=1.0, exact=1.0, source="discogs"),   # the film's score is in the other source
        _pair(4, "score", match=1.0, exact=1.0),
        _pair(4, "theme_single", mismatch=1.0, exact=1.0, soundtrack=0.0, cites=1.0),   # 'Love Theme From "..."'
    ], COLUMNS)
    albums = ft.composer_albums(pairs)
    marked = {(r["tmdb_id"], r["source"], r["release_id"]): r["composer_album_elsewhere"]
              for r in _guarded(pairs).collect()}
    assert {r["tmdb_id"]: r["composer_albums"] for r in albums.collect()} == {1: 1, 3: 2, 4: 1}
    assert marked == {
        (1, "musicbrainz", "score"): 0.0, (1, "musicbrainz", "game"): 1.0, (1, "musicbrainz", "game_loose"): 1.0,
        (1, "musicbrainz", "other_title"): 0.0, (1, "musicbrainz", "various"): 0.0,
        (2, "musicbrainz", "game"): 0.0, (2, "musicbrainz", "composer_single"): 0.0,
        (3, "musicbrainz", "score_a"): 0.0, (3, "discogs", "score_b"): 0.0,
        (4, "discogs", "game"): 1.0, (4, "musicbrainz", "score"): 0.0, (4, "musicbrainz", "theme_single"): 0.0}


def test_a_release_holding_another_candidate_film_s_whole_title_marks_the_films_whose_title_it_does_not_hold(spark):
    # 'Indiana Jones And The Raiders Of The Lost Ark (Original Motion Picture Soundtrack)': 'Raiders of the Lost Ark'
    # is held whole with rare words; 'Dial of Destiny' shares only 'Indiana Jones'. The same for 'Alien' / 'Aliens'.
    pairs = spark.createDataFrame([
        _pair(85, "raiders", coverage=1.0, specificity=1.0),
        _pair(335977, "raiders", coverage=0.46, specificity=0.72),
        _pair(348, "alien", coverage=1.0, specificity=0.6, exact=1.0),
        _pair(679, "alien", coverage=0.0),
        _pair(1, "love", coverage=1.0, specificity=0.2),       # 'Love' held whole, but a common word names no film
        _pair(2, "love", coverage=0.5, specificity=0.2),
        _pair(3, "twins", coverage=1.0, specificity=0.9),      # two films held whole: neither is marked
        _pair(4, "twins", coverage=0.995, specificity=0.9),    # (a rarity sum a rounding error below 1 is whole)
        _pair(5, "alone", coverage=0.7, specificity=0.9),      # no candidate held whole: nothing to prefer
        # 'The LEGO Movie 2: Original Motion Picture Score' holds 'The Lego Movie' whole, but names another number
        _pair(137106, "lego2", coverage=1.0, specificity=0.64, number=1.0),
        _pair(280217, "lego2", coverage=0.68, specificity=0.83),
        _pair(6, "remake", coverage=1.0, specificity=0.9, year=1.0),   # 'Road House (1989)': another year named
        _pair(7, "remake", coverage=0.8, specificity=0.9),
    ], COLUMNS)
    covered = ft.covered_films(pairs)
    assert {r["release_id"]: r["covered_films"] for r in covered.collect()} == {"raiders": 1, "alien": 1, "twins": 2}
    marked = {(r["tmdb_id"], r["release_id"]): r["other_film_covered"] for r in _guarded(pairs).collect()}
    assert marked == {(85, "raiders"): 0.0, (335977, "raiders"): 1.0, (348, "alien"): 0.0, (679, "alien"): 1.0,
                      (1, "love"): 0.0, (2, "love"): 0.0, (3, "twins"): 0.0, (4, "twins"): 0.0, (5, "alone"): 0.0,
                      (137106, "lego2"): 0.0, (280217, "lego2"): 0.0, (6, "remake"): 0.0, (7, "remake"): 0.0}
    assert ft.FEATURE_SIGNS["other_film_covered"] == -1 and "other_film_covered" in ft.MODEL_FEATURES
    assert "other_film_covered" not in ft.FEATURES_SCHEMA.fieldNames()   # computed when step 05 decides, not stored


def test_film_music_is_a_soundtrack_type_or_a_title_that_names_the_film_as_its_source(spark):
    pairs = spark.createDataFrame([
        _pair(1, "score", match=1.0, exact=1.0),
        _pair(1, "theme_single", mismatch=1.0, exact=1.0, soundtrack=0.0, cites=1.0),
        _pair(1, "pop_single", mismatch=1.0, exact=1.0, soundtrack=0.0),
    ], COLUMNS)
    guarded = _guarded(pairs)
    assert {r["release_id"]: r["release_is_film_music"] for r in guarded.collect()} == {
        "score": 1.0, "theme_single": 1.0, "pop_single": 0.0}


def test_a_release_cites_the_film_only_when_its_film_hint_is_one_of_the_film_s_titles(spark):
    from scripts_spark.transforms.normalise import normalise_title

    def pair(film_title, original, release_title):
        hint = normalise_title(release_title).film_hint_norm
        return (normalise_title(film_title).title_norm, normalise_title(original).title_norm, hint)

    pairs = spark.createDataFrame([
        pair("Titanic", "Titanic", "My Heart Will Go On (Love Theme From 'Titanic')"),
        pair("Amélie", "Le Fabuleux Destin d'Amélie Poulain",
             "La Valse d'Amélie (From \"Le Fabuleux Destin d'Amélie Poulain\")"),
        pair("Titanic", "Titanic", "Titanic"),                                   # no qualifier, no hint
        pair("The Heat", "The Heat", "Heat (Music From The Motion Picture)"),   # no film named in the qualifier
        pair("Titanic", "Titanic", "Theme From 'Raise the Titanic'"),           # another film named
    ], "film_title_norm string, film_original_title_norm string, release_film_hint_norm string")
    assert [r["release_cites_film"] for r in ft.add_source_citation(pairs).collect()] == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_a_release_naming_the_film_as_its_source_is_not_held_against_it_for_its_singer(spark):
    from tests.test_features import features_of, film_row, release_row

    films = [film_row(597, "Titanic", 1997, ["James Horner"])]
    releases = [release_row("theme", "My Heart Will Go On", 1997, ["Celine Dion"], film_hint_norm="titanic",
                            primary_type="Single", secondary_types=()),
                release_row("same_title", "Titanic", 1997, ["Celine Dion"])]    # names no film as its source
    rows = features_of(spark, films, releases)
    theme, same_title = rows[(597, "theme")], rows[(597, "same_title")]
    assert (theme["release_cites_film"], theme["composer_match"], theme["composer_mismatch"]) == (1.0, 0.0, 0.0)
    assert (same_title["release_cites_film"], same_title["composer_match"], same_title["composer_mismatch"]) == (
        0.0, 0.0, 1.0)


def test_a_theme_single_that_names_its_film_is_matched_where_the_soundtrack_type_alone_held_it(spark):
    from scripts_spark.transforms.features import FEATURES_SCHEMA

    typed = dataclasses.replace(SETTINGS, match_requires=("release_is_soundtrack",))
    film_music = dataclasses.replace(SETTINGS, match_requires=("release_is_film_music",))
    single = feature_row(1, "theme", title_exact=1, composer_match=1, release_is_soundtrack=0)
    features = spark.createDataFrame([{**single, "release_cites_film": 1.0}], FEATURES_SCHEMA)
    guarded = _guarded(features)
    assert decide.link_pairs(guarded, typed).first()["decision"] == "review"
    assert decide.link_pairs(guarded, film_music).first()["decision"] == "match"


def test_a_link_the_guard_marks_is_reviewed_however_high_it_scores(spark):
    from pyspark.sql import functions as F

    guarded = dataclasses.replace(SETTINGS, match_forbids=("composer_album_elsewhere",))
    # both score as high as a link can here; only the guard tells them apart
    rows = [feature_row(1, "game", title_exact=1, composer_match=1), feature_row(2, "film", title_exact=1,
                                                                                composer_match=1)]
    features = spark.createDataFrame(rows, DECISION_SCHEMA).withColumn(
        "composer_album_elsewhere", F.when(F.col("release_id") == "game", 1.0).otherwise(0.0))
    links = {r["release_id"]: r.asDict() for r in decide.link_pairs(features, guarded).collect()}
    assert links["game"]["decision"] == "review" and links["film"]["decision"] == "match"
    assert json.loads(links["game"]["reasons"])["unmet_requirements"] == ["not_composer_album_elsewhere"]


def test_settings_may_forbid_a_film_guard_but_not_an_unknown_name(tmp_path):
    loaded = ms.load_match_settings(_write(tmp_path, _matcher_doc(match_forbids=["composer_album_elsewhere"])))
    assert loaded.match_forbids == ("composer_album_elsewhere",)
    try:
        ms.load_match_settings(_write(tmp_path, _matcher_doc(match_forbids=["composer_album_somewhere"])))
    except ms.MatchSettingsError as exc:
        assert "neither weighted nor film guards" in str(exc) and "composer_album_somewhere" in str(exc)
    else:
        raise AssertionError("an unknown forbidden name was accepted")


def test_the_fit_and_the_shipped_settings_forbid_the_guard_require_film_music_and_document_both():
    assert "composer_album_elsewhere" in fm.MATCH_FORBIDS and fm.MATCH_REQUIRES == ("release_is_film_music",)
    shipped = ms.load(fm.DEFAULT_OUT).matcher
    assert "composer_album_elsewhere" in shipped.match_forbids
    assert shipped.match_requires == fm.MATCH_REQUIRES
    doc = json.loads(fm.DEFAULT_OUT.read_text(encoding="utf-8"))["matcher"]
    assert doc["guard_features"] == ft.GUARD_DOCS
    measured = doc["match_forbids_measured"]["composer_album_elsewhere"]
    assert measured["negatives_with"] > measured["positives_with"]
