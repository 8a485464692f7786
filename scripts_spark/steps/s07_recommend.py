"""Step 07: MovieLens ALS recommender whose recommended films carry their soundtracks, served from PostgreSQL.

read MovieLens CSVs + this run's gold/film_soundtracks -> clean (counted rejects) -> movie stats -> choose and
score models on a time-aware split (two baselines; plain ALS and ALS on the bias model's residuals) -> top-N per
user from the chosen ALS variant, with soundtracks -> Gold Parquet -> PostgreSQL (atomic swap) when PG_HOST is set.
Gold is always written: without a database the step succeeds with Gold only and says so in its notes.
"""
from __future__ import annotations

import csv
import hashlib
import json
from contextlib import contextmanager
from dataclasses import asdict
from functools import reduce
from typing import Iterator

from pyspark.sql import DataFrame
from pyspark.sql.types import StringType, StructField, StructType

from ..base_step import BaseStep, StepContext, StepResult, StepSkipped
from ..incremental.feed_files import fingerprint_files
from ..recommend_settings import DEFAULT, QUICK, RecommendSettings
from ..tables import schema_of
from ..sources import movielens as ml_files
from ..sources import postgres
from ..transforms import movielens as ml
from ..transforms.recommend import (choose_and_evaluate,
                                    movie_stats, recommend_for_all_users, with_films_and_soundtracks)

PG_ABSENT_NOTE = ("PostgreSQL not configured (PG_HOST empty): Gold tables only; `make run` starts a local server, "
                  "or set PG_* in .env (see .env.example)")
FILES = ("ratings", "movies", "tags", "links")
REJECTS_TABLE = "bronze/movielens_rejects"
# Gold table -> (PostgreSQL table, primary key): what an application looks rows up by.
SERVED = {
    "gold/recommendations": ("recommendations", ("user_id", "rank"), schema_of("gold/recommendations")),
    "gold/movie_stats": ("movie_stats", ("movie_id",), schema_of("gold/movie_stats")),
    "gold/model_metrics": ("model_metrics", ("model", "split", "params"), schema_of("gold/model_metrics")),
}


