"""MovieLens loading and cleaning: declared schemas, every reject counted with its reason and raw line."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from scripts_spark.tables import schema_of
from scripts_spark.sources import movielens as ml_files
from scripts_spark.transforms import movielens as ml

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def write_csv(folder, name: str, lines: list[str], newline: str = "\n"):
    path = folder / "movielens" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines + [""]).encode("utf-8"))
    return path


def flagged(spark, tmp_path, name: str, lines: list[str], newline: str = "\n"):
    path = write_csv(tmp_path, name, [",".join(f.name for f in ml_files.RAW_SCHEMAS[name].fields), *lines], newline)
    return ml_files.read_raw(spark, path, name).transform(ml.FLAGGERS[name])


def reasons(df) -> Counter:
    return Counter(r["reject_reason"] for r in df.collect())


def test_ratings_outside_the_scale_or_without_ids_are_rejected_with_counted_reasons(spark, tmp_path):
    df = flagged(spark, tmp_path, "ratings", [
        "1,10,4.0,964982703",
        "1,11,5.5,964982704",      # above the scale
        "1,12,0.0,964982705",      # below the scale
        ",13,3.0,964982706",       # no user
        "2,abc,3.0,964982707",     # movie id not a number
        "2,14,,964982708",         # no rating
        "2,15,NaN,964982709",      # not a rating
        "3,10,0.5,964982710",      # the lowest valid rating
    ])
    assert reasons(df) == Counter({None: 2, "rating_outside_0.5_to_5.0": 2, "user_id_missing_or_invalid": 1,
                                   "movie_id_missing_or_invalid": 1, "rating_missing_or_invalid": 2})
    kept = ml.clean_ratings(df).orderBy("user_id").collect()
    assert [(r.user_id, r.movie_id, r.rating) for r in kept] == [(1, 10, 4.0), (3, 10, 0.5)]
    assert kept[0].rated_at.isoformat() == "2000-07-30T18:45:03"


def test_a_repeated_rating_keeps_the_latest_and_rejects_the_earlier_one(spark, tmp_path):
    df = flagged(spark, tmp_path, "ratings", ["7,20,2.0,1000", "7,20,4.5,2000", "7,21,3.0,1500"])
    assert reasons(df) == Counter({None: 2, "duplicate_rating": 1})
    assertDataFrameEqual(ml.clean_ratings(df).select("movie_id", "rating"),
                         [Row(movie_id=20, rating=4.5), Row(movie_id=21, rating=3.0)])


def test_rejects_keep_the_raw_line_where_it_came_from_and_why(spark, tmp_path):
    df = flagged(spark, tmp_path, "ratings", ["1,10,4.0,1", "1,11,9.0,2"])
    rows = ml.rejects(df, "movielens_ratings", "run-1").collect()
    assert ml.rejects(df, "movielens_ratings", "run-1").columns == [f.name for f in schema_of("bronze/tmdb_rejects").fields]
    assert len(rows) == 1
    (r,) = rows
    assert (r.source, r.reason, r.raw, r.record_ref, r._run_id) == (
        "movielens_ratings", "rating_outside_0.5_to_5.0", "1,11,9.0,2", "userId=1 movieId=11", "run-1")
    assert r._source_uri.endswith("movielens/ratings.csv")


def test_movie_titles_lose_their_year_suffix_and_quoted_titles_parse(spark, tmp_path):
    df = flagged(spark, tmp_path, "movies", [
        "1,Toy Story (1995),Adventure|Animation|Children",
        '11,"American President, The (1995)",Comedy|Drama|Romance',
        '7789,"11\'09""01 - September 11 (2002)",Drama',
        "40697,Babylon 5,Sci-Fi",
        "143410,Hyena Road,(no genres listed)",
        "1,Toy Story again (1995),Comedy",
        ",Nameless (2000),Drama",
        "99,   ,Drama",
    ], newline="\r\n")  # GroupLens ships CRLF line ends
    assert reasons(df) == Counter({None: 5, "duplicate_movie_id": 1, "movie_id_missing_or_invalid": 1,
                                   "title_empty": 1})
    movies = {r.movie_id: r for r in ml.clean_movies(df).collect()}
    assert (movies[1].title, movies[1].year) == ("Toy Story", 1995)
    assert movies[1].genres == ["Adventure", "Animation", "Children"]
    assert (movies[11].title, movies[11].year) == ("American President, The", 1995)
    assert movies[7789].title == "11'09\"01 - September 11"
    assert (movies[40697].title, movies[40697].year) == ("Babylon 5", None)
    assert movies[143410].genres == []


def test_empty_and_repeated_tags_are_rejected_and_the_first_use_is_kept(spark, tmp_path):
    df = flagged(spark, tmp_path, "tags", [
        "2,60756,funny,1445714994",
        "2,60756, Funny ,1445714999",   # same tag, other case and spaces, later
        "2,60756,Highly quotable,1445714996",
        "2,60757,,1445714997",          # empty
        '2,60758,"   ",1445714998',     # only spaces
        ",60759,dark,1445715000",       # no user
    ])
    assert reasons(df) == Counter({None: 2, "duplicate_tag": 1, "tag_empty": 2, "user_id_missing_or_invalid": 1})
    tags = sorted((r.tag, r.tagged_at.year) for r in ml.clean_tags(df).collect())
    assert tags == [("Highly quotable", 2015), ("funny", 2015)]


def test_links_without_tmdb_id_are_rejected_and_imdb_ids_get_their_prefix(spark, tmp_path):
    df = flagged(spark, tmp_path, "links", ["1,0114709,862", "2,0113497,", "3,113228,15602", "3,113228,15602"])
    assert reasons(df) == Counter({None: 2, "tmdb_id_missing": 1, "duplicate_movie_id": 1})
    assertDataFrameEqual(ml.clean_links(df).select("movie_id", "imdb_id", "tmdb_id"),
                         [Row(movie_id=1, imdb_id="tt0114709", tmdb_id=862),
                          Row(movie_id=3, imdb_id="tt0113228", tmdb_id=15602)])


def test_every_read_row_is_kept_or_rejected(spark, tmp_path):
    df = flagged(spark, tmp_path, "ratings", ["1,1,4.0,1", "1,1,3.0,0", "x,y,z,w", "2,2,6.0,3"])
    kept, rejected = ml.clean_ratings(df).count(), ml.rejects(df, "movielens_ratings", "r").count()
    assert (kept, rejected) == (1, 3)
    assert kept + rejected == df.count() == 4


def test_a_file_with_an_unexpected_header_is_refused_before_reading(spark, tmp_path):
    path = write_csv(tmp_path, "ratings", ["user,movie,stars,when", "1,1,4.0,1"])
    with pytest.raises(ml_files.MovieLensFormatError, match="expected 'userId,movieId,rating,timestamp'"):
        ml_files.read_raw(spark, path, "ratings")


def test_the_bundled_sample_parses_without_rejects_except_links_lacking_a_tmdb_id(spark):
    counts = {}
    for name in ("ratings", "movies", "links"):
        df = ml_files.read_raw(spark, ml_files.csv_path(SAMPLE, name), name).transform(ml.FLAGGERS[name])
        counts[name] = dict(reasons(df))
    assert counts["ratings"] == {None: 100_836}
    assert counts["movies"] == {None: 9_742}
    assert counts["links"] == {None: 9_734, "tmdb_id_missing": 8}
