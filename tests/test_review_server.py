"""The review page's server and store without a browser or Spark: a lake written with pyarrow, requests through
Werkzeug's test client, the CLI's export / import, and a server killed while it writes verdicts."""
from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from werkzeug.test import Client

from scripts_spark.review.cli import import_verdicts, export_queue
from scripts_spark.review.queue import ReviewData, worth
from scripts_spark.review.server import TOKEN_HEADER, ReviewApp
from scripts_spark.review.store import (DecisionError, DecisionStore, Pair, effective_verdicts, new_decision,
                                        write_durably)
from scripts_spark.review.progress import review_progress, wilson

REPO = Path(__file__).resolve().parent.parent
RUN = "r1"
THRESHOLDS = {"match": 0.9, "review": 0.5}


def _reasons(score, unmet=(), runner=None):
    return json.dumps({"score": score, "logit": 0.5, "intercept": -2.5, "thresholds": THRESHOLDS,
                       "rank_share": 0.5 if "clear_best_film" in unmet else 1.0, "unmet_requirements": list(unmet),
                       "runner_up": {"tmdb_id": runner, "score": score if runner else None},
                       "contributions": [{"feature": "title_exact", "value": 1.0, "contribution": 3.0}],
                       "settings_version": "v-test"})


FILMS = [(1, "Jaws", 1975, 40.0), (2, "Alien", 1979, 90.0), (3, "Heat", 1995, 60.0), (4, "Serenity", 2005, 20.0),
         (5, "Smoke", 1995, 8.0), (6, "Smoke", 2021, 2.0), (7, "Gold", 2016, 10.0), (11, "Firefly Class", 2005, 1.0)]
# (tmdb_id, release_id, score, decision, unmet, runner-up)
LINKS = [(1, "rg-jaws", 0.98, "match", (), None), (2, "rg-alien", 0.97, "match", (), None),
         (3, "rg-heat", 0.62, "review", (), None), (4, "rg-serenity", 0.85, "review", (), None),
         (5, "rg-smoke", 0.62, "review", ("clear_best_film",), 6), (7, "rg-gold", 0.55, "review", (), None)]


def write_lake(root: Path) -> Path:
    def put(table, rows):
        folder = root.joinpath(*table.split("/"), f"run_id={RUN}")
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), folder / "part-0.parquet")

    put("silver/films", [{"tmdb_id": t, "title": title, "original_title": title, "year": y, "popularity": p,
                          "genres": ["Drama"], "composers": ["Someone"], "imdb_id": None,
                          "title_norm": title.lower(), "original_title_norm": title.lower()}
                         for t, title, y, p in FILMS])
    put("silver/releases", [{"source": "musicbrainz", "release_id": rid, "release_kind": "release_group",
                             "title": rid[3:].title(), "artists": ["Band"], "year": None, "primary_type": "Album",
                             "secondary_types": ["Soundtrack"], "genres": [], "styles": [], "formats": []}
                            for _, rid, *_ in LINKS])
    links = [{"tmdb_id": t, "source": "musicbrainz", "release_id": rid, "release_kind": "release_group",
              "match_score": s, "decision": d, "decision_source": "model", "reasons": _reasons(s, u, r)}
             for t, rid, s, d, u, r in LINKS]
    put("gold/soundtrack_matches", links)
    put("gold/review_queue", [link for link in links if link["decision"] == "review"])
    return root


def key(release_id, tmdb_id):
    return f"musicbrainz|release_group|{release_id}|{tmdb_id}"


@pytest.fixture
def lake(tmp_path):
    return write_lake(tmp_path / "lake")


@pytest.fixture
def app(lake):
    return ReviewApp(ReviewData(str(lake), RUN), "tester", token="t0ken")


def post(client, path, body, token="t0ken", **kw):
    headers = {TOKEN_HEADER: token} if token else {}
    return client.post(path, json=body, headers=headers, **kw)


