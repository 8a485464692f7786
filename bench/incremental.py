"""Incremental against full: what a nightly run costs after a small change, and whether its Gold is a full run's.

    flock /tmp/spark.lock .venv/bin/python bench/incremental.py [--input-dir /tmp/sl/inc/in_10pct] [--generate]
        [--shares 0.005 0.01] [--seed 1] [--sources tmdb ...] [--work /tmp/sl/inc/work] [--out bench/results]
        [--set KEY=VALUE ...]

In one invocation, every run through the normal entry point (`python -m scripts_spark run --steps 01-06
--no-report`, one fresh process and JVM each, as cron starts it):
1. a full run on the input (the 10% generated input by default) into a fresh lake: it builds the state;
2. for each share: a snapshot changing that share of every source's records (share 0: the base input itself, a
   night on which nothing changed) (a third deleted, a third edited -
   title, date or composer -, a third added as clones with new ids; bench/snapshots.py), an incremental run on a
   copy of the lake of step 1, and a full run on the same snapshot into a fresh lake; with `--sources tmdb` the
   snapshot changes only the named sources and links the others' files unchanged (the usual night: a new TMDB
   export, the same Discogs and MusicBrainz dumps), which the incremental run leaves unread;
3. the two Golds compared table by table (scripts_spark/incremental/compare.py: same rows, scores to 1e-9).

Times: `wall` is the process's wall clock (Python and JVM start included: what a nightly run costs), `steps` the
sum of the steps' own seconds from the run manifest (`<lake>/_runs/<run_id>/manifest.json`). The ratio is the
incremental run's time over the full run's on the same final snapshot; the issue's target is <= 0.10 with equal Gold.

A snapshot is kept in `--work` with the base's and the seed's fingerprint and reused by a later invocation on the
same input (deriving one rewrites about 1 GB of gzip in Python; it is not part of any timed run).
Results: `<out>/incremental.json` (raw, per-step seconds and the incremental runs' own accounting) and
`<out>/incremental.md` (the table); with `--sources`, `incremental_<sources>.json` and `.md`. Run it with the machine
quiet (`flock /tmp/spark.lock`): the figures are wall times on a shared 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.snapshots import SOURCES  # noqa: E402

DEFAULT_INPUT = "/tmp/sl/inc/in_10pct"
DEFAULT_WORK = "/tmp/sl/inc/work"
# The 10% input of docs/scale.md, written by --generate when the input folder is missing.
GENERATE_10PCT = ["--films", "100000", "--releases", "1800000", "--masters", "240000", "--mb-groups", "350000"]
STEPS = "01-06"
TARGET_RATIO = 0.10   # issue 22: an incremental run after a 0.5% change costs at most a tenth of a full run


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def code_version() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=REPO, capture_output=True,
                              text=True).stdout

    # porcelain lines are 'XY path': not stripped first, or the first line's leading status blank goes
    dirty = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "dirty_files": dirty}


def run_steps(label: str, lake: Path, input_dir: Path, run_id: str, logs: Path, env: dict[str, str],
              full: bool = False) -> dict[str, Any]:
    """One `python -m scripts_spark run` in a fresh process; its wall time and its manifest's figures."""
    cmd = [sys.executable, "-m", "scripts_spark", "run", "--lake-root", str(lake), "--input-dir", str(input_dir),
           "--run-id", run_id, "--steps", STEPS, "--no-report", *(["--full"] if full else [])]
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{run_id}.out"
    load_before = load_average()
    print(f"[{label}] {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as out:
        code = subprocess.run(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, "LOG_DIR": str(logs), **env}).returncode
    wall = round(time.perf_counter() - t0, 2)
    manifest_path = lake / "_runs" / run_id / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    steps = {n: s.get("seconds") for n, s in sorted((manifest.get("steps") or {}).items())
             if s.get("status") == "succeeded"}
    summary = manifest.get("incremental") or {}
    record = {"label": label, "run_id": run_id, "lake": str(lake), "input_dir": str(input_dir),
              "command": " ".join(cmd[1:]), "exit_code": code, "status": manifest.get("status"),
              "mode": summary.get("mode"), "wall_seconds": wall,
              "steps_seconds": round(sum(v or 0 for v in steps.values()), 2), "steps": steps,
              "load_average_before": load_before, "load_average_after": load_average(), "log": str(log_path)}
    if summary.get("mode") == "incremental":
        record["incremental"] = {k: summary.get(k) for k in ("feeds", "rescored", "link_events", "reason")}
        record["step_metrics"] = {n: (s.get("metrics") or {}).get("incremental") or (s.get("metrics") or {})
                                  .get("rechecked") for n, s in (manifest.get("steps") or {}).items()
                                  if n in ("03", "04")}
    print(f"[{label}] exit {code}, {summary.get('mode')}, wall {wall:.1f} s, steps {record['steps_seconds']:.1f} s "
          f"({', '.join(f'{n} {v:.1f}' for n, v in steps.items() if v is not None)})", flush=True)
    if code != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
    return record


