"""Bronze -> Silver transforms on tiny Bronze frames, and steps 03-04 end to end (sample, broken rows, null keys)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from scripts_spark.base_step import StepContext, StepFailed
from scripts_spark.lake import Lake
from scripts_spark.log import get_logger
from scripts_spark.pipeline import run_pipeline
from scripts_spark.tables import schema_of
from scripts_spark.steps.s03_candidates import NormaliseAndBlock, accounting
from scripts_spark.steps.s04_validate import Validate
from scripts_spark.transforms.blocking import blocking_quality
from scripts_spark.transforms.silver import films_from_bronze, releases_from_bronze

from conftest import LABELS

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def bronze(schema, source, sha, **fields):
    row = {f: None for f in schema.fieldNames()}
    row.update(payload="{}", _source=source, _source_uri=f"input/{source}", _ingested_at=NOW, _run_id="t",
               _payload_sha256=sha)
    row.update(fields)
    return row


def tmdb(tmdb_id, title, release_date="2001-05-04", composers=(), sha=None, **fields):
    return bronze(schema_of("bronze/tmdb_movies"), "tmdb", sha or f"f{tmdb_id}", tmdb_id=tmdb_id, title=title,
                  original_title=fields.pop("original_title", title), release_date=release_date,
                  composers=list(composers), genres=["Drama"], popularity=1.0, vote_count=3, vote_average=6.0,
                  **fields)


def mb(release_group_id, title, date="2001", sha=None, **fields):
    return bronze(schema_of("bronze/musicbrainz_release_groups"), "musicbrainz", sha or f"m{release_group_id}",
                  release_group_id=release_group_id, title=title, first_release_date=date, primary_type="Album",
                  secondary_types=fields.pop("secondary_types", ["Soundtrack"]), artists=fields.pop("artists", []),
                  tags=fields.pop("tags", []), **fields)


def empty(spark, schema):
    return spark.createDataFrame([], schema)


# --- transforms ------------------------------------------------------------------------------------------------------
def test_films_keep_one_row_per_bronze_row_with_years_norms_and_a_pointer(spark):
    rows = films_from_bronze(spark.createDataFrame([
        tmdb(1, "The Godfather Part II", "1974-12-20", ["Nino Rota", "Unknown", "Carmine Coppola"]),
        tmdb(2, "Original Motion Picture Soundtrack", "", ["Unknown"]),
        tmdb(3, "Parasite", "2019-13-45", original_title="기생충"),
    ], schema_of("bronze/tmdb_movies"))).collect()
    films = {r["tmdb_id"]: r for r in rows}
    assert films[1]["composers"] == ["Nino Rota", "Carmine Coppola"]
    assert films[1]["composers_norm"] == ["nino rota", "carmine coppola"]
    assert (films[1]["year"], str(films[1]["release_date"])) == (1974, "1974-12-20")
    assert films[1]["title_norm"] == "godfather part 2" and films[1]["title_tokens"] == ["godfather", "part", "2"]
    assert films[1]["_bronze_ref"] == "bronze/tmdb_movies:f1"
    assert films[2]["composers"] == [] and films[2]["year"] is None and films[2]["title_norm_is_fallback"]
    assert films[3]["release_date"] is None and films[3]["year"] == 2019       # an impossible date keeps its year
    assert films[3]["original_title_norm"] == "기생충"


def test_musicbrainz_rows_split_joined_types_and_read_partial_dates(spark):
    rows = releases_from_bronze(
        spark.createDataFrame([
            mb("a", "Louder Than Words (From “tick, tick… BOOM!”)", "2021-11", secondary_types=["Compilation, Soundtrack"],
               artists=["Lin-Manuel Miranda"], tags=["musical"]),
            mb("b", "Ghost", ""),
        ], schema_of("bronze/musicbrainz_release_groups")),
        empty(spark, schema_of("bronze/discogs_masters")), empty(spark, schema_of("bronze/discogs_releases")),
        empty(spark, schema_of("bronze/discogs_search_results"))).collect()
    by_id = {r["release_id"]: r for r in rows}
    a = by_id["a"]
    assert (a["source"], a["release_kind"], a["year"]) == ("musicbrainz", "release_group", 2021)
    assert a["secondary_types"] == ["Compilation", "Soundtrack"] and a["genres"] == ["musical"]
    assert (a["title_norm"], a["film_hint_norm"]) == ("louder than words", "tick tick boom")
    assert a["artists_norm"] == ["lin manuel miranda"]
    assert by_id["b"]["year"] is None and by_id["b"]["title_norm"] == "ghost"


def test_discogs_dump_masters_releases_and_search_results_fold_into_one_row_per_master(spark):
    masters = spark.createDataFrame([
        bronze(schema_of("bronze/discogs_masters"), "discogs_dump", "dm64129", master_id=64129, main_release=1, year=1974,
               title="The Godfather Part II", artists=["Nino Rota"], genres=["Stage & Screen"], styles=["Score"]),
        bronze(schema_of("bronze/discogs_masters"), "discogs_dump", "dm7", master_id=7, main_release=70, year=0,
               title="Undated Master", artists=["Someone (2)"]),
    ], schema_of("bronze/discogs_masters"))
    releases = spark.createDataFrame([
        bronze(schema_of("bronze/discogs_releases"), "discogs_dump", "dr1", release_id=1, master_id=64129, is_main_release=True,
               title="The Godfather Part II", released="1974-00-00", formats=["Vinyl", "LP"], country="US",
               extra_artists=[{"name": "Nino Rota (2)", "role": "Composed By"}, {"name": "X", "role": "Mastered By"}]),
        bronze(schema_of("bronze/discogs_releases"), "discogs_dump", "dr70", release_id=70, master_id=7, title="Undated Master",
               released="1983-03-00", formats=["CD"]),
        bronze(schema_of("bronze/discogs_releases"), "discogs_dump", "dr71", release_id=71, master_id=7, title="Undated Master",
               released="1979", formats=["Cassette"]),
        bronze(schema_of("bronze/discogs_releases"), "discogs_dump", "dr9", release_id=9, master_id=None, title="Lone Single",
               released="1999-03-00", artists=["Solo Artist"]),
    ], schema_of("bronze/discogs_releases"))
    search = spark.createDataFrame([
        bronze(schema_of("bronze/discogs_search_results"), "discogs_search", "s2", result_id=2, result_type="release",
               master_id=64129, title="Nino Rota / Carmine Coppola - The Godfather, Part II", year="1991",
               formats=["CD"], styles=["Soundtrack"]),
        bronze(schema_of("bronze/discogs_search_results"), "discogs_search", "s2b", result_id=2, result_type="release",
               master_id=64129, title="Nino Rota / Carmine Coppola - The Godfather, Part II", year="1991"),
        bronze(schema_of("bronze/discogs_search_results"), "discogs_search", "s5", result_id=5, result_type="release", master_id=0,
               title="John Williams (4) - E.T. The Extra-Terrestrial", year="1982"),
        bronze(schema_of("bronze/discogs_search_results"), "discogs_search", "s-null", result_id=None, result_type="release",
               master_id=None, title="Broken - Record"),
    ], schema_of("bronze/discogs_search_results"))
    rows = releases_from_bronze(empty(spark, schema_of("bronze/musicbrainz_release_groups")), masters, releases, search).collect()
    by_id = {r["release_id"]: r for r in rows}
    assert len(rows) == 5   # 64129, 7, release 9, release 5, and the record without an id
    godfather = by_id["64129"]
    assert (godfather["release_kind"], godfather["title"], godfather["year"]) == ("master", "The Godfather Part II", 1974)
    assert godfather["member_release_ids"] == ["1", "2"]
    assert godfather["formats"] == ["CD", "LP", "Vinyl"] and godfather["styles"] == ["Score", "Soundtrack"]
    assert godfather["credits"] == ["Nino Rota"] and godfather["country"] == "US"
    assert godfather["_bronze_ref"] == "bronze/discogs_masters:dm64129"
    undated = by_id["7"]
    assert undated["year"] == 1979 and undated["artists"] == ["Someone"]      # master year 0: earliest release
    assert (by_id["9"]["release_kind"], by_id["9"]["year"], by_id["9"]["member_release_ids"]) == ("release", 1999, ["9"])
    et = by_id["5"]
    assert (et["release_kind"], et["title"], et["artists"]) == ("release", "E.T. The Extra-Terrestrial", ["John Williams"])
    assert et["artists_norm"] == ["john williams"]
    assert by_id[None]["title"] == "Record" and by_id[None]["_bronze_ref"] == "bronze/discogs_search_results:s-null"


# --- steps end to end ------------------------------------------------------------------------------------------------
def _write_bronze(spark, settings, run_id, films, releases):
    lake = Lake(settings.lake_root)
    lake.write_table(spark.createDataFrame(films, schema_of("bronze/tmdb_movies")), "bronze/tmdb_movies", run_id)
    lake.write_table(spark.createDataFrame(releases, schema_of("bronze/musicbrainz_release_groups")),
                     "bronze/musicbrainz_release_groups", run_id)
    return lake


WORDS = ["Alpha Wolf", "Bright Harbour", "Cold Lantern", "Distant Orchard", "Ember Road", "Frozen Meadow",
         "Glass Canyon", "Hollow Crown", "Iron Garden", "Jade River", "Tenet"]


@pytest.mark.slow   # steps 03-04 through run_pipeline
def test_a_run_with_broken_rows_quarantines_and_counts_them(spark, settings):
    films = [tmdb(i + 1, title) for i, title in enumerate(WORDS[:10])]
    films += [tmdb(3, WORDS[2], sha="f3-again"), tmdb(11, "Tenet", "1066-10-14")]
    releases = [mb(f"r{i + 1}", f"{title}: Original Motion Picture Soundtrack") for i, title in enumerate(WORDS)]
    releases += [mb(None, "Nameless", sha="m-null")]
    lake = _write_bronze(spark, settings, "broken", films, releases)

    doc = run_pipeline(settings, "broken", "03-04", spark=spark)

    validate = doc["steps"]["04"]
    assert validate["status"] == "succeeded"
    assert validate["tables"] == {"silver/films": 10, "silver/releases": 11, "silver/candidate_pairs": 10,
                                  "silver/quarantine/films": 2, "silver/quarantine/releases": 1,
                                  "silver/quarantine/candidate_pairs": 1}
    assert (validate["rows_in"], validate["rows_out"], validate["quarantined"]) == (12 + 12 + 11, 31, 4)
    assert validate["metrics"]["films"]["by_rule"] == {"key_unique": 1, "range:year": 1}
    quarantined = {(r["table"], r["rule"], r["record_key"], r["_bronze_ref"]) for table in ("films", "releases",
                   "candidate_pairs") for r in lake.read_table(spark, f"silver/quarantine/{table}", "broken",
                                                               schema_of(f"silver/quarantine/{table}")).collect()}
    assert quarantined == {("films", "key_unique", "3", "bronze/tmdb_movies:f3-again"),
                           ("films", "range:year", "11", "bronze/tmdb_movies:f11"),
                           ("releases", "key_not_null", "musicbrainz:release_group:null",
                            "bronze/musicbrainz_release_groups:m-null"),
                           ("candidate_pairs", "film_exists", "11:musicbrainz:release_group:r11", None)}
    staged = doc["steps"]["03"]
    assert staged["metrics"]["accounting"]["films"] == {"bronze": 12, "staged": 12}
    assert staged["metrics"]["accounting"]["discogs"] == {"bronze_records": 0, "staged": 0, "folded_into_masters": 0}


@pytest.mark.slow   # step 04 through run_pipeline
def test_a_run_whose_keys_are_all_null_fails_naming_table_rule_and_counts(spark, settings):
    # The original's Silver had 100% null ids: staged films like that must stop the run, not vanish into quarantine.
    lake = Lake(settings.lake_root)
    films = films_from_bronze(spark.createDataFrame([tmdb(None, t, sha=f"null-{i}") for i, t in enumerate(WORDS[:5])],
                                                    schema_of("bronze/tmdb_movies")))
    releases = releases_from_bronze(
        spark.createDataFrame([mb(f"r{i}", t) for i, t in enumerate(WORDS[:5])], schema_of("bronze/musicbrainz_release_groups")),
        empty(spark, schema_of("bronze/discogs_masters")), empty(spark, schema_of("bronze/discogs_releases")),
        empty(spark, schema_of("bronze/discogs_search_results")))
    lake.write_table(films, "silver/staged/films", "nullkeys")
    lake.write_table(releases, "silver/staged/releases", "nullkeys")
    lake.write_table(empty(spark, schema_of("silver/candidate_pairs")), "silver/staged/candidate_pairs", "nullkeys")
    lake.write_table(films.limit(1), "silver/films", "nullkeys")           # an earlier attempt's output

    with pytest.raises(StepFailed) as failure:
        run_pipeline(settings, "nullkeys", "04", spark=spark)

    message = str(failure.value)
    assert failure.value.step == "04_validate"
    assert "silver/films: rule key_not_null failed on 5 of 5 rows (100.0%)" in message
    assert "silver/candidate_pairs: rule table_not_empty failed: the staged table has 0 rows" in message
    # A failed attempt commits nothing (docs/reliability.md): the run keeps its earlier Silver, and the quarantine
    # rows the failed check would have written are named in the message instead.
    assert lake.read_table(spark, "silver/films", "nullkeys", schema_of("silver/films")).count() == 1
    assert lake.read_table(spark, "silver/quarantine/films", "nullkeys",
                           schema_of("silver/quarantine/films")).count() == 0


def test_a_film_lost_between_bronze_and_staged_silver_fails_the_accounting():
    bronze_rows = {"bronze/tmdb_movies": 3, "bronze/musicbrainz_release_groups": 2, "bronze/discogs_masters": 1,
                   "bronze/discogs_releases": 4, "bronze/discogs_search_results": 5}
    assert accounting(bronze_rows, 3, {"musicbrainz": 2, "discogs": 6})["discogs"] == {
        "bronze_records": 10, "staged": 6, "folded_into_masters": 4}
    with pytest.raises(RuntimeError, match="films bronze 3 != staged 2"):
        accounting(bronze_rows, 2, {"musicbrainz": 2})


def test_dry_run_previews_list_the_input_tables_without_spark(settings):
    lake = Lake(settings.lake_root)
    ctx = StepContext(None, settings, lake, "preview", get_logger("preview"))  # type: ignore[arg-type]
    lines = NormaliseAndBlock().preview(ctx)
    assert lines[0].startswith("bronze/tmdb_movies: NOT YET WRITTEN for run preview")
    assert "rare_title_word (max 20 pairs/key)" in lines[-1]
    validate_lines = Validate().preview(ctx)
    assert validate_lines[0].startswith("silver/staged/films: NOT YET WRITTEN")
    assert ("contract silver/candidate_pairs: key (tmdb_id, source, release_kind, release_id), max quarantined share "
            "20%") in validate_lines


# --- the sample (conftest.sample_run, once per session) --------------------------------------------------------------
def test_sample_run_accounts_for_every_row_from_bronze_to_silver(sample_run):
    staged, validate = sample_run.step("03"), sample_run.step("04")
    accounting = staged["metrics"]["accounting"]
    assert accounting["films"] == {"bronze": 6193, "staged": 6193}
    assert accounting["musicbrainz"] == {"bronze": 1894, "staged": 1894}
    assert accounting["discogs"]["staged"] + accounting["discogs"]["folded_into_masters"] == \
        accounting["discogs"]["bronze_records"]
    assert validate["rows_in"] == validate["rows_out"] + validate["quarantined"]
    assert validate["rows_in"] == sum(staged["tables"].values())


def test_blocking_on_the_sample_finds_the_labelled_positives_with_few_candidates(spark, sample_run):
    films, releases = sample_run.read(spark, "silver/films"), sample_run.read(spark, "silver/releases")
    candidates = sample_run.read(spark, "silver/candidate_pairs")
    per_source = {r["source"]: r["count"] for r in releases.groupBy("source").count().collect()}
    quality = blocking_quality(candidates, films.count(), per_source, str(LABELS))
    assert quality["musicbrainz"]["pair_completeness"] >= 0.995, quality
    assert quality["discogs"]["found"] == quality["discogs"]["positives"] == 8, quality
    assert all(q["reduction_ratio"] >= 0.999 for q in quality.values()), quality
