"""Workstation housekeeping behind `make log` and `make clean`.

    python -m scripts_spark.housekeeping log [LOGFILE]   readable summary of the newest (or given) run log
    python -m scripts_spark.housekeeping clean           remove the local lake's tables and run folders
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from .config import REPO_ROOT, load_settings

LAKE_FOLDERS = ("bronze", "silver", "gold", "_runs")


def newest_log(log_dir: Path) -> Path | None:
    logs = sorted(log_dir.glob("pipeline_*.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1] if logs else None


def summarise_log(path: Path) -> list[str]:
    """Turn the JSON event lines of one run into a short human summary: steps, counts, timings, problems."""
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if not events:
        return [f"{path}: no structured events (the run may have failed before logging started; see {path}.stderr)"]
    run_id = next((e.get("run_id") for e in events if e.get("run_id")), "?")
    out = [f"run {run_id}  ({path.name}, {events[0]['ts']} -> {events[-1]['ts']})"]
    for e in events:
        ev = e.get("event")
        if ev == "step_finished":
            out.append(f"  step {e.get('step')}: {e.get('status'):9s} {e.get('seconds', 0):8.1f}s  in {e.get('rows_in', 0):>9,}"
                       f"  out {e.get('rows_out', 0):>9,}  quarantined {e.get('quarantined', 0):>6,}  rejected {e.get('rejected', 0):>7,}")
        elif ev == "step_failed":
            out.append(f"  step {e.get('step')}: FAILED after {e.get('seconds', 0):.1f}s: {e.get('error')}")
        elif ev == "step_skipped":
            out.append(f"  step {e.get('step')}: skipped: {e.get('reason')}")
        elif ev == "step_note":
            out.append(f"      note: {e.get('note')}")
        elif e.get("level") in ("WARNING", "ERROR") and ev not in ("step_failed", "run_failed"):
            out.append(f"  {e['level'].lower()}: step {e.get('step') or '-'} {ev}")
        elif ev in ("run_finished", "run_failed"):
            out.append(f"  => {ev.replace('_', ' ')}" + (f" in step {e.get('failed_step')}: {e.get('cause')}" if ev == "run_failed" else ""))
    return out


def clean_lake(lake_root: str) -> list[str]:
    """Remove the lake's layer folders. Refuses remote lakes and any root that holds the bundled sample."""
    if "://" in lake_root and not lake_root.startswith("file://"):
        return [f"lake {lake_root} is remote: not cleaned (delete runs there deliberately)"]
    root = Path(lake_root.removeprefix("file://")).resolve()
    sample = (REPO_ROOT / "data" / "sample").resolve()
    if root == sample or root in sample.parents:
        return [f"refusing to clean {root}: it contains the bundled sample"]
    removed = []
    for name in LAKE_FOLDERS:
        target = root / name
        if target.exists():
            shutil.rmtree(target)
            removed.append(f"removed {target}")
    return removed or [f"nothing to clean under {root}"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("log", "clean"):
        print(__doc__)
        return 2
    settings = load_settings()
    if argv[0] == "clean":
        print("\n".join(clean_lake(settings.lake_root)))
        return 0
    path = Path(argv[1]) if len(argv) > 1 else newest_log(Path(settings.log_dir))
    if path is None or not path.exists():
        print(f"no pipeline logs in {settings.log_dir} yet: run `make run` first")
        return 1
    print("\n".join(summarise_log(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
