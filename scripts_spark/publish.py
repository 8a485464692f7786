"""Publish a finished local run to Azure storage: ADLS Gen2 through its Blob endpoint, or Azurite in tests.

The container mirrors the local lake, so `LAKE_ROOT=abfss://<container>@<account>.dfs.core.windows.net/`
reads published runs with the same `Lake` code:

    <layer>/<table>/run_id=<id>/part-*.parquet     the run's partitions of the chosen layers
    _runs/<id>/manifest.json, metrics.json, ...    the run folder
    _runs/<id>/_SUCCESS                            written last: the run is complete

One publish, atomic per run, resumable and idempotent:
1. refuse unless the run's committed data is complete and consistent (runs.publish_refusal: not running, not
   failed or interrupted before a first commit, not `incomplete` after a partial re-run), holding the lake lock so
   that no commit switches the run's partitions while they are read;
2. plan every data file of the run's partitions in the chosen layers, and the run folder, with size and MD5;
3. when `_SUCCESS` already lists exactly these files (same MD5s) there is nothing to do;
4. upload each file to `_staging/<id>/<path>` unless a blob with the same size and MD5 is already there or
   already at its final path: a publish that died half-way resumes where it stopped;
5. withdraw a marker that no longer matches (the run was re-run locally), copy staging -> final paths inside
   the service, and delete final blobs of those partitions that are not in the plan (parts of an older write);
6. write `_SUCCESS` (JSON: layers, files with size and MD5, time), then delete the staging blobs.

Reader contract: a run is published if and only if `_runs/<run_id>/_SUCCESS` exists. Readers list the
markers (`published_runs`) and read only those run_id partitions; files at final paths without a marker
belong to a publish in progress or an interrupted one and must not be read.

The Blob endpoint is used everywhere, also on the real (hierarchical-namespace) account: Blob APIs work on
ADLS Gen2, and Azurite has no dfs endpoint, so the code that runs in production is the code that is tested.
"""
from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .config import ConfigError, Settings
from .lake import LAYERS, Lake, validate_run_id
from .lake_lock import LakeLock
from .log import get_logger
from .runs import publish_refusal, read_manifest

if TYPE_CHECKING:  # pragma: no cover
    from azure.storage.blob import ContainerClient

MARKER_NAME = "_SUCCESS"
STAGING_PREFIX = "_staging"
RUNS_PREFIX = "_runs"
# Read files in 8 MiB pieces for MD5: large enough to be disk-bound, small enough to keep memory flat.
HASH_CHUNK_BYTES = 8 * 1024 * 1024
# Server-side copies inside one account finish in seconds; wait this long before calling one stuck.
COPY_TIMEOUT_S = 600.0
COPY_POLL_S = 0.5
# Parallel connections per file upload; the VM has 2-4 cores and the nightly Gold is tens of MB.
UPLOAD_CONCURRENCY = 4


@dataclass(frozen=True)
class LocalFile:
    name: str      # blob name at its final place, e.g. 'gold/film_soundtracks/run_id=X/part-0.parquet'
    path: Path
    size: int
    md5: bytes

    @property
    def md5_hex(self) -> str:
        return self.md5.hex()


# --- the local side -------------------------------------------------------------------------------------
def file_md5(path: Path) -> bytes:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.digest()


def _is_data_file(name: str) -> bool:
    # Hadoop's conventions: '_' and '.' files (_SUCCESS, .crc checksums) are bookkeeping that readers skip.
    return not name.startswith(("_", ".")) and not name.endswith((".crc", ".tmp"))


def _files_under(root: Path, lake_root: Path, keep: Callable[[str], bool]) -> list[tuple[str, Path]]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if keep(name):
                path = Path(dirpath, name)
                out.append((path.relative_to(lake_root).as_posix(), path))
    return out


