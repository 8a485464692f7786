"""The Medallion lake: Bronze/Silver/Gold tables and run folders under one root, and the commit protocol.

The root is a local folder (the embedded default) or `abfss://<container>@<account>.dfs.core.windows.net/<path>`;
both go through the same code (local path operations for a folder, the Hadoop FileSystem API otherwise). Tables
are Parquet partitioned by `run_id`; small run files (manifest, metrics, report) live in `<root>/_runs/<run_id>/`.

Commit protocol (docs/reliability.md)
-------------------------------------
A run's tables become visible only when the run commits. An attempt (one `run` command for a run id) writes every
table to `<root>/_attempts/<run_id>/<attempt>/<layer>/<table>/run_id=<run_id>/`, outside the table folders, where
no Parquet reader looks; its steps read what earlier steps of the same attempt staged, else the committed data
(`Lake.for_attempt`). Only when every requested step succeeded does the attempt commit:

1. a journal (`_attempt.json`, state `committing`) lists the partitions to replace and to remove, and the manifest
   the run will have afterwards;
2. each committed partition is renamed aside (into the attempt's `_replaced/`), and the staged one renamed into
   `<table>/run_id=<run_id>/` (one directory rename each: atomic on a local disk and on ADLS Gen2);
3. the manifest is written, then the attempt folder (with the replaced partitions) is deleted.

A killed, failed or refused attempt never reaches step 2: the last committed data of its run (and of every other
run) stays as it was. An attempt killed during step 2 left a journal: the next writer finishes the commit from it
(`recover`), so a commit that started is always completed. Stale attempts without a journal are deleted by the next
writer. Directory renames make each partition switch atomic, not the set of them: during the milliseconds of step
2 a reader that names a run explicitly can see some tables switched and some not. Delta Lake's transaction log
closes that gap on a cluster (docs/reliability.md).
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

LAYERS = ("bronze", "silver", "gold")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_ABFSS_RE = re.compile(r"^abfss://(?P<container>[^@/]+)@(?P<account>[^./]+)\.dfs\.core\.windows\.net(?P<path>/.*)?$")

ATTEMPTS = "_attempts"          # <root>/_attempts/<run_id>/<attempt>/...: staged tables of attempts in flight
JOURNAL = "_attempt.json"       # who the attempt is; with a `commit` section once it started to commit
REPLACED = "_replaced"          # committed partitions moved aside during a commit, deleted after it
# Leftovers of a Spark write killed half-way (dynamic partition overwrite and the Hadoop output committer). Writes
# no longer go to table folders directly, but lakes written by earlier versions can still hold them.
SPARK_LEFTOVERS = (".spark-staging-", "_temporary")


class LakeError(ValueError):
    pass


def validate_run_id(run_id: str) -> str:
    if not RUN_ID_RE.match(run_id or ""):
        raise LakeError(f"run_id {run_id!r} must be 1-100 characters of letters, digits, '_', '-', '.'")
    return run_id


@dataclass(frozen=True)
class AbfssLocation:
    container: str
    account: str
    path: str


def parse_abfss(uri: str) -> AbfssLocation:
    m = _ABFSS_RE.match(uri)
    if not m:
        raise LakeError(f"{uri!r} is not abfss://<container>@<account>.dfs.core.windows.net/<path>")
    return AbfssLocation(m["container"], m["account"], (m["path"] or "/").rstrip("/") or "/")


def new_attempt_id() -> str:
    """Sortable by start time, unique across processes and hosts."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class Attempt:
    """One attempt at a run: where it stages, and which tables it has written so far."""
    run_id: str
    attempt_id: str
    root: str
    written: set[str] = field(default_factory=set)


@dataclass
class CommitResult:
    replaced: list[str]
    removed: list[str]
    seconds: float


