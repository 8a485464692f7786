"""soundtrack-lake command line.

    python -m scripts_spark run      [--steps 01-05] [--run-id ID] [--lake-root DIR] [--input-dir DIR]
    python -m scripts_spark dryrun   [same options]    resolve config, preview inputs, write nothing
    python -m scripts_spark evaluate --labels CSV [--run-id ID] [--rule original]
    python -m scripts_spark report   [--run-id ID]
    python -m scripts_spark publish  [--run-id ID] [--layers gold,silver] [--dry-run]
    python -m scripts_spark runs     [--limit N]       the lake's runs, newest first
    python -m scripts_spark review   [--run-id ID] [--port 8765]   | review export --out F.csv | review import F.csv
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from .config import ConfigError, Settings, load_settings, validate_environment
from .lake import Lake, LakeError, validate_run_id
from .log import configure_logging, divert_native_stderr, get_logger
from .steps import parse_step_range

EPILOG = """\
examples:
  python -m scripts_spark run                          all steps on data/sample into data/lake
  python -m scripts_spark run --steps 01-02            extract only (Bronze)
  python -m scripts_spark run --steps 03 --run-id 20260101T000000Z
                                                       redo step 03 of an earlier run (04-07 are invalidated
                                                       until they are run again)
  python -m scripts_spark run --tmdb-mode api          enumerate films from the TMDB API (needs TMDB_BEARER_TOKEN)
  python -m scripts_spark dryrun                       what would run, on which inputs; writes nothing
  python -m scripts_spark evaluate --labels data/eval/dev_labels.csv
  python -m scripts_spark report                       HTML report of the latest run
  python -m scripts_spark runs                         the lake's runs: status, duration, films, links, reviews
  python -m scripts_spark review                       decide the latest run's review queue in a local web page