def run_partitions(lake_root: Path, run_id: str, layers: Iterable[str]) -> list[Path]:
    """Every `run_id=<run_id>` folder of the given layers (tables may be nested: silver/quarantine/films)."""
    wanted = f"run_id={run_id}"
    found = []
    for layer in layers:
        for dirpath, dirs, _files in os.walk(lake_root / layer):
            if wanted in dirs:
                found.append(Path(dirpath, wanted))
            dirs[:] = [d for d in dirs if not d.startswith("run_id=")]  # never descend into partitions here
    return sorted(found)


def plan_run_files(lake: Lake, run_id: str, layers: Iterable[str]) -> list[LocalFile]:
    """The files a publish of `run_id` uploads: data files of its partitions, then the run folder."""
    root = Path(lake.root)
    pairs: list[tuple[str, Path]] = []
    for partition in run_partitions(root, run_id, layers):
        pairs += _files_under(partition, root, _is_data_file)
    pairs += _files_under(Path(lake.run_dir(run_id)), root, lambda n: not n.endswith(".tmp") and n != MARKER_NAME)
    return [LocalFile(name, path, path.stat().st_size, file_md5(path)) for name, path in sorted(pairs)]


def check_layers(layers: Iterable[str]) -> list[str]:
    chosen = sorted({layer.strip().lower() for layer in layers if layer.strip()})
    unknown = [layer for layer in chosen if layer not in LAYERS]
    if not chosen or unknown:
        raise ConfigError(f"--layers must be a comma list of {', '.join(LAYERS)}; got {', '.join(unknown) or 'none'}")
    return chosen


# --- the remote side ------------------------------------------------------------------------------------
def container_from_settings(settings: Settings, **client_kwargs: Any) -> "ContainerClient":
    """Container client for PUBLISH_CONTAINER: account key if set, else service principal / managed identity."""
    from azure.storage.blob import ContainerClient

    account = settings.azure_storage_account
    if not account:
        raise ConfigError("AZURE_STORAGE_ACCOUNT is empty: set it (Bicep output storageAccountName) to publish")
    account_url = settings.azure_blob_endpoint.rstrip("/") or f"https://{account}.blob.core.windows.net"
    if settings.azure_storage_key:
        credential: Any = {"account_name": account, "account_key": settings.azure_storage_key.reveal()}
    else:
        from .azure_auth import credential_from_settings

        credential = credential_from_settings(settings)
    client_kwargs.setdefault("retry_total", settings.http_max_retries)
    client_kwargs.setdefault("connection_timeout", settings.http_connect_timeout_s)
    client_kwargs.setdefault("read_timeout", settings.http_read_timeout_s)
    return ContainerClient(account_url, settings.publish_container, credential=credential, **client_kwargs)


def marker_name(run_id: str) -> str:
    return f"{RUNS_PREFIX}/{run_id}/{MARKER_NAME}"


def read_marker(container: "ContainerClient", run_id: str) -> dict[str, Any] | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return json.loads(container.download_blob(marker_name(run_id)).readall())
    except ResourceNotFoundError:
        return None


def published_runs(container: "ContainerClient") -> list[str]:
    """Run ids that are completely published (have `_runs/<id>/_SUCCESS`), oldest first: what readers read."""
    from azure.core.exceptions import ResourceNotFoundError

    suffix = f"/{MARKER_NAME}"
    try:
        names = [b.name for b in container.list_blobs(name_starts_with=f"{RUNS_PREFIX}/")]
    except ResourceNotFoundError:
        return []
    return sorted(n[len(RUNS_PREFIX) + 1:-len(suffix)] for n in names if n.endswith(suffix) and n.count("/") == 2)


def remote_index(container: "ContainerClient", prefixes: Iterable[str]) -> dict[str, tuple[int, bytes | None]]:
    """{blob name: (size, MD5)} under each prefix; a missing container reads as empty."""
    from azure.core.exceptions import ResourceNotFoundError

    index: dict[str, tuple[int, bytes | None]] = {}
    for prefix in sorted(set(prefixes)):
        try:
            for blob in container.list_blobs(name_starts_with=prefix):
                md5 = blob.content_settings.content_md5
                index[blob.name] = (blob.size, bytes(md5) if md5 else None)
        except ResourceNotFoundError:
            return {}
    return index


