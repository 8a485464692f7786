"""Gold: the links between films and soundtrack releases, the analytics marts built on them, and the recommender.

Every Gold table is checked when its step writes it: a row that breaks a rule below fails the step before the run
commits (Gold is derived, so a broken row is a bug, never dirty input). Column names are the same across tables:
`tmdb_id`, `film_title`, `film_year`, `composers`, `popularity`, `films` (a count of films), `<measure>_<statistic>`
(`popularity_median`, `vote_average_mean`).
"""
from __future__ import annotations

from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, BooleanType, DoubleType, IntegerType, LongType, StringType, StructField,
                               StructType)

from .core import FAIL, Reference, RowRule, Table, cols
from .silver import RELEASE_KEY

STR_ARRAY = ArrayType(StringType(), True)
SCORE = {"required": True, "range": (0, 1)}
SHARE_TOLERANCE = 1e-9
# The stable identity of a (release, film) link, the same in every run (transforms/history.py computes it).
LINK_ID = ("link_id", StringType(), "stable id of the (release, film) link, the same in every run: the first 24 hex "
                                    "digits of sha256('<source>|<release_kind>|<release_id>|<tmdb_id>')",
           {"required": True})


def _duck(table: str, sql: str) -> tuple[str, str]:
    """A DuckDB query over every run of the table (as `t`); the examples pick the latest run with max(run_id)."""
    return ("duckdb", f"WITH t AS (FROM read_parquet('data/lake/{table}/*/*.parquet', hive_partitioning = true))\n"
                      + sql.replace("{t}", "t"))


def _pandas(table: str, code: str) -> tuple[str, str]:
    return ("pandas", "import pandas as pd\n"
                      f"df = pd.read_parquet('data/lake/{table}')  # every run; filter run_id for one\n" + code)


def _share_rules(count: str, total: str) -> tuple[RowRule, ...]:
    return (
        RowRule("count_within_total", f"{count} is not between 1 and {total}",
                lambda: (F.col(count) >= 1) & (F.col(count) <= F.col(total))),
        RowRule("share_is_count_over_total", f"share != {count} / {total}",
                lambda: F.abs(F.col("share") - F.col(count) / F.col(total)) <= SHARE_TOLERANCE),
    )


SOUNDTRACK_MATCHES = Table(
    name="gold/soundtrack_matches", written_by="05", enforce=FAIL,
    about="One row per linked release and its chosen film: an automatic `match`, or a `review` link a person "
          "should confirm. Releases whose best film scores below the review threshold have no row.",
    key=RELEASE_KEY,
    columns=cols(
        ("tmdb_id", LongType(), "the film the release is linked to", {"required": True}),
        ("source", StringType(), "musicbrainz | discogs", {"allowed": ("musicbrainz", "discogs")}),
        ("release_id", StringType(), "MBID, Discogs master id, or Discogs release id", {"required": True}),
        ("release_kind", StringType(), "release_group | master | release",
         {"allowed": ("release_group", "master", "release")}),
        ("match_score", DoubleType(), "calibrated probability that the film is the release's film", SCORE),
        ("decision", StringType(), "match (automatic, or accepted by a person) | review (a person should decide)",
         {"allowed": ("match", "review")}),
        ("decision_source", StringType(), "human (a person's verdict in review/decisions made this link) | model",
         {"allowed": ("human", "model")}),
        ("reasons", StringType(), "JSON: score, thresholds, unmet requirements, the exact identifier that linked it "
                                  "(if any), runner-up film, each feature's value and signed contribution in log-odds",
         {"required": True}),
        LINK_ID,
    ),
    references=(Reference("film_exists", ("tmdb_id",), "silver/films"),
                Reference("release_exists", RELEASE_KEY, "silver/releases")),
    queries=(
        _duck("gold/soundtrack_matches", "SELECT source, decision, count(*) AS links, round(avg(match_score), 3) AS "
              "mean_score\nFROM {t}\nWHERE run_id = (SELECT max(run_id) FROM {t})\nGROUP BY ALL ORDER BY ALL;"),
        _pandas("gold/soundtrack_matches",
                "matches = df[df.decision == 'match']\nprint(matches.groupby('source').tmdb_id.nunique())"),
    ),
)

