"""One writer per lake: a lock that lives in the lake, taken by every command that writes to it.

Local lake: `<root>/_lock`, held with `flock` for the life of the writing process. The kernel drops the lock when the
process dies, however it dies (SIGKILL included), so a dead holder never blocks the next writer, and there is
nothing to take over by hand. The file also says who holds it (run id, attempt, command, pid, host, heartbeat)
so that a refused writer can name the holder.

abfss:// lake (or any lake reached through the Hadoop FileSystem API): `<root>/_lock.json`, created only if absent
(ABFS sends a conditional create, atomic in the service). The holder rewrites its heartbeat every
`heartbeat_s`; a lock whose heartbeat is older than `stale_after_s`, or whose holder ran on this host and is gone,
is taken over: renamed to `_lock.stale.<holder token>` (only one contender can win that rename), then created
afresh. ADLS blob leases would do the same job but are not reachable through the Hadoop FileSystem API.

A second writer gets `LakeBusy` (exit status 75, EX_TEMPFAIL, as run_pipeline_safe.sh uses for its own lock).
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from .lake import Lake

EXIT_LAKE_BUSY = 75
LOCAL_LOCK = "_lock"
REMOTE_LOCK = "_lock.json"
# A writer's heartbeat every 30 s; a remote lock silent for 5 minutes belongs to a process that is gone (a
# Spark job can hold the Python thread that beats, but not for minutes: the beat runs on its own thread).
HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0


class LakeBusy(RuntimeError):
    """Another writer holds the lake; the message names its run id, pid and host."""

    def __init__(self, root: str, holder: dict[str, Any] | None):
        self.holder = holder or {}
        h = self.holder
        who = (f"run {h.get('run_id') or '?'} ({h.get('command') or 'writer'}, attempt {h.get('attempt') or '?'}, "
               f"pid {h.get('pid') or '?'} on {h.get('host') or '?'}, heartbeat {h.get('heartbeat_at') or '?'})"
               if h else "another writer (holder details not readable yet)")
        super().__init__(f"lake {root} is locked by {who}; not starting a second writer (exit {EXIT_LAKE_BUSY})")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def process_start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (Linux), to tell a live holder from a recycled pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return int(stat[stat.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: int | None, start_ticks: int | None = None) -> bool:
    """Whether `pid` runs on this host (and is the same process, when its start time was recorded)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if start_ticks is not None:
        now = process_start_ticks(int(pid))
        return now is None or now == start_ticks
    return True


def holder_alive(info: dict[str, Any], stale_after_s: float = STALE_AFTER_S) -> bool:
    """A holder (or a manifest's attempt) is alive when its process runs here, or, elsewhere, it beat recently."""
    if info.get("host") == socket.gethostname():
        return process_alive(info.get("pid"), info.get("pid_start"))
    beat = info.get("heartbeat_at") or info.get("started_at")
    if not beat:
        return False
    age = (datetime.now(timezone.utc) - datetime.fromisoformat(beat)).total_seconds()
    return age < stale_after_s


class LakeLock:
    """`with LakeLock(lake, run_id=..., command="run"):` holds the lake for one writer (module docstring)."""

    def __init__(self, lake: "Lake", *, run_id: str | None = None, attempt: str | None = None, command: str = "run",
                 spark: "SparkSession | None" = None, heartbeat_s: float = HEARTBEAT_S,
                 stale_after_s: float = STALE_AFTER_S):
        self.lake, self.spark = lake, spark
        self.heartbeat_s, self.stale_after_s = heartbeat_s, stale_after_s
        self.info: dict[str, Any] = {
            "run_id": run_id, "attempt": attempt, "command": command, "pid": os.getpid(),
            "pid_start": process_start_ticks(os.getpid()), "host": socket.gethostname(),
            "token": uuid.uuid4().hex, "started_at": utc_now(), "heartbeat_at": utc_now()}
        self.previous: dict[str, Any] | None = None   # what a dead holder left behind (taken over)
        self._fd: int | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._write_lock = threading.Lock()

    @property
    def path(self) -> str:
        return self.lake._join(REMOTE_LOCK if self.lake.is_remote else LOCAL_LOCK)

    # --- acquire / release ---------------------------------------------------------------------------
    def acquire(self) -> "LakeLock":
        if self.lake.is_remote:
            self._acquire_remote()
        else:
            self._acquire_local()
        self._beat = threading.Thread(target=self._heartbeat, name="lake-lock-heartbeat", daemon=True)
        self._beat.start()
        return self

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        if self.lake.is_remote:
            self._release_remote()
        elif self._fd is not None:
            with self._write_lock:
                os.ftruncate(self._fd, 0)   # free: an empty lock file names no holder
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "LakeLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def update(self, **fields: Any) -> None:
        """Add details once known (the attempt id); rewritten at once, not at the next beat."""
        self.info.update(fields)
        self._write_info()

    # --- local: flock ----------------------------------------------------------------------------------
    def _acquire_local(self) -> None:
        os.makedirs(self.lake.root, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)   # not inherited by the JVM or other children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LakeBusy(self.lake.root, read_holder(self.lake)) from None
        left = _parse(os.pread(fd, 1 << 16, 0))
        self.previous = left or None   # a holder that died without releasing: the kernel freed its flock
        self._fd = fd
        self._write_info()

    # --- remote: create-if-absent with heartbeat --------------------------------------------------------
    def _acquire_remote(self) -> None:
        for _ in range(3):
            if self.lake.create_exclusive(self.path, json.dumps(self.info), self.spark):
                return
            holder = read_holder(self.lake, self.spark)
            if holder and holder_alive(holder, self.stale_after_s):
                raise LakeBusy(self.lake.root, holder)
            stale = self.lake._join(f"{REMOTE_LOCK}.stale.{(holder or {}).get('token', 'unreadable')}")
            try:
                self.lake.rename(self.path, stale, self.spark)   # one contender wins; the others retry and see it
            except Exception:  # noqa: BLE001 - lost the race, or the holder released meanwhile
                continue
            self.previous = holder
        raise LakeBusy(self.lake.root, read_holder(self.lake, self.spark))

    def _release_remote(self) -> None:
        holder = read_holder(self.lake, self.spark)
        if holder and holder.get("token") == self.info["token"]:
            self.lake.delete(self.path, self.spark)
        for name in self.lake.list_names(self.lake.root, self.spark):
            if name.startswith(f"{REMOTE_LOCK}.stale."):
                self.lake.delete(self.lake._join(name), self.spark)

    # --- heartbeat ---------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.info["heartbeat_at"] = utc_now()
                self._write_info()
            except Exception:  # noqa: BLE001 - a missed beat is retried; the run itself must not fail on it
                continue

    def _write_info(self) -> None:
        text = json.dumps(self.info, sort_keys=True).encode()
        with self._write_lock:
            if self.lake.is_remote:
                holder = read_holder(self.lake, self.spark)
                if holder is None or holder.get("token") == self.info["token"]:
                    self.lake.write_text(self.path, text.decode(), self.spark)
            elif self._fd is not None:
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, text, 0)
                os.fsync(self._fd)


def _parse(raw: bytes | str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def read_holder(lake: "Lake", spark: "SparkSession | None" = None) -> dict[str, Any] | None:
    """Who holds (or last held, for a local lock freed by a dying process) the lake; None when nobody did."""
    path = lake._join(REMOTE_LOCK if lake.is_remote else LOCAL_LOCK)
    for _ in range(5):   # a holder rewriting its heartbeat can leave the file empty for a moment
        doc = _parse(lake.read_text(path, spark))
        if doc:
            return doc
        time.sleep(0.05)
    return None
