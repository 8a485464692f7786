"""The Medallion lake: Bronze/Silver/Gold tables and run folders under one root.

The root is a local folder (the embedded default) or `abfss://<container>@<account>.dfs.core.windows.net/<path>`;
both go through the same code. Tables are Parquet partitioned by `run_id`; writing a run replaces exactly
that run's partition (the partition folder is removed, then the run is written with dynamic partition
overwrite), so a re-run is idempotent and other runs are untouched. Small run files (manifest, metrics,
report) live in `<root>/_runs/<run_id>/`.
"""
from __future__ import annotations

import posixpath
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

LAYERS = ("bronze", "silver", "gold")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_ABFSS_RE = re.compile(r"^abfss://(?P<container>[^@/]+)@(?P<account>[^./]+)\.dfs\.core\.windows\.net(?P<path>/.*)?$")


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


class Lake:
    """Paths and idempotent reads/writes for every table of the lake."""

    def __init__(self, root: str):
        if not root:
            raise LakeError("lake root is empty")
        self.is_remote = "://" in root and not root.startswith("file://")
        if root.startswith("abfss://"):
            parse_abfss(root)
        if root.startswith("file://"):
            root = root[len("file://"):]
        self.root = root.rstrip("/") if self.is_remote else str(Path(root).resolve())

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    # --- paths ------------------------------------------------------------------------------
    def _join(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts) if self.is_remote else str(Path(self.root, *parts))

    def table_path(self, table: str) -> str:
        """`table` is 'layer/name' (e.g. 'silver/films', 'silver/quarantine/films')."""
        layer = table.split("/", 1)[0]
        if layer not in LAYERS or "/" not in table:
            raise LakeError(f"table {table!r} must be '<bronze|silver|gold>/<name>'")
        return self._join(*table.split("/"))

    def partition_path(self, table: str, run_id: str) -> str:
        return self._join(*table.split("/"), f"run_id={validate_run_id(run_id)}")

    def presence(self, tables: Iterable[str], run_id: str) -> list[str]:
        """Dry-run lines: whether each table has a partition for this run (no Spark needed for a local lake)."""
        if self.is_remote:
            return [f"{table}: remote lake, checked when the step runs" for table in tables]
        return [f"{table}: {'present' if self.exists(self.partition_path(table, run_id)) else 'NOT YET WRITTEN'} "
                f"for run {run_id} ({self.partition_path(table, run_id)})" for table in tables]

    def run_dir(self, run_id: str) -> str:
        return self._join("_runs", validate_run_id(run_id))

    def run_file(self, run_id: str, name: str) -> str:
        return self._join("_runs", validate_run_id(run_id), name)

    # --- small files (manifest, metrics, report) -----------------------------------------------
    def write_text(self, path: str, text: str, spark: "SparkSession | None" = None) -> None:
        if not self.is_remote:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)  # atomic on POSIX: a reader never sees half a manifest
            return
        fs, jpath = _hadoop_fs(_require(spark), path)
        out = fs.create(jpath, True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def read_text(self, path: str, spark: "SparkSession | None" = None) -> str | None:
        if not self.is_remote:
            p = Path(path)
            return p.read_text(encoding="utf-8") if p.exists() else None
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
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
            return
        fs, jpath = _hadoop_fs(_require(spark), path)
        if fs.exists(jpath):
            fs.delete(jpath, True)

    def list_runs(self, spark: "SparkSession | None" = None) -> list[str]:
        """Run ids that have a run folder, oldest first (run ids sort by time when they are timestamps)."""
        runs_dir = self._join("_runs")
        if not self.is_remote:
            p = Path(runs_dir)
            return sorted(d.name for d in p.iterdir() if d.is_dir()) if p.exists() else []
        fs, jpath = _hadoop_fs(_require(spark), runs_dir)
        if not fs.exists(jpath):
            return []
        return sorted(s.getPath().getName() for s in fs.listStatus(jpath) if s.isDirectory())

    # --- tables --------------------------------------------------------------------------------
    def write_table(self, df: "DataFrame", table: str, run_id: str) -> None:
        """Replace exactly this run's partition of `table` with `df` (any existing run_id column is overwritten)."""
        from pyspark.sql import functions as F

        spark = df.sparkSession
        self.delete(self.partition_path(table, run_id), spark)
        (df.withColumn("run_id", F.lit(run_id))
           .write.mode("overwrite")
           .option("partitionOverwriteMode", "dynamic")
           .partitionBy("run_id")
           .parquet(self.table_path(table)))

    def read_table(self, spark: "SparkSession", table: str, run_id: str, schema: "StructType") -> "DataFrame":
        """One run of a table, with its declared schema; a run that wrote nothing reads as an empty frame."""
        from pyspark.sql import functions as F

        path = self.partition_path(table, run_id)
        data_schema = _without(schema, "run_id")
        if not self.exists(path, spark):
            df = spark.createDataFrame([], data_schema)
        else:
            df = spark.read.schema(data_schema).parquet(path)
        return df.withColumn("run_id", F.lit(run_id))

    def table_runs(self, table: str, spark: "SparkSession | None" = None) -> list[str]:
        base = self.table_path(table)
        if not self.is_remote:
            p = Path(base)
            names: Iterable[str] = [d.name for d in p.iterdir() if d.is_dir()] if p.exists() else []
        else:
            fs, jpath = _hadoop_fs(_require(spark), base)
            names = [s.getPath().getName() for s in fs.listStatus(jpath)] if fs.exists(jpath) else []
        return sorted(n.split("=", 1)[1] for n in names if n.startswith("run_id="))


def _without(schema: "StructType", name: str) -> "StructType":
    from pyspark.sql.types import StructType

    return StructType([f for f in schema.fields if f.name != name])


def _require(spark: "SparkSession | None") -> "SparkSession":
    if spark is None:
        raise LakeError("a remote lake needs a SparkSession for file operations")
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
