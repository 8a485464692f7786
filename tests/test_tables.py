"""The table registry: one declaration per table, docs generated from it, and Gold contracts enforced on write."""
from __future__ import annotations

import pytest

from scripts_spark.steps import STEP_CLASSES, load_step
from scripts_spark.tables import TABLES, schema_of, table
from scripts_spark.tables.docs import main as docs_main
from scripts_spark.transforms.contracts import ContractViolation, enforce


def test_docs_tables_md_is_what_the_registry_says():
    assert docs_main(["--check"]) == 0, "run `python -m scripts_spark.tables.docs` and commit docs/tables.md"


def test_every_gold_table_has_a_key_a_producer_and_a_duckdb_and_a_pandas_query():
    for t in (t for t in TABLES.values() if t.layer == "gold"):
        assert t.key and t.written_by.isdigit() and t.enforce == "fail", t.name
        assert [lang for lang, _ in t.queries] == ["duckdb", "pandas"], t.name
        assert all(c.doc for c in t.columns), t.name


def test_every_step_output_is_declared_and_every_table_has_its_step():
    written = {}
    for number in STEP_CLASSES:
        for out in load_step(number).outputs:
            if "/" in out and not out.startswith("postgres:"):
                written.setdefault(table(out).name, set()).add(number)
    for t in TABLES.values():
        if t.written_by == "review":   # the decisions store: written by the review tools, read by step 05
            continue
        assert t.written_by in written.get(t.name, set()), f"{t.name}: declared written by {t.written_by}"


def test_an_undeclared_table_is_named_in_the_error():
    with pytest.raises(KeyError, match="gold/nope.*scripts_spark/tables"):
        schema_of("gold/nope")
    assert schema_of("silver/staged/films") == schema_of("silver/films")
    assert table("silver/quarantine/films").name == "silver/quarantine"


def _matches(spark, rows):
    return spark.createDataFrame(rows, schema_of("gold/soundtrack_matches"))


def test_a_valid_gold_table_passes_and_reports_its_rows(spark):
    films = spark.createDataFrame([(1,)], "tmdb_id long")
    releases = spark.createDataFrame([("musicbrainz", "release_group", "r1")],
                                     "source string, release_kind string, release_id string")
    df = _matches(spark, [(1, "musicbrainz", "r1", "release_group", 0.9, "match", "model", "{}", "l1")])
    assert enforce(df, table("gold/soundtrack_matches"), {"silver/films": films, "silver/releases": releases}) == 1


def test_a_broken_gold_table_fails_naming_each_rule_with_counts(spark):
    films = spark.createDataFrame([(1,)], "tmdb_id long")
    releases = spark.createDataFrame([("musicbrainz", "release_group", "r1"), ("musicbrainz", "release_group", "r2")],
                                     "source string, release_kind string, release_id string")
    df = _matches(spark, [(1, "musicbrainz", "r1", "release_group", 0.9, "match", "model", "{}", "l1"),
                          (2, "musicbrainz", "r1", "release_group", 0.8, "match", "model", "{}", "l1"),   # same key and unknown film: one row
                          (1, "musicbrainz", "r2", "release_group", 1.5, "maybe", "model", "{}", "l1"),   # score and decision
                          (1, "musicbrainz", "r9", "release_group", 0.5, "review", "model", "{}", "l1")])  # unknown release
    with pytest.raises(ContractViolation) as err:
        enforce(df, table("gold/soundtrack_matches"), {"silver/films": films, "silver/releases": releases})
    message = str(err.value)
    assert message.startswith("gold/soundtrack_matches: 3 of 4 rows break the contract")
    for rule in ("key_unique 1", "film_exists 1", "range:match_score 1", "allowed:decision 1", "release_exists 1"):
        assert rule in message


def test_mart_shares_must_be_count_over_total_and_a_null_decade_is_a_decade(spark):
    schema = schema_of("gold/genre_by_decade")
    good = spark.createDataFrame([(None, "jazz", 2, 4, 0.5), (1990, "jazz", 1, 1, 1.0)], schema)
    assert enforce(good, table("gold/genre_by_decade")) == 2
    bad = spark.createDataFrame([(1990, "jazz", 2, 4, 0.4), (1980, "rock", 5, 4, 1.25)], schema)
    with pytest.raises(ContractViolation, match="share_is_count_over_total 1.*count_within_total 1|"
                                                "count_within_total 1.*share_is_count_over_total"):
        enforce(bad, table("gold/genre_by_decade"))