Settings come from the environment and .env (see .env.example); flags override both.
Input layout (--input-dir): tmdb/*.jsonl.gz, musicbrainz/*.jsonl.gz, discogs/*.xml.gz,
discogs/search/**/*.json, movielens/*.csv. A missing folder means that source is skipped.
Exit codes: 0 ok, 1 a step failed, 2 bad arguments or configuration, 75 another writer holds the lake (its run id
and pid are named), 143 (130) stopped by SIGTERM (SIGINT): the run's last committed data is unchanged.
Runs commit atomically: a failed or killed run leaves the lake as it was (docs/reliability.md).
"""


def _common(p: argparse.ArgumentParser, with_inputs: bool = True) -> None:
    p.add_argument("--lake-root", help="lake root folder or abfss:// URI (default: LAKE_ROOT or data/lake)")
    p.add_argument("--run-id", help="run identifier; default for run: a new UTC timestamp ('latest' = the newest "
                                    "committed run), for the other commands: the newest committed run")
    if with_inputs:
        p.add_argument("--input-dir", help="input folder in the layout below (default: INPUT_DIR or data/sample)")
        p.add_argument("--steps", default="all", help="steps to run: 'all', '03', '01-05', '01,03-04' (default: all)")
        p.add_argument("--tmdb-mode", choices=("file", "api"), help="TMDB source (default: TMDB_MODE or file)")
        p.add_argument("--discogs-mode", choices=("file", "api"), help="Discogs source (default: DISCOGS_MODE or file)")
        p.add_argument("--musicbrainz-mode", choices=("file", "api"), help="MusicBrainz source (default: file)")
        p.add_argument("--full", action="store_true", default=None,
                       help="rebuild everything instead of building on the lake's state (default: incremental when "
                            "the lake has a state built by the same code and matcher settings; docs/incremental.md)")
        p.add_argument("--local-postgres", action="store_true",
                       help="when PG_HOST is empty, start (or reuse) a throwaway PostgreSQL in LOCAL_PG_DIR for the "
                            "recommender (make run does this); without a server the recommender writes Gold only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts_spark",
        description="soundtrack-lake: link TMDB films to their Discogs and MusicBrainz soundtracks in a Spark lake.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="{run,dryrun,evaluate,report,publish,review,runs}")
    sub.required = True

    run = sub.add_parser("run", help="run pipeline steps for one run_id", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(run)
    run.add_argument("--no-report", action="store_true", help="do not write the HTML report at the end")
    run.add_argument("--allow-partial-input", action="store_true", default=None,
                     help="keep the readable records of a truncated/corrupt input file and record the loss as a "
                          "reject (default: ALLOW_PARTIAL_INPUT or false = the run fails naming file and position)")

    dry = sub.add_parser("dryrun", help="resolve config, list steps with inputs/outputs, parse first records; write nothing")
    _common(dry)

    ev = sub.add_parser("evaluate", help="precision/recall/F1 and pair completeness of a run against labelled pairs")
    _common(ev, with_inputs=False)
    ev.add_argument("--labels", help="labelled pairs CSV (default: LABELS_PATH or data/eval/dev_labels.csv)")
    ev.add_argument("--rule", choices=("pipeline", "original"), default="pipeline",
                    help="'original' also scores the original capstone's rule on the same run, side by side")

    rep = sub.add_parser("report", help="write the run's self-contained HTML report and print its path")
    _common(rep, with_inputs=False)
    rep.add_argument("--labels", help="labelled pairs CSV for the match-quality section (optional)")

    pub = sub.add_parser("publish", help="upload a finished run to Azure storage (ADLS Gen2 / Blob), atomically per run")
    _common(pub, with_inputs=False)
    pub.add_argument("--layers", default="gold", help="comma list of layers to publish: gold,silver,bronze (default: gold)")
    pub.add_argument("--dry-run", action="store_true", help="list what would be uploaded; upload nothing")

    runs = sub.add_parser("runs", help="list the lake's runs, newest first: status, start, duration, films, links, "
                                       "reviews")
    runs.add_argument("--lake-root", help="lake root folder or abfss:// URI (default: LAKE_ROOT or data/lake)")
    runs.add_argument("--limit", type=int, default=20, help="show at most this many runs (default: 20; 0 = all)")

    from .review.cli import add_parser as add_review_parser

    add_review_parser(sub, _common)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(
        lake_root=getattr(args, "lake_root", None),
        input_dir=getattr(args, "input_dir", None),
        tmdb_mode=getattr(args, "tmdb_mode", None),
        discogs_mode=getattr(args, "discogs_mode", None),
        musicbrainz_mode=getattr(args, "musicbrainz_mode", None),
        labels_path=getattr(args, "labels", None),
        allow_partial_input=getattr(args, "allow_partial_input", None),
        incremental="full" if getattr(args, "full", None) else None,
    )


def latest_run_id(settings: Settings) -> str:
    """The newest run whose committed data is complete and consistent (a failed, killed or partial run is not)."""
    from .lake import Lake
    from .runs import latest_committed_run

    run_id = latest_committed_run(Lake(settings.lake_root))
    if run_id is None:
        raise ConfigError(f"no committed run in the lake at {settings.lake_root}; run the pipeline first or pass --run-id")
    return run_id


def _checked_steps(spec: str) -> str:
    from .steps import parse_step_range

    try:
        parse_step_range(spec)
    except ValueError as exc:
        raise ConfigError(f"--steps {spec!r}: {exc}") from None
    return spec


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from .base_step import Interrupted, StepFailed
    from .lake_lock import EXIT_LAKE_BUSY, LakeBusy
    from .pipeline import new_run_id, run_pipeline

    _checked_steps(args.steps)
    if args.run_id and args.run_id != "latest":
        validate_run_id(args.run_id)

    run_id = latest_run_id(settings) if args.run_id == "latest" else (args.run_id or new_run_id())
    missing = settings.required_secrets()
    if missing:
        raise ConfigError(f"the selected API mode needs {', '.join(missing)} in .env or the environment")
    validate_environment(settings, parse_step_range(args.steps), args.local_postgres)   # before Spark starts
    if sys.stderr.isatty() and not os.environ.get("PIPELINE_LOG_FILE"):
        # An interactive run: events as JSON in the run's log file, Spark's console noise beside it.
        log_file = os.path.join(settings.log_dir, f"pipeline_{run_id}.log")
        Path(settings.log_dir).mkdir(parents=True, exist_ok=True)
        divert_native_stderr(log_file + ".stderr")
        configure_logging(settings.log_level, log_file, console=sys.stdout)
        print(f"log: {log_file} (Spark's own messages: {log_file}.stderr)")
    local_pg = None
    if args.local_postgres and not settings.pg_enabled and "07" in parse_step_range(args.steps):
        settings, local_pg = _start_local_postgres(settings)
    try:
        doc = run_pipeline(settings, run_id, args.steps)
    except LakeBusy as exc:
        print(f"run {run_id} not started: {exc}", file=sys.stderr)
        return EXIT_LAKE_BUSY
    except StepFailed as exc:
        print(f"run {run_id} FAILED in step {exc.step}: {exc.cause} (nothing committed; full trace in the log)",
              file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"run {run_id} {exc}: the attempt is marked interrupted and its staged tables removed; "
              f"the run's last committed data is unchanged", file=sys.stderr)
        return 128 + signal.Signals[exc.signal_name].value
    manifest = os.path.join(settings.lake_root, "_runs", run_id, "manifest.json")
    print(f"run {run_id} {doc['status']}; manifest: {manifest}")
    if local_pg is not None:
        print(f"recommendations are in the local PostgreSQL: {local_pg.how_to_connect()} "
              "(e.g. -c 'SELECT * FROM recommendations LIMIT 10'; make pg-stop stops it)")
    for number, reason in (doc.get("committed") or {}).get("invalidated", {}).items():
        print(f"  step {number} {reason}", file=sys.stderr)
    if not args.no_report:
        from .report import write_report

        print(f"report: {write_report(settings, run_id)}")
    return 0


def _start_local_postgres(settings: Settings):
    """PG_* settings of a throwaway local server (local_postgres.py), or the settings unchanged with one line
    saying why there is none: the recommender then writes its Gold tables only."""
    from .local_postgres import LocalPostgres, LocalPostgresUnavailable

    server = LocalPostgres(settings.local_pg_dir)
    try:
        overrides = server.ensure_running()
    except LocalPostgresUnavailable as exc:
        print(f"recommender: no PostgreSQL ({exc}); step 07 writes its Gold tables only")
        return settings, None
    print(f"recommender: PG_HOST is empty, so a local PostgreSQL serves the recommendations "
          f"(127.0.0.1:{overrides['pg_port']}, data in {server.base_dir})")
    return settings.replace(**overrides), server


def cmd_dryrun(args: argparse.Namespace, settings: Settings) -> int:
    from .dryrun import dry_run

    return dry_run(settings, _checked_steps(args.steps), args.run_id, args.local_postgres)


def _spark_noise_to_file(settings: Settings, command: str) -> None:
    """On a terminal, Spark's console noise goes to `<LOG_DIR>/<command>.stderr` instead of the screen."""
    if sys.stderr.isatty():
        Path(settings.log_dir).mkdir(parents=True, exist_ok=True)
        divert_native_stderr(os.path.join(settings.log_dir, f"{command}.stderr"))


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from .evaluate import evaluate_run, evaluation_table

    run_id = args.run_id or latest_run_id(settings)
    _spark_noise_to_file(settings, "evaluate")
    result = evaluate_run(settings, run_id, settings.labels_path, include_original=args.rule == "original")
    print(evaluation_table(result))
    print(f"saved: {Lake(settings.lake_root).run_file(run_id, 'evaluation.json')} (every figure, as JSON)")
    return 0


def cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    from .housekeeping import runs_table

    print(runs_table(settings.lake_root, args.limit))
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from .report import write_report

    run_id = args.run_id or latest_run_id(settings)
    _spark_noise_to_file(settings, "report")
    print(write_report(settings, run_id))
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from .publish import publish_run

    run_id = args.run_id or latest_run_id(settings)
    layers = [x.strip() for x in args.layers.split(",") if x.strip()]
    return publish_run(settings, run_id, layers, dry_run=args.dry_run)


def cmd_review(args: argparse.Namespace, settings: Settings) -> int:
    from .review.cli import run

    return run(args, settings, latest_run_id)


COMMANDS = {"run": cmd_run, "dryrun": cmd_dryrun, "evaluate": cmd_evaluate, "report": cmd_report,
            "publish": cmd_publish, "review": cmd_review, "runs": cmd_runs}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    log_file = os.environ.get("PIPELINE_LOG_FILE")  # set by run_pipeline_safe.sh
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    # `run` reports its progress on stdout (human lines on a terminal, JSON lines otherwise): under
    # run_pipeline_safe.sh stderr is the file that takes Spark's console noise.
    configure_logging(settings.log_level, log_file, console=sys.stdout if args.command == "run" else None)
    from .lake_lock import EXIT_LAKE_BUSY, LakeBusy

    try:
        return COMMANDS[args.command](args, settings)
    except LakeBusy as exc:
        print(f"{args.command} not started: {exc}", file=sys.stderr)
        return EXIT_LAKE_BUSY
    except (ConfigError, LakeError) as exc:
        # Also an event, so that the run's log file (cron) says why the run did not start.
        get_logger(getattr(args, "run_id", None)).error("configuration_error", command=args.command, cause=str(exc))
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - top-level: one clear line, details in the JSON log
        get_logger(getattr(args, "run_id", None)).error("command_failed", command=args.command, exc_info=True)
        from .log import redact

        print(f"{args.command} failed: {redact(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
