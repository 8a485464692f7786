"""Typed settings for the whole pipeline, loaded once from the environment and `.env`.

Every knob the pipeline has is a field here, with its environment key, default and meaning
(`.env.example` documents the same keys for users). Code below this module receives a `Settings`
object and never reads `os.environ` itself (Twelve-Factor: one build, config from the environment).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from dotenv import dotenv_values

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the environment key and the fix."""


class Secret:
    """A string that never shows itself in repr/str/logs; call `.reveal()` where it is really sent."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None):
        self._value = value or ""

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _setting(env: str, default: Any, doc: str, secret: bool = False, choices: tuple = (),
             shapes_output: bool = True) -> Any:
    """A setting: its environment key, default and meaning. `shapes_output=False` keeps it out of the config
    fingerprint (where logs go, how to reach the VM: nothing that changes what a run writes)."""
    return field(default=default, metadata={"env": env, "doc": doc, "secret": secret, "choices": choices,
                                            "shapes_output": shapes_output})


@dataclass(frozen=True)
class Settings:
    # --- lake and inputs -------------------------------------------------------------------
    lake_root: str = _setting("LAKE_ROOT", str(REPO_ROOT / "data" / "lake"),
                              "Root of the Medallion lake: a local folder or abfss://container@account.dfs.core.windows.net/path")
    input_dir: str = _setting("INPUT_DIR", str(REPO_ROOT / "data" / "sample"),
                              "Folder with tmdb/, musicbrainz/, discogs/, movielens/ inputs (file mode)")
    labels_path: str = _setting("LABELS_PATH", str(REPO_ROOT / "data" / "eval" / "dev_labels.csv"),
                                "Labelled film-release pairs used by `evaluate` and the report (optional)")
    log_dir: str = _setting("LOG_DIR", str(REPO_ROOT / "logs"), "Where run logs go")
    log_level: str = _setting("LOG_LEVEL", "INFO", "Pipeline log level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    min_free_disk_gb: float = _setting("MIN_FREE_DISK_GB", 2.0, "check_env fails below this much free disk at the lake root")

    # --- Spark -------------------------------------------------------------------------------
    spark_master: str = _setting("SPARK_MASTER", "local[*]",
                                 "Spark master URL; 'cluster' = use the session/master the platform provides (Databricks, spark-submit)")
    spark_shuffle_partitions: int = _setting("SPARK_SHUFFLE_PARTITIONS", 0,
                                             "Shuffle partitions; 0 = automatic (2 x cores locally, AQE coalesces)")
    spark_driver_memory: str = _setting("SPARK_DRIVER_MEMORY", "4g", "Driver heap for local runs (local mode runs executors in the driver)")
    spark_ui_enabled: bool = _setting("SPARK_UI_ENABLED", False, "Start the Spark web UI (port 4040)")
    spark_profile: str = _setting("SPARK_PROFILE", "auto",
                                  "Compile settings of a local run: short = JIT at C1 and interpreted SQL expressions (a "
                                  "run on a few MB never repays the compiles), long = Spark's defaults, auto = short when "
                                  "the file-mode input holds under 128 MiB (docs/operations.md#spark-profile)",
                                  choices=("auto", "short", "long"), shapes_output=False)

    # --- source selection --------------------------------------------------------------------
    tmdb_mode: str = _setting("TMDB_MODE", "file", "file = read input_dir/tmdb/*.jsonl.gz; api = call TMDB", choices=("file", "api"))
    discogs_mode: str = _setting("DISCOGS_MODE", "file", "file = dumps + saved search pages; api = call Discogs", choices=("file", "api"))
    musicbrainz_mode: str = _setting("MUSICBRAINZ_MODE", "file", "file = JSON dump lines; api = MusicBrainz web service",
                                     choices=("file", "api"))

    # --- TMDB API ------------------------------------------------------------------------------
    tmdb_bearer_token: Secret = _setting("TMDB_BEARER_TOKEN", Secret(""), "TMDB API read-access token (v4 bearer); preferred", secret=True)
    tmdb_api_key: Secret = _setting("TMDB_API_KEY", Secret(""), "TMDB v3 api_key, used only when no bearer token is set", secret=True)
    tmdb_base_url: str = _setting("TMDB_BASE_URL", "https://api.themoviedb.org/3", "TMDB API base URL (tests point it at a fake server)")
    tmdb_rate_limit_per_s: float = _setting("TMDB_RATE_LIMIT_PER_S", 20.0, "Client-side request ceiling; TMDB's own is about 40/s")
    tmdb_date_from: str = _setting("TMDB_DATE_FROM", "1874-01-01", "First primary_release_date of the discover walk")
    tmdb_date_to: str = _setting("TMDB_DATE_TO", "", "Last primary_release_date of the walk; empty = today")
    tmdb_id_export: str = _setting("TMDB_ID_EXPORT", "", "Optional path of a daily movie_ids_MM_DD_YYYY.json.gz to seed ids from")
    tmdb_max_films: int = _setting("TMDB_MAX_FILMS", 0, "Stop after this many films in API mode (0 = no limit)")

    # --- Discogs API ---------------------------------------------------------------------------
    discogs_token: Secret = _setting("DISCOGS_TOKEN", Secret(""), "Discogs personal access token", secret=True)
    discogs_user_agent: str = _setting("DISCOGS_USER_AGENT", "soundtrack-lake/1.0 +https://example.invalid/soundtrack-lake",
                                       "Descriptive User-Agent; Discogs answers empty without one")
    discogs_base_url: str = _setting("DISCOGS_BASE_URL", "https://api.discogs.com", "Discogs API base URL")
    discogs_rate_limit_per_min: int = _setting("DISCOGS_RATE_LIMIT_PER_MIN", 55, "Client-side ceiling; Discogs allows 60/min authenticated")
    discogs_max_pages: int = _setting("DISCOGS_MAX_PAGES", 0, "Stop a search walk after this many pages (0 = no limit)")
    discogs_soundtrack_filter: bool = _setting("DISCOGS_SOUNDTRACK_FILTER", True,
                                               "Keep only soundtrack-like dump records (Stage & Screen, Soundtrack/Score/Musical)")

    # --- MusicBrainz API -----------------------------------------------------------------------
    musicbrainz_base_url: str = _setting("MUSICBRAINZ_BASE_URL", "https://musicbrainz.org/ws/2", "MusicBrainz web service URL")
    musicbrainz_user_agent: str = _setting("MUSICBRAINZ_USER_AGENT", "soundtrack-lake/1.0 ( ops@example.invalid )",
                                           "User-Agent with contact details, required by MusicBrainz")
    musicbrainz_rate_limit_per_s: float = _setting("MUSICBRAINZ_RATE_LIMIT_PER_S", 1.0, "MusicBrainz allows about 1 request/s")
    musicbrainz_soundtrack_filter: bool = _setting("MUSICBRAINZ_SOUNDTRACK_FILTER", True,
                                                   "Keep only release groups whose secondary types include Soundtrack "
                                                   "(a full JSON dump is mostly other music)")

    # --- HTTP ------------------------------------------------------------------------------------
    http_connect_timeout_s: float = _setting("HTTP_CONNECT_TIMEOUT_S", 5.0, "Connect timeout of every API call")
    http_read_timeout_s: float = _setting("HTTP_READ_TIMEOUT_S", 30.0, "Read timeout of every API call")
    http_max_retries: int = _setting("HTTP_MAX_RETRIES", 5, "Retries on 429/5xx/connection errors, with exponential backoff")
    http_backoff_s: float = _setting("HTTP_BACKOFF_S", 1.0, "First backoff delay; doubles on each retry (Retry-After wins)")

    # --- validation --------------------------------------------------------------------------------
    max_quarantine_share: float = _setting("MAX_QUARANTINE_SHARE", 0.2,
                                           "Fail the run when more than this share of a table breaks its contract (systemic fault)")

    # --- matching ------------------------------------------------------------------------------------
    match_settings_path: str = _setting("MATCH_SETTINGS_PATH", str(REPO_ROOT / "scripts_spark" / "match_settings.json"),
                                        "Versioned matcher settings: blocking, features, fitted weights, thresholds")

    # --- incremental runs (docs/incremental.md) --------------------------------------------------------
    incremental: str = _setting("INCREMENTAL", "auto",
                                "auto = a run builds on the lake's state when it can (same code and matcher settings); "
                                "full = rebuild everything (as `run --full` and `make run FULL=1`)",
                                choices=("auto", "full"))
    incremental_max_vanished_share: float = _setting(
        "INCREMENTAL_MAX_VANISHED_SHARE", 0.2,
        "Refuse a snapshot in which more than this share of a source's records vanish at once (a truncated dump, a "
        "half-copied folder); a real mass deletion needs a higher value for one run, or --full")
    link_history_score_tolerance: float = _setting("LINK_HISTORY_SCORE_TOLERANCE", 0.01,
                                                   "gold/link_history records a link's score change above this (0..1)")

    # --- recommender / PostgreSQL ----------------------------------------------------------------
    recommend_search: str = _setting("RECOMMEND_SEARCH", "quick",
                                     "Step 07's model search: quick = serve the point an earlier full search chose "
                                     "(about 50 s on the sample); full = search the whole grid on validation (about "
                                     "4 min on the sample; see recommend_settings.py)", choices=("quick", "full"))
    pg_host: str = _setting("PG_HOST", "", "PostgreSQL host for the recommender; empty = Gold tables only (`make run` "
                            "then starts a local server, see LOCAL_PG_DIR)")
    pg_port: int = _setting("PG_PORT", 5432, "PostgreSQL port")
    pg_database: str = _setting("PG_DATABASE", "soundtrack_lake", "PostgreSQL database")
    pg_user: str = _setting("PG_USER", "postgres", "PostgreSQL user")
    pg_password: Secret = _setting("PG_PASSWORD", Secret(""), "PostgreSQL password", secret=True)
    pg_schema: str = _setting("PG_SCHEMA", "public", "Schema the recommender tables go to")
    jdbc_jar: str = _setting("JDBC_JAR", "/usr/share/java/postgresql.jar", "PostgreSQL JDBC driver jar (Debian libpostgresql-jdbc-java)")
    local_pg_dir: str = _setting("LOCAL_PG_DIR", str(REPO_ROOT / "data" / "local_pg"),
                                 "Where `make run` keeps the throwaway PostgreSQL it starts when PG_HOST is empty "
                                 "(`run --local-postgres`; `make pg-stop` stops it, `make clean` deletes it)",
                                 shapes_output=False)

    # --- Azure -------------------------------------------------------------------------------------
    azure_storage_account: str = _setting("AZURE_STORAGE_ACCOUNT", "", "Storage account (ADLS Gen2) for abfss:// lakes and publish")
    azure_storage_key: Secret = _setting("AZURE_STORAGE_KEY", Secret(""), "Account key (or use a managed identity / service principal)",
                                         secret=True)
    azure_client_id: str = _setting("AZURE_CLIENT_ID", "", "Service principal or user-assigned identity client id")
    azure_client_secret: Secret = _setting("AZURE_CLIENT_SECRET", Secret(""), "Service principal secret", secret=True)
    azure_tenant_id: str = _setting("AZURE_TENANT_ID", "", "Azure AD tenant for the service principal")
    azure_blob_endpoint: str = _setting("AZURE_BLOB_ENDPOINT", "", "Blob endpoint override (Azurite in tests)")
    publish_container: str = _setting("PUBLISH_CONTAINER", "lake", "Container that `publish` uploads runs to")
    key_vault_name: str = _setting("KEY_VAULT_NAME", "", "Key Vault holding the API tokens (VM); empty = tokens from .env")
    log_analytics_endpoint: str = _setting("LOG_ANALYTICS_ENDPOINT", "", "Logs ingestion endpoint (DCE) for metrics.json")
    log_analytics_rule_id: str = _setting("LOG_ANALYTICS_RULE_ID", "", "Data collection rule immutable id")
    log_analytics_stream: str = _setting("LOG_ANALYTICS_STREAM", "Custom-SoundtrackLakeRuns_CL", "DCR stream name")

    # --- workstation <-> VM (`make sync`) ---------------------------------------------------------------
    vm_host: str = _setting("VM_HOST", "", "Azure VM that `make sync` keeps at this clone's commit over ssh; empty = "
                            "sync this workstation only", shapes_output=False)
    vm_user: str = _setting("VM_USER", "azureuser", "ssh user on the VM", shapes_output=False)
    vm_key: str = _setting("VM_KEY", "", "ssh private key for the VM (empty = ssh's own defaults and agent)",
                           shapes_output=False)
    vm_path: str = _setting("VM_PATH", "soundtrack-lake", "The project's clone on the VM (relative to the user's home, "
                            "or absolute)", shapes_output=False)
    vm_port: int = _setting("VM_PORT", 22, "ssh port of the VM", shapes_output=False)
    sync_log: str = _setting("SYNC_LOG", str(REPO_ROOT / "logs" / "sync_log.md"),
                             "`make sync` appends one dated line per side (workstation, VM) here", shapes_output=False)

    # --- run ------------------------------------------------------------------------------------------
    keep_logs: int = _setting("KEEP_LOGS", 30, "run_pipeline_safe.sh keeps this many pipeline logs")
    allow_partial_input: bool = _setting("ALLOW_PARTIAL_INPUT", False,
                                         "Keep the readable records of a truncated or corrupt input file (the loss is "
                                         "a reject row, noted in manifest and report); false = such a run fails")
    lake_lock_stale_s: float = _setting("LAKE_LOCK_STALE_S", 300.0,
                                        "An abfss:// lake lock whose heartbeat is older than this is taken over "
                                        "(the holder beats every tenth of it); local locks free themselves")

    def __post_init__(self) -> None:
        for f in fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise ConfigError(f"{f.metadata['env']}={value!r} is not one of {', '.join(choices)}")
        if not self.lake_root:
            raise ConfigError("LAKE_ROOT is empty: set it to a folder or an abfss:// URI")
        if self.lake_root.startswith("abfss://") and not re.match(
                r"^abfss://[^@/]+@[^./]+\.dfs\.core\.windows\.net(/.*)?$", self.lake_root):
            raise ConfigError(f"LAKE_ROOT={self.lake_root!r} is not abfss://<container>@<account>.dfs.core.windows.net/<path>")
        for f in fields(self):
            check_value(f.metadata["env"], getattr(self, f.name))

    # --- derived --------------------------------------------------------------------------------------
    @property
    def pg_enabled(self) -> bool:
        return bool(self.pg_host)

    def required_secrets(self) -> list[str]:
        """Environment keys that must be set for the selected modes (API tokens only for API sources)."""
        missing = []
        if self.tmdb_mode == "api" and not (self.tmdb_bearer_token or self.tmdb_api_key):
            missing.append("TMDB_BEARER_TOKEN (or TMDB_API_KEY)")
        if self.discogs_mode == "api" and not self.discogs_token:
            missing.append("DISCOGS_TOKEN")
        return missing

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def public_dict(self) -> dict[str, Any]:
        """Every setting with secrets shown only as set/unset: safe for logs, manifests and reports."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = ("***" if value else "") if f.metadata.get("secret") else value
        return out

    def fingerprint(self) -> str:
        """Short hash of the settings that shape the output (secrets and paths of logs excluded)."""
        quiet = {f.name for f in fields(self) if not f.metadata.get("shapes_output", True)}
        shaping = {k: v for k, v in self.public_dict().items()
                   if k not in {"log_dir", "log_level", "keep_logs", "lake_lock_stale_s", "incremental"} | quiet}
        return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.public_dict().items())
        return f"Settings({inner})"