LINK_HISTORY = Table(
    name="gold/link_history", written_by="05", enforce=FAIL,
    about="Every change of a link, run by run: a release's link added, removed, moved to another film, its decision "
          "changed, or its score moved by more than LINK_HISTORY_SCORE_TOLERANCE, with the run, why the release was "
          "decided again and whether the run was full or incremental. Each run's partition holds the whole history "
          "up to that run (the events of run R: `event_run_id = R`).",
    key=("event_run_id",) + RELEASE_KEY,
    columns=cols(
        ("event_run_id", StringType(), "the run in which the link changed", {"required": True}),
        ("event", StringType(), "added | removed | moved | decision_changed | score_changed",
         {"allowed": ("added", "removed", "moved", "decision_changed", "score_changed")}),
        ("source", StringType(), "musicbrainz | discogs", {"allowed": ("musicbrainz", "discogs")}),
        ("release_kind", StringType(), "release_group | master | release",
         {"allowed": ("release_group", "master", "release")}),
        ("release_id", StringType(), "release", {"required": True}),
        ("tmdb_id", LongType(), "the film after the change (null: removed)"),
        ("previous_tmdb_id", LongType(), "the film before (null: added)"),
        ("link_id", StringType(), "the link after the change (gold/soundtrack_matches.link_id; null: removed)"),
        ("previous_link_id", StringType(), "the link before (null: added)"),
        ("decision", StringType(), "match | review after the change"),
        ("previous_decision", StringType(), "match | review before"),
        ("match_score", DoubleType(), "score after the change", {"range": (0, 1)}),
        ("previous_match_score", DoubleType(), "score before", {"range": (0, 1)}),
        ("reason", StringType(), "why the release was decided again: the release or a candidate film was added, "
                                 "edited or deleted, its candidates changed, title-word rarity moved, a person's "
                                 "verdict; 'full run' when a full run cannot tell", {"required": True}),
        ("mode", StringType(), "full | incremental: how the run computed it", {"allowed": ("full", "incremental")}),
    ),
    queries=(
        _duck("gold/link_history", "SELECT event, source, count(*) AS links\nFROM {t}\n"
              "WHERE run_id = (SELECT max(run_id) FROM {t}) AND event_run_id = run_id\nGROUP BY ALL ORDER BY ALL;"),
        _pandas("gold/link_history", "last = df[df.run_id == df.run_id.max()]\n"
                "print(last[last.event_run_id == last.run_id].groupby(['event', 'reason']).size())"),
    ),
)

REVIEW_QUEUE = Table(
    name="gold/review_queue", written_by="05", enforce=FAIL,
    about="The `review` links of gold/soundtrack_matches with both sides' titles, years and artists next to the "
          "reasons: what a person needs to decide.",
    key=RELEASE_KEY,
    columns=cols(
        ("tmdb_id", LongType(), "the proposed film", {"required": True}),
        ("film_title", StringType(), "film title"),
        ("film_year", IntegerType(), "film year"),
        ("composers", STR_ARRAY, "the film's credited composers"),
        ("source", StringType(), "musicbrainz | discogs", {"allowed": ("musicbrainz", "discogs")}),
        ("release_id", StringType(), "release", {"required": True}),
        ("release_kind", StringType(), "release_group | master | release",
         {"allowed": ("release_group", "master", "release")}),
        ("release_title", StringType(), "release title"),
        ("release_year", IntegerType(), "release year"),
        ("release_artists", STR_ARRAY, "release artists"),
        ("match_score", DoubleType(), "calibrated probability", SCORE),
        ("reasons", StringType(), "the link's reasons (as in gold/soundtrack_matches)"),
        LINK_ID,
    ),
    references=(Reference("link_exists", RELEASE_KEY + ("tmdb_id",), "gold/soundtrack_matches"),),
    queries=(
        _duck("gold/review_queue", "SELECT film_title, film_year, release_title, release_year, match_score,\n"
              "       json_extract_string(reasons, '$.unmet_requirements') AS unmet\nFROM {t}\n"
              "WHERE run_id = (SELECT max(run_id) FROM {t})\nORDER BY match_score DESC LIMIT 20;"),
        _pandas("gold/review_queue", "print(df.sort_values('match_score', ascending=False)"
                "[['film_title', 'release_title', 'match_score']].head(20))"),
    ),
)

