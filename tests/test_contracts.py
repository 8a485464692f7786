"""Every Silver contract rule quarantines its failing row; systemic faults name table, rule and counts."""
from __future__ import annotations

import json
from datetime import date

import pytest

from scripts_spark.tables import schema_of, table
from scripts_spark.tables.silver import next_year
from scripts_spark.transforms.contracts import (FAILED, ContractCounts, ContractViolation, check_rows, check_schema,
                                                contract_counts, quarantine_rows, row_rules, systemic_faults,
                                                valid_rows)

FILMS, RELEASES, PAIRS = (table(t) for t in ("silver/films", "silver/releases", "silver/candidate_pairs"))


def film(tmdb_id=1, case="good", **changes):
    row = {f: None for f in schema_of("silver/films").fieldNames()}
    row.update(tmdb_id=tmdb_id, title="Jaws", original_title="Jaws", year=1975, release_date=date(1975, 6, 20),
               popularity=12.5, vote_count=100,
               vote_average=7.7, title_norm="jaws", original_title_norm="jaws", title_tokens=["jaws"],
               title_norm_is_fallback=False, _bronze_ref=f"bronze/tmdb_movies:{case}")
    row.update(changes)
    return row


def release(release_id="a", case="good", **changes):
    row = {f: None for f in schema_of("silver/releases").fieldNames()}
    row.update(source="musicbrainz", release_id=release_id, release_kind="release_group", title="Jaws", year=1975,
               title_norm="jaws", title_tokens=["jaws"], title_norm_is_fallback=False, _bronze_ref=f"bronze/x:{case}")
    row.update(changes)
    return row


# (case, row, the rule it must break). Case names are stored in the Bronze pointer (films, releases) or the rules
# array (pairs) so each row can be found again.
FILM_CASES = [
    ("null key", film(None, "null key"), "key_not_null"),
    ("null title", film(2, "null title", title=None), "not_null:title"),
    ("blank title norm", film(3, "blank title norm", title_norm="  "), "not_null:title_norm"),
    ("negative id", film(-4, "negative id"), "range:tmdb_id"),
    ("year before film", film(5, "year before film", year=1066), "range:year"),
    ("year far ahead", film(6, "year far ahead", year=next_year() + 1), "range:year"),
    ("negative popularity", film(7, "negative popularity", popularity=-0.1), "range:popularity"),
    ("negative votes", film(8, "negative votes", vote_count=-1), "range:vote_count"),
    ("vote above ten", film(9, "vote above ten", vote_average=10.5), "range:vote_average"),
    ("punctuation title", film(10, "punctuation title", title="!!!", title_norm="!!!"), "title_norm_has_word"),
    ("impossible date", film(11, "impossible date", release_date=None), "release_date_is_a_date"),
    ("duplicate id", film(100, "zz duplicate id"), "key_unique"),
]
GOOD_FILMS = [film(100, "good"), film(101, "good 2", year=None, popularity=None), film(102, "good 3", year=next_year())]

RELEASE_CASES = [
    ("null key", release(None, "null key"), "key_not_null"),
    ("null kind", release("b", "null kind", release_kind=None), "not_null:release_kind"),
    ("null title", release("c", "null title", title=None), "not_null:title"),
    ("null title norm", release("d", "null title norm", title_norm=None), "not_null:title_norm"),
    ("year before film", release("e", "year before film", year=1200), "range:year"),
    ("unknown source", release("f", "unknown source", source="spotify"), "allowed:source"),
    ("unknown kind", release("g", "unknown kind", release_kind="album"), "allowed:release_kind"),
    ("symbols title", release("h", "symbols title", title_norm="?!"), "title_norm_has_word"),
    ("kind of the other source", release("i", "kind of the other source", release_kind="master"),
     "kind_matches_source"),
    ("duplicate id", release("a", "zz duplicate id"), "key_unique"),
]
# Discogs numbers masters and releases separately: master 123 and the master-less release 123 are two releases.
GOOD_RELEASES = [release("a", "good"), release("123", "good discogs", source="discogs", release_kind="master"),
                 release("123", "good discogs twin", source="discogs", release_kind="release"),
                 release("x", "good undated", year=None)]

