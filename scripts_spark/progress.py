"""Progress a person can watch: bars with rate and ETA (tqdm) on an interactive terminal, nothing extra elsewhere.

Two kinds of long work report here:
- API extracts count requests in the driver (`sources/http.Progress` calls `bar()`).
- Dump parsing happens inside Spark tasks, one task per input file, in Python workers the driver cannot talk to.
  `InputReadMonitor` measures it from outside: every second it finds the processes of this run that hold one of
  the step's input files open and reads their file offsets from /proc/<pid>/fdinfo (Linux; the bytes read of the
  compressed file against its size). That needs no change to the readers and costs nothing when nobody watches;
  elsewhere (another OS, a cluster whose executors are other machines) it simply shows no bar. Under cron (no
  terminal) it logs an `input_progress` JSON event every `LOG_EVERY_S` seconds instead.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable

LOG_EVERY_S = 30.0
POLL_S = 1.0
# Under this much input a step reads its files in a second or two: a bar would only flicker.
MIN_BYTES_FOR_BAR = 32 * 1024 * 1024


# Where bars and the human console lines go; set by log.configure_logging. None: whatever sys.stderr is now (a test
# runner swaps it per test and closes the old one, so it is looked up at each use, not kept).
_console: dict[str, IO[str] | None] = {"stream": None}


def console_stream() -> IO[str]:
    """The stream progress lines and bars go to (see `log.configure_logging`)."""
    return _console["stream"] or sys.stderr


def set_console_stream(stream: IO[str] | None) -> None:
    _console["stream"] = stream


def is_terminal(stream: IO[str]) -> bool:
    """True for an open interactive terminal; a closed or odd stream is not one (a bar must never fail a run)."""
    try:
        return not getattr(stream, "closed", False) and stream.isatty()
    except (ValueError, AttributeError, OSError):
        return False


def bar(what: str, total: int | None = None, initial: int = 0, unit: str = "it", stream: IO[str] | None = None,
        unit_scale: bool = False):
    """A tqdm bar on `stream` when it is an interactive terminal, else None (callers then only log)."""
    stream = stream or console_stream()
    if not is_terminal(stream):
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=what, unit=unit, unit_scale=unit_scale, file=stream,
                leave=False, dynamic_ncols=True, mininterval=0.5)


def _open_offsets(paths: set[str]) -> dict[str, int]:
    """For each of `paths` held open by one of our processes: the largest file offset (bytes read so far)."""
    uid = os.getuid()
    found: dict[str, int] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
                if target not in paths:
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    pos = int(info.readline().split()[1])
            except (OSError, ValueError, IndexError):
                continue
            found[target] = max(found.get(target, 0), pos)
    return found


class InputReadMonitor:
    """Watches the reading of `files` from a background thread until `stop()`; see the module docstring."""

    def __init__(self, files: list[str], what: str, log=None, stream: IO[str] | None = None,
                 offsets: Callable[[set[str]], dict[str, int]] = _open_offsets, poll_s: float = POLL_S):
        self.sizes = {os.path.realpath(f): os.path.getsize(f) for f in files if os.path.isfile(f)}
        self.total = sum(self.sizes.values())
        self.what, self.log, self.offsets, self.poll_s = what, log, offsets, poll_s
        self.stream = stream
        self.finished: set[str] = set()
        self.seen: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def done_bytes(self) -> int:
        """Bytes read so far: files seen open and then closed count whole (a reader closes a file at its end)."""
        current = self.offsets(set(self.sizes))
        for path in list(self.seen):
            if path not in current:
                self.finished.add(path)
        self.seen.update(current)
        return sum(self.sizes[p] if p in self.finished else min(self.seen.get(p, 0), self.sizes[p])
                   for p in self.sizes)

    def start(self) -> "InputReadMonitor":
        if self.total and sys.platform.startswith("linux"):
            self._thread = threading.Thread(target=self._watch, name="input-progress", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        progress = bar(self.what, self.total, unit="B", stream=self.stream, unit_scale=True) \
            if self.total >= MIN_BYTES_FOR_BAR else None
        t0 = last_log = time.monotonic()
        try:
            while not self._stop.wait(self.poll_s):
                done = self.done_bytes()
                if progress is not None:
                    progress.update(done - progress.n)
                elif (self.log is not None and 0 < done < self.total
                      and time.monotonic() - last_log >= LOG_EVERY_S):   # only while files are being read
                    last_log = time.monotonic()
                    self.log.info("input_progress", **self.figures(done, last_log - t0))
        finally:
            if progress is not None:
                progress.close()

    def figures(self, done: int, elapsed: float) -> dict[str, Any]:
        rate = done / elapsed if elapsed > 0 else 0.0
        return {"what": self.what, "bytes_read": done, "bytes_total": self.total,
                "rate_mb_per_s": round(rate / 1e6, 2),
                "eta_s": round((self.total - done) / rate, 1) if rate > 0 else None}


def step_input_files(inputs: list[str], input_dir: str) -> list[str]:
    """The input files behind a step's declared inputs ('input:discogs/*.xml.gz' -> the matching files)."""
    files: list[str] = []
    for spec in inputs:
        if spec.startswith("input:"):
            files += [str(p) for p in sorted(Path(input_dir).glob(spec.removeprefix("input:"))) if p.is_file()]
    return files