def _same(remote: tuple[int, bytes | None] | None, local: LocalFile) -> bool:
    return remote is not None and remote[0] == local.size and remote[1] == local.md5


def _partition_prefixes(names: Iterable[str], run_id: str) -> set[str]:
    """Final-path folders this publish owns: each `.../run_id=<id>/` partition and the run folder."""
    token = f"/run_id={run_id}/"
    prefixes = {f"{RUNS_PREFIX}/{run_id}/"}
    for name in names:
        if token in name:
            prefixes.add(name[: name.index(token) + len(token)])
    return prefixes


def _layer_of(name: str) -> str:
    return name.split("/", 1)[0]


def _marker_matches(marker: dict[str, Any] | None, files: list[LocalFile], layers: list[str]) -> bool:
    if not marker or not set(layers) <= set(marker.get("layers", [])):
        return False
    listed = marker.get("files", {})
    return all(listed.get(f.name, {}).get("md5") == f.md5_hex for f in files)


def _content_settings(f: LocalFile):
    from azure.storage.blob import ContentSettings

    content_type = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
    return ContentSettings(content_type=content_type, content_md5=bytearray(f.md5))


def _wait_for_copy(blob_client, started: dict[str, Any]) -> None:
    status = started.get("copy_status")
    deadline = time.monotonic() + COPY_TIMEOUT_S
    while status == "pending":
        if time.monotonic() > deadline:
            raise TimeoutError(f"server-side copy to {blob_client.blob_name} still pending after {COPY_TIMEOUT_S:.0f}s")
        time.sleep(COPY_POLL_S)
        status = blob_client.get_blob_properties().copy.status
    if status != "success":
        raise RuntimeError(f"server-side copy to {blob_client.blob_name} ended {status!r}")


# --- the publish ----------------------------------------------------------------------------------------
def publish_run(settings: Settings, run_id: str, layers: Iterable[str], dry_run: bool = False,
                container: "ContainerClient | None" = None) -> int:
    """Upload a finished local run to PUBLISH_CONTAINER (module docstring: steps and reader contract).

    Returns 0 when the run is published (or already was, or for a dry run), 1 when it is refused or fails.
    """
    validate_run_id(run_id)
    chosen = check_layers(layers)
    log = get_logger(run_id)
    lake = Lake(settings.lake_root)
    if lake.is_remote:
        raise ConfigError(f"the lake {lake.root} is already in Azure storage; publish uploads a local lake's run")
    with LakeLock(lake, run_id=run_id, command="publish", stale_after_s=settings.lake_lock_stale_s):
        refusal = publish_refusal(read_manifest(lake, run_id), lake)
        if refusal:
            print(f"publish: refusing run {run_id}: its manifest {refusal}; only a committed, complete run is "
                  "published")
            log.error("publish_refused", reason=refusal)
            return 1
        return _plan_and_publish(settings, lake, run_id, chosen, dry_run, container, log)


def _plan_and_publish(settings: Settings, lake: Lake, run_id: str, chosen: list[str], dry_run: bool,
                      container: "ContainerClient | None", log) -> int:
    from azure.core.exceptions import AzureError

    files = plan_run_files(lake, run_id, chosen)
    total = sum(f.size for f in files)
    log.info("publish_planned", layers=chosen, files=len(files), bytes=total, dry_run=dry_run)
    if container is None:
        if dry_run and not settings.azure_storage_account:
            for f in files:
                print(f"would upload {f.name} ({f.size:,} bytes)")
            print(f"dry run: {len(files)} files, {total:,} bytes of run {run_id} ({','.join(chosen)}); "
                  "not compared with the remote: AZURE_STORAGE_ACCOUNT is empty")
            return 0
        container = container_from_settings(settings)
    target = container.url
    try:
        return _publish(container, run_id, chosen, files, dry_run, log, target)
    except AzureError as exc:
        from .log import redact

        log.error("publish_failed", error=redact(f"{type(exc).__name__}: {exc}"[:500]))
        print(f"publish: run {run_id} FAILED ({type(exc).__name__}); nothing is marked published. "
              "Re-run the same command to resume: blobs already uploaded are skipped.")
        return 1