# --- what a valid value is ------------------------------------------------------------------------------------
# Every numeric setting is checked against a range before anything starts: a count, a size, a time or a rate is
# never negative, so that is the rule for a number not listed here; these name their own bounds.
@dataclass(frozen=True)
class Range:
    low: float | None = 0
    high: float | None = None
    low_open: bool = False   # True: the value must be strictly above `low` (a rate or a timeout of 0 means nothing)

    def problem(self, value: float) -> str | None:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"must be {'>' if self.low_open else '>='} {self.low:g}" + (
                f" and <= {self.high:g}" if self.high is not None else "")
        if self.high is not None and value > self.high:
            return f"must be <= {self.high:g}" + (f" (and {'>' if self.low_open else '>='} {self.low:g})"
                                                  if self.low is not None else "")
        return None


POSITIVE = Range(0, low_open=True)
SHARE = Range(0, 1)
RANGES: dict[str, Range] = {
    "TMDB_RATE_LIMIT_PER_S": POSITIVE, "DISCOGS_RATE_LIMIT_PER_MIN": POSITIVE, "MUSICBRAINZ_RATE_LIMIT_PER_S": POSITIVE,
    "HTTP_CONNECT_TIMEOUT_S": POSITIVE, "HTTP_READ_TIMEOUT_S": POSITIVE, "LAKE_LOCK_STALE_S": POSITIVE,
    # urllib3's Retry counts down from this; past ~10 the doubling backoff already waits for hours.
    "HTTP_MAX_RETRIES": Range(0, 20),
    "HTTP_BACKOFF_S": Range(0, 600),
    "MAX_QUARANTINE_SHARE": SHARE, "INCREMENTAL_MAX_VANISHED_SHARE": SHARE, "LINK_HISTORY_SCORE_TOLERANCE": SHARE,
    "PG_PORT": Range(1, 65535), "VM_PORT": Range(1, 65535),
    "KEEP_LOGS": Range(1),
    "SPARK_SHUFFLE_PARTITIONS": Range(0, 100_000),
}