def fingerprint_of(input_dir: Path) -> str:
    """What identifies an input folder for reuse of a derived snapshot: its generation record, else its files."""
    generation = input_dir / "generation.json"
    if generation.exists():
        return generation.read_text(encoding="utf-8")
    return json.dumps(sorted((str(p.relative_to(input_dir)), p.stat().st_size, int(p.stat().st_mtime))
                             for p in input_dir.rglob("*") if p.is_file()))


def sources_tag(sources) -> str:
    """'' when every source changes, else '_<source>+<source>' (snapshot folders, lakes and result files)."""
    return "" if set(sources) == set(SOURCES) else "_" + "+".join(sorted(sources))


def snapshot(base: Path, work: Path, share: float, seed: int, sources: tuple[str, ...]) -> tuple[Path, dict[str, Any]]:
    """The snapshot of `base` changing `share` of each of `sources` (derived, or reused when it is the same one)."""
    from bench.snapshots import Changes, derive

    if share == 0:   # a night on which nothing changed: the base input itself (incremental/carry.py)
        print("[snapshot 0] the base input itself: nothing changed", flush=True)
        return base, {"counts": {}, "seconds": 0.0, "reused": True}
    folder = work / f"snap_{share:g}_seed{seed}{sources_tag(sources)}"
    stamp = folder / "snapshot.json"
    key = {"base": str(base), "base_fingerprint": fingerprint_of(base), "share": share, "seed": seed,
           "sources": sorted(sources)}
    if stamp.exists():
        done = json.loads(stamp.read_text(encoding="utf-8"))
        if done.get("key") == key:
            print(f"[snapshot {share:g}] reused {folder}", flush=True)
            return folder, {**done, "reused": True}
    print(f"[snapshot {share:g}] deriving {folder} from {base}", flush=True)
    t0 = time.perf_counter()
    counts = derive(base, folder, Changes(share=share, seed=seed), sources)
    done = {"key": key, "counts": counts, "seconds": round(time.perf_counter() - t0, 1)}
    stamp.write_text(json.dumps(done, indent=1), encoding="utf-8")
    return folder, {**done, "reused": False}


