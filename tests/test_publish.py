"""Publishing a finished local run to a real Azurite Blob endpoint: atomic per run, resumable, idempotent."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.storage.blob import ContainerClient
from pyspark.sql.types import LongType, StringType, StructField, StructType

from azurite_server import ACCOUNT, ACCOUNT_KEY, AzuriteServer
from scripts_spark.config import ConfigError
from scripts_spark.lake import Lake
from scripts_spark.publish import (MARKER_NAME, container_from_settings, plan_run_files, published_runs,
                                   publish_run, read_marker)

REPO = Path(__file__).resolve().parent.parent
RUN = "20260101T020000Z"
FILMS = StructType([StructField("tmdb_id", LongType(), False), StructField("title", StringType(), True)])
MATCHES = StructType([StructField("tmdb_id", LongType(), False), StructField("release_id", StringType(), False)])


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    with AzuriteServer(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture(scope="module")
def template_lake(spark, tmp_path_factory) -> Path:
    """A local lake with finished runs, written once with Spark; each test works on its own copy."""
    root = tmp_path_factory.mktemp("template") / "lake"
    lake = Lake(str(root))
    for run_id, status in [(RUN, "succeeded"), ("run-a", "succeeded"), ("run-b", "succeeded"),
                           ("run-failed", "failed"), ("run-running", "running")]:
        lake.write_table(spark.createDataFrame([(1, "Alien"), (2, "Heat")], FILMS), "silver/films", run_id)
        lake.write_table(spark.createDataFrame([(1, "mb-1"), (2, "dc-7")], MATCHES), "gold/film_soundtracks", run_id)
        lake.write_table(spark.createDataFrame([(1, "mb-1")], MATCHES), "gold/review_queue", run_id)
        lake.write_text(lake.run_file(run_id, "manifest.json"), json.dumps({"run_id": run_id, "status": status}))
        lake.write_text(lake.run_file(run_id, "metrics.json"), json.dumps({"run_id": run_id, "rows": {"gold": 3}}))
    return root


@pytest.fixture
def lake(template_lake, settings) -> Lake:
    shutil.copytree(template_lake, settings.lake_root)
    return Lake(settings.lake_root)


@pytest.fixture
def remote(azurite, settings, lake):
    """Settings pointing at Azurite with a container of this test's own, and that container's client."""
    container = f"lake-{uuid.uuid4().hex[:12]}"
    publish_settings = settings.replace(**azurite.settings_overrides(container))
    return publish_settings, container_from_settings(publish_settings)


def blob_names(container: ContainerClient, prefix: str = "") -> list[str]:
    if not container.exists():
        return []
    return sorted(b.name for b in container.list_blobs(name_starts_with=prefix or None))


def with_hook(container: ContainerClient, hook, **kwargs) -> ContainerClient:
    """The same container through a client whose every request first passes `hook` (a fault or a counter)."""
    return ContainerClient(container.primary_endpoint.rsplit("/", 1)[0], container.container_name,
                           credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY},
                           raw_request_hook=hook, **kwargs)


class WriteCounter:
    def __init__(self):
        self.writes: list[tuple[str, str]] = []

    def __call__(self, request):
        if request.http_request.method in ("PUT", "DELETE"):
            self.writes.append((request.http_request.method, request.http_request.url.split("?")[0]))

    def uploads_to(self, part: str) -> set[str]:
        return {url for method, url in self.writes if method == "PUT" and part in url}


class FailOnWrite:
    """Cuts the connection on the n-th write whose URL contains `marker`, as a dropped network would."""

    def __init__(self, n: int, marker: str):
        self.n, self.marker, self.seen = n, marker, 0

    def __call__(self, request):
        if request.http_request.method == "PUT" and self.marker in request.http_request.url:
            self.seen += 1
            if self.seen == self.n:
                raise ServiceRequestError("connection reset by peer (injected)")


def test_publish_uploads_gold_and_run_folder_to_final_paths_then_marks_the_run_complete(lake, remote):
    settings, container = remote

    assert publish_run(settings, RUN, ["gold"]) == 0

    local = plan_run_files(lake, RUN, ["gold"])
    names = blob_names(container)
    assert names == sorted([f.name for f in local] + [f"_runs/{RUN}/{MARKER_NAME}"])
    assert any(n.startswith(f"gold/film_soundtracks/run_id={RUN}/part-") for n in names)
    assert not any(n.startswith(("silver/", "_staging/")) for n in names)
    parquet = next(f for f in local if f.name.endswith(".parquet"))
    assert container.download_blob(parquet.name).readall() == parquet.path.read_bytes()
    marker = read_marker(container, RUN)
    assert marker["layers"] == ["gold"]
    assert marker["files"][parquet.name] == {"size": parquet.size, "md5": parquet.md5_hex}
    assert published_runs(container) == [RUN]


def test_second_publish_of_the_same_run_writes_nothing(lake, remote, capsys):
    settings, container = remote
    assert publish_run(settings, RUN, ["gold"]) == 0
    counter = WriteCounter()

    assert publish_run(settings, RUN, ["gold"], container=with_hook(container, counter)) == 0

    assert counter.writes == []
    assert "already published" in capsys.readouterr().out


def test_interrupted_upload_leaves_no_marker_and_a_rerun_uploads_only_the_missing_files(lake, remote):
    settings, container = remote
    total = len(plan_run_files(lake, RUN, ["gold"]))
    assert total >= 4

    failed = publish_run(settings, RUN, ["gold"], container=with_hook(container, FailOnWrite(3, "/_staging/"),
                                                                          retry_total=0))
    assert failed == 1
    assert published_runs(container) == []
    assert len(blob_names(container, f"_staging/{RUN}/")) == 2
    assert blob_names(container, "gold/") == []  # nothing promoted before every file was staged

    counter = WriteCounter()
    assert publish_run(settings, RUN, ["gold"], container=with_hook(container, counter)) == 0
    assert len(counter.uploads_to("/_staging/")) == total - 2
    assert published_runs(container) == [RUN]
    assert blob_names(container, "_staging/") == []


def test_readers_ignore_a_run_whose_publish_died_before_the_marker(lake, remote):
    settings, container = remote
    assert publish_run(settings, "run-a", ["gold"]) == 0

    cut_at_marker = with_hook(container, FailOnWrite(1, f"/_runs/run-b/{MARKER_NAME}"), retry_total=0)
    assert publish_run(settings, "run-b", ["gold"], container=cut_at_marker) == 1

    assert blob_names(container, "gold/film_soundtracks/run_id=run-b/")  # the data is there ...
    assert published_runs(container) == ["run-a"]                        # ... but no reader may use it
    assert read_marker(container, "run-b") is None

    counter = WriteCounter()
    assert publish_run(settings, "run-b", ["gold"], container=with_hook(container, counter)) == 0
    assert counter.uploads_to("/_staging/") == set()  # resumed: nothing uploaded again
    assert published_runs(container) == ["run-a", "run-b"]


def test_dry_run_lists_the_files_and_uploads_nothing(lake, remote, capsys):
    settings, container = remote

    assert publish_run(settings, RUN, ["gold", "silver"], dry_run=True) == 0

    out = capsys.readouterr().out
    for f in plan_run_files(lake, RUN, ["gold", "silver"]):
        assert f"would upload {f.name}" in out
    assert "nothing was changed" in out
    assert not container.exists()


def test_dry_run_without_an_account_still_lists_the_plan(lake, settings, capsys):

    assert publish_run(settings, RUN, ["gold"], dry_run=True) == 0

    out = capsys.readouterr().out
    assert f"would upload _runs/{RUN}/manifest.json" in out and "AZURE_STORAGE_ACCOUNT is empty" in out


@pytest.mark.parametrize("status", ["failed", "running"])
def test_a_run_that_did_not_succeed_is_refused(remote, status, capsys):
    settings, container = remote

    assert publish_run(settings, f"run-{status}", ["gold"]) == 1

    assert f"status is '{status}'" in capsys.readouterr().out
    assert not container.exists()


def test_a_run_without_a_manifest_is_refused(remote, capsys):
    settings, container = remote
    assert publish_run(settings, "never-ran", ["gold"]) == 1
    assert "status is 'missing'" in capsys.readouterr().out


def test_republishing_a_rerun_replaces_the_old_parts_and_the_marker(spark, lake, remote):
    settings, container = remote
    assert publish_run(settings, RUN, ["gold"]) == 0
    before = set(blob_names(container, "gold/"))

    # Re-running the step rewrites the partition with new part-file names and different rows.
    lake.write_table(spark.createDataFrame([(3, "mb-9")], MATCHES), "gold/film_soundtracks", RUN)
    lake.delete(lake.partition_path("gold/review_queue", RUN))
    assert publish_run(settings, RUN, ["gold"]) == 0

    after = set(blob_names(container, "gold/"))
    assert after == {f.name for f in plan_run_files(lake, RUN, ["gold"]) if f.name.startswith("gold/")}
    assert not before & after
    assert not blob_names(container, f"gold/review_queue/run_id={RUN}/")
    assert set(read_marker(container, RUN)["files"]) == {f.name for f in plan_run_files(lake, RUN, ["gold"])}


def test_publishing_silver_later_keeps_gold_listed_in_the_marker(lake, remote):
    settings, container = remote
    assert publish_run(settings, RUN, ["gold"]) == 0

    assert publish_run(settings, RUN, ["silver", "gold"]) == 0

    marker = read_marker(container, RUN)
    assert marker["layers"] == ["gold", "silver"]
    assert set(marker["files"]) == {f.name for f in plan_run_files(lake, RUN, ["gold", "silver"])}
    assert blob_names(container, f"silver/films/run_id={RUN}/")


def test_unknown_layer_and_missing_account_are_configuration_errors(lake, settings):
    with pytest.raises(ConfigError, match="platinum"):
        publish_run(settings, RUN, ["gold", "platinum"])
    with pytest.raises(ConfigError, match="AZURE_STORAGE_ACCOUNT"):
        publish_run(settings, RUN, ["gold"])


def test_without_a_key_the_client_authenticates_with_a_token_credential(settings):
    from scripts_spark.azure_auth import ManagedIdentityCredential

    client = container_from_settings(settings.replace(azure_storage_account="stsndlakedev1"))
    assert client.url == "https://stsndlakedev1.blob.core.windows.net/lake"
    assert isinstance(client.credential, ManagedIdentityCredential)


def test_publish_cli_uploads_a_run_and_a_second_call_is_a_noop(template_lake, azurite, tmp_path):
    lake_root = tmp_path / "cli-lake"
    shutil.copytree(template_lake, lake_root)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LAKE_ROOT": str(lake_root),
           "LOG_DIR": str(tmp_path / "logs"), **azurite.env(f"cli-{uuid.uuid4().hex[:8]}")}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "scripts_spark", "publish", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)

    first = cli("--run-id", RUN, "--layers", "gold")
    assert first.returncode == 0, first.stderr
    assert f"run {RUN} (gold) published" in first.stdout
    second = cli("--run-id", RUN)
    assert second.returncode == 0 and "already published" in second.stdout
    bad = cli("--layers", "platinum")
    assert bad.returncode == 2 and "--layers" in bad.stderr
