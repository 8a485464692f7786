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
from dataclasses import dataclass, field, fields
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


def _setting(env: str, default: Any, doc: str, secret: bool = False, choices: tuple = ()) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc, "secret": secret, "choices": choices})


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
    pg_host: str = _setting("PG_HOST", "", "PostgreSQL host for the recommender; empty = skip writing to PostgreSQL")
    pg_port: int = _setting("PG_PORT", 5432, "PostgreSQL port")
    pg_database: str = _setting("PG_DATABASE", "soundtrack_lake", "PostgreSQL database")
    pg_user: str = _setting("PG_USER", "postgres", "PostgreSQL user")
    pg_password: Secret = _setting("PG_PASSWORD", Secret(""), "PostgreSQL password", secret=True)
    pg_schema: str = _setting("PG_SCHEMA", "public", "Schema the recommender tables go to")
    jdbc_jar: str = _setting("JDBC_JAR", "/usr/share/java/postgresql.jar", "PostgreSQL JDBC driver jar (Debian libpostgresql-jdbc-java)")

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
        if self.lake_lock_stale_s <= 0:
            raise ConfigError(f"LAKE_LOCK_STALE_S={self.lake_lock_stale_s} must be > 0")
        for key, share in (("INCREMENTAL_MAX_VANISHED_SHARE", self.incremental_max_vanished_share),
                           ("LINK_HISTORY_SCORE_TOLERANCE", self.link_history_score_tolerance)):
            if not 0 <= share <= 1:
                raise ConfigError(f"{key}={share} must be between 0 and 1")
        if not 0 <= self.max_quarantine_share <= 1:
            raise ConfigError(f"MAX_QUARANTINE_SHARE={self.max_quarantine_share} must be between 0 and 1")
        if self.tmdb_rate_limit_per_s <= 0 or self.musicbrainz_rate_limit_per_s <= 0 or self.discogs_rate_limit_per_min <= 0:
            raise ConfigError("rate limits (TMDB_RATE_LIMIT_PER_S, DISCOGS_RATE_LIMIT_PER_MIN, MUSICBRAINZ_RATE_LIMIT_PER_S) must be > 0")

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
        shaping = {k: v for k, v in self.public_dict().items()
                   if k not in {"log_dir", "log_level", "keep_logs", "lake_lock_stale_s", "incremental"}}
        return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.public_dict().items())
        return f"Settings({inner})"


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


REPO_DEFAULT_PATHS = {"LAKE_ROOT", "INPUT_DIR", "LABELS_PATH", "LOG_DIR", "MATCH_SETTINGS_PATH"}


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
