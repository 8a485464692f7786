"""The review loop as a person works it, in headless Chromium driven by Selenium: decide three links by keyboard and
one by "another film", export the queue, rerun steps 05-06, and find the verdicts in Gold; two tabs deciding the
same link; a write request from the page without its token.

Chromium and chromedriver come from Debian (infrastructure/setup/chromium.sh, run by .ci/run); Selenium is pinned.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from review_world import gold, pair_key, settings_for, write_silver
from scripts_spark.pipeline import run_pipeline
from scripts_spark.review.store import DecisionStore, Pair, effective_verdicts

REPO = Path(__file__).resolve().parent.parent
RUN_ID = "browser"
WAIT_S = 15

pytestmark = pytest.mark.integration   # a review server process and headless Chromium


def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for tool in ("chromium", "chromedriver"):
        assert shutil.which(tool), f"{tool} is not installed: run infrastructure/setup/chromium.sh (CI runs it)"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    # An explicit driver path: Selenium Manager would try to download one.
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("browser"))
    write_silver(spark, settings, RUN_ID)
    run_pipeline(settings, RUN_ID, "05", spark=spark)
    before = gold(spark, settings, RUN_ID, "gold/review_queue")
    proc = subprocess.Popen([sys.executable, "-m", "scripts_spark", "review", "--lake-root", settings.lake_root,
                             "--run-id", RUN_ID, "--port", "0", "--reviewer", "browser-test"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = proc.stdout.readline().split(": ", 1)[1].split()[0]
    driver = chrome()
    try:
        yield settings, url, driver, before
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(10)


def open_page(driver, url):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    return shown(driver)


def shown(driver) -> str:
    return driver.execute_script("return document.body.dataset.shown || ''")


def press(driver, keys: str, then_from: str | None = None) -> str:
    """Type `keys` on the page; with `then_from`, wait until the page shows another link than that one."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    ActionChains(driver).send_keys(keys).perform()
    if then_from is not None:
        WebDriverWait(driver, WAIT_S).until(
            lambda d: shown(d) not in ("", then_from) and not d.execute_script("return document.body.dataset.busy"))
    return shown(driver)


def pick(driver, key: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.CSS_SELECTOR, f'#list li[data-key="{key}"]').click()
    WebDriverWait(driver, WAIT_S).until(lambda d: shown(d) == key)


def test_decisions_by_keyboard_and_another_film_reach_gold_after_rerunning_steps_05_and_06(spark, world, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    settings, url, driver, before = world
    assert len(before) == 7
    first = open_page(driver, url)
    # The queue opens on what a decision is worth most: Heat (popularity 60), then the Smoke tie.
    assert first == pair_key("rg-heat", 3)
    assert "Heat (1995)" in driver.find_element(By.ID, "film").text
    assert driver.find_element(By.CSS_SELECTOR, ".chart .name").text == "title exact"
    second = press(driver, "a", then_from=first)                     # accept Heat
    assert second == pair_key("rg-smoke", 5)
    assert "Smoke (2021)" in driver.find_element(By.ID, "runner-up").text
    third = press(driver, "r", then_from=second)                     # reject the first Smoke
    assert third == pair_key("rg-serenity", 4)
    press(driver, "f")                                               # another film: search the catalogue
    box = driver.find_element(By.ID, "search-input")
    box.send_keys("firefly")
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results li"))
    box.send_keys(Keys.ENTER)
    WebDriverWait(driver, WAIT_S).until(lambda d: shown(d) not in ("", third))
    fourth = shown(driver)
    assert fourth == pair_key("rg-memory", 8)
    press(driver, "a", then_from=fourth)                             # accept Memory
    assert driver.find_element(By.ID, "progress").text.startswith("4 decided")

    records = DecisionStore(settings.lake_root).read_all()
    assert [(r["release_id"], r["verdict"], r["chosen_tmdb_id"], r["reviewer"]) for r in records] == [
        ("rg-heat", "accept", None, "browser-test"), ("rg-smoke", "reject", None, "browser-test"),
        ("rg-serenity", "another_film", 11, "browser-test"), ("rg-memory", "accept", None, "browser-test")]

    out = tmp_path / "queue.csv"
    subprocess.run([sys.executable, "-m", "scripts_spark", "review", "export", "--lake-root", settings.lake_root,
                    "--run-id", RUN_ID, "--out", str(out)], cwd=REPO, check=True, capture_output=True)
    with open(out, newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert len(exported) == 7 and {r["verdict"] for r in exported} == {""}

    doc = run_pipeline(settings, RUN_ID, "05-06", spark=spark)
    assert doc["steps"]["06"]["status"] == "succeeded"
    links = gold(spark, settings, RUN_ID)
    decided = {k[1]: (v["tmdb_id"], v["decision"], v["decision_source"]) for k, v in links.items()}
    assert decided["rg-heat"] == (3, "match", "human")
    assert decided["rg-serenity"] == (11, "match", "human")
    assert decided["rg-memory"] == (8, "match", "human")
    assert decided["rg-smoke"] == (6, "review", "model")         # the other Smoke, never film 5 again
    assert len(gold(spark, settings, RUN_ID, "gold/review_queue")) == 4
    soundtracks = gold(spark, settings, RUN_ID, "gold/film_soundtracks")
    assert {("musicbrainz", "rg-heat"), ("musicbrainz", "rg-serenity")} <= set(soundtracks)


def test_two_tabs_deciding_the_same_link_are_both_recorded_and_the_last_wins(world):
    settings, url, driver, _ = world
    gold_key = pair_key("rg-gold", 7)
    first_tab = driver.current_window_handle
    open_page(driver, url)
    pick(driver, gold_key)
    driver.switch_to.new_window("tab")
    second_tab = driver.current_window_handle
    open_page(driver, url)
    pick(driver, gold_key)
    driver.switch_to.window(first_tab)
    press(driver, "a", then_from=gold_key)
    driver.switch_to.window(second_tab)
    press(driver, "r", then_from=gold_key)
    driver.close()
    driver.switch_to.window(first_tab)
    records = [r for r in DecisionStore(settings.lake_root).read_all() if r["release_id"] == "rg-gold"]
    assert [r["verdict"] for r in records] == ["accept", "reject"]
    pair = Pair("musicbrainz", "release_group", "rg-gold", 7)
    assert effective_verdicts(records)[pair].verdict == "reject"


def test_a_write_from_the_page_without_its_token_is_refused(world):
    settings, url, driver, _ = world
    open_page(driver, url)
    before = len(DecisionStore(settings.lake_root).read_all())
    status = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/decisions', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                 body: JSON.stringify({key: arguments[0], verdict: 'accept'})})
          .then((r) => done(r.status));""", pair_key("rg-alive", 9))
    assert status == 403
    assert len(DecisionStore(settings.lake_root).read_all()) == before