def test_the_queue_lists_popular_films_and_ties_first(app):
    items = Client(app).get("/api/queue").json["items"]
    # Serenity (popularity 20, 0.85: nearly a match) before Heat (60, but 0.62); the Smoke tie before Gold (0.55).
    assert [i["release_id"] for i in items] == ["rg-serenity", "rg-heat", "rg-smoke", "rg-gold"]
    assert worth(60.0, 0.62, [], 0.9) > worth(2.0, 0.85, [], 0.9)
    assert worth(8.0, 0.62, ["clear_best_film"], 0.9) > worth(8.0, 0.62, [], 0.9)


def test_filters_narrow_the_queue_and_facets_name_every_choice(app):
    client = Client(app)
    data = client.get("/api/queue?reason=clear_best_film").json
    assert [i["release_id"] for i in data["items"]] == ["rg-smoke"]
    assert data["facets"]["decade"] == ["1990s", "2000s", "2010s"]
    assert [i["release_id"] for i in client.get("/api/queue?band=0.8-0.9").json["items"]] == ["rg-serenity"]
    assert [i["release_id"] for i in client.get("/api/queue?decade=2010s").json["items"]] == ["rg-gold"]


def test_an_item_shows_both_sides_and_the_runner_up_by_title_and_year(app):
    detail = Client(app).get(f"/api/item?key={key('rg-smoke', 5)}").json
    assert detail["film"]["title"] == "Smoke" and detail["release"]["secondary_types"] == ["Soundtrack"]
    assert detail["runner_up"] == {"tmdb_id": 6, "title": "Smoke", "year": 2021, "score": 0.62}
    assert detail["explanation"]["contributions"][0]["feature"] == "title_exact"


def test_the_catalogue_search_finds_films_by_title_year_or_id(app):
    client = Client(app)
    assert [f["tmdb_id"] for f in client.get("/api/films?q=smoke").json["films"]] == [5, 6]
    assert [f["tmdb_id"] for f in client.get("/api/films?q=smoke 2021").json["films"]] == [6]
    assert [f["tmdb_id"] for f in client.get("/api/films?q=11").json["films"]] == [11]
    assert client.get("/api/films?q=!!").json["films"] == []


def test_a_write_without_the_token_is_refused_and_records_nothing(app, lake):
    client = Client(app)
    for token in (None, "wrong"):
        response = post(client, "/api/decisions", {"key": key("rg-heat", 3), "verdict": "accept"}, token=token)
        assert response.status_code == 403
    assert post(client, "/api/audit", {"size": 1}, token=None).status_code == 403
    assert DecisionStore(str(lake)).read_all() == []


def test_a_request_naming_another_host_is_refused(app):
    app.allow_port(8765)
    client = Client(app)
    assert client.get("/api/queue", headers={"Host": "evil.example:8765"}).status_code == 403
    assert client.get("/api/queue", headers={"Host": "127.0.0.1:8765"}).status_code == 200


@pytest.mark.parametrize("body, why", [
    ({"key": key("rg-heat", 3), "verdict": "maybe"}, "verdict must be one of"),
    ({"key": key("rg-heat", 99), "verdict": "accept"}, "is not a link in run r1"),
    ({"key": key("rg-heat", 3), "verdict": "another_film", "chosen_tmdb_id": 12345}, "not in run r1's catalogue"),
    ({"key": key("rg-heat", 3), "verdict": "another_film", "chosen_tmdb_id": 3}, "other than the one shown"),
    ({"key": key("rg-heat", 3), "verdict": "accept", "chosen_tmdb_id": 5}, "only given with another_film"),
    ({"key": 7, "verdict": "accept"}, "must be strings"),
])
def test_invalid_verdicts_are_refused_with_the_reason(app, lake, body, why):
    response = post(Client(app), "/api/decisions", body)
    assert response.status_code == 400 and why in response.json["error"]
    assert DecisionStore(str(lake)).read_all() == []


def test_a_body_that_is_not_a_small_json_object_is_refused(app):
    client = Client(app)
    assert client.post("/api/decisions", data="key=x", headers={TOKEN_HEADER: "t0ken"},
                       content_type="application/x-www-form-urlencoded").status_code == 400
    assert post(client, "/api/decisions", {"key": "x" * 5000, "verdict": "accept"}).status_code == 413