# Spark's size strings (JavaUtils.byteStringAs): digits and an optional unit; no unit means MiB for driver memory.
_MEMORY = re.compile(r"^(\d+)\s*([kmgtp]?)b?$", re.IGNORECASE)
_MIB = {"": 1, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 ** 2, "p": 1024 ** 3}
# Spark refuses to start a driver below 450 MiB of heap ("System memory ... must be at least 471859200").
MIN_DRIVER_MEMORY_MIB = 512
_SPARK_MASTER = re.compile(r"^(local(\[(\*|\d+)(,\d+)?\])?|cluster|yarn|(spark|k8s|mesos)://\S+)$")
_SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")


def memory_mib(text: str) -> float | None:
    """'4g' -> 4096, '512m' -> 512, '2048' -> 2048; None when Spark would not read it as a size."""
    match = _MEMORY.match(text.strip())
    return int(match[1]) * _MIB[match[2].lower()] if match else None


def _format_problem(key: str, value: Any) -> str | None:
    if key == "SPARK_DRIVER_MEMORY":
        mib = memory_mib(value)
        if mib is None:
            return "is not a memory size: use a number with a unit, e.g. 4g or 512m"
        if mib < MIN_DRIVER_MEMORY_MIB:
            return f"is below {MIN_DRIVER_MEMORY_MIB}m, the least a Spark driver starts with"
    elif key == "SPARK_MASTER" and not _SPARK_MASTER.match(value):
        return "is not a Spark master: local[*], local[N], cluster, yarn, spark://host:port or k8s://..."
    elif key in ("TMDB_DATE_FROM", "TMDB_DATE_TO") and value:
        try:
            date.fromisoformat(value)
        except ValueError:
            return "is not a date (YYYY-MM-DD)"
    elif key.endswith("_BASE_URL") and not re.match(r"^https?://[^\s/]+", value):
        return "is not an http(s):// URL"
    elif key == "PG_SCHEMA" and not _SQL_IDENTIFIER.match(value):
        return "is not a plain lower-case SQL identifier (letters, digits, '_')"
    return None