FILM_SOUNDTRACKS = Table(
    name="gold/film_soundtracks", written_by="05", enforce=FAIL,
    about="Matched links only (`decision = match`), each with the film's and the release's fields for analytics: "
          "the input of every mart and of the recommender.",
    key=("tmdb_id",) + RELEASE_KEY,
    columns=cols(
        ("tmdb_id", LongType(), "film", {"required": True}),
        ("imdb_id", StringType(), "IMDb id"),
        ("film_title", StringType(), "film title"),
        ("film_year", IntegerType(), "film year"),
        ("decade", IntegerType(), "1990 for 1990-1999; null when the film has no year"),
        ("film_genres", STR_ARRAY, "TMDB genres"),
        ("popularity", DoubleType(), "TMDB popularity"),
        ("vote_average", DoubleType(), "TMDB mean vote"),
        ("vote_count", LongType(), "TMDB votes"),
        ("composers", STR_ARRAY, "the film's credited composers"),
        ("source", StringType(), "musicbrainz | discogs", {"allowed": ("musicbrainz", "discogs")}),
        ("release_id", StringType(), "release", {"required": True}),
        ("release_kind", StringType(), "release_group | master | release",
         {"allowed": ("release_group", "master", "release")}),
        ("release_title", StringType(), "release title"),
        ("release_year", IntegerType(), "release year"),
        ("release_artists", STR_ARRAY, "release artists"),
        ("release_genres", STR_ARRAY, "Discogs genres, or MusicBrainz tags as received"),
        ("release_styles", STR_ARRAY, "Discogs styles"),
        ("release_secondary_types", STR_ARRAY, "MusicBrainz secondary types"),
        ("soundtrack_genres", STR_ARRAY, "one genre vocabulary for both sources, lower case: Discogs genres and "
                                         "styles, MusicBrainz genre tags (free-form tags that are not genres are "
                                         "left out) and secondary types"),
        ("match_score", DoubleType(), "calibrated probability", SCORE),
        LINK_ID,
    ),
    row_rules=(RowRule("decade_of_film_year", "decade is not the film year's decade",
                       lambda: F.col("decade").eqNullSafe((F.floor(F.col("film_year") / 10) * 10).cast("int"))),),
    references=(Reference("matched_link_exists", RELEASE_KEY + ("tmdb_id",),
                          "gold/soundtrack_matches"),),
    queries=(
        _duck("gold/film_soundtracks", "SELECT film_title, film_year, list(release_title) AS soundtracks\nFROM {t}\n"
              "WHERE run_id = (SELECT max(run_id) FROM {t})\nGROUP BY ALL ORDER BY max(popularity) DESC LIMIT 10;"),
        _pandas("gold/film_soundtracks",
                "print(df.groupby('decade').tmdb_id.nunique())  # matched films per decade"),
    ),
)

GENRE_BY_DECADE = Table(
    name="gold/genre_by_decade", written_by="06", enforce=FAIL,
    about="Decade x soundtrack genre, counted in matched films. A film counts once per genre of its soundtracks, so "
          "a decade's shares sum to 1 or more (a film with a 'soundtrack' and a 'jazz' album counts in both); read "
          "`films` for sizes and `share` only next to `decade_films`.",
    key=("decade", "soundtrack_genre"), nullable_key=("decade",), notes="`decade` is null for films without a year (their own row group).",
    columns=cols(
        ("decade", IntegerType(), "1990 for 1990-1999; null for films without a year"),
        ("soundtrack_genre", StringType(), "a soundtrack genre, or '(no genre)'", {"required": True}),
        ("films", LongType(), "matched films of the decade whose soundtracks carry the genre", {"required": True}),
        ("decade_films", LongType(), "matched films of the decade", {"required": True}),
        ("share", DoubleType(), "films / decade_films", {"required": True, "range": (0, 1)}),
    ),
    row_rules=_share_rules("films", "decade_films"),
    queries=(
        _duck("gold/genre_by_decade", "SELECT decade, soundtrack_genre, films, decade_films\nFROM {t}\n"
              "WHERE run_id = (SELECT max(run_id) FROM {t}) AND decade_films >= 20\n"
              "QUALIFY row_number() OVER (PARTITION BY decade ORDER BY films DESC) <= 3\nORDER BY decade, films DESC;"),
        _pandas("gold/genre_by_decade",
                "print(df.pivot_table(index='decade', columns='soundtrack_genre', values='films', fill_value=0))"),
    ),
)