def test_a_verdict_is_stored_with_what_was_shown_not_what_the_client_claims(app, lake):
    response = post(Client(app), "/api/decisions", {"key": key("rg-serenity", 4), "verdict": "another_film",
                                                    "chosen_tmdb_id": "11", "match_score": 0.01})
    assert response.status_code == 200 and response.json["verdict"] == "reject"
    [record] = DecisionStore(str(lake)).read_all()
    assert (record["reviewer"], record["match_score"], record["matcher_version"], record["model_decision"],
            record["chosen_tmdb_id"], record["run_id"], record["via"]) == \
        ("tester", 0.85, "v-test", "review", 11, RUN, "page")


def test_two_tabs_deciding_the_same_item_both_record_and_the_last_wins(app, lake):
    tab1, tab2 = Client(app), Client(app)
    assert post(tab1, "/api/decisions", {"key": key("rg-heat", 3), "verdict": "accept"}).status_code == 200
    assert post(tab2, "/api/decisions", {"key": key("rg-heat", 3), "verdict": "reject"}).status_code == 200
    records = DecisionStore(str(lake)).read_all()
    assert [r["verdict"] for r in records] == ["accept", "reject"]
    assert effective_verdicts(records)[Pair("musicbrainz", "release_group", "rg-heat", 3)].verdict == "reject"
    heat = [i for i in tab1.get("/api/queue?status=open").json["items"] if i["release_id"] == "rg-heat"]
    assert heat == [] and tab1.get("/api/queue?status=decided").json["items"][0]["verdict"] == "reject"


def test_an_audit_draw_adds_random_automatic_matches_that_survive_a_restart(app, lake):
    response = post(Client(app), "/api/audit", {"size": 5})
    assert response.json["drawn"] == 2   # only two automatic matches exist
    again = ReviewData(str(lake), RUN)
    assert {i.pair.release_id for i in again.items.values() if i.sample == "audit"} == {"rg-jaws", "rg-alien"}
    assert post(Client(app), "/api/audit", {"size": 0}).status_code == 400


def test_review_progress_counts_agreement_and_audited_precision(app, lake):
    client = Client(app)
    post(client, "/api/audit", {"size": 2})
    for k, verdict in ((key("rg-jaws", 1), "accept"), (key("rg-alien", 2), "reject"), (key("rg-heat", 3), "accept")):
        post(client, "/api/decisions", {"key": k, "verdict": verdict})
    manifest = {"steps": {"05": {"metrics": {"matcher_version": "v-test", "review_decisions": {"human_links": 0}}}}}
    p = review_progress(str(lake), RUN, manifest)
    assert (p.verdicts, p.pairs_decided, p.queue_total, p.queue_decided, p.queue_open) == (3, 3, 4, 1, 3)
    assert p.agreement == {"audit": (1, 2), "queue": (1, 1)} and p.audit == (1, 2)
    low, high = wilson(1, 2)
    assert 0 < low < 0.5 < high < 1


def test_export_writes_the_queue_and_import_keeps_good_rows_and_names_bad_ones(lake, tmp_path, capsys):
    data = ReviewData(str(lake), RUN)
    out = tmp_path / "queue.csv"
    assert export_queue(data, out) == 4
    lines = out.read_text().splitlines()
    assert lines[0].split(",")[:4] == ["source", "release_kind", "release_id", "tmdb_id"]
    assert all(line.endswith(",") for line in lines[1:])   # the verdict column is empty
    rows = {line.split(",")[2]: line for line in lines[1:]}
    edited = [lines[0], rows["rg-heat"] + "accept", rows["rg-serenity"] + "11", rows["rg-smoke"] + "maybe",
              rows["rg-gold"], rows["rg-heat"].replace("rg-heat,3", "rg-heat,999") + "reject",
              rows["rg-heat"].replace("musicbrainz,release_group", "musicbrainz,master") + "reject"]
    out.write_text("\n".join(edited) + "\n")
    assert import_verdicts(data, out, "spreadsheet") == 1
    err = capsys.readouterr().err
    assert "line 4: verdict 'maybe' is not accept, reject or a film's tmdb_id" in err
    assert "line 6: musicbrainz release_group rg-heat 999 is not a link in run r1" in err
    assert "line 7: release_kind of a musicbrainz release must be release_group" in err
    records = DecisionStore(str(lake)).read_all()
    assert [(r["release_id"], r["verdict"], r["chosen_tmdb_id"], r["via"]) for r in records] == [
        ("rg-heat", "accept", None, "csv"), ("rg-serenity", "another_film", 11, "csv")]


