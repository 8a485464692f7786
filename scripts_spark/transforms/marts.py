"""Gold analytics marts built from `gold/film_soundtracks` (matched links only): the questions of the
MusicBrainz study, which soundtrack genres go with which films, decade by decade, and with what popularity.

Each mart's columns and checks are declared once, in `scripts_spark/tables/gold.py`, and every builder ends with
`conform`, so an empty input gives an empty mart with exactly these columns and types.

Counting unit: a film. A film with two matched soundtracks (score album and songs album) counts once per
genre: its soundtrack genres are the union over its releases, folded case-insensitively because
MusicBrainz tags are lower case ('soundtrack') where types and Discogs genres are capitalised
('Soundtrack'). A film none of whose releases carries a genre is counted under `NO_GENRE`, so every
matched film appears in every mart that groups by genre (nothing disappears, and the reader sees how much
of the catalogue is untagged).
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from ..tables import schema_of

# The bucket for films whose soundtracks (or, in the film-genre axis, whose TMDB entry) carry no genre.
NO_GENRE = "(no genre)"
# TMDB credits 77 sample films to a composer literally named "Unknown" (shared/docs/data-quirks.md): a
# placeholder, not a person, so it must not top the composer ranking. Compared case-folded.
PLACEHOLDER_COMPOSERS = ("unknown",)
# Whiskers of the popularity box plots: TMDB popularity is heavy-tailed (a few blockbusters sit 100x above
# the median), so min/max whiskers would be drawn by single films; the 5th/95th percentiles are not.
WHISKER_LOW, WHISKER_HIGH = 0.05, 0.95


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Exactly the declared columns, in order, with the declared types."""
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


# --- building blocks ---------------------------------------------------------------------------------
def matched_films(film_soundtracks: DataFrame) -> DataFrame:
    """One row per matched film with its TMDB attributes (repeated on each of its soundtrack rows)."""
    # max, not first: the values are equal across a film's rows, and max stays deterministic if they are not.
    return (film_soundtracks.groupBy("tmdb_id")
            .agg(F.max("film_year").alias("film_year"), F.max("decade").alias("decade"),
                 F.max("film_genres").alias("film_genres"), F.max("popularity").alias("popularity"),
                 F.max("vote_average").alias("vote_average"), F.max("composers").alias("composers")))


def film_soundtrack_genres(film_soundtracks: DataFrame) -> DataFrame:
    """(tmdb_id, soundtrack_genre): the union of a film's releases' genres, case-folded, NO_GENRE when empty."""
    labels = (film_soundtracks
              .select("tmdb_id", F.explode("soundtrack_genres").alias("label"))
              .withColumn("label", F.trim("label"))
              .where(F.col("label") != "")
              .withColumn("genre_key", F.lower("label")))
    # One spelling per folded genre; min() prefers the capitalised one ('Soundtrack' < 'soundtrack').
    spelling = labels.groupBy("genre_key").agg(F.min("label").alias("soundtrack_genre"))
    tagged = (labels.select("tmdb_id", "genre_key").distinct()
              .join(F.broadcast(spelling), "genre_key")
              .select("tmdb_id", "soundtrack_genre"))
    untagged = (film_soundtracks.select("tmdb_id").distinct()
                .join(tagged, "tmdb_id", "left_anti")
                .withColumn("soundtrack_genre", F.lit(NO_GENRE)))
    return tagged.unionByName(untagged)


def film_genres(films: DataFrame) -> DataFrame:
    """(tmdb_id, film_genre) from a matched_films frame; NO_GENRE for a film TMDB gives no genre."""
    named = (films.select("tmdb_id", F.explode("film_genres").alias("film_genre"))
             .withColumn("film_genre", F.trim("film_genre"))
             .where(F.col("film_genre") != ""))
    unnamed = (films.select("tmdb_id").join(named, "tmdb_id", "left_anti")
               .withColumn("film_genre", F.lit(NO_GENRE)))
    return named.unionByName(unnamed).distinct()