def _publish(container: "ContainerClient", run_id: str, layers: list[str], files: list[LocalFile], dry_run: bool,
             log, target: str) -> int:
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    marker = read_marker(container, run_id)
    if _marker_matches(marker, files, layers):
        print(f"publish: run {run_id} ({','.join(layers)}) is already published at {target}; nothing to do")
        log.info("publish_noop", files=len(files))
        return 0

    staging = f"{STAGING_PREFIX}/{run_id}/"
    # Partitions listed by an earlier marker count too: a table the re-run no longer writes must not linger.
    earlier = [name for name in (marker or {}).get("files", {}) if _layer_of(name) in layers]
    finals = _partition_prefixes([*(f.name for f in files), *earlier], run_id)
    remote = remote_index(container, [staging, *finals])
    to_upload = [f for f in files if not _same(remote.get(f.name), f) and not _same(remote.get(staging + f.name), f)]
    to_promote = [f for f in files if not _same(remote.get(f.name), f)]
    if dry_run:
        for f in files:
            verb = "would upload" if f in to_upload else "already uploaded"
            print(f"{verb} {f.name} ({f.size:,} bytes)")
        print(f"dry run: {len(to_upload)} of {len(files)} files ({sum(f.size for f in to_upload):,} bytes) "
              f"would be uploaded to {target}; nothing was changed")
        return 0

    try:
        container.create_container()
    except ResourceExistsError:
        pass
    for f in to_upload:
        with f.path.open("rb") as data:
            container.upload_blob(staging + f.name, data, length=f.size, overwrite=True,
                                  content_settings=_content_settings(f), max_concurrency=UPLOAD_CONCURRENCY)
        log.debug("publish_uploaded", blob=f.name, bytes=f.size)
    log.info("publish_staged", uploaded=len(to_upload), skipped=len(files) - len(to_upload))

    if marker is not None:  # the run changed since it was published: readers must not trust it while we promote
        container.delete_blob(marker_name(run_id))
        log.info("publish_marker_withdrawn")
    for f in to_promote:
        dest = container.get_blob_client(f.name)
        _wait_for_copy(dest, dest.start_copy_from_url(container.get_blob_client(staging + f.name).url))
    planned = {f.name for f in files}
    stale = [name for name in remote if not name.startswith(staging) and name not in planned
             and name != marker_name(run_id) and _layer_of(name) in (*layers, RUNS_PREFIX)]
    for name in stale:
        container.delete_blob(name)

    listed = {name: meta for name, meta in (marker or {}).get("files", {}).items() if _layer_of(name) not in layers}
    listed.update({f.name: {"size": f.size, "md5": f.md5_hex} for f in files})
    doc = {"run_id": run_id, "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "layers": sorted(set(layers) | set((marker or {}).get("layers", []))), "files": listed}
    container.upload_blob(marker_name(run_id), json.dumps(doc, indent=2, sort_keys=True), overwrite=True,
                          content_settings=_content_settings_json())
    for name in [n for n in remote_index(container, [staging])]:
        try:
            container.delete_blob(name)
        except ResourceNotFoundError:
            pass
    uploaded_bytes = sum(f.size for f in to_upload)
    log.info("publish_finished", uploaded=len(to_upload), promoted=len(to_promote), stale_deleted=len(stale),
             bytes=uploaded_bytes, files=len(files))
    print(f"publish: run {run_id} ({','.join(doc['layers'])}) published to {target}: {len(to_upload)} uploaded "
          f"({uploaded_bytes:,} bytes), {len(files) - len(to_upload)} already there, {len(stale)} stale removed; "
          f"marker {marker_name(run_id)}")
    return 0


def _content_settings_json():
    from azure.storage.blob import ContentSettings

    return ContentSettings(content_type="application/json")