def test_verdicts_in_force_follow_the_latest_and_keep_one_film_per_release():
    pair = Pair("discogs", "master", "m1", 1)
    first = new_decision(pair, "accept", reviewer="a", run_id="r", matcher_version="v", match_score=0.5,
                         model_decision="review", now=100)
    other = new_decision(Pair("discogs", "master", "m1", 2), "accept", reviewer="b", run_id="r",
                         matcher_version="v", match_score=0.5, model_decision="review", now=200)
    verdicts = effective_verdicts([other, first])
    assert verdicts[pair].verdict == "reject" and verdicts[Pair("discogs", "master", "m1", 2)].verdict == "accept"
    with pytest.raises(DecisionError, match="release_kind of a discogs release"):
        new_decision(Pair("discogs", "release_group", "m1", 1), "accept", reviewer="a", run_id=None,
                     matcher_version=None, match_score=None, model_decision=None)


def test_a_durable_write_leaves_no_temporary_file_and_hidden_leftovers_are_ignored(tmp_path):
    store = DecisionStore(str(tmp_path))
    store.append(new_decision(Pair("discogs", "master", "m1", 1), "reject", reviewer="a", run_id="r",
                              matcher_version="v", match_score=0.5, model_decision="review"))
    (store.folder / ".half-written.json.123.tmp").write_text('{"decision_id": "x", "verd')
    assert len(store.read_all()) == 1
    os.utime(store.folder / ".half-written.json.123.tmp", (0, 0))
    assert store.sweep_leftovers() == 1 and len(list(store.folder.iterdir())) == 1
    write_durably(tmp_path / "x", "a.json", "{}")
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["a.json"]


@pytest.mark.integration
def test_a_server_killed_while_writing_leaves_only_whole_verdicts_and_every_acknowledged_one(lake, tmp_path):
    """SIGKILL the real server in the middle of a burst of verdicts from four clients."""
    proc = subprocess.Popen([sys.executable, "-m", "scripts_spark", "review", "--lake-root", str(lake), "--run-id",
                             RUN, "--port", "0", "--reviewer", "killed"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        url = line.split(": ", 1)[1].split()[0]
        token = urllib.request.urlopen(url, timeout=10).read().decode().split("&quot;token&quot;: &quot;")[1] \
            .split("&quot;")[0]
        acknowledged, stop = [], threading.Event()
        keys = [key(r, t) for t, r, _, d, *_ in LINKS if d == "review"]

        def client(seed):
            rng = random.Random(seed)
            while not stop.is_set():
                body = json.dumps({"key": rng.choice(keys), "verdict": rng.choice(["accept", "reject"])}).encode()
                request = urllib.request.Request(url + "api/decisions", body, method="POST", headers={
                    "Content-Type": "application/json", TOKEN_HEADER: token})
                try:
                    acknowledged.append(json.load(urllib.request.urlopen(request, timeout=5))["decision"]["decision_id"])
                except (OSError, http.client.HTTPException):   # the kill cut the answer: not acknowledged
                    return

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        deadline = time.time() + 20
        while len(acknowledged) < 40 and time.time() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(10)
    finally:
        proc.kill()
        proc.wait(10)
    store = DecisionStore(str(lake))
    files = list(store.folder.iterdir())
    whole = [json.loads(p.read_text()) for p in files if not p.name.startswith(".")]   # every one parses
    assert len(acknowledged) >= 40
    assert set(acknowledged) <= {r["decision_id"] for r in whole}
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in files if not p.name.endswith(".json")
               or p.name.startswith("."))