# --- marts ------------------------------------------------------------------------------------------
def genre_by_decade(film_soundtracks: DataFrame) -> DataFrame:
    """Decade x soundtrack genre: films and their share of the decade's matched films."""
    films = matched_films(film_soundtracks).select("tmdb_id", "decade")
    per_genre = (film_soundtracks.transform(film_soundtrack_genres).join(films, "tmdb_id")
                 .groupBy("decade", "soundtrack_genre").agg(F.count("*").alias("films")))
    per_decade = films.groupBy(F.col("decade").alias("d")).agg(F.count("*").alias("decade_films"))
    # Null-safe: films without a year form their own (null) decade rather than vanishing in the join.
    joined = per_genre.join(per_decade, per_genre["decade"].eqNullSafe(per_decade["d"]))
    return conform(joined.withColumn("share", F.col("films") / F.col("decade_films")), schema_of("gold/genre_by_decade"))


def popularity_by_soundtrack_genre(film_soundtracks: DataFrame) -> DataFrame:
    """Per soundtrack genre: films, TMDB popularity (mean and spread) and vote average quartiles."""
    films = matched_films(film_soundtracks).select("tmdb_id", "popularity", "vote_average")
    pop_p = (WHISKER_LOW, 0.25, 0.5, 0.75, WHISKER_HIGH)
    vote_p = (0.25, 0.5, 0.75)
    stats = (film_soundtracks.transform(film_soundtrack_genres).join(films, "tmdb_id")
             .groupBy("soundtrack_genre")
             .agg(F.count("*").alias("films"),
                  F.mean("popularity").alias("popularity_mean"),
                  F.percentile("popularity", F.array(*[F.lit(p) for p in pop_p])).alias("pop_q"),
                  F.mean("vote_average").alias("vote_average_mean"),
                  F.percentile("vote_average", F.array(*[F.lit(p) for p in vote_p])).alias("vote_q")))
    pop_names = ("popularity_p05", "popularity_q1", "popularity_median", "popularity_q3", "popularity_p95")
    vote_names = ("vote_average_q1", "vote_average_median", "vote_average_q3")
    # percentile() of a group whose values are all null is null, not an array: element access stays null.
    stats = stats.select("*", *[F.col("pop_q")[i].alias(n) for i, n in enumerate(pop_names)],
                         *[F.col("vote_q")[i].alias(n) for i, n in enumerate(vote_names)])
    return conform(stats, schema_of("gold/popularity_by_soundtrack_genre"))


def film_genre_x_soundtrack_genre(film_soundtracks: DataFrame) -> DataFrame:
    """TMDB film genre x soundtrack genre: films, and their share of the film genre's matched films."""
    per_film_genre = matched_films(film_soundtracks).transform(film_genres)
    pairs = (per_film_genre.join(film_soundtracks.transform(film_soundtrack_genres), "tmdb_id")
             .groupBy("film_genre", "soundtrack_genre").agg(F.count("*").alias("films")))
    totals = per_film_genre.groupBy("film_genre").agg(F.count("*").alias("film_genre_films"))
    joined = pairs.join(totals, "film_genre").withColumn("share", F.col("films") / F.col("film_genre_films"))
    return conform(joined, schema_of("gold/film_genre_x_soundtrack_genre"))


def composer_stats(film_soundtracks: DataFrame) -> DataFrame:
    """Per credited composer: matched films scored, decades active, median popularity of those films."""
    credits = (matched_films(film_soundtracks)
               .select("tmdb_id", "film_year", "decade", "popularity", "vote_average",
                       F.explode("composers").alias("composer"))
               .withColumn("composer", F.trim("composer"))
               .where((F.col("composer") != "") & ~F.lower("composer").isin(*PLACEHOLDER_COMPOSERS))
               # a composer credited twice on one film (job 'Music' and 'Original Music Composer') scores it once
               .dropDuplicates(["tmdb_id", "composer"]))
    stats = (credits.groupBy("composer")
             .agg(F.count("*").alias("films"),
                  F.array_sort(F.collect_set("decade")).alias("decades"),
                  F.min("film_year").alias("first_year"), F.max("film_year").alias("last_year"),
                  F.median("popularity").alias("popularity_median"),
                  F.mean("vote_average").alias("vote_average_mean"))
             .withColumn("decades_active", F.size("decades")))
    return conform(stats, schema_of("gold/composer_stats"))


MART_BUILDERS = {
    "gold/genre_by_decade": genre_by_decade,
    "gold/popularity_by_soundtrack_genre": popularity_by_soundtrack_genre,
    "gold/film_genre_x_soundtrack_genre": film_genre_x_soundtrack_genre,
    "gold/composer_stats": composer_stats,
}

