"""Pair features on tiny hand-made Silver frames (SILVER_* schemas)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from scripts_spark.tables import schema_of
from scripts_spark.transforms import features as feat


def film_row(tmdb_id, title, year, composers=(), title_norm=None, original_title=None, original_title_norm=None):
    title_norm = title_norm if title_norm is not None else title.lower()
    original_title = original_title or title
    return dict(tmdb_id=tmdb_id, title=title, original_title=original_title, year=year, composers=list(composers),
                title_norm=title_norm, original_title_norm=original_title_norm or original_title.lower(),
                title_tokens=title_norm.split(), composers_norm=[c.lower() for c in composers],
                genres=["Drama"], popularity=1.5, vote_count=10, vote_average=6.5, imdb_id=f"tt{tmdb_id:07d}")


def kind_of(source: str) -> str:
    """The kind of a hand-made release: a MusicBrainz release group or, unless a test says otherwise, a Discogs
    master."""
    return "release_group" if source == "musicbrainz" else "master"


def pair_row(tmdb_id, source, release_id, rules, release_kind=None):
    """A silver/candidate_pairs row (schema_of("silver/candidate_pairs")) of a release made by release_row."""
    return (tmdb_id, source, release_kind or kind_of(source), release_id, list(rules))


def release_row(release_id, title, year, artists=(), title_norm=None, source="musicbrainz", primary_type="Album",
                secondary_types=("Soundtrack",), genres=(), styles=(), formats=(), film_hint_norm=None, credits=(),
                release_kind=None):
    title_norm = title_norm if title_norm is not None else title.lower()
    return dict(source=source, release_id=release_id, release_kind=release_kind or kind_of(source),
                title=title, artists=list(artists), year=year, primary_type=primary_type,
                secondary_types=list(secondary_types), genres=list(genres), styles=list(styles), formats=list(formats),
                title_norm=title_norm, title_tokens=title_norm.split(), film_hint_norm=film_hint_norm,
                artists_norm=[a.lower() for a in artists], credits=list(credits))


def frames(spark, films, releases, pairs=None):
    """Silver frames; `pairs` defaults to every film x release of the same source."""
    films_df = spark.createDataFrame(films, schema_of("silver/films"))
    releases_df = spark.createDataFrame(releases, schema_of("silver/releases"))
    if pairs is None:
        pairs = [(f["tmdb_id"], r["source"], r["release_id"]) for f in films for r in releases]
    kinds = {(r["source"], r["release_id"]): r["release_kind"] for r in releases}
    candidates = spark.createDataFrame([(t, s, kinds.get((s, r), "release_group"), r, ["title"]) for t, s, r in pairs],
                                       schema_of("silver/candidate_pairs"))
    return candidates, films_df, releases_df


def features_of(spark, films, releases, pairs=None) -> dict:
    out = feat.pair_features(*frames(spark, films, releases, pairs)).collect()
    return {(r["tmdb_id"], r["release_id"]): r.asDict() for r in out}


# Every case below in one catalogue, featurised once for the module (each Spark job costs seconds).
FILMS = [
    film_row(1, "Dumbo", 2019, ["Danny Elfman"]), film_row(2, "Dumbo", 1941, ["Frank Churchill"]),
    film_row(11, "Lion", 2016),
    film_row(21, "By the Grace of God", 2019, original_title="Grâce à Dieu", original_title_norm="grace a dieu"),
    film_row(22, "Zootopia", 2016),
    film_row(31, "Brother", 2000),
    film_row(41, "All of Us Strangers", 2023, ["Emilie Levienaise-Farrouch"]),
    film_row(42, "Jaws", 1975, ["John Williams"]), film_row(43, "Coco", 2017, ["Michael Giacchino"]),
    film_row(52, "mother!", 2017, ["Unknown"]), film_row(53, "Serenity", 2019, ["Benjamin Wallfisch"]),
    film_row(61, "E.T.", 1982),
    film_row(71, "Les Misérables", 2012, title_norm="les miserables"), film_row(72, "The Imitation Game", 2014),
    film_row(81, "Ted 2", 2015), film_row(82, "Ted", 2012), film_row(83, "Aladdin", 2019),
    film_row(84, "Shaft", 2000), film_row(85, "The Godfather Part II", 1974, title_norm="the godfather part 2"),
    film_row(91, "Predator: Badlands", 2025, title_norm="predator badlands"), film_row(92, "Predators", 2010),
    *[film_row(100 + i, f"Love {w}", 2000 + i) for i, w in enumerate(["Actually", "Story", "Hurts", "Me"])],
    film_row(109, "Love", 2015), film_row(110, "Oppenheimer", 2023),
    film_row(121, "Raiders of the Lost Ark", 1981), film_row(131, "Blade Runner 2049", 2017),
    film_row(122, "Indiana Jones and the Dial of Destiny", 2023),
    film_row(141, "The Witness", 2001, title_norm="witness"), film_row(142, "Witness", 1985),
    film_row(143, "Love", 2001, original_title="L’Amour", original_title_norm="amour"),
]
RELEASES = [
    release_row("rg1", "Dumbo", 2019, ["Danny Elfman"]),
    release_row("same", "Lion", 2016), release_row("next", "Lion x", 2017), release_row("near", "Lion y", 2020),
    release_row("far", "Lion z", 1990), release_row("undated", "Lion w", None),
    release_row("orig", "Grâce à Dieu", 2019, title_norm="grace a dieu"),
    release_row("hint", 'Try Everything (From "Zootopia")', 2016, title_norm="try everything",
                film_hint_norm="zootopia"),
    release_row("bb", "Big Brother 2003", 2003, title_norm="big brother 2003"),
    release_row("hyphen", "All of Us Strangers", 2023, ["Emilie Levienaise\u2010Farrouch"]),
    release_row("numbered", "Jaws", 1975, ["John Williams (4)"], source="discogs"),
    release_row("credit", "Coco", 2017, ["Various Artists"], credits=["Michael Giacchino"]),
    release_row("va", "Coco", 2017, ["Various Artists"]), release_row("m", "Mother", 2017, ["Someone"]),
    release_row("other", "Serenity", 2019, ["Stefan Nilsson"]),
    release_row("mb-single", "E.T.", 1982, primary_type="Single"),
    release_row("dg-score", "E.T.", 1982, source="discogs", primary_type=None, secondary_types=(),
                genres=["Stage & Screen"], styles=["Score"]),
    release_row("dg-story", "E.T.", 1982, source="discogs", primary_type=None, secondary_types=(),
                genres=["Children's", "Stage & Screen"], styles=["Story"]),
    release_row("dg-game", "E.T.", 1982, source="discogs", primary_type=None, secondary_types=(),
                genres=["Electronic", "Stage & Screen"], styles=["Soundtrack", "Video Game Music"]),
    release_row("dg-ep", "E.T.", 1982, source="discogs", primary_type=None, secondary_types=(),
                genres=["Electronic"], styles=["Techno"], formats=["Vinyl", '12"', "EP"]),
    release_row("cast", "Les Misérables (1991 Dutch cast)", 1991, title_norm="les miserables"),
    release_row("ost", "The Imitation Game (Original Motion Picture Soundtrack)", 2014, title_norm="the imitation game"),
    release_row("ted2", "Ted 2", 2015, title_norm="ted 2"),
    release_row("aladdin", "Aladdin 2019", 2019, title_norm="aladdin 2019"),
    release_row("shaft", "Shaft 2019", 2019, title_norm="shaft 2019"),
    release_row("gf2", "The Godfather: Part II", 1974, title_norm="the godfather part 2"),
    release_row("p", "Predator", 1987, title_norm="predator"),
    release_row("pb", "Predator: Badlands", 2025, title_norm="predator badlands"),
    release_row("l", "Love", 2015), release_row("o", "Oppenheimer", 2023),
    release_row("br", "Blade Runner 2049 (Original Motion Picture Soundtrack)", 2017, title_norm="blade runner 2049"),
    release_row("ij", "Indiana Jones And The Raiders Of The Lost Ark", 2024, source="discogs",
                title_norm="indiana jones and the raiders of the lost ark"),
    release_row("wit", "Witness (Original Motion Picture Soundtrack)", 1985, title_norm="witness"),
    release_row("thewit", "The Witness", 2001, title_norm="witness"),
    release_row("amour", "L'Amour", 2001, title_norm="amour"), release_row("lamour", "Amour", 2001),
    release_row("witsong", 'Song (From "The Witness")', 2001, title_norm="song", film_hint_norm="witness"),
]
_SOURCE = {r["release_id"]: r["source"] for r in RELEASES}
PAIRS = [(t, _SOURCE[r], r) for t, r in [
    (1, "rg1"), (2, "rg1"), *[(11, r) for r in ("same", "next", "near", "far", "undated")],
    (21, "orig"), (22, "hint"), (31, "bb"), (41, "hyphen"), (42, "numbered"), (43, "credit"), (43, "va"),
    (52, "m"), (53, "other"), *[(61, r) for r in ("mb-single", "dg-score", "dg-story", "dg-game", "dg-ep")],
    (71, "cast"), (72, "ost"), (81, "ted2"), (82, "ted2"), (83, "aladdin"), (84, "shaft"), (85, "gf2"),
    (91, "p"), (91, "pb"), (92, "p"), (109, "l"), (110, "o"), (121, "ij"), (122, "ij"), (131, "br"),
    *[(t, r) for t in (141, 142) for r in ("wit", "thewit", "witsong")], (143, "amour"), (143, "lamour"), (1, "amour")]]


@pytest.fixture(scope="module")
def featurised(spark):
    return feat.pair_features(*frames(spark, FILMS, RELEASES, PAIRS)).cache()


@pytest.fixture(scope="module")
def rows(featurised) -> dict:
    return {(r["tmdb_id"], r["release_id"]): r.asDict() for r in featurised.collect()}


def test_pair_features_give_one_row_per_candidate_with_the_declared_schema(featurised, rows):
    assert [(f.name, f.dataType) for f in featurised.schema] == [(f.name, f.dataType) for f in feat.FEATURES_SCHEMA]
    assert len(rows) == len(PAIRS)
    for row in rows.values():
        for name in feat.PAIR_FEATURES:
            assert 0.0 <= row[name] <= 1.0, (name, row[name])


def test_remake_and_original_get_different_year_and_composer_evidence(rows):
    assert rows[(1, "rg1")]["year_same"] == 1.0 and rows[(1, "rg1")]["composer_match"] == 1.0
    assert rows[(2, "rg1")]["year_far"] == 1.0 and rows[(2, "rg1")]["composer_mismatch"] == 1.0


def test_year_difference_has_buckets_and_a_missing_year_is_its_own_value(rows):
    buckets = lambda r: (r["year_same"], r["year_before"] + r["year_after"], r["year_near"], r["year_far"])  # noqa: E731
    assert buckets(rows[(11, "same")]) == (1, 0, 0, 0)
    assert buckets(rows[(11, "next")]) == (0, 1, 0, 0)
    assert buckets(rows[(11, "near")]) == (0, 0, 1, 0)
    assert buckets(rows[(11, "far")]) == (0, 0, 0, 1) and rows[(11, "far")]["year_diff"] == 26
    assert buckets(rows[(11, "undated")]) == (0, 0, 0, 0) and rows[(11, "undated")]["year_diff"] is None


def test_title_similarities_use_the_original_title_and_the_film_hint_of_a_qualifier(rows):
    assert rows[(21, "orig")]["title_exact"] == 1.0 and rows[(21, "orig")]["title_ratio"] == 1.0
    assert rows[(22, "hint")]["title_exact"] == 1.0


def test_coverage_says_which_side_has_words_the_other_lacks(rows):
    assert rows[(31, "bb")]["film_title_coverage"] == 1.0           # 'brother' is inside 'big brother 2003'
    assert rows[(31, "bb")]["release_title_coverage"] < 0.7         # 'big' and '2003' are not in 'brother'
    assert rows[(31, "bb")]["title_ratio"] < 0.7


def test_a_franchise_release_covers_the_film_it_names_and_not_its_sequels(rows):
    raiders, dial = rows[(121, "ij")], rows[(122, "ij")]
    assert raiders["film_title_coverage"] == 1.0
    assert dial["film_title_coverage"] < 0.8
    assert raiders["release_title_coverage"] < 1.0 and dial["release_title_coverage"] < 1.0


def test_composer_agrees_across_typographic_hyphens_discogs_numbers_and_credits(rows):
    for key in [(41, "hyphen"), (42, "numbered"), (43, "credit")]:
        assert rows[key]["composer_match"] == 1.0 and rows[key]["composer_mismatch"] == 0.0, key


def test_various_artists_or_an_unknown_composer_is_no_evidence_rather_than_disagreement(rows):
    for key in [(43, "va"), (52, "m")]:
        assert rows[key]["composer_mismatch"] == 0.0 and rows[key]["composer_match"] == 0.0, key
        assert rows[key]["composer_sim"] is None, key
    assert rows[(53, "other")]["composer_mismatch"] == 1.0 and rows[(53, "other")]["composer_match"] == 0.0
    assert rows[(53, "other")]["composer_sim"] < 0.6


def test_release_type_signals_from_musicbrainz_types_and_discogs_genres_and_styles(rows):
    assert rows[(61, "mb-single")]["release_is_soundtrack"] == 1.0
    assert rows[(61, "mb-single")]["release_is_single_or_ep"] == 1.0
    assert rows[(61, "dg-score")]["release_is_soundtrack"] == 1.0
    assert rows[(61, "dg-score")]["release_nonfilm_style"] == 0.0
    assert rows[(61, "dg-story")]["release_nonfilm_style"] == 1.0
    assert rows[(61, "dg-story")]["release_is_soundtrack"] == 0.0
    # Discogs files game albums under the style 'Video Game Music' (a soundtrack style sits beside it)
    assert rows[(61, "dg-game")]["release_nonfilm_style"] == 1.0
    assert rows[(61, "dg-ep")]["release_is_single_or_ep"] == 1.0
    assert rows[(61, "dg-ep")]["release_is_soundtrack"] == 0.0


def test_stage_cast_and_game_words_mark_a_release_only_when_the_film_title_lacks_them(rows):
    assert rows[(71, "cast")]["title_nonfilm_marker"] == 1.0 and rows[(71, "cast")]["title_film_marker"] == 0.0
    assert rows[(72, "ost")]["title_nonfilm_marker"] == 0.0 and rows[(72, "ost")]["title_film_marker"] == 1.0


def test_sequel_numbers_that_differ_mismatch_but_the_film_year_in_a_release_title_does_not(rows):
    assert rows[(81, "ted2")]["number_mismatch"] == 0.0
    assert rows[(82, "ted2")]["number_mismatch"] == 1.0
    assert rows[(83, "aladdin")]["number_mismatch"] == 0.0
    assert rows[(84, "shaft")]["number_mismatch"] == 1.0
    assert rows[(85, "gf2")]["number_mismatch"] == 0.0


def test_titles_equal_only_without_their_leading_article_differ(rows):
    differs = {key: rows[key]["title_article_differs"] for key in rows if key[0] in (141, 142, 143, 1)
               and key[1] in ("wit", "thewit", "witsong", "amour", "lamour")}
    assert differs == {(141, "wit"): 1.0, (142, "wit"): 0.0, (141, "thewit"): 0.0, (142, "thewit"): 1.0,
                       # a film hint has no raw article to compare; an original title agrees article and all
                       (141, "witsong"): 0.0, (142, "witsong"): 0.0, (143, "amour"): 0.0, (143, "lamour"): 1.0,
                       (1, "amour"): 0.0}


def test_a_year_in_the_release_title_other_than_the_films_is_a_mismatch(rows):
    assert rows[(71, "cast")]["title_year_mismatch"] == 1.0       # 'Les Misérables (1991 Dutch cast)' vs 2012
    assert rows[(84, "shaft")]["title_year_mismatch"] == 1.0      # 'Shaft 2019' vs 2000
    assert rows[(83, "aladdin")]["title_year_mismatch"] == 0.0    # 'Aladdin 2019' for the 2019 film
    assert rows[(131, "br")]["title_year_mismatch"] == 0.0        # 2049 is part of the film's title
    assert rows[(11, "same")]["title_year_mismatch"] == 0.0


def test_franchise_prefix_only_when_one_title_is_a_proper_word_prefix_of_the_other(rows):
    assert rows[(91, "p")]["franchise_prefix_only"] == 1.0
    assert rows[(91, "pb")]["franchise_prefix_only"] == 0.0
    assert rows[(92, "p")]["franchise_prefix_only"] == 0.0  # 'predator' is not a word prefix of 'predators'


def test_title_made_of_common_words_is_less_specific_than_a_rare_title(rows):
    assert rows[(109, "l")]["title_specificity"] < rows[(110, "o")]["title_specificity"]
    assert rows[(110, "o")]["title_specificity"] > 0.0
    assert rows[(110, "o")]["film_title_coverage"] == rows[(110, "o")]["release_title_coverage"] == 1.0


def test_a_discogs_reissue_decades_after_the_film_is_no_year_evidence_but_a_musicbrainz_date_is(rows):
    ij = rows[(121, "ij")]
    assert ij["year_diff"] == 43 and (ij["year_far"], ij["year_near"], ij["year_same"]) == (0.0, 0.0, 0.0)
    assert rows[(11, "far")]["year_far"] == 1.0    # MusicBrainz, 26 years


def test_similarity_batch_scores_whole_columns_and_handles_null_sides():
    frame = pd.DataFrame({
        "tmdb_id": [1, 2], "source": ["musicbrainz"] * 2, "release_id": ["a", "b"],
        "film_title_norm": ["jaws", "up"], "film_original_title_norm": [None, "up"],
        "release_title_norm": ["jaws", "down"], "release_film_hint_norm": [None, None],
        "film_composers_norm": [["john williams"], []], "release_artists": [["John Williams"], None],
        "release_artists_norm": [["john williams"], None],
        "release_credits": [[], None],
    })
    out = feat.similarity_batch(frame)
    assert list(out["title_exact"]) == [1.0, 0.0]
    assert out.loc[0, "composer_match"] == 1.0 and out.loc[1, "composer_mismatch"] == 0.0
    assert pd.isna(out.loc[1, "composer_sim"])
    assert "film_title_norm" not in out.columns


def test_similarity_batch_folds_each_distinct_value_once_and_scores_every_row_as_if_alone():
    """The batch folds titles and names once per distinct value and scores each distinct (composer, artist) once;
    every row must still get what it would get on its own, whatever repeats around it (nulls, empty lists, one
    credit split into people, a Japanese name romanised)."""
    rows = [
        ("jaws", None, "jaws", None, ["john williams"], ["John Williams (4)"], ["john williams"], []),
        ("up", "up", "down", None, [], None, None, None),
        ("jaws", None, "jaws 2", None, ["john williams"], ["Hans Zimmer & John Williams"], ["hans zimmer"], []),
        ("baahubali", None, "bahubali", None, ["m m keeravani"], ["M.M. Keeravani"], ["m m keeravani"], []),
        ("ran", None, "ran", "ran", ["toru takemitsu"], ["武満徹"], ["武満徹"], ["武満徹"]),
        ("jaws", None, "jaws", None, ["john williams"], ["John Williams (4)"], ["john williams"], []),
        ("up", None, None, None, ["michael giacchino"], [], [], ["Michael Giacchino"]),
    ]
    columns = ["film_title_norm", "film_original_title_norm", "release_title_norm", "release_film_hint_norm",
               "film_composers_norm", "release_artists", "release_artists_norm", "release_credits"]
    frame = pd.DataFrame([(i, "musicbrainz", f"r{i}", *row) for i, row in enumerate(rows * 3)],
                         columns=["tmdb_id", "source", "release_id", *columns])
    together = feat.similarity_batch(frame)
    alone = pd.concat([feat.similarity_batch(frame.iloc[[i]]) for i in range(len(frame))], ignore_index=True)
    pd.testing.assert_frame_equal(together, alone)
    assert together.loc[2, "composer_match"] == 1.0 and together.loc[3, "title_loose_exact"] == 1.0
    assert together.loc[4, "composer_match"] == 1.0 and pd.isna(together.loc[1, "composer_sim"])


@pytest.mark.parametrize("names, expected", [(["John Williams (4)"], "john williams"),
                                             (["Dustin O\u2019Halloran"], "dustin o halloran")])
def test_person_names_fold_case_punctuation_and_discogs_numbers(names, expected):
    assert feat._fold_names(pd.Series(names)).tolist() == [expected]


def test_a_words_rarity_does_not_fall_as_the_catalogue_grows(spark):
    """The same word shares in a catalogue ten times larger give the same rarities (the matcher's weights were
    fitted on a catalogue of ~8,000 titles and are applied to ~1.4 million)."""
    films = [film_row(i, "Love Story" if i % 4 == 0 else ("Love" if i % 2 else "Paris Night"), 2000)
             for i in range(1, 41)]
    releases = [release_row("r1", "Story", 2000)]

    def rarity(copies: int) -> dict:
        many = [dict(f, tmdb_id=f["tmdb_id"] + 1000 * k) for k in range(copies) for f in films]
        many_releases = [dict(r, release_id=f"{r['release_id']}-{k}") for k in range(copies) for r in releases]
        table = feat.title_token_rarity(spark.createDataFrame(many, schema_of("silver/films")),
                                        spark.createDataFrame(many_releases, schema_of("silver/releases")))
        return {r["token"]: round(r["rarity"], 9) for r in table.collect()}

    small, large = rarity(1), rarity(10)
    assert small == large
    assert small["love"] < small["story"] <= small["paris"] == small["night"] < 1.0


def test_rarity_is_rounded_so_one_more_title_elsewhere_moves_no_word(spark):
    """Rarity comes in steps of 1 / RARITY_LEVELS: a title added anywhere grows N and, unrounded, would move every
    word's rarity and so every pair's title features (an incremental run would then score nearly all pairs again)."""
    films = [film_row(i, "Love" if i % 4 == 0 else f"Paris {i}", 2000) for i in range(1, 201)]
    releases = [release_row("r1", "Story", 2000)]

    def rarity(extra_titles: list[str]) -> dict:
        rows = films + [film_row(1000 + i, t, 2001) for i, t in enumerate(extra_titles)]
        table = feat.title_token_rarity(spark.createDataFrame(rows, schema_of("silver/films")),
                                        spark.createDataFrame(releases, schema_of("silver/releases")))
        return {r["token"]: r["rarity"] for r in table.collect()}

    before, after = rarity([]), rarity(["Zebra Crossing"])
    assert all(v * feat.RARITY_LEVELS == round(v * feat.RARITY_LEVELS) for v in after.values())
    # 'love' is in 50 of 202 titles (a release title counts): log(202 / 50) / log(10,000) = 0.1516, 4.85 steps; before,
    # in 50 of 201, 0.1511
    assert before["love"] == after["love"] == 5 / feat.RARITY_LEVELS
    steps = feat.RARITY_LEVELS
    assert "zebra" not in before and after["zebra"] == round(math.log(202) / math.log(10_000) * steps) / steps


def test_title_overlap_weighs_each_sides_distinct_words_once_as_the_rarity_table_says(spark):
    """add_title_overlap on per-side word weights (title_word_weights) against the definition computed by hand: each
    side's distinct words once, a word's rarity from the table, 1.0 for a word the table lacks, 0 for a stopword,
    coverage the best of a side's two titles, specificity the shared words capped at SPECIFICITY_CAP."""
    rarity = {"night": 0.25, "paris": 0.5, "love": 0.125, "story": 0.75, "the": 0.0625, "blue": 1.0}
    films = [film_row(1, "Paris Night Night", 2000, original_title="La Nuit de Paris"),   # a repeated word
             film_row(2, "The Love Story", 2000),                                    # 'the' is a stopword
             film_row(3, "Zyx", 2000, title_norm="")]                                # no words at all
    releases = [release_row("a", "Paris by Night", 2000, film_hint_norm="nuit blue"),   # 'by', 'nuit' not in table
                release_row("b", "Love Story the Album", 2000),
                release_row("c", "Unrelated", 2000)]
    candidates, films_df, releases_df = frames(spark, films, releases)
    table = spark.createDataFrame(list(rarity.items()), "token string, rarity double")
    rows = feat.pair_sides(candidates, films_df, releases_df, table).transform(feat.add_title_overlap).collect()

    def weight(word):
        from scripts_spark.transforms.blocking import STOPWORDS
        return 0.0 if word in STOPWORDS else rarity.get(word, 1.0)

    def expected(ft, fo, rt, rh):
        sets = {k: set((v or "").split()) for k, v in dict(ft=ft, fo=fo, rt=rt, rh=rh).items()}
        fw, rw = sets["ft"] | sets["fo"], sets["rt"] | sets["rh"]
        total = lambda words: sum(weight(w) for w in words)  # noqa: E731
        cover = lambda k, other: total(sets[k] & other) / total(sets[k]) if total(sets[k]) > 0 else 0.0  # noqa: E731
        return (min(total(fw & rw), feat.SPECIFICITY_CAP) / feat.SPECIFICITY_CAP,
                max(cover("ft", rw), cover("fo", rw)), max(cover("rt", fw), cover("rh", fw)))

    assert len(rows) == 9 and "film_title_weights" not in rows[0].asDict()
    for r in rows:
        want = expected(r["film_title_norm"], r["film_original_title_norm"], r["release_title_norm"],
                        r["release_film_hint_norm"])
        got = (r["title_specificity"], r["film_title_coverage"], r["release_title_coverage"])
        assert got == pytest.approx(want, abs=1e-12), (r["tmdb_id"], r["release_id"])
    # an incremental refresh weighs pairs from their own titles (with_title_weights): the same features
    titles = feat.pair_sides(candidates, films_df, releases_df).select(*feat.PAIR_KEY, *feat._WORD_SETS.values())
    refreshed = {(r["tmdb_id"], r["release_id"]): (r["title_specificity"], r["film_title_coverage"],
                                                  r["release_title_coverage"])
                 for r in feat.add_title_overlap(feat.with_title_weights(titles, table)).collect()}
    assert refreshed == {(r["tmdb_id"], r["release_id"]): (r["title_specificity"], r["film_title_coverage"],
                                                          r["release_title_coverage"]) for r in rows}
    by_pair = {(r["tmdb_id"], r["release_id"]): r for r in rows}
    assert by_pair[(1, "a")]["film_title_coverage"] == 1.0          # 'paris night': both words in the release
    assert by_pair[(2, "b")]["title_specificity"] == pytest.approx((0.125 + 0.75) / 2)   # 'the' weighs nothing
    assert by_pair[(3, "c")]["title_specificity"] == 0.0
