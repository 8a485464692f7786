"""Time N verdicts by keyboard in the review page (headless Chromium via Selenium), on a copy of a run's lake.

    .venv/bin/python bench/review_keyboard.py --lake-root data/lake --run-id RUN [--items 20]

Only the run's Silver films and releases and its Gold links and queue are copied (the lake's review/decisions is
left as it was). Each verdict is A for a link scored at or above 0.5 and R below; the clock
runs from the page's first link to the page showing the link after the last verdict, so it measures the page
(render, write, reload), not a person's reading time. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--items", type=int, default=20)
    args = parser.parse_args()

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait
    from test_review_browser import chrome

    work = Path(tempfile.mkdtemp(prefix="review-bench-"))
    lake = work / "lake"
    for part in ("silver/films", "silver/releases", "gold/soundtrack_matches", "gold/review_queue"):
        shutil.copytree(Path(args.lake_root, part, f"run_id={args.run_id}"), lake / part / f"run_id={args.run_id}")
    proc = subprocess.Popen([sys.executable, "-m", "scripts_spark", "review", "--lake-root", str(lake), "--run-id",
                             args.run_id, "--port", "0", "--reviewer", "bench"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    driver = None
    try:
        url = proc.stdout.readline().split(": ", 1)[1].split()[0]
        driver = chrome()
        driver.get(url)
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")
        shown = lambda d: d.execute_script("return document.body.dataset.shown || ''")  # noqa: E731
        laps, start = [], time.perf_counter()
        for _ in range(args.items):
            key = shown(driver)
            if not key:
                break
            lap = time.perf_counter()
            score = driver.execute_script("return state.detail.match_score")
            ActionChains(driver).send_keys("a" if score >= 0.5 else "r").perform()
            wait.until(lambda d: shown(d) != key and not d.execute_script("return document.body.dataset.busy"))
            laps.append(time.perf_counter() - lap)
        total = time.perf_counter() - start
        decisions = len(list((lake / "review" / "decisions").glob("*.json")))
        print(json.dumps({"run_id": args.run_id, "verdicts": len(laps), "recorded": decisions,
                          "seconds_total": round(total, 2), "seconds_per_verdict_median": round(statistics.median(laps), 3),
                          "seconds_per_verdict_max": round(max(laps), 3)}))
    finally:
        if driver:
            driver.quit()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