class Recommend(BaseStep):
    number = "07"
    name = "recommend"
    description = ("MovieLens ALS recommender (explicit; plain or on the bias model's residuals, chosen on validation) "
                   "measured against two baselines; top-N per user with each film's soundtracks from Gold; "
                   "Gold Parquet + PostgreSQL (staging table, atomic swap)")
    inputs = ("input:movielens/*.csv", "gold/film_soundtracks")
    outputs = (*SERVED, REJECTS_TABLE, "postgres:recommendations,movie_stats,model_metrics")

    def __init__(self, params: RecommendSettings | None = None):
        self.fixed_params = params   # None: RECOMMEND_SEARCH chooses (QUICK or DEFAULT)

    def params_for(self, settings) -> RecommendSettings:
        if self.fixed_params is not None:
            return self.fixed_params
        return QUICK if settings.recommend_search == "quick" else DEFAULT

    def _check_inputs(self, ctx: StepContext) -> None:
        paths = {name: ml_files.csv_path(ctx.settings.input_dir, name) for name in FILES}
        missing = [name for name, path in paths.items() if not path.exists()]
        if len(missing) == len(FILES):
            raise StepSkipped(f"no MovieLens input: {ctx.settings.input_dir}/movielens/*.csv not found")
        if missing:
            raise ml_files.MovieLensFormatError(f"MovieLens input incomplete: {', '.join(f'{m}.csv' for m in missing)} "
                                          f"missing under {ctx.settings.input_dir}/movielens")

    def preview(self, ctx: StepContext) -> list[str]:
        lines = [] if ctx.settings.pg_enabled else [PG_ABSENT_NOTE]
        self._check_inputs(ctx)
        for name in FILES:
            path = ml_files.csv_path(ctx.settings.input_dir, name)
            ml_files.check_header(path, name)
            with open(path, encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                header, first = next(reader), next(reader, [])
            lines.append(f"{name}.csv: {dict(zip(header, first, strict=False))}")
        if ctx.settings.pg_enabled:
            lines.append(f"PostgreSQL: {postgres.where(ctx.settings)} schema {ctx.settings.pg_schema}")
        return lines

    def inputs_key(self, ctx: StepContext) -> str | None:
        """The MovieLens files and the recommender's settings (incremental/carry.py)."""
        paths = [ml_files.csv_path(ctx.settings.input_dir, name) for name in FILES]
        if not all(path.exists() for path in paths):
            return None
        files = fingerprint_files(ctx.settings.input_dir, [str(path) for path in paths])["fingerprint"]
        params = json.dumps(asdict(self.params_for(ctx.settings)), sort_keys=True, default=str)
        return hashlib.sha256(f"{files}\n{params}".encode()).hexdigest()[:16]

    def after_carry(self, ctx: StepContext, tables: dict[str, int]) -> dict:
        """The carried Gold tables served from PostgreSQL, as the step serves what it computes (the files are those
        the earlier run counted: no count again)."""
        return {"postgres": self._serve(ctx, {table: tables[table] for table in SERVED})}

    def _serve(self, ctx: StepContext, rows: dict[str, int]) -> dict:
        """This run's Gold tables replace the served ones (when PostgreSQL is configured): exactly what Gold holds
        (read back, not recomputed), tagged with the run they came from."""
        settings = ctx.settings
        if not settings.pg_enabled:
            return {"server": None, "tables": {}}
        loads = [postgres.TableLoad(ctx.lake.read_table(ctx.spark, table, ctx.run_id, schema), pg_table,
                                    _with_run_id(schema), key, rows[table])
                 for table, (pg_table, key, schema) in SERVED.items()]
        return {"server": postgres.where(settings), "tables": postgres.replace_tables(loads, settings, log=ctx.log)}

    def execute(self, ctx: StepContext) -> StepResult:
        spark, settings, run_id, log = ctx.spark, ctx.settings, ctx.run_id, ctx.log
        params = self.params_for(settings)
        self._check_inputs(ctx)
        if settings.pg_enabled:
            # Fail in a second, not after minutes of training: the driver jar is there and the server answers.
            log.info("postgres_ready", server=postgres.where(settings), version=postgres.check_ready(settings))

        flagged = {name: ml_files.read_raw(spark, ml_files.csv_path(settings.input_dir, name), name)
                   .transform(ml.FLAGGERS[name]).persist() for name in FILES}
        accounting = {name: {(r["reject_reason"] or "kept"): r["count"]
                             for r in df.groupBy("reject_reason").count().collect()} for name, df in flagged.items()}
        rejects = [ml.rejects(flagged[name], f"movielens_{name}", run_id) for name in FILES]
        ctx.write(REJECTS_TABLE, reduce(DataFrame.unionByName, rejects))
        clean = {name: ml.CLEANERS[name](df) for name, df in flagged.items()}
        ratings = clean["ratings"].persist()
        film_soundtracks = ctx.read("gold/film_soundtracks")

        with als_checkpoints(ctx):
            choice = choose_and_evaluate(ratings, params, log)
            recommendations = recommend_for_all_users(ratings, choice.als_model, choice.als, params).persist()
            recommendations.count()   # fitted and scored while the checkpoint folder exists
        outputs = {
            "gold/recommendations": with_films_and_soundtracks(recommendations, clean["movies"], clean["links"],
                                                               film_soundtracks),
            "gold/movie_stats": movie_stats(ratings, clean["movies"], clean["links"], clean["tags"], film_soundtracks,
                                            params.shrinkage_prior_ratings),
            "gold/model_metrics": spark.createDataFrame(choice.metrics, schema_of("gold/model_metrics")),
        }
        tables = {}
        for table, df in outputs.items():
            ctx.write(table, df)
            tables[table] = ctx.read(table).count()
        served = self._serve(ctx, tables)
        for df in (*flagged.values(), ratings, recommendations):
            df.unpersist()

        rows_in = sum(sum(counts.values()) for counts in accounting.values())
        kept = sum(counts.get("kept", 0) for counts in accounting.values())
        tables[REJECTS_TABLE] = rows_in - kept
        with_soundtracks = (ctx.read("gold/recommendations").filter("soundtrack_count > 0").count())
        notes = choice.summary(params.eval_k) + ([] if settings.pg_enabled else [PG_ABSENT_NOTE])
        if with_soundtracks == 0:
            notes.append(f"no recommended film has a soundtrack: gold/film_soundtracks of run {run_id} is empty or "
                         "matches none of them (run steps 01-05 for this run first)")
        return StepResult(
            rows_in=rows_in, rows_out=kept, rejected=rows_in - kept, tables=tables, notes=notes,
            metrics={"accounting": accounting, "test": choice.test_figures(),
                     "als_beats_both_baselines": choice.als_beats_baselines(), "chosen": choice.chosen(),
                     "split_counts": choice.counts, "recommendations_with_soundtracks": with_soundtracks,
                     "search": "full" if params.tune_on_validation else "quick",
                     "postgres": served, "inputs_key": self.inputs_key(ctx)})


@contextmanager
def als_checkpoints(ctx: StepContext) -> Iterator[str]:
    """A checkpoint folder for ALS under the run's folder (see RecommendSettings.als_checkpoint_interval), removed
    afterwards. The lake path works locally and on abfss://; it replaces any folder set earlier in the session."""
    folder = ctx.lake.run_file(ctx.run_id, "als_checkpoints")
    ctx.spark.sparkContext.setCheckpointDir(folder)
    try:
        yield folder
    finally:
        ctx.lake.delete(folder, ctx.spark)


def _with_run_id(schema: StructType) -> StructType:
    """Served tables carry the lake run they came from (Lake.write_table adds run_id to every Gold table)."""
    return StructType([*schema.fields, StructField("run_id", StringType(), False)])