def compare(lake_a: Path, run_a: str, lake_b: Path, run_b: str) -> dict[str, Any]:
    from scripts_spark.incremental.compare import TOLERANCE, _rows, compare_gold

    found = compare_gold(str(lake_a), run_a, str(lake_b), run_b)
    return {"equal": not any(found.values()), "tolerance": TOLERANCE,
            "tables": {name: {"rows": len(_rows(str(lake_a), name, run_a)), "differences": diffs}
                       for name, diffs in found.items()}}


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def markdown(doc: dict[str, Any]) -> str:
    base = doc["base_full"]
    lines = [
        "# Incremental against full runs (bench/incremental.py)",
        "",
        f"`{doc['command']}` on {doc['input_dir']} ({doc['code']['commit']}"
        f"{', uncommitted changes' if doc['code']['dirty_files'] else ''}; {doc['started_at']}; "
        f"{doc['machine']['cores']} cores). Each run is `python -m scripts_spark run --steps {STEPS} --no-report` "
        "in a fresh process; wall = the process, steps = the sum of the manifest's step seconds; ratio = "
        f"incremental / full on the same snapshot; target <= {TARGET_RATIO:.2f} with equal Gold. Sources changed: "
        f"{', '.join(doc['sources'])}" + ("" if len(doc["sources"]) == len(SOURCES) else
                                          " (the others' files linked unchanged)") + ".",
        "",
        f"Full run on the base input: wall {base['wall_seconds']:.1f} s, steps {base['steps_seconds']:.1f} s.",
        "",
        "| share changed | records added / edited / deleted (all sources) | full wall s (steps s) | incremental wall "
        "s (steps s) | ratio wall (steps) | Gold equal (1e-9) | target met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["shares"]:
        counts = r["snapshot"]["counts"]
        changed = "/".join(f"{sum(c[k] for c in counts.values()):,}" for k in ("added", "edited", "deleted"))
        full, inc = r["full"], r["incremental"]
        lines.append(
            f"| {r['share']:.1%} | {changed} | {full['wall_seconds']:.1f} ({full['steps_seconds']:.1f}) | "
            f"{inc['wall_seconds']:.1f} ({inc['steps_seconds']:.1f}) | {r['ratio_wall']} ({r['ratio_steps']}) | "
            f"{'yes' if r['comparison']['equal'] else 'NO'} | {'yes' if r['target_met'] else 'no'} |")
    lines += ["", "Per step, seconds (full on the snapshot / incremental):", "",
              "| share | " + " | ".join(doc["step_numbers"]) + " |",
              "|---|" + "---|" * len(doc["step_numbers"])]
    for r in doc["shares"]:
        lines.append(f"| {r['share']:.1%} | " + " | ".join(
            f"{r['full']['steps'].get(n) or 0:.1f} / {r['incremental']['steps'].get(n) or 0:.1f}"
            for n in doc["step_numbers"]) + " |")
    return "\n".join(lines) + "\n"


def parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set wants KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-dir", type=Path, default=Path(DEFAULT_INPUT))
    parser.add_argument("--generate", action="store_true", help="write the 10%% input first when it is missing")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.005, 0.01])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES),
                        help="the sources each snapshot changes (default: all); the others' files are linked unchanged")
    parser.add_argument("--work", type=Path, default=Path(DEFAULT_WORK), help="lakes and snapshots (scratch)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every run (environment), e.g. SPARK_DRIVER_MEMORY=2560m")
    args = parser.parse_args(argv)
    env = parse_sets(args.set)
    base_input = args.input_dir.resolve()
    if not (base_input / "tmdb").exists():
        if not args.generate:
            raise SystemExit(f"{base_input} holds no input; pass --generate to write the 10% input there")
        subprocess.run([sys.executable, "bench/generate_scale.py", *GENERATE_10PCT, "--out", str(base_input)],
                       cwd=REPO, check=True)
    work, logs = args.work.resolve(), args.work.resolve() / "logs"
    work.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "command": "bench/incremental.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "input_dir": str(base_input),
        "code": code_version(), "settings_env": env, "target_ratio": TARGET_RATIO, "sources": args.sources,
        "machine": {"cores": os.cpu_count(), "load_average_at_start": load_average()}, "shares": []}

    base_lake = fresh(work / "lake_base")
    doc["base_full"] = run_steps("full, base", base_lake, base_input, "full-base", logs, env)
    if doc["base_full"]["exit_code"] != 0:
        return 1
    for share in args.shares:
        snap, snap_doc = snapshot(base_input, work, share, args.seed, tuple(args.sources))
        tag = f"{share:g}".replace(".", "p") + sources_tag(args.sources)
        inc_lake = fresh(work / f"lake_inc_{tag}")
        shutil.copytree(base_lake, inc_lake, symlinks=True)
        inc = run_steps(f"incremental, {share:.1%}", inc_lake, snap, f"inc-{tag}", logs, env)
        if share == 0:   # the snapshot is the base input: the base run is the full run on it
            full, full_lake = doc["base_full"], base_lake
        else:
            full_lake = fresh(work / f"lake_full_{tag}")
            full = run_steps(f"full, {share:.1%}", full_lake, snap, f"full-{tag}", logs, env)
        ok = inc["exit_code"] == 0 and full["exit_code"] == 0
        comparison = compare(inc_lake, inc["run_id"], full_lake, full["run_id"]) if ok else \
            {"equal": False, "error": "a run failed"}
        record = {"share": share, "seed": args.seed, "snapshot": {k: snap_doc.get(k) for k in
                                                                  ("counts", "seconds", "reused")},
                  "incremental": inc, "full": full, "comparison": comparison,
                  "ratio_wall": ratio(inc["wall_seconds"], full["wall_seconds"]),
                  "ratio_steps": ratio(inc["steps_seconds"], full["steps_seconds"])}
        record["target_met"] = bool(comparison["equal"] and inc["mode"] == "incremental" and
                                    record["ratio_wall"] is not None and record["ratio_wall"] <= TARGET_RATIO)
        doc["shares"].append(record)
        print(f"[{share:.1%}] full {full['wall_seconds']:.1f} s (steps {full['steps_seconds']:.1f}), incremental "
              f"{inc['wall_seconds']:.1f} s (steps {inc['steps_seconds']:.1f}); ratio {record['ratio_wall']} "
              f"(steps {record['ratio_steps']}); Gold {'EQUAL' if comparison['equal'] else 'DIFFERENT'}; target "
              f"{'met' if record['target_met'] else 'missed'}", flush=True)
        if not comparison["equal"]:
            for name, t in (comparison.get("tables") or {}).items():
                for line in t["differences"][:5]:
                    print(f"  {line}", flush=True)
    doc["step_numbers"] = sorted({n for r in doc["shares"] for n in (*r["full"]["steps"], *r["incremental"]["steps"])})
    doc["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    doc["machine"]["load_average_at_end"] = load_average()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"incremental{sources_tag(args.sources)}"   # a --sources run does not overwrite the every-source one
    (args.out / f"{stem}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (args.out / f"{stem}.md").write_text(markdown(doc), encoding="utf-8")
    print(markdown(doc))
    return 0 if all(r["comparison"]["equal"] for r in doc["shares"]) else 1


if __name__ == "__main__":
    sys.exit(main())