def check_value(key: str, value: Any) -> None:
    """Raise ConfigError naming `key` when `value` is out of its range or not in its format."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        problem = RANGES.get(key, Range()).problem(value)
    elif isinstance(value, str):
        problem = _format_problem(key, value)
    else:
        problem = None
    if problem:
        raise ConfigError(f"{key}={value!r} {problem}")


# --- what the environment must allow: checked before Spark starts, by `run`, `dryrun` and check_env.sh alike ----
def writable_problem(path: str) -> str | None:
    """Why `path` (a folder that may not exist yet) cannot be written, or None. Permission bits are not enough
    (root passes os.access everywhere, /proc says yes and then refuses): a probe file is created in the nearest
    existing folder and removed at once."""
    p = Path(path).expanduser()
    existing = p
    while not existing.exists():
        if existing.parent == existing:
            return "no existing parent folder"
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-probe-"):
            pass
    except OSError as exc:
        return f"cannot create a file in {existing}: {exc.strerror or exc}"
    return None


# The steps whose settings environment_problems checks when a run names none (every step that needs one).
STEPS_CHECKED = ("01", "02", "03", "05", "07")


def environment_problems(settings: "Settings", steps: list[str] | None = None,
                         local_postgres: bool = False) -> list[tuple[str, str]]:
    """(key, problem) for every setting the run `steps` (None: all) would fail on before Spark could tell.
    `local_postgres`: the run will start its own PostgreSQL in LOCAL_PG_DIR (PG_HOST empty)."""
    steps = list(STEPS_CHECKED) if steps is None else steps
    problems: list[tuple[str, str]] = []
    local_lake = not re.match(r"^[a-z][a-z0-9+.-]*://", settings.lake_root) or settings.lake_root.startswith("file://")
    paths = {"LOG_DIR": settings.log_dir}
    if local_lake:
        paths["LAKE_ROOT"] = settings.lake_root.removeprefix("file://")
    if local_postgres and not settings.pg_enabled:
        paths["LOCAL_PG_DIR"] = settings.local_pg_dir
    for key, path in paths.items():
        problem = writable_problem(path)
        if problem:
            problems.append((key, f"{key}={path} is not writable: {problem}"))
    if local_lake and "LAKE_ROOT" not in {key for key, _ in problems}:
        existing = Path(paths["LAKE_ROOT"]).expanduser()
        while not existing.exists():
            existing = existing.parent
        free_gb = shutil.disk_usage(existing).free / 1e9
        if free_gb < settings.min_free_disk_gb:
            problems.append(("MIN_FREE_DISK_GB", f"{free_gb:.1f} GB free at {existing} < MIN_FREE_DISK_GB="
                                                 f"{settings.min_free_disk_gb:g}: free space, move LAKE_ROOT or lower it"))
    reads_input = any(s in ("01", "02", "07") for s in steps)
    if reads_input and not Path(settings.input_dir).is_dir():
        problems.append(("INPUT_DIR", f"INPUT_DIR={settings.input_dir} is not a folder"))
    if any(s in ("03", "05") for s in steps) and not Path(settings.match_settings_path).is_file():
        problems.append(("MATCH_SETTINGS_PATH", f"MATCH_SETTINGS_PATH={settings.match_settings_path} is not a file"))
    if "07" in steps and settings.pg_enabled and not Path(settings.jdbc_jar).is_file():
        problems.append(("JDBC_JAR", f"JDBC_JAR={settings.jdbc_jar} not found (PG_HOST is set): run "
                                     "infrastructure/setup/postgres.sh or set JDBC_JAR"))
    return problems


def validate_environment(settings: "Settings", steps: list[str] | None = None, local_postgres: bool = False) -> None:
    """Raise ConfigError (exit 2) naming every key the run would fail on; see `environment_problems`."""
    problems = environment_problems(settings, steps, local_postgres)
    if problems:
        raise ConfigError("; ".join(message for _, message in problems))


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(f: dataclasses.Field, raw: str) -> Any:
    env = f.metadata["env"]
    kind = type(f.default)
    try:
        if kind is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError("expected true/false")
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Secret:
            return Secret(raw.strip())
        return raw.strip()
    except ValueError as exc:
        raise ConfigError(f"{env}={raw!r} is not a valid {kind.__name__}: {exc}") from None


def env_keys() -> list[tuple[str, Any, str, bool]]:
    """(key, default, doc, is_secret) for every setting: the source of `.env.example` and the README table."""
    return [(f.metadata["env"], f.default, f.metadata["doc"], f.metadata["secret"]) for f in fields(Settings)]


def load_settings(env_file: str | Path | None = None, environ: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Build Settings from `.env` (if present), then the process environment, then explicit overrides.

    The process environment wins over `.env` so that cron and CI can override a workstation file.
    """
    env_path = Path(env_file) if env_file else REPO_ROOT / ".env"
    values: dict[str, str] = {}
    if env_path.exists():
        values.update({k: v for k, v in dotenv_values(env_path).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    kwargs: dict[str, Any] = {}
    for f in fields(Settings):
        env = f.metadata["env"]
        if values.get(env, "").strip() != "":  # an empty value means "use the default"
            kwargs[f.name] = _coerce(f, values[env])
    for name, value in overrides.items():
        if value is None:
            continue
        f = next((x for x in fields(Settings) if x.name == name), None)
        if f is None:
            raise ConfigError(f"unknown setting {name!r}")
        kwargs[name] = _coerce(f, value) if isinstance(value, str) and not isinstance(f.default, str) else value
    return Settings(**kwargs)


REPO_DEFAULT_PATHS = {"LAKE_ROOT", "INPUT_DIR", "LABELS_PATH", "LOG_DIR", "MATCH_SETTINGS_PATH", "LOCAL_PG_DIR",
                      "SYNC_LOG"}


def env_example() -> str:
    """The text of `.env.example`, generated from the fields above so the two cannot drift apart."""
    lines = ["# soundtrack-lake settings. Copy to .env and edit; the process environment overrides this file.",
             "# Every key is optional: an empty value means the default (shown after = where it is not a repo path).",
             "# API tokens are needed only when an API mode is selected (TMDB_MODE=api, DISCOGS_MODE=api).",
             "# Regenerate with: .venv/bin/python -m scripts_spark.config > .env.example", ""]
    for key, default, doc, secret in env_keys():
        if isinstance(default, Secret) or key in REPO_DEFAULT_PATHS:
            shown = ""
        elif isinstance(default, bool):
            shown = str(default).lower()
        else:
            shown = str(default)
        suffix = " (empty = repo default)" if key in REPO_DEFAULT_PATHS else ""
        lines += [f"# {doc}{suffix}{' [secret]' if secret else ''}", f"{key}={shown}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(env_example(), end="")