POPULARITY_BY_SOUNDTRACK_GENRE = Table(
    name="gold/popularity_by_soundtrack_genre", written_by="06", enforce=FAIL,
    about="Per soundtrack genre: matched films, TMDB popularity (mean, 5th/25th/50th/75th/95th percentiles) and "
          "vote-average quartiles of those films. Percentiles are exact, linearly interpolated (as numpy).",
    key=("soundtrack_genre",),
    columns=cols(
        ("soundtrack_genre", StringType(), "a soundtrack genre, or '(no genre)'", {"required": True}),
        ("films", LongType(), "matched films with the genre", {"required": True, "range": (1, None)}),
        ("popularity_mean", DoubleType(), "mean TMDB popularity"),
        ("popularity_p05", DoubleType(), "5th percentile"),
        ("popularity_q1", DoubleType(), "25th percentile"),
        ("popularity_median", DoubleType(), "median"),
        ("popularity_q3", DoubleType(), "75th percentile"),
        ("popularity_p95", DoubleType(), "95th percentile"),
        ("vote_average_mean", DoubleType(), "mean vote average"),
        ("vote_average_q1", DoubleType(), "25th percentile"),
        ("vote_average_median", DoubleType(), "median"),
        ("vote_average_q3", DoubleType(), "75th percentile"),
    ),
    row_rules=(RowRule("percentiles_ordered", "popularity percentiles are not p05 <= q1 <= median <= q3 <= p95",
                       lambda: F.coalesce((F.col("popularity_p05") <= F.col("popularity_q1"))
                                          & (F.col("popularity_q1") <= F.col("popularity_median"))
                                          & (F.col("popularity_median") <= F.col("popularity_q3"))
                                          & (F.col("popularity_q3") <= F.col("popularity_p95")), F.lit(True))),),
    queries=(
        _duck("gold/popularity_by_soundtrack_genre", "SELECT soundtrack_genre, films, popularity_median\nFROM {t}\n"
              "WHERE run_id = (SELECT max(run_id) FROM {t}) AND films >= 20\nORDER BY popularity_median DESC;"),
        _pandas("gold/popularity_by_soundtrack_genre",
                "print(df.nlargest(10, 'films')[['soundtrack_genre', 'films', 'popularity_median']])"),
    ),
)

FILM_GENRE_X_SOUNDTRACK_GENRE = Table(
    name="gold/film_genre_x_soundtrack_genre", written_by="06", enforce=FAIL,
    about="TMDB film genre x soundtrack genre, counted in matched films; `share` is row-normalised (films / "
          "film_genre_films), so a film genre's shares sum to 1 or more (multi-genre films).",
    key=("film_genre", "soundtrack_genre"),
    columns=cols(
        ("film_genre", StringType(), "TMDB genre, or '(no genre)'", {"required": True}),
        ("soundtrack_genre", StringType(), "soundtrack genre, or '(no genre)'", {"required": True}),
        ("films", LongType(), "matched films with both genres", {"required": True}),
        ("film_genre_films", LongType(), "matched films of the film genre", {"required": True}),
        ("share", DoubleType(), "films / film_genre_films", {"required": True, "range": (0, 1)}),
    ),
    row_rules=_share_rules("films", "film_genre_films"),
    queries=(
        _duck("gold/film_genre_x_soundtrack_genre", "SELECT film_genre, soundtrack_genre, films, round(share, 2) AS "
              "share\nFROM {t}\nWHERE run_id = (SELECT max(run_id) FROM {t}) AND film_genre = 'Horror'\n"
              "ORDER BY films DESC LIMIT 10;"),
        _pandas("gold/film_genre_x_soundtrack_genre",
                "print(df.pivot_table(index='film_genre', columns='soundtrack_genre', values='share'))"),
    ),
)

