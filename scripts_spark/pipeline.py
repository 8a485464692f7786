"""Runs the chosen steps in order for one run_id and keeps the run manifest."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .base_step import RunManifest, StepContext, StepFailed
from .config import Settings
from .lake import Lake, validate_run_id
from .log import get_logger
from .sources.inputs import describe_inputs
from .steps import load_step, parse_step_range

def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def run_pipeline(settings: Settings, run_id: str, steps: str | None = None, spark=None) -> dict[str, Any]:
    """Run steps for `run_id`; returns the manifest document. Raises StepFailed on the first failing step."""
    from .spark_session import get_spark

    validate_run_id(run_id)
    numbers = parse_step_range(steps)
    log = get_logger(run_id)
    spark = spark or get_spark(settings)
    lake = Lake(settings.lake_root)
    manifest = RunManifest(lake, run_id, settings, spark)
    manifest.set("inputs", {"input_dir": settings.input_dir, **describe_inputs(settings.input_dir)})
    manifest.set("steps_requested", numbers)
    log.info("run_started", steps=numbers, lake_root=lake.root, input_dir=settings.input_dir,
             config_fingerprint=settings.fingerprint())
    ctx = StepContext(spark, settings, lake, run_id, log)
    try:
        for number in numbers:
            load_step(number).run(ctx, manifest)
    except StepFailed as exc:
        manifest.finish("failed")
        log.error("run_failed", failed_step=exc.step, cause=exc.cause)
        raise
    except BaseException as exc:  # KeyboardInterrupt, import errors: still leave an honest manifest
        manifest.finish("failed")
        log.error("run_failed", cause=f"{type(exc).__name__}: {exc}")
        raise
    manifest.finish("succeeded")
    log.info("run_finished", status="succeeded", manifest=manifest.path)
    return manifest.doc
