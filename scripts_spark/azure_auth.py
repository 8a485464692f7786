"""Azure AD tokens and Key Vault secrets for the VM, without a new dependency.

`publish` (Blob storage) and `ship_metrics` (Logs Ingestion API) need an OAuth token when no account key is
set. On the VM the token comes from the Instance Metadata Service (IMDS) with the VM's managed identity;
elsewhere from a service principal (AZURE_CLIENT_ID / AZURE_CLIENT_SECRET / AZURE_TENANT_ID). Each is one HTTP
call: azure-identity would add msal, msal-extensions and PyJWT for the same two calls, so they are written here
with requests, explicit timeouts, urllib3 `Retry` and a token cache. Both classes implement azure-core's
`TokenCredential` protocol (`get_token(*scopes) -> AccessToken`), so azure-storage-blob takes them as they are.

The API tokens (TMDB, Discogs, PostgreSQL password) live in Key Vault, not on the VM's disk:

    python -m scripts_spark.azure_auth exec-with-secrets -- ./run_pipeline_safe.sh

reads every secret setting (`config.env_keys()` marked secret) that the vault holds, under the setting's
environment key with '_' spelled '-' (TMDB_BEARER_TOKEN -> secret `TMDB-BEARER-TOKEN`), and replaces itself
with the command, the secrets in its environment only (the process environment wins over `.env`).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Callable, Iterable, Mapping

import requests
from azure.core.credentials import AccessToken
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .config import REPO_ROOT, Settings, env_keys

IMDS_ENDPOINT = "http://169.254.169.254"
IMDS_API_VERSION = "2018-02-01"
AAD_AUTHORITY = "https://login.microsoftonline.com"
STORAGE_SCOPE = "https://storage.azure.com/.default"
# The Logs Ingestion API's audience is "https://monitor.azure.com/"; the v2 scope therefore has two slashes.
MONITOR_SCOPE = "https://monitor.azure.com//.default"
KEY_VAULT_SCOPE = "https://vault.azure.net/.default"
KEY_VAULT_API_VERSION = "7.4"
# Refresh a cached token this long before it expires, so a token never runs out in the middle of a long upload.
TOKEN_REFRESH_MARGIN_S = 300
# Until KEY_VAULT_NAME is a field of Settings, the CLI reads it from the environment / .env under this key.
KEY_VAULT_NAME_KEY = "KEY_VAULT_NAME"
# IMDS answers 404 while a just-assigned identity propagates, and 429/5xx under load: retry those
# (https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#error-handling).
_RETRY_STATUSES = (404, 429, 500, 502, 503, 504)


class AzureAuthError(RuntimeError):
    """No token could be had; the message says from where and why (never the secret)."""


def http_session(max_retries: int, backoff_s: float, statuses: Iterable[int] = _RETRY_STATUSES) -> requests.Session:
    """A session that retries idempotent and POST calls on the given statuses, honouring Retry-After."""
    retry = Retry(total=max_retries, connect=max_retries, read=max_retries, status=max_retries,
                  backoff_factor=backoff_s, status_forcelist=tuple(statuses),
                  allowed_methods=frozenset({"GET", "POST"}), respect_retry_after_header=True,
                  raise_on_status=False)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


def scope_to_resource(scope: str) -> str:
    """'https://storage.azure.com/.default' -> 'https://storage.azure.com' (IMDS takes a resource, not a scope)."""
    return scope[: -len("/.default")] if scope.endswith("/.default") else scope


class _CachingCredential:
    """Token cache per scope, shared by both credentials; subclasses fetch `(token, expires_on)`."""

    def __init__(self, session: requests.Session, timeout: tuple[float, float]):
        self._session = session
        self._timeout = timeout
        self._cache: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def get_token(self, *scopes: str, **_: object) -> AccessToken:
        if len(scopes) != 1:
            raise AzureAuthError(f"exactly one scope per token request, got {scopes!r}")
        scope = scopes[0]
        with self._lock:
            cached = self._cache.get(scope)
            if cached and cached.expires_on - TOKEN_REFRESH_MARGIN_S > time.time():
                return cached
            token = self._fetch(scope)
            self._cache[scope] = token
            return token

    def bearer(self, scope: str) -> str:
        return self.get_token(scope).token

    def _fetch(self, scope: str) -> AccessToken:  # pragma: no cover - abstract
        raise NotImplementedError

    def _json(self, response: requests.Response, source: str) -> dict:
        if response.status_code != 200:
            # The body of a failed token call names the problem (e.g. "Identity not found") and holds no secret.
            raise AzureAuthError(f"{source} answered {response.status_code}: {_one_line(response.text)}")
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not doc.get("access_token"):
            raise AzureAuthError(f"{source} answered without an access_token")
        return doc


class ManagedIdentityCredential(_CachingCredential):
    """The VM's system-assigned identity, or a user-assigned one when `client_id` is given."""

    def __init__(self, client_id: str = "", endpoint: str = IMDS_ENDPOINT, *, session: requests.Session,
                 timeout: tuple[float, float]):
        super().__init__(session, timeout)
        self.client_id = client_id
        self.endpoint = endpoint.rstrip("/")

    def _fetch(self, scope: str) -> AccessToken:
        params = {"api-version": IMDS_API_VERSION, "resource": scope_to_resource(scope)}
        if self.client_id:
            params["client_id"] = self.client_id
        try:
            response = self._session.get(f"{self.endpoint}/metadata/identity/oauth2/token", params=params,
                                         headers={"Metadata": "true"}, timeout=self._timeout)
        except requests.RequestException as exc:
            raise AzureAuthError(f"managed identity endpoint {self.endpoint} unreachable ({type(exc).__name__}); "
                                 "is this an Azure VM with an identity?") from None
        doc = self._json(response, "managed identity endpoint")
        return AccessToken(doc["access_token"], int(float(doc.get("expires_on") or time.time() + 3600)))


