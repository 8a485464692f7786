"""`dryrun`: resolve config, list every step with its inputs and outputs, parse the first records of each
input, check that the lake is writable. Writes nothing and starts no Spark session."""
from __future__ import annotations

import os
from pathlib import Path

from .base_step import StepContext
from .config import Settings
from .lake import Lake
from .log import get_logger
from .sources.inputs import INPUT_GLOBS, input_files
from .steps import load_step, parse_step_range


def lake_writable(lake: Lake) -> tuple[bool, str]:
    """Writable without writing: the nearest existing ancestor of the root must be a writable folder."""
    if lake.is_remote:
        return True, f"remote lake {lake.root}: checked by the first write (credentials come from Spark settings)"
    p = Path(lake.root)
    while not p.exists():
        p = p.parent
    ok = p.is_dir() and os.access(p, os.W_OK | os.X_OK)
    return ok, f"{lake.root} ({'exists' if p == Path(lake.root) else 'will be created under ' + str(p)})"


def dry_run(settings: Settings, steps: str | None, run_id: str | None = None) -> int:
    lake = Lake(settings.lake_root)
    numbers = parse_step_range(steps)
    print("configuration (secrets shown as ***):")
    for key, value in settings.public_dict().items():
        print(f"  {key} = {value}")
    print(f"  config_fingerprint = {settings.fingerprint()}")
    print("\ninputs:")
    for source in INPUT_GLOBS:
        files = input_files(settings.input_dir, source)
        size = sum(os.path.getsize(f) for f in files)
        print(f"  {source:15s} {len(files):4d} files {size / 1e6:10.2f} MB" + ("" if files else "  (skipped: none found)"))
    ok, where = lake_writable(lake)
    print(f"\nlake: {'writable' if ok else 'NOT WRITABLE'}: {where}")
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
    return 0 if ok and not failures else 1
