"""Managed identity / service principal tokens and Key Vault secrets against local fake Azure endpoints."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.wrappers import Response

from scripts_spark.azure_auth import (STORAGE_SCOPE, AzureAuthError, ClientSecretCredential, ManagedIdentityCredential,
                                      credential_from_settings, http_session, keyvault_secrets, scope_to_resource,
                                      secret_env_keys, secret_name)
from scripts_spark.config import Secret

REPO = Path(__file__).resolve().parent.parent
TOKEN_PATH = "/metadata/identity/oauth2/token"
FAR_FUTURE = "4102444800"  # 2100-01-01


def managed_identity(httpserver, client_id: str = "") -> ManagedIdentityCredential:
    return ManagedIdentityCredential(client_id, httpserver.url_for("").rstrip("/"),
                                     session=http_session(3, 0.0), timeout=(2, 5))


def test_managed_identity_asks_imds_for_the_resource_and_caches_the_token(httpserver):
    httpserver.expect_request(TOKEN_PATH, headers={"Metadata": "true"}, query_string={
        "api-version": "2018-02-01", "resource": "https://storage.azure.com", "client_id": "uami-1"}).respond_with_json(
        {"access_token": "tok-1", "expires_on": FAR_FUTURE})
    credential = managed_identity(httpserver, client_id="uami-1")

    first = credential.get_token(STORAGE_SCOPE)
    second = credential.get_token(STORAGE_SCOPE)

    assert first.token == second.token == "tok-1" and first.expires_on == int(FAR_FUTURE)
    assert len(httpserver.log) == 1


def test_a_token_close_to_expiry_is_fetched_again(httpserver):
    httpserver.expect_request(TOKEN_PATH).respond_with_json({"access_token": "short", "expires_on": "1000"})
    credential = managed_identity(httpserver)
    credential.get_token(STORAGE_SCOPE)
    credential.get_token(STORAGE_SCOPE)
    assert len(httpserver.log) == 2


def test_imds_404_while_the_identity_propagates_is_retried(httpserver):
    httpserver.expect_ordered_request(TOKEN_PATH).respond_with_response(Response("not yet", status=404))
    httpserver.expect_ordered_request(TOKEN_PATH).respond_with_json({"access_token": "late", "expires_on": FAR_FUTURE})
    assert managed_identity(httpserver).bearer(STORAGE_SCOPE) == "late"


def test_imds_errors_and_unreachable_endpoints_say_where_the_token_failed(httpserver):
    httpserver.expect_request(TOKEN_PATH).respond_with_json({"error": "invalid_request",
                                                             "error_description": "Identity not found"}, status=400)
    with pytest.raises(AzureAuthError, match="400.*Identity not found"):
        managed_identity(httpserver).bearer(STORAGE_SCOPE)
    nowhere = ManagedIdentityCredential("", "http://127.0.0.1:9", session=http_session(0, 0.0), timeout=(0.5, 0.5))
    with pytest.raises(AzureAuthError, match="unreachable"):
        nowhere.bearer(STORAGE_SCOPE)


def test_an_answer_without_access_token_is_an_error(httpserver):
    httpserver.expect_request(TOKEN_PATH).respond_with_data("<html>proxy login</html>", status=200)
    with pytest.raises(AzureAuthError, match="without an access_token"):
        managed_identity(httpserver).bearer(STORAGE_SCOPE)


def test_one_scope_per_request():
    credential = ManagedIdentityCredential(session=http_session(0, 0.0), timeout=(1, 1))
    with pytest.raises(AzureAuthError, match="exactly one scope"):
        credential.get_token("a/.default", "b/.default")


def test_service_principal_posts_client_credentials_to_its_tenant(httpserver):
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token", method="POST").respond_with_json(
        {"access_token": "sp-tok", "expires_in": 3599, "token_type": "Bearer"})
    credential = ClientSecretCredential("tenant-1", "app-1", "s3cret", httpserver.url_for(""),
                                        session=http_session(0, 0.0), timeout=(2, 5))

    assert credential.bearer(STORAGE_SCOPE) == "sp-tok"
    form = httpserver.log[0][0].form
    assert dict(form) == {"grant_type": "client_credentials", "client_id": "app-1", "client_secret": "s3cret",
                          "scope": STORAGE_SCOPE}
    unreachable = ClientSecretCredential("t", "a", "s", "http://127.0.0.1:9", session=http_session(0, 0.0),
                                         timeout=(0.5, 0.5))
    with pytest.raises(AzureAuthError, match="unreachable"):
        unreachable.bearer(STORAGE_SCOPE)


def test_settings_choose_the_service_principal_only_when_it_is_complete(settings):
    assert isinstance(credential_from_settings(settings), ManagedIdentityCredential)
    partial = settings.replace(azure_client_id="app-1", azure_tenant_id="t")
    assert isinstance(credential_from_settings(partial), ManagedIdentityCredential)  # a user-assigned identity
    full = partial.replace(azure_client_secret=Secret("s"))
    assert isinstance(credential_from_settings(full), ClientSecretCredential)


def test_secret_names_follow_the_settings_keys():
    assert scope_to_resource("https://monitor.azure.com//.default") == "https://monitor.azure.com/"
    assert secret_name("TMDB_BEARER_TOKEN") == "TMDB-BEARER-TOKEN"
    assert {"TMDB_BEARER_TOKEN", "DISCOGS_TOKEN", "PG_PASSWORD"} <= set(secret_env_keys())
    assert "LAKE_ROOT" not in secret_env_keys()


def test_keyvault_returns_the_secrets_it_has_and_skips_the_others(httpserver):
    httpserver.expect_request("/secrets/TMDB-BEARER-TOKEN", headers={"Authorization": "Bearer kv"},
                              query_string={"api-version": "7.4"}).respond_with_json({"value": "tmdb-v4"})
    httpserver.expect_request("/secrets/DISCOGS-TOKEN").respond_with_json({"error": {"code": "SecretNotFound"}},
                                                                          status=404)
    found = keyvault_secrets(httpserver.url_for(""), ["TMDB_BEARER_TOKEN", "DISCOGS_TOKEN"], lambda: "kv",
                             http_session(0, 0.0), (2, 5))
    assert found == {"TMDB_BEARER_TOKEN": "tmdb-v4"}

    httpserver.expect_request("/secrets/PG-PASSWORD").respond_with_json({"error": {"code": "Forbidden"}}, status=403)
    with pytest.raises(AzureAuthError, match="403"):
        keyvault_secrets(httpserver.url_for(""), ["PG_PASSWORD"], lambda: "kv", http_session(0, 0.0), (2, 5))


def _exec_with_secrets(args: list[str], tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "HTTP_BACKOFF_S": "0"}
    return subprocess.run([sys.executable, "-m", "scripts_spark.azure_auth", "exec-with-secrets", *args], cwd=REPO,
                          env={**base, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.integration
def test_exec_with_secrets_runs_the_command_with_the_vaults_tokens_in_its_environment(httpserver, tmp_path):
    httpserver.expect_request(TOKEN_PATH, query_string={"api-version": "2018-02-01",
                                                        "resource": "https://vault.azure.net"}).respond_with_json(
        {"access_token": "kv-token", "expires_on": FAR_FUTURE})
    httpserver.expect_request("/secrets/TMDB-BEARER-TOKEN", headers={"Authorization": "Bearer kv-token"}
                              ).respond_with_json({"value": "tmdb-from-vault"})
    httpserver.expect_request("/secrets/DISCOGS-TOKEN").respond_with_json({"value": "discogs-from-vault"})
    httpserver.expect_request(re.compile(r"^/secrets/.+")).respond_with_json({"error": {"code": "SecretNotFound"}},
                                                                             status=404)
    base = httpserver.url_for("").rstrip("/")

    res = _exec_with_secrets(["--vault-url", base, "--imds-endpoint", base, "--", sys.executable, "-c",
                              "import os; print(os.environ['TMDB_BEARER_TOKEN'], os.environ['DISCOGS_TOKEN'], "
                              "os.environ.get('PG_PASSWORD', '-'))"], tmp_path)

    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["tmdb-from-vault", "discogs-from-vault", "-"]
    assert "tmdb-from-vault" not in res.stderr  # the summary names keys, never values
    assert "DISCOGS_TOKEN, TMDB_BEARER_TOKEN" in res.stderr


@pytest.mark.integration
def test_exec_with_secrets_needs_a_vault_and_a_command(tmp_path, httpserver):
    no_vault = _exec_with_secrets(["--", "true"], tmp_path)
    assert no_vault.returncode == 2 and "KEY_VAULT_NAME" in no_vault.stderr
    no_cmd = _exec_with_secrets(["--vault-url", "http://127.0.0.1:9"], tmp_path)
    assert no_cmd.returncode == 2
    httpserver.expect_request(TOKEN_PATH).respond_with_json({"error": "Identity not found"}, status=400)
    base = httpserver.url_for("").rstrip("/")
    denied = _exec_with_secrets(["--imds-endpoint", base, "--", "true"], tmp_path, KEY_VAULT_NAME="kv-sndlake-dev-x")
    assert denied.returncode == 1 and "Identity not found" in denied.stderr


def test_exec_with_secrets_in_process_hands_the_secrets_to_exec(httpserver, monkeypatch, capsys):
    from scripts_spark import azure_auth

    httpserver.expect_request(TOKEN_PATH).respond_with_json({"access_token": "kv-token", "expires_on": FAR_FUTURE})
    httpserver.expect_request("/secrets/PG-PASSWORD").respond_with_json({"value": "pg-from-vault"})
    httpserver.expect_request(re.compile(r"^/secrets/.+")).respond_with_json({}, status=404)
    execs = []
    monkeypatch.setattr(os, "execvpe", lambda file, args, env: execs.append((file, args, env)))
    monkeypatch.setenv("KEY_VAULT_NAME", "")
    base = httpserver.url_for("").rstrip("/")

    assert azure_auth.main(["exec-with-secrets", "--vault-url", base, "--imds-endpoint", base, "--",
                            "./run_pipeline_safe.sh", "--steps", "01"]) == 0
    ((file, args, env),) = execs
    assert (file, args, env["PG_PASSWORD"]) == ("./run_pipeline_safe.sh", ["./run_pipeline_safe.sh", "--steps", "01"],
                                                "pg-from-vault")
    assert azure_auth.main(["exec-with-secrets", "--", "true"]) == 2
    monkeypatch.setenv("TMDB_MODE", "ftp")
    assert azure_auth.main(["exec-with-secrets", "--", "true"]) == 2
    assert "TMDB_MODE" in capsys.readouterr().err