COMPOSER_STATS = Table(
    name="gold/composer_stats", written_by="06", enforce=FAIL,
    about="Per credited composer (TMDB crew; the placeholder 'Unknown' left out): matched films scored, decades "
          "active, and the popularity and votes of those films.",
    key=("composer",),
    columns=cols(
        ("composer", StringType(), "as credited by TMDB", {"required": True}),
        ("films", LongType(), "matched films crediting the composer", {"required": True, "range": (1, None)}),
        ("decades", ArrayType(IntegerType(), True), "decades of those films, ascending"),
        ("decades_active", IntegerType(), "number of decades"),
        ("first_year", IntegerType(), "earliest film year"),
        ("last_year", IntegerType(), "latest film year"),
        ("popularity_median", DoubleType(), "median TMDB popularity of the films"),
        ("vote_average_mean", DoubleType(), "mean vote average of the films"),
    ),
    row_rules=(
        RowRule("decades_active_counts_decades", "decades_active != size(decades)",
                lambda: F.col("decades_active") == F.size("decades")),
        RowRule("years_ordered", "first_year > last_year",
                lambda: F.coalesce(F.col("first_year") <= F.col("last_year"), F.lit(True))),
    ),
    queries=(
        _duck("gold/composer_stats", "SELECT composer, films, decades_active, popularity_median\nFROM {t}\n"
              "WHERE run_id = (SELECT max(run_id) FROM {t})\nORDER BY films DESC LIMIT 10;"),
        _pandas("gold/composer_stats", "print(df.nlargest(10, 'films')[['composer', 'films', 'decades_active']])"),
    ),
)

SOUNDTRACK = StructType([
    StructField("match_score", DoubleType(), True),
    StructField("source", StringType(), True),
    StructField("release_id", StringType(), True),
    StructField("release_kind", StringType(), True),
    StructField("release_title", StringType(), True),
    StructField("release_year", IntegerType(), True),
    StructField("release_artists", STR_ARRAY, True),
])

RECOMMENDATIONS = Table(
    name="gold/recommendations", written_by="07", enforce=FAIL,
    about="Top-N films per MovieLens user from the served ALS model, each with its matched soundtracks from Gold "
          "(also served from PostgreSQL table `recommendations`).",
    key=("user_id", "rank"),
    columns=cols(
        ("user_id", IntegerType(), "MovieLens user", {"required": True}),
        ("rank", IntegerType(), "1 = best", {"required": True, "range": (1, None)}),
        ("movie_id", IntegerType(), "MovieLens film", {"required": True}),
        ("tmdb_id", LongType(), "null: MovieLens has no TMDB link for the film"),
        ("title", StringType(), "film title"),
        ("year", IntegerType(), "film year"),
        ("genres", STR_ARRAY, "MovieLens genres"),
        ("predicted_rating", DoubleType(), "predicted rating, clipped to the rating scale", {"required": True}),
        ("composers", STR_ARRAY, "from Gold, when the film has a matched soundtrack"),
        ("soundtrack_count", IntegerType(), "matched soundtrack releases", {"required": True, "range": (0, None)}),
        ("soundtracks", ArrayType(SOUNDTRACK, True), "best match first; empty when none matched"),
    ),
    row_rules=(RowRule("soundtrack_count_is_size", "soundtrack_count != size(soundtracks)",
                       lambda: F.col("soundtrack_count") == F.size("soundtracks")),),
    queries=(
        _duck("gold/recommendations", "SELECT rank, title, year, predicted_rating, soundtracks[1].release_title AS "
              "soundtrack\nFROM {t}\nWHERE run_id = (SELECT max(run_id) FROM {t}) AND user_id = 1\nORDER BY rank;"),
        _pandas("gold/recommendations", "print(df[df.user_id == 1].sort_values('rank')[['title', 'soundtrack_count']])"),
    ),
)

