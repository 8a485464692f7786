"""Soundtrack genres: one lower-case vocabulary for both sources, without the folksonomy tags that are not genres."""
from __future__ import annotations

from pyspark.sql import functions as F

from scripts_spark.transforms.enrich import soundtrack_genres


def test_tags_that_are_not_genres_stay_out_and_genres_from_both_sources_stay_in(spark):
    df = spark.createDataFrame(
        [(["Soundtrack", "skull on cover", "24", "5+ wochen", "laut.de", "english", "hindi film music"],
          ["Score", "Stage & Screen"], ["Soundtrack", "Compilation"])],
        "genres array<string>, styles array<string>, secondary_types array<string>")
    got = df.select(soundtrack_genres(F.col("genres"), F.col("styles"), F.col("secondary_types")).alias("g")).first().g
    assert got == ["compilation", "hindi film music", "score", "soundtrack", "stage & screen"]
