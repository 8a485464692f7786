"""Render a run report in headless Chromium and save a PNG screenshot (the report's visual check).

    python bench/report_screenshot.py REPORT.html [--out report.png] [--width 1400] [--height 4000]
    python bench/report_screenshot.py --lake-root data/lake [--run-id ID] [--out report.png]

Uses Debian's `chromium` (install: infrastructure/setup/chromium.sh). The browser runs with a throwaway profile
and every background network feature off, so the screenshot also shows that the file needs no network.
Prints the PNG's path and size.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The page's layout is 1180 px wide; 1400 leaves margins. 4000 px is tall enough for the summary and match
# quality sections; pass --height 12000 to capture the whole page.
DEFAULT_WIDTH, DEFAULT_HEIGHT = 1400, 4000
RENDER_TIMEOUT_S = 120


def chromium_command(chromium: str, profile: str, extra: list[str]) -> list[str]:
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}", *extra]


def screenshot(report: Path, out: Path, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT) -> Path:
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("chromium not found: run infrastructure/setup/chromium.sh")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = chromium_command(chromium, profile, [f"--screenshot={out.resolve()}", f"--window-size={width},{height}",
                                                   report.resolve().as_uri()])
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"chromium failed ({done.returncode}): {done.stderr[-800:]}")
    return out


def latest_report(lake_root: str, run_id: str | None) -> Path:
    runs = Path(lake_root, "_runs")
    candidates = [runs / run_id / "report.html"] if run_id else sorted(runs.glob("*/report.html"))
    existing = [p for p in candidates if p.exists()]
    if not existing:
        raise SystemExit(f"no report.html under {runs}: run `python -m scripts_spark report` first")
    return existing[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", nargs="?", help="report.html to render")
    parser.add_argument("--lake-root", help="take the report of --run-id (or the newest run) in this lake")
    parser.add_argument("--run-id")
    parser.add_argument("--out", default="report.png")
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH)
    parser.add_argument("--height", type=int, default=DEFAULT_HEIGHT)
    args = parser.parse_args(argv)
    if not args.report and not args.lake_root:
        parser.error("give a report.html or --lake-root")
    report = Path(args.report) if args.report else latest_report(args.lake_root, args.run_id)
    png = screenshot(report, Path(args.out), args.width, args.height)
    print(f"{png} ({png.stat().st_size:,} bytes) from {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