PAIR_CASES = [
    ("null key", (None, "musicbrainz", "release_group", "a", ["null key"]), "key_not_null"),
    ("unknown source", (100, "spotify", "release_group", "a", ["unknown source"]), "allowed:source"),
    ("null kind", (102, "musicbrainz", None, "a", ["null kind"]), "not_null:release_kind"),
    ("unknown kind", (103, "musicbrainz", "album", "a", ["unknown kind"]), "allowed:release_kind"),
    ("no rules", (101, "musicbrainz", "release_group", "a", []), "rules_present"),
    ("duplicate pair", (100, "musicbrainz", "release_group", "a", ["zz duplicate pair"]), "key_unique"),
    ("quarantined film", (5, "musicbrainz", "release_group", "a", ["quarantined film"]), "film_exists"),
    ("unknown release", (100, "musicbrainz", "release_group", "nope", ["unknown release"]), "release_exists"),
    ("release of another kind", (101, "musicbrainz", "master", "a", ["release of another kind"]), "release_exists"),
]
GOOD_PAIRS = [(100, "musicbrainz", "release_group", "a", ["good"]), (100, "discogs", "master", "123", ["good"]),
              (100, "discogs", "release", "123", ["good twin"])]


@pytest.fixture(scope="module")
def checked(spark):
    films = check_rows(spark.createDataFrame(GOOD_FILMS + [row for _, row, _ in FILM_CASES], schema_of("silver/films")), FILMS)
    releases = check_rows(spark.createDataFrame(GOOD_RELEASES + [r for _, r, _ in RELEASE_CASES], schema_of("silver/releases")),
                          RELEASES)
    pairs = check_rows(spark.createDataFrame(GOOD_PAIRS + [r for _, r, _ in PAIR_CASES], schema_of("silver/candidate_pairs")),
                       PAIRS, {"silver/films": valid_rows(films, FILMS), "silver/releases": valid_rows(releases, RELEASES)})
    by_case = {}
    for name, df, case_of in (("films", films, lambda r: r["_bronze_ref"].split(":", 1)[1]),
                              ("releases", releases, lambda r: r["_bronze_ref"].split(":", 1)[1]),
                              ("pairs", pairs, lambda r: (r["rules"] or ["no rules"])[0])):
        by_case[name] = {case_of(r): [f["rule"] for f in r[FAILED]] for r in df.collect()}
    return {"films": films, "releases": releases, "pairs": pairs, "by_case": by_case}


@pytest.mark.parametrize("table, case, rule", [("films", c, r) for c, _, r in FILM_CASES]
                         + [("releases", c, r) for c, _, r in RELEASE_CASES]
                         + [("pairs", c, r) for c, _, r in PAIR_CASES])
def test_a_row_breaking_a_contract_rule_is_quarantined_under_that_rule(checked, table, case, rule):
    case_key = "zz " + case if case.startswith("duplicate") else case
    assert rule in checked["by_case"][table][case_key]


def test_valid_rows_break_no_rule(checked):
    for table, goods in (("films", ["good", "good 2", "good 3"]), ("releases", ["good", "good discogs", "good discogs twin",
                                                                                "good undated"]),
                         ("pairs", ["good", "good twin"])):
        assert all(checked["by_case"][table][g] == [] for g in goods), (table, checked["by_case"][table])


def test_every_declared_rule_has_a_failing_case_here():
    for contract, cases in ((FILMS, FILM_CASES), (RELEASES, RELEASE_CASES), (PAIRS, PAIR_CASES)):
        declared = {r.name for r in row_rules(contract)} | {"key_unique"} | {r.name for r in contract.references}
        assert declared == {rule for _, _, rule in cases}, contract.name


