"""`dryrun`: resolve config, list every step with its inputs and outputs, parse the first records of each
input, check that the lake is writable. Writes nothing and starts no Spark session."""
from __future__ import annotations

import os

from .base_step import StepContext
from .config import Settings, validate_environment
from .incremental.report import dry_run_lines
from .lake import Lake
from .log import get_logger
from .sources.inputs import INPUT_GLOBS, gzip_problems, input_files
from .spark_session import spark_profile
from .steps import load_step, parse_step_range


def dry_run(settings: Settings, steps: str | None, run_id: str | None = None, local_postgres: bool = False) -> int:
    """Exit 2 on exactly the settings `run` refuses before Spark starts (config.validate_environment), 1 when an
    input or a step preview fails, else 0."""
    lake = Lake(settings.lake_root)
    numbers = parse_step_range(steps)
    validate_environment(settings, numbers, local_postgres)
    print("configuration (secrets shown as ***):")
    for key, value in settings.public_dict().items():
        print(f"  {key} = {value}")
    print(f"  config_fingerprint = {settings.fingerprint()}")
    print("\ninputs:")
    for source in INPUT_GLOBS:
        files = input_files(settings.input_dir, source)
        size = sum(os.path.getsize(f) for f in files)
        print(f"  {source:15s} {len(files):4d} files {size / 1e6:10.2f} MB" + ("" if files else "  (skipped: none found)"))
    # Every gzip member read to its end: a truncated download fails here, not half-way through a run.
    broken = gzip_problems(settings.input_dir)
    for problem in broken:
        print(f"  UNREADABLE INPUT: {problem}")
    if not broken:
        print("  every .gz input reads to its end (gzip CRC and length checked)")
    profile, why = spark_profile(settings)
    print(f"\nspark: {profile} profile ({why}; SPARK_PROFILE, docs/operations.md#spark-profile)")
    print(f"\nlake: {'writable' if not lake.is_remote else 'remote, checked by the first write'}: {lake.root}")
    if not broken:   # incremental/report.py: full or incremental, and what the input folder changes
        for line in dry_run_lines(settings, numbers):
            print(line)
    ctx = StepContext(None, settings, lake, run_id or "dryrun", get_logger(run_id or "dryrun"))  # type: ignore[arg-type]
    failures = 0
    for number in numbers:
        step = load_step(number)
        print(f"\nstep {step.label}: {step.description}")
        print(f"  reads : {', '.join(step.inputs) or '-'}")
        print(f"  writes: {', '.join(step.outputs) or '-'}")
        try:
            for line in step.preview(ctx):
                print(f"  {line}")
        except Exception as exc:  # noqa: BLE001 - a dry run reports every problem, then fails at the end
            failures += 1
            print(f"  PREVIEW FAILED: {type(exc).__name__}: {exc}")
    print("\ndry run wrote nothing.")
    return 0 if not failures and not broken else 1
