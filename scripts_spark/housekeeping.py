"""Workstation housekeeping behind `make log`, `make runs` and `make clean`.

    python -m scripts_spark.housekeeping log [LOGFILE]   readable summary of the newest (or given) run log
    python -m scripts_spark.housekeeping clean           remove the local lake's tables and run folders
    (`python -m scripts_spark runs` prints `runs_table`)
"""
from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime
from pathlib import Path

from .config import REPO_ROOT, load_settings

LAKE_FOLDERS = ("bronze", "silver", "gold", "_runs", "_attempts")


def newest_log(log_dir: Path) -> Path | None:
    logs = sorted(log_dir.glob("pipeline_*.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1] if logs else None


def one_line_cause(text: str | None, limit: int = 240) -> str:
    """The line of an error that says what went wrong: a traceback's last line ('ValueError: ...'), else the first."""
    lines = [line.strip() for line in str(text or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _events(path: Path) -> list[dict]:
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc, dict) and "event" in doc:
            events.append(doc)
    return events


def summarise_log(path: Path) -> list[str]:
    """The JSON events of one run as a short summary: one line per step (status, time, rows) with its notes and
    warnings under it, then how the run ended and, when it failed, the error's one-line cause."""
    events = _events(path)
    if not events:
        return [f"{path}: no structured events (the run may have failed before logging started; see {path}.stderr)"]
    run_id = next((e.get("run_id") for e in events if e.get("run_id")), "?")
    steps: dict[str, dict] = {}      # step -> {"end": event, "skip": reason, "lines": [...]} in order of appearance
    run_end: dict | None = None
    problems: list[str] = []         # warnings and errors outside any step
    for e in events:
        ev, number = e.get("event"), e.get("step")
        if ev in ("run_finished", "run_failed", "run_interrupted"):
            run_end = e
            continue
        if number is None:
            if e.get("level") in ("WARNING", "ERROR"):
                cause = one_line_cause(e.get("error") or e.get("cause") or "")
                problems.append(f"  {e['level'].lower()}: {ev}" + (f": {cause}" if cause else ""))
            continue
        step = steps.setdefault(number, {"end": None, "skip": None, "name": None, "lines": []})
        if ev == "step_started":
            step["name"] = e.get("name")
        elif ev in ("step_finished", "step_failed"):
            if ev == "step_failed" or (step["end"] or {}).get("event") != "step_failed":
                step["end"] = e
        elif ev == "step_skipped":
            step["skip"] = one_line_cause(e.get("reason"))
        elif ev == "step_note":
            step["lines"].append(f"      note: {e.get('note')}")
        elif e.get("level") in ("WARNING", "ERROR"):
            step["lines"].append(f"      {e['level'].lower()}: {ev}"
                                 + (f": {one_line_cause(e.get('error') or e.get('cause'))}"
                                    if e.get("error") or e.get("cause") else ""))
    out = [f"run {run_id}  ({path.name}, {events[0]['ts']} -> {events[-1]['ts']})"]
    for number, step in steps.items():
        end, label = step["end"], f"step {number} {step['name'] or ''}".rstrip() + ":"
        if end is None and step["skip"] is not None:
            out.append(f"  {label} skipped: {step['skip']}")
        elif end is None:
            out.append(f"  {label} started, no end recorded (the process stopped here)")
        elif end["event"] == "step_failed":
            out.append(f"  {label} FAILED after {end.get('seconds') or 0:.1f}s: {one_line_cause(end.get('error'))}")
        elif end.get("status") == "skipped":
            out.append(f"  {label} skipped: {step['skip'] or '-'}")
        else:
            out.append(f"  {label} {end.get('status', '?'):9s} {end.get('seconds') or 0:7.1f}s  "
                       f"in {end.get('rows_in') or 0:>9,}  out {end.get('rows_out') or 0:>9,}"
                       + (f"  filtered {end['filtered']:>7,}" if end.get("filtered") else "")
                       + f"  quarantined {end.get('quarantined') or 0:>6,}  rejected {end.get('rejected') or 0:>7,}")
        out += step["lines"]
    out += problems
    if run_end is None:
        out.append("  => no end recorded: the run is still going, or its process was killed (see `make runs`)")
    elif run_end["event"] == "run_finished":
        out.append(f"  => run {run_end.get('status') or 'finished'}")
    elif run_end["event"] == "run_interrupted":
        out.append(f"  => run interrupted by {run_end.get('signal') or 'a signal'}: nothing of this attempt was committed")
    else:
        where = f" in step {run_end['failed_step']}" if run_end.get("failed_step") else ""
        out.append(f"  => run failed{where}: {one_line_cause(run_end.get('cause'))}")
    return out


def runs_table(lake_root: str, limit: int = 20) -> str:
    """The lake's runs, newest first: id, status (a dead `running` one reads `interrupted`), start, duration, films
    extracted, soundtrack links (matches) and links for review."""
    from .lake import Lake
    from .metrics import headline_figures
    from .runs import effective_status, read_manifest

    lake = Lake(lake_root)
    run_ids = list(reversed(lake.list_runs()))
    shown = run_ids[:limit] if limit else run_ids
    if not shown:
        return f"no runs in the lake at {lake.root}: `make run` makes one"
    header = f"{'run':18s} {'status':12s} {'started (UTC)':19s} {'duration':>9s} {'films':>8s} {'links':>7s} {'reviews':>7s}"
    lines = [header, "-" * len(header)]
    for run_id in shown:
        doc = read_manifest(lake, run_id) or {}
        figures = headline_figures(doc)
        started, finished = doc.get("started_at"), doc.get("finished_at")
        duration = "–"
        if started and finished:
            seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
            duration = f"{seconds:,.0f}s" if seconds < 120 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"

        def count(name: str) -> str:
            return "–" if figures.get(name) is None else f"{int(figures[name]):,}"
        lines.append(f"{run_id:18s} {effective_status(doc, lake):12s} {(started or '–')[:19].replace('T', ' '):19s} "
                     f"{duration:>9s} {count('films_extracted'):>8s} {count('matches'):>7s} {count('reviews'):>7s}")
    if len(run_ids) > len(shown):
        lines.append(f"... {len(run_ids) - len(shown)} older run(s); --limit 0 shows all")
    return "\n".join(lines)


def clean_lake(lake_root: str) -> list[str]:
    """Remove the lake's layer folders, holding the lake lock (a run in progress makes it raise LakeBusy).
    Refuses remote lakes and any root that holds the bundled sample."""
    from .lake import Lake
    from .lake_lock import LakeLock

    if "://" in lake_root and not lake_root.startswith("file://"):
        return [f"lake {lake_root} is remote: not cleaned (delete runs there deliberately)"]
    root = Path(lake_root.removeprefix("file://")).resolve()
    sample = (REPO_ROOT / "data" / "sample").resolve()
    if root == sample or root in sample.parents:
        return [f"refusing to clean {root}: it contains the bundled sample"]
    removed = []
    if not root.exists():
        return [f"nothing to clean under {root}"]
    with LakeLock(Lake(str(root)), command="clean"):
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
        from .lake_lock import EXIT_LAKE_BUSY, LakeBusy

        try:
            print("\n".join(clean_lake(settings.lake_root)))
        except LakeBusy as exc:
            print(f"clean not started: {exc}", file=sys.stderr)
            return EXIT_LAKE_BUSY
        return 0
    path = Path(argv[1]) if len(argv) > 1 else newest_log(Path(settings.log_dir))
    if path is None or not path.exists():
        print(f"no pipeline logs in {settings.log_dir} yet: run `make run` first")
        return 1
    print("\n".join(summarise_log(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