class ClientSecretCredential(_CachingCredential):
    """A service principal (app registration) with a client secret."""

    def __init__(self, tenant_id: str, client_id: str, client_secret: str, authority: str = AAD_AUTHORITY, *,
                 session: requests.Session, timeout: tuple[float, float]):
        super().__init__(session, timeout)
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._client_secret = client_secret
        self.authority = authority.rstrip("/")

    def _fetch(self, scope: str) -> AccessToken:
        url = f"{self.authority}/{self.tenant_id}/oauth2/v2.0/token"
        form = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self._client_secret, "scope": scope}
        try:
            response = self._session.post(url, data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            raise AzureAuthError(f"token endpoint {self.authority} unreachable ({type(exc).__name__})") from None
        doc = self._json(response, "token endpoint")
        return AccessToken(doc["access_token"], int(time.time() + float(doc.get("expires_in") or 3600)))


def credential_from_settings(settings: Settings, *, imds_endpoint: str = IMDS_ENDPOINT,
                             authority: str = AAD_AUTHORITY) -> _CachingCredential:
    """Service principal when all three of id/secret/tenant are set, else the managed identity."""
    session = http_session(settings.http_max_retries, settings.http_backoff_s)
    timeout = (settings.http_connect_timeout_s, settings.http_read_timeout_s)
    if settings.azure_client_id and settings.azure_client_secret and settings.azure_tenant_id:
        return ClientSecretCredential(settings.azure_tenant_id, settings.azure_client_id,
                                      settings.azure_client_secret.reveal(), authority,
                                      session=session, timeout=timeout)
    return ManagedIdentityCredential(settings.azure_client_id, imds_endpoint, session=session, timeout=timeout)


# --- Key Vault ----------------------------------------------------------------------------------------
def secret_name(env_key: str) -> str:
    """Key Vault secret names allow letters, digits and '-': TMDB_BEARER_TOKEN -> TMDB-BEARER-TOKEN."""
    return env_key.replace("_", "-")


def secret_env_keys() -> list[str]:
    """Environment keys of every secret setting, from the one list of settings."""
    return [key for key, _default, _doc, is_secret in env_keys() if is_secret]


def keyvault_secrets(vault_url: str, env_keys_wanted: Iterable[str], bearer: Callable[[], str],
                     session: requests.Session, timeout: tuple[float, float]) -> dict[str, str]:
    """{env key: value} for the secrets the vault holds; a secret the vault does not have (404) is left out."""
    headers = {"Authorization": f"Bearer {bearer()}"}
    found: dict[str, str] = {}
    for key in env_keys_wanted:
        url = f"{vault_url.rstrip('/')}/secrets/{secret_name(key)}"
        response = session.get(url, params={"api-version": KEY_VAULT_API_VERSION}, headers=headers, timeout=timeout)
        if response.status_code == 404:
            continue
        if response.status_code != 200:
            raise AzureAuthError(f"Key Vault {vault_url} answered {response.status_code} for secret "
                                 f"{secret_name(key)}: {_one_line(response.text)}")
        found[key] = response.json()["value"]
    return found


def _env_value(key: str, environ: Mapping[str, str]) -> str:
    from dotenv import dotenv_values

    if environ.get(key):
        return environ[key]
    env_file = REPO_ROOT / ".env"
    return (dotenv_values(env_file).get(key) or "") if env_file.exists() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts_spark.azure_auth",
        description="Run a command with the pipeline's secrets from Azure Key Vault in its environment "
                    "(managed identity on the VM, or the service principal from .env).")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("exec-with-secrets", help="fetch the secret settings from Key Vault, then exec COMMAND")
    ex.add_argument("--vault-url", help=f"default: https://<{KEY_VAULT_NAME_KEY}>.vault.azure.net")
    ex.add_argument("--imds-endpoint", default=IMDS_ENDPOINT, help=argparse.SUPPRESS)  # tests: a local fake IMDS
    ex.add_argument("--authority", default=AAD_AUTHORITY, help=argparse.SUPPRESS)
    ex.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command [args...]")
    args = parser.parse_args(argv)

    from .config import ConfigError, load_settings

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("give the command to run after --")
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    vault_url = args.vault_url
    if not vault_url:
        name = _env_value(KEY_VAULT_NAME_KEY, os.environ)
        if not name:
            print(f"configuration error: set {KEY_VAULT_NAME_KEY} in .env (the Bicep output keyVaultName)",
                  file=sys.stderr)
            return 2
        vault_url = f"https://{name}.vault.azure.net"
    credential = credential_from_settings(settings, imds_endpoint=args.imds_endpoint, authority=args.authority)
    try:
        secrets = keyvault_secrets(vault_url, secret_env_keys(), lambda: credential.bearer(KEY_VAULT_SCOPE),
                                   http_session(settings.http_max_retries, settings.http_backoff_s, (429, 500, 502, 503, 504)),
                                   (settings.http_connect_timeout_s, settings.http_read_timeout_s))
    except (AzureAuthError, requests.RequestException) as exc:
        print(f"exec-with-secrets: {exc}", file=sys.stderr)
        return 1
    print(f"exec-with-secrets: {len(secrets)} secret(s) from {vault_url}: {', '.join(sorted(secrets)) or 'none'}",
          file=sys.stderr)
    sys.stdout.flush()
    os.execvpe(cmd[0], cmd, {**os.environ, **secrets})
    return 0  # pragma: no cover - exec does not return


if __name__ == "__main__":
    sys.exit(main())