MOVIE_STATS = Table(
    name="gold/movie_stats", written_by="07", enforce=FAIL,
    about="One row per MovieLens film: ratings, a Bayesian-shrunk mean and its rank, top tags, matched soundtracks.",
    key=("movie_id",),
    columns=cols(
        ("movie_id", IntegerType(), "MovieLens film", {"required": True}),
        ("tmdb_id", LongType(), "TMDB id from links.csv"),
        ("imdb_id", StringType(), "IMDb id from links.csv"),
        ("title", StringType(), "title"),
        ("year", IntegerType(), "year"),
        ("genres", STR_ARRAY, "MovieLens genres"),
        ("ratings_count", LongType(), "ratings", {"required": True, "range": (0, None)}),
        ("rating_mean", DoubleType(), "null: nobody rated the film"),
        ("rating_bayesian_mean", DoubleType(), "mean shrunk towards the mean of all ratings", {"required": True}),
        ("bayesian_rank", IntegerType(), "1 = best by the shrunk mean", {"required": True, "range": (1, None)}),
        ("top_tags", STR_ARRAY, "most used tags, most frequent first"),
        ("soundtrack_count", IntegerType(), "matched soundtrack releases in Gold", {"required": True,
                                                                                   "range": (0, None)}),
    ),
    queries=(
        _duck("gold/movie_stats", "SELECT title, ratings_count, round(rating_bayesian_mean, 2) AS score, "
              "soundtrack_count\nFROM {t}\nWHERE run_id = (SELECT max(run_id) FROM {t})\nORDER BY bayesian_rank "
              "LIMIT 10;"),
        _pandas("gold/movie_stats", "print(df.groupby(df.soundtrack_count > 0).rating_bayesian_mean.describe())"),
    ),
)

MODEL_METRICS = Table(
    name="gold/model_metrics", written_by="07", enforce=FAIL,
    about="The recommender's evaluation: every model on validation and test, RMSE, precision@k and NDCG@k, and "
          "which one is served.",
    key=("model", "split", "params"),
    columns=cols(
        ("model", StringType(), "global_mean | baseline_biases | most_popular | als | als_residual | "
                                "<served>_unfiltered", {"required": True}),
        ("split", StringType(), "validation | test", {"allowed": ("validation", "test")}),
        ("params", StringType(), "JSON of the hyper-parameters", {"required": True}),
        ("rmse", DoubleType(), "null for a model that ranks without predicting ratings", {"range": (0, None)}),
        ("precision_at_k", DoubleType(), "null for a model that cannot rank", {"range": (0, 1)}),
        ("ndcg_at_k", DoubleType(), "normalised discounted cumulative gain at k", {"range": (0, 1)}),
        ("k", IntegerType(), "cut-off", {"required": True, "range": (1, None)}),
        ("rated_pairs", LongType(), "held-out ratings scored for RMSE", {"required": True}),
        ("ranked_users", LongType(), "users scored for precision/NDCG", {"required": True}),
        ("selected", BooleanType(), "chosen and served (validation) / the served variant and baselines (test)",
         {"required": True}),
        ("fit_seconds", DoubleType(), "training time"),
    ),
    queries=(
        _duck("gold/model_metrics", "SELECT model, round(rmse, 3) AS rmse, round(precision_at_k, 3) AS p_at_k\n"
              "FROM {t}\nWHERE run_id = (SELECT max(run_id) FROM {t}) AND split = 'test'\nORDER BY rmse;"),
        _pandas("gold/model_metrics", "print(df[df.split == 'test'][['model', 'rmse', 'precision_at_k', 'ndcg_at_k']])"),
    ),
)

MARTS = (GENRE_BY_DECADE, POPULARITY_BY_SOUNDTRACK_GENRE, FILM_GENRE_X_SOUNDTRACK_GENRE, COMPOSER_STATS)
TABLES = (SOUNDTRACK_MATCHES, LINK_HISTORY, REVIEW_QUEUE, FILM_SOUNDTRACKS, *MARTS, RECOMMENDATIONS, MOVIE_STATS, MODEL_METRICS)