def test_quarantine_rows_carry_table_rule_reason_key_pointer_and_the_record(checked):
    rows = {r["_bronze_ref"]: r for r in quarantine_rows(checked["films"], FILMS).collect()}
    assert len(rows) == len(FILM_CASES)
    year = rows["bronze/tmdb_movies:year before film"]
    assert (year["table"], year["rule"], year["record_key"]) == ("films", "range:year", "5")
    assert year["reason"] == f"range:year: year outside 1870..next year"
    assert json.loads(year["record"])["year"] == 1066
    assert rows["bronze/tmdb_movies:null key"]["record_key"] == "null"
    assert [(f.name, f.dataType) for f in quarantine_rows(checked["films"], FILMS).schema.fields] == [
        (f.name, f.dataType) for f in schema_of("silver/quarantine").fields]
    pair = [r for r in quarantine_rows(checked["pairs"], PAIRS).collect()
            if r["record_key"] == "100:musicbrainz:release_group:nope"]
    assert pair[0]["rule"] == "release_exists" and pair[0]["_bronze_ref"] is None


def test_counts_balance_valid_and_quarantined_rows_and_count_every_broken_rule(checked):
    counts = contract_counts(checked["releases"], RELEASES)
    assert (counts.rows, counts.quarantined, counts.valid) == (14, 10, 4)
    assert counts.by_rule["allowed:source"] == 1 and counts.by_rule["key_unique"] == 1
    assert valid_rows(checked["releases"], RELEASES).count() == counts.valid
    assert counts.as_metrics()["staged"] == 14


def test_a_row_breaking_two_rules_is_one_quarantined_row_counted_under_each_rule(spark):
    failed = "array<struct<rule: string, reason: string>>"
    checked = spark.createDataFrame(
        [(1, []), (2, [("key_unique", "dup"), ("range:year", "1066")]), (3, [("range:year", "3000")]), (4, [])],
        f"id int, {FAILED} {failed}")
    counts = contract_counts(checked, RELEASES)
    assert (counts.rows, counts.quarantined, counts.valid) == (4, 2, 2)
    assert counts.by_rule == {"key_unique": 1, "range:year": 2}
    empty = contract_counts(checked.limit(0), RELEASES)
    assert (empty.rows, empty.quarantined, empty.by_rule) == (0, 0, {})


def test_an_empty_table_is_a_systemic_fault():
    assert systemic_faults(ContractCounts("silver/releases", 0, 0, {}), 0.2) == [
        "silver/releases: rule table_not_empty failed: the staged table has 0 rows"]


def test_mostly_null_keys_fail_even_when_the_quarantine_share_allows_everything():
    faults = systemic_faults(ContractCounts("silver/films", 10, 6, {"key_not_null": 6}), 1.0)
    assert faults == ["silver/films: rule key_not_null failed on 6 of 10 rows (60.0%), more than 50%: "
                      "keys are mostly null"]


def test_a_quarantined_share_above_the_setting_names_the_rules_and_counts():
    faults = systemic_faults(ContractCounts("silver/releases", 10, 3, {"range:year": 2, "allowed:source": 1}), 0.2)
    assert faults == ["silver/releases: 3 of 10 rows (30.0%) break the contract, more than MAX_QUARANTINE_SHARE=20%; "
                      "rows per rule: range:year 2, allowed:source 1"]
    assert systemic_faults(ContractCounts("silver/releases", 10, 2, {"range:year": 2}), 0.2) == []


def test_a_column_of_the_wrong_type_fails_the_schema_rule(spark):
    wrong = spark.createDataFrame([(1, "Jaws")], "tmdb_id string, title string")
    with pytest.raises(ContractViolation, match=r"silver/films: rule schema failed: tmdb_id is string, declared "
                                                r"bigint; imdb_id missing"):
        check_schema(wrong, FILMS)
    check_schema(spark.createDataFrame([], schema_of("silver/films")), FILMS)