class Lake:
    """Paths, reads, staged writes and commits for every table of the lake.

    `Lake(root)` reads and writes committed data. `lake.for_attempt(attempt)` is the same lake seen from inside an
    attempt: for the attempt's run, `partition_path`, `write_table`, `read_table` and `delete` of a partition work on
    the attempt's staged copy (reads fall back to the committed partition for tables the attempt has not written).
    `via_hadoop=True` sends a `file://` root through the Hadoop FileSystem API, the code path of abfss:// lakes.
    """

    def __init__(self, root: str, *, via_hadoop: bool = False, attempt: Attempt | None = None):
        if not root:
            raise LakeError("lake root is empty")
        self.is_remote = via_hadoop or ("://" in root and not root.startswith("file://"))
        if root.startswith("abfss://"):
            parse_abfss(root)
        if root.startswith("file://") and not via_hadoop:
            root = root[len("file://"):]
        self.root = root.rstrip("/") if self.is_remote else str(Path(root).resolve())
        self.attempt = attempt
        self._via_hadoop = via_hadoop

    def __repr__(self) -> str:
        return f"Lake({self.root!r})" + (f" in attempt {self.attempt.attempt_id}" if self.attempt else "")

    # --- paths ------------------------------------------------------------------------------
    def _join(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts) if self.is_remote else str(Path(self.root, *parts))

    def table_path(self, table: str) -> str:
        """`table` is 'layer/name' (e.g. 'silver/films', 'silver/quarantine/films')."""
        layer = table.split("/", 1)[0]
        if layer not in LAYERS or "/" not in table:
            raise LakeError(f"table {table!r} must be '<bronze|silver|gold>/<name>'")
        return self._join(*table.split("/"))

    def committed_partition_path(self, table: str, run_id: str) -> str:
        self.table_path(table)
        return self._join(*table.split("/"), f"run_id={validate_run_id(run_id)}")

    def partition_path(self, table: str, run_id: str) -> str:
        """This run's partition of `table`: the attempt's staged copy inside an attempt, else the committed one."""
        if self._stages(run_id):
            return self.staged_partition_path(table)
        return self.committed_partition_path(table, run_id)

    def staged_table_path(self, table: str, attempt: Attempt | None = None) -> str:
        attempt = attempt or self._require_attempt()
        self.table_path(table)
        return self._under(attempt.root, *table.split("/"))

    def staged_partition_path(self, table: str, attempt: Attempt | None = None) -> str:
        attempt = attempt or self._require_attempt()
        return self._under(self.staged_table_path(table, attempt), f"run_id={attempt.run_id}")

    def attempts_dir(self, run_id: str | None = None) -> str:
        return self._join(ATTEMPTS, validate_run_id(run_id)) if run_id else self._join(ATTEMPTS)

    def attempt_root(self, run_id: str, attempt_id: str) -> str:
        return self._join(ATTEMPTS, validate_run_id(run_id), attempt_id)

    def _under(self, base: str, *parts: str) -> str:
        return posixpath.join(base, *parts) if self.is_remote else str(Path(base, *parts))

    def presence(self, tables: Iterable[str], run_id: str) -> list[str]:
        """Dry-run lines: whether each table has a committed partition for this run (no Spark for a local lake)."""
        if self.is_remote:
            return [f"{table}: remote lake, checked when the step runs" for table in tables]
        return [f"{table}: {'present' if self.exists(self.committed_partition_path(table, run_id)) else 'NOT YET WRITTEN'} "
                f"for run {run_id} ({self.committed_partition_path(table, run_id)})" for table in tables]

    def run_dir(self, run_id: str) -> str:
        return self._join("_runs", validate_run_id(run_id))

    def run_file(self, run_id: str, name: str) -> str:
        return self._join("_runs", validate_run_id(run_id), name)

    # --- file system primitives (local path operations, or Hadoop FileSystem for remote lakes) ------------
    def write_text(self, path: str, text: str, spark: "SparkSession | None" = None) -> None:
        if not self.is_remote:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(target)  # atomic on POSIX: a reader never sees half a manifest
            return
        fs, jpath = _hadoop_fs(_require(spark), path)
        out = fs.create(jpath, True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def create_exclusive(self, path: str, text: str, spark: "SparkSession | None" = None) -> bool:
        """Create `path` with `text` only if it does not exist yet; False when it does (the lake lock's primitive)."""
        if not self.is_remote:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            return True
        fs, jpath = _hadoop_fs(_require(spark), path)
        fs.mkdirs(jpath.getParent())
        try:
            out = fs.create(jpath, False)  # ABFS: a conditional create (If-None-Match: *), atomic in the service
        except Exception as exc:  # noqa: BLE001 - py4j wraps FileAlreadyExistsException
            if "FileAlreadyExists" in str(exc) or fs.exists(jpath):
                return False
            raise
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        return True

    def read_text(self, path: str, spark: "SparkSession | None" = None) -> str | None:
        if not self.is_remote:
            p = Path(path)
            try:
                return p.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
        fs, jpath = _hadoop_fs(_require(spark), path)
        if not fs.exists(jpath):
            return None
        stream = fs.open(jpath)
        try:
            jvm = _require(spark)._jvm
            return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()

    def exists(self, path: str, spark: "SparkSession | None" = None) -> bool:
        if not self.is_remote:
            return Path(path).exists()
        fs, jpath = _hadoop_fs(_require(spark), path)
        return bool(fs.exists(jpath))

    def delete(self, path: str, spark: "SparkSession | None" = None) -> None:
        if not self.is_remote:
            p = Path(path)
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
            return
        fs, jpath = _hadoop_fs(_require(spark), path)
        if fs.exists(jpath):
            fs.delete(jpath, True)

    def rename(self, src: str, dst: str, spark: "SparkSession | None" = None) -> None:
        """Move a file or folder to a path that must not exist yet (its parent is created)."""
        if not self.is_remote:
            Path(dst).parent.mkdir(parents=True, exist_ok=True)
            if Path(dst).exists():
                raise LakeError(f"cannot move {src} to {dst}: the target exists")
            os.rename(src, dst)
            return
        fs, jsrc = _hadoop_fs(_require(spark), src)
        _, jdst = _hadoop_fs(_require(spark), dst)
        if fs.exists(jdst):  # Hadoop's rename would move src *into* an existing folder
            raise LakeError(f"cannot move {src} to {dst}: the target exists")
        fs.mkdirs(jdst.getParent())
        if not fs.rename(jsrc, jdst):
            raise LakeError(f"the file system refused to move {src} to {dst}")

    def list_names(self, path: str, spark: "SparkSession | None" = None, dirs_only: bool = False) -> list[str]:
        if not self.is_remote:
            p = Path(path)
            if not p.is_dir():
                return []
            return sorted(c.name for c in p.iterdir() if c.is_dir() or not dirs_only)
        fs, jpath = _hadoop_fs(_require(spark), path)
        if not fs.exists(jpath):
            return []
        return sorted(s.getPath().getName() for s in fs.listStatus(jpath) if s.isDirectory() or not dirs_only)

    def list_runs(self, spark: "SparkSession | None" = None) -> list[str]:
        """Run ids that have a run folder, oldest first (run ids sort by time when they are timestamps)."""
        return self.list_names(self._join("_runs"), spark, dirs_only=True)

    # --- tables --------------------------------------------------------------------------------
    def _stages(self, run_id: str) -> bool:
        return self.attempt is not None and self.attempt.run_id == run_id

    def _require_attempt(self) -> Attempt:
        if self.attempt is None:
            raise LakeError("this Lake is not bound to an attempt (use Lake.for_attempt)")
        return self.attempt

    def write_table(self, df: "DataFrame", table: str, run_id: str) -> None:
        """Replace this run's partition of `table` with `df` (any existing run_id column is overwritten).

        Inside an attempt the rows go to the attempt's staged copy and become visible at its commit. Outside one
        (tools, tests) the table is written aside and switched in at once, so a reader sees the old partition or
        the new one, never a half-written one; an empty `df` leaves no partition.
        """
        if self._stages(run_id):
            self._write_staged(df, table, self._require_attempt())
            self._require_attempt().written.add(table)
            return
        spark = df.sparkSession
        single_id = "w-" + new_attempt_id()
        single = Attempt(run_id, single_id, self.attempt_root(run_id, single_id))
        try:
            self._write_staged(df, table, single)
            if self.exists(self.staged_partition_path(table, single), spark):
                self._switch(table, run_id, single, spark)
            else:
                self._remove(table, single, spark)
        finally:
            self.delete(single.root, spark)
            self._prune_empty(self.attempts_dir(run_id), spark)

    def _write_staged(self, df: "DataFrame", table: str, attempt: Attempt) -> None:
        from pyspark.sql import functions as F

        # Static overwrite of the attempt's own folder: no `.spark-staging-*` folders, and an empty frame writes no
        # partition, as before (Spark writes no folder for a partition without rows).
        (df.withColumn("run_id", F.lit(attempt.run_id))
           .write.mode("overwrite")
           .option("partitionOverwriteMode", "static")
           .partitionBy("run_id")
           .parquet(self.staged_table_path(table, attempt)))

    def write_no_rows(self, table: str, run_id: str, spark: "SparkSession | None" = None) -> None:
        """What `write_table` of an empty frame does, without a Spark job: the run's partition of `table` holds no
        rows (inside an attempt: staged as written with no partition, which its commit removes)."""
        if not self._stages(run_id):
            self.delete(self.committed_partition_path(table, run_id), spark)
            return
        attempt = self._require_attempt()
        self.delete(self.staged_partition_path(table, attempt), spark)
        attempt.written.add(table)

    def copy_partition(self, table: str, from_run_id: str, spark: "SparkSession | None" = None) -> bool:
        """Stage another run's committed partition of `table` as this attempt's, file by file (no Spark job): the
        attempt's partition then holds exactly those rows (none when that run has no partition of it). Returns
        whether there were files to copy. Parquet files are never changed in place, so a local lake links them (no
        bytes copied; a file stays until its last run partition is deleted)."""
        attempt = self._require_attempt()
        source = self.committed_partition_path(table, from_run_id)
        staged = self.staged_partition_path(table, attempt)
        self.write_no_rows(table, attempt.run_id, spark)
        if not self.exists(source, spark):
            return False
        if not self.is_remote:
            shutil.copytree(source, staged, copy_function=_link_or_copy)
            return True
        spark = _require(spark)
        fs, jsource = _hadoop_fs(spark, source)
        _, jstaged = _hadoop_fs(spark, staged)
        fs.mkdirs(jstaged.getParent())
        if not spark._jvm.org.apache.hadoop.fs.FileUtil.copy(fs, jsource, fs, jstaged, False,
                                                              spark._jsc.hadoopConfiguration()):
            raise LakeError(f"the file system refused to copy {source} to {staged}")
        return True

    def read_table(self, spark: "SparkSession", table: str, run_id: str, schema: "StructType") -> "DataFrame":
        """One run of a table, with its declared schema; a run that wrote nothing reads as an empty frame."""
        from pyspark.sql import functions as F

        if self._stages(run_id) and table in self._require_attempt().written:
            path = self.staged_partition_path(table)
        else:
            path = self.committed_partition_path(table, run_id)
        data_schema = _without(schema, "run_id")
        if not self.exists(path, spark):
            df = spark.createDataFrame([], data_schema)
        else:
            df = spark.read.schema(data_schema).parquet(path)
        return df.withColumn("run_id", F.lit(run_id))

    def table_runs(self, table: str, spark: "SparkSession | None" = None) -> list[str]:
        names = self.list_names(self.table_path(table), spark, dirs_only=True)
        return sorted(n.split("=", 1)[1] for n in names if n.startswith("run_id="))

    # --- attempts and commits ----------------------------------------------------------------------
    def for_attempt(self, attempt: Attempt) -> "Lake":
        return Lake(self.root, via_hadoop=self._via_hadoop, attempt=attempt)

    def start_attempt(self, run_id: str, info: dict[str, Any], spark: "SparkSession | None" = None,
                      attempt_id: str | None = None) -> "Lake":
        """Open a new attempt at `run_id` (its journal names who runs it) and return the lake bound to it."""
        attempt_id = attempt_id or new_attempt_id()
        attempt = Attempt(run_id, attempt_id, self.attempt_root(run_id, attempt_id))
        self.write_text(self._under(attempt.root, JOURNAL), json.dumps(
            {"run_id": run_id, "attempt": attempt_id, **info}, indent=2, sort_keys=True, default=str), spark)
        return self.for_attempt(attempt)

    def commit(self, remove: Iterable[str] = (), manifest: tuple[str, str] | None = None,
               spark: "SparkSession | None" = None) -> CommitResult:
        """Switch every table this attempt wrote into its committed place, remove the `remove` partitions, write the
        manifest (`(path, text)`) and delete the attempt. A kill part-way is finished by the next `recover`."""
        attempt = self._require_attempt()
        t0 = time.perf_counter()
        journal_path = self._under(attempt.root, JOURNAL)
        journal = json.loads(self.read_text(journal_path, spark) or "{}")
        # A table written with no rows has no staged partition: committing it removes the committed one.
        replace = sorted(t for t in attempt.written if self.exists(self.staged_partition_path(t, attempt), spark))
        journal["commit"] = {"state": "committing", "replace": replace,
                             "remove": sorted((set(remove) | attempt.written) - set(replace)),
                             "manifest": {"path": manifest[0], "text": manifest[1]} if manifest else None}
        self.write_text(journal_path, json.dumps(journal, indent=2, sort_keys=True, default=str), spark)
        removed = self._finish_commit(attempt, journal["commit"], spark)
        return CommitResult(journal["commit"]["replace"], removed, round(time.perf_counter() - t0, 3))

    def _finish_commit(self, attempt: Attempt, commit: dict[str, Any], spark: "SparkSession | None") -> list[str]:
        """Steps 2-3 of the protocol; returns the tables whose partition was removed."""
        for table in commit["replace"]:
            self._switch(table, attempt.run_id, attempt, spark)
        removed = [table for table in commit["remove"] if self._remove(table, attempt, spark)]
        if commit.get("manifest"):
            self.write_text(commit["manifest"]["path"], commit["manifest"]["text"], spark)
        self.delete(attempt.root, spark)
        self._prune_empty(self.attempts_dir(attempt.run_id), spark)
        return removed

    def _replaced_path(self, attempt: Attempt, table: str) -> str:
        return self._under(attempt.root, REPLACED, *table.split("/"), f"run_id={attempt.run_id}")

    def _switch(self, table: str, run_id: str, attempt: Attempt, spark: "SparkSession | None") -> None:
        """Committed partition aside, staged partition in. Safe to repeat after a kill at any point: once the staged
        partition has moved in, there is nothing left to do."""
        staged = self.staged_partition_path(table, attempt)
        if not self.exists(staged, spark):
            return
        committed = self.committed_partition_path(table, run_id)
        if self.exists(committed, spark):
            replaced = self._replaced_path(attempt, table)
            if self.exists(replaced, spark):
                self.delete(replaced, spark)
            self.rename(committed, replaced, spark)
        self.rename(staged, committed, spark)

    def _remove(self, table: str, attempt: Attempt, spark: "SparkSession | None") -> bool:
        """Move the run's committed partition of `table` aside (deleted with the attempt); False if there is none."""
        committed = self.committed_partition_path(table, attempt.run_id)
        if not self.exists(committed, spark):
            return False
        replaced = self._replaced_path(attempt, table)
        if self.exists(replaced, spark):
            self.delete(replaced, spark)
        self.rename(committed, replaced, spark)
        return True

    def abandon(self, spark: "SparkSession | None" = None) -> None:
        """Drop this attempt's staged data (a failed or interrupted attempt); committed data is untouched."""
        attempt = self._require_attempt()
        self.delete(attempt.root, spark)
        self._prune_empty(self.attempts_dir(attempt.run_id), spark)

    def _prune_empty(self, path: str, spark: "SparkSession | None") -> None:
        """Remove `path` (a run's attempts folder) and then `_attempts` itself once they hold nothing."""
        for folder in (path, self.attempts_dir()):
            if not self.list_names(folder, spark):
                self.delete(folder, spark)

    def recover(self, spark: "SparkSession | None" = None,
                on_stale: Callable[[dict[str, Any], str], None] | None = None) -> list[str]:
        """Finish or drop every attempt left by a process that is gone, and remove Spark's leftovers in table folders.

        Call only while holding the lake lock (no attempt is in flight then). `on_stale(journal, outcome)` is told
        about each attempt: outcome 'committed' (its commit was finished here) or 'discarded'. Returns what was done.
        """
        done = []
        for run_id in self.list_names(self.attempts_dir(), spark, dirs_only=True):
            for attempt_id in self.list_names(self.attempts_dir(run_id), spark, dirs_only=True):
                root = self.attempt_root(run_id, attempt_id)
                text = self.read_text(self._under(root, JOURNAL), spark)
                journal = json.loads(text) if text else {"run_id": run_id, "attempt": attempt_id}
                commit = journal.get("commit")
                if commit:
                    self._finish_commit(Attempt(run_id, attempt_id, root), commit, spark)
                    outcome = "committed"
                else:
                    self.delete(root, spark)
                    outcome = "discarded"
                done.append(f"attempt {attempt_id} of run {run_id}: {outcome}")
                if on_stale:
                    on_stale(journal, outcome)
            self._prune_empty(self.attempts_dir(run_id), spark)
        for leftover in self._spark_leftovers(spark):
            self.delete(leftover, spark)
            done.append(f"removed leftover {leftover}")
        return done

    def _spark_leftovers(self, spark: "SparkSession | None") -> list[str]:
        """`.spark-staging-*` and `_temporary` folders inside table folders (two levels of nesting at most)."""
        found = []

        def walk(path: str, depth: int) -> None:
            for name in self.list_names(path, spark, dirs_only=True):
                child = self._under(path, name)
                if name.startswith(SPARK_LEFTOVERS):
                    found.append(child)
                elif depth < 3 and not name.startswith("run_id="):
                    walk(child, depth + 1)

        for layer in LAYERS:
            walk(self._join(layer), 0)
        return found


def _without(schema: "StructType", name: str) -> "StructType":
    from pyspark.sql.types import StructType

    return StructType([f for f in schema.fields if f.name != name])


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:   # another file system, or one without hard links
        shutil.copy2(source, target)


def _require(spark: "SparkSession | None") -> "SparkSession":
    if spark is None:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is None:
            raise LakeError("a remote lake needs a SparkSession for file operations")
        return active
    return spark


def _hadoop_fs(spark: "SparkSession", path: str):
    jvm = spark._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(spark._jsc.hadoopConfiguration()), jpath


def abfss_spark_conf(account: str, *, account_key: str = "", client_id: str = "", client_secret: str = "",
                     tenant_id: str = "") -> dict[str, str]:
    """Hadoop ABFS settings for an account: key, service principal, or managed identity (in that order)."""
    host = f"{account}.dfs.core.windows.net"
    prefix = "spark.hadoop.fs.azure"
    if account_key:
        return {f"{prefix}.account.key.{host}": account_key}
    if client_id and client_secret and tenant_id:
        return {
            f"{prefix}.account.auth.type.{host}": "OAuth",
            f"{prefix}.account.oauth.provider.type.{host}": "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider",
            f"{prefix}.account.oauth2.client.id.{host}": client_id,
            f"{prefix}.account.oauth2.client.secret.{host}": client_secret,
            f"{prefix}.account.oauth2.client.endpoint.{host}": f"https://login.microsoftonline.com/{tenant_id}/oauth2/token",
        }
    conf = {
        f"{prefix}.account.auth.type.{host}": "OAuth",
        f"{prefix}.account.oauth.provider.type.{host}": "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider",
    }
    if client_id:
        conf[f"{prefix}.account.oauth2.client.id.{host}"] = client_id
    return conf
