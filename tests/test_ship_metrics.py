"""Shipping metrics.json to a local fake Logs Ingestion endpoint that checks the real call's shape."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.wrappers import Response

from scripts_spark.config import ConfigError
from scripts_spark.lake import Lake
from scripts_spark.ship_metrics import STREAM_COLUMNS, batches, main, metrics_rows, ship_metrics

REPO = Path(__file__).resolve().parent.parent
RUN = "20260102T021500Z"
DCR = "dcr-0123456789abcdef0123456789abcdef"
STREAM = "Custom-SoundtrackLakeRuns_CL"
PATH = f"/dataCollectionRules/{DCR}/streams/{STREAM}"
METRICS = {"run_id": RUN, "status": "succeeded", "finished_at": "2026-01-02T02:31:07+00:00",
           "steps": {"01": {"rows_out": 6193, "seconds": 41.5},
                     "05_match_enrich": {"rows_out": 812, "precision": 0.93, "balanced": True}},
           "sources": [{"name": "tmdb", "files": 1}], "notes": None}


@pytest.fixture
def run_settings(settings, httpserver):
    lake = Lake(settings.lake_root)
    lake.write_text(lake.run_file(RUN, "metrics.json"), json.dumps(METRICS))
    lake.write_text(lake.run_file(RUN, "manifest.json"), json.dumps({"run_id": RUN, "status": "succeeded"}))
    return settings.replace(log_analytics_endpoint=httpserver.url_for("/"), log_analytics_rule_id=DCR,
                            log_analytics_stream=STREAM, http_backoff_s=0.0)


def posted_rows(request) -> list[dict]:
    return json.loads(gzip.decompress(request.get_data()))


def test_rows_are_one_per_leaf_with_the_step_taken_from_the_path():
    rows = metrics_rows(METRICS, RUN, "succeeded", "2026-01-02T02:31:07+00:00", "vm-1")

    by_metric = {r["Metric"]: r for r in rows}
    assert by_metric["steps.01.rows_out"]["Value"] == 6193.0 and by_metric["steps.01.rows_out"]["Step"] == "01"
    assert by_metric["steps.05_match_enrich.balanced"]["Value"] == 1.0
    assert by_metric["steps.05_match_enrich.precision"]["Step"] == "05"
    assert by_metric["sources.0.name"] == {**by_metric["sources.0.name"], "Text": "tmdb", "Value": None, "Step": ""}
    assert "notes" not in by_metric  # null leaves carry nothing
    assert all(list(r) == [c for c, _ in STREAM_COLUMNS] for r in rows)


def test_batches_stay_under_the_size_limit_and_keep_every_row():
    rows = metrics_rows({"m": list(range(500))}, RUN, "succeeded", "t", "h")
    split = batches(rows, max_bytes=4_000)
    assert len(split) > 1
    assert [r for b in split for r in b] == rows
    assert all(len(json.dumps(b)) <= 4_000 for b in split)


def test_post_has_the_logs_ingestion_shape(run_settings, httpserver):
    seen = []

    def handler(request):
        seen.append(request)
        return Response(status=204)

    httpserver.expect_request(PATH, method="POST", query_string={"api-version": "2023-01-01"}).respond_with_handler(handler)

    assert ship_metrics(run_settings, RUN, token_provider=lambda: "tok-123") == 0

    (request,) = seen
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Encoding"] == "gzip"
    rows = posted_rows(request)
    assert {r["RunId"] for r in rows} == {RUN} and {r["RunStatus"] for r in rows} == {"succeeded"}
    assert {r["TimeGenerated"] for r in rows} == {"2026-01-02T02:31:07+00:00"}
    assert len(rows) == len(metrics_rows(METRICS, RUN, "", "", ""))


def test_a_503_with_retry_after_is_retried_then_accepted(run_settings, httpserver):
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_response(
        Response("busy", status=503, headers={"Retry-After": "0"}))
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_response(Response(status=204))

    assert ship_metrics(run_settings, RUN, token_provider=lambda: "tok") == 0
    assert len(httpserver.log) == 2


def test_forbidden_names_the_missing_role_and_fails(run_settings, httpserver, capsys):
    httpserver.expect_request(PATH, method="POST").respond_with_json(
        {"error": {"code": "OperationFailed", "message": "The authentication token provided does not have access"}},
        status=403)

    assert ship_metrics(run_settings, RUN, token_provider=lambda: "tok") == 1
    assert "Monitoring Metrics Publisher" in capsys.readouterr().out


def test_many_rows_go_out_in_several_calls(run_settings, httpserver):
    httpserver.expect_request(PATH, method="POST").respond_with_response(Response(status=204))

    assert ship_metrics(run_settings, RUN, token_provider=lambda: "tok", max_batch_bytes=1_000) == 0

    calls = [posted_rows(req) for req, _ in httpserver.log]
    assert len(calls) > 1
    assert sum(len(c) for c in calls) == len(metrics_rows(METRICS, RUN, "", "", ""))


def test_a_run_without_metrics_json_ships_nothing_and_says_so(run_settings, httpserver, capsys):
    assert ship_metrics(run_settings, "other-run", token_provider=lambda: "tok") == 1
    assert "no metrics.json" in capsys.readouterr().out
    assert httpserver.log == []


def test_a_token_failure_is_reported_without_posting(run_settings, httpserver, capsys):
    from scripts_spark.azure_auth import AzureAuthError

    def no_token():
        raise AzureAuthError("managed identity endpoint unreachable")

    assert ship_metrics(run_settings, RUN, token_provider=no_token) == 1
    assert "unreachable" in capsys.readouterr().out and httpserver.log == []


def test_missing_endpoint_is_a_configuration_error(settings):
    with pytest.raises(ConfigError, match="LOG_ANALYTICS_ENDPOINT"):
        ship_metrics(settings, RUN, token_provider=lambda: "tok")


@pytest.mark.integration
def test_cli_ships_with_a_managed_identity_token_as_run_pipeline_safe_calls_it(run_settings, httpserver, tmp_path,
                                                                              monkeypatch, capsys):
    httpserver.expect_request("/metadata/identity/oauth2/token", method="GET",
                              query_string={"api-version": "2018-02-01", "resource": "https://monitor.azure.com/"},
                              headers={"Metadata": "true"}).respond_with_json(
        {"access_token": "mi-token", "expires_on": "4102444800", "token_type": "Bearer"})
    httpserver.expect_request(PATH, method="POST", headers={"Authorization": "Bearer mi-token"}).respond_with_response(
        Response(status=204))
    env = {"LAKE_ROOT": run_settings.lake_root, "LOG_DIR": str(tmp_path / "logs"),
           "LOG_ANALYTICS_ENDPOINT": run_settings.log_analytics_endpoint, "LOG_ANALYTICS_RULE_ID": DCR,
           "LOG_ANALYTICS_STREAM": STREAM}
    imds = httpserver.url_for("").rstrip("/")

    res = subprocess.run([sys.executable, "-m", "scripts_spark.ship_metrics", "--run-id", RUN, "--imds-endpoint", imds],
                         cwd=REPO, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **env},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"rows of run {RUN} sent to {STREAM}" in res.stdout

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["--imds-endpoint", imds]) == 0  # no --run-id: the newest run in the lake
    assert main(["--dry-run"]) == 0
    dry_rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert {r["RunId"] for r in dry_rows} == {RUN}
    assert main(["--run-id", "no/such"]) == 2
    monkeypatch.setenv("LOG_ANALYTICS_ENDPOINT", "")
    assert main(["--run-id", RUN]) == 2
    assert "LOG_ANALYTICS_ENDPOINT" in capsys.readouterr().err
