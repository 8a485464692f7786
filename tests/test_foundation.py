"""Config, lake, BaseStep and manifest: the frame every step runs in."""
from __future__ import annotations

import json
import logging

import pytest
from pyspark.sql import functions as F

from scripts_spark.base_step import BaseStep, RunManifest, StepContext, StepFailed, StepResult, StepSkipped
from scripts_spark.config import ConfigError, Secret, load_settings
from scripts_spark.lake import Lake, LakeError, abfss_spark_conf, parse_abfss, validate_run_id
from scripts_spark.log import configure_logging, get_logger, redact
from scripts_spark.tables import schema_of
from scripts_spark.spark_session import spark_conf
from scripts_spark.steps import parse_step_range


# --- config ---------------------------------------------------------------------------------------
def test_settings_read_env_file_then_environment_then_overrides(tmp_path):
    env = tmp_path / ".env"
    env.write_text("LAKE_ROOT=/from/file\nTMDB_RATE_LIMIT_PER_S=7\nSPARK_UI_ENABLED=true\nDISCOGS_TOKEN=abc123\n")
    s = load_settings(env_file=env, environ={"TMDB_RATE_LIMIT_PER_S": "9"})
    assert s.lake_root == "/from/file"
    assert s.tmdb_rate_limit_per_s == 9.0
    assert s.spark_ui_enabled is True
    assert s.discogs_token.reveal() == "abc123"
    assert load_settings(env_file=env, environ={}, lake_root="/x").lake_root == "/x"


def test_invalid_number_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="TMDB_RATE_LIMIT_PER_S='fast' is not a valid float"):
        load_settings(env_file=tmp_path / "none", environ={"TMDB_RATE_LIMIT_PER_S": "fast"})


def test_invalid_choice_and_bad_abfss_uri_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="TMDB_MODE='web' is not one of file, api"):
        load_settings(env_file=tmp_path / "none", environ={"TMDB_MODE": "web"})
    with pytest.raises(ConfigError, match="abfss://<container>@<account>"):
        load_settings(env_file=tmp_path / "none", environ={"LAKE_ROOT": "abfss://lake/wrong"})
    with pytest.raises(ConfigError, match="not a valid bool"):
        load_settings(env_file=tmp_path / "none", environ={"SPARK_UI_ENABLED": "maybe"})


def test_secrets_never_show_in_repr_public_dict_or_fingerprint(tmp_path):
    s = load_settings(env_file=tmp_path / "none", environ={"TMDB_BEARER_TOKEN": "tok-SECRET-1", "PG_PASSWORD": "pw-SECRET-2",
                                                           "AZURE_STORAGE_KEY": "key-SECRET-3"})
    text = repr(s) + str(s.public_dict()) + json.dumps(s.public_dict(), default=str) + repr(s.tmdb_bearer_token)
    for secret in ("tok-SECRET-1", "pw-SECRET-2", "key-SECRET-3"):
        assert secret not in text
    assert s.public_dict()["tmdb_bearer_token"] == "***"
    other = s.replace(tmdb_bearer_token=Secret("different"))
    assert s.fingerprint() == other.fingerprint()  # secrets do not shape the output


def test_api_modes_require_their_tokens_only(tmp_path):
    s = load_settings(env_file=tmp_path / "none", environ={})
    assert s.required_secrets() == []
    api = s.replace(tmdb_mode="api", discogs_mode="api")
    assert api.required_secrets() == ["TMDB_BEARER_TOKEN (or TMDB_API_KEY)", "DISCOGS_TOKEN"]


def test_env_example_documents_every_setting_exactly():
    from scripts_spark.config import REPO_ROOT, env_example, env_keys

    example = (REPO_ROOT / ".env.example").read_text()
    assert [key for key, *_ in env_keys() if f"\n{key}=" not in example] == []
    assert example == env_example(), "regenerate: .venv/bin/python -m scripts_spark.config > .env.example"


# --- logging --------------------------------------------------------------------------------------
def test_redact_masks_credentials_in_urls_and_headers():
    text = redact("GET https://api.discogs.com/database/search?q=jaws&key=K1&secret=S1&page=2 "
                  "Authorization: Bearer eyJabc.def Discogs token=T1 AccountKey=AK==;")
    for secret in ("K1", "S1", "eyJabc.def", "T1", "AK=="):
        assert secret not in text
    assert "q=jaws" in text and "page=2" in text


def test_log_lines_are_json_with_run_and_step(tmp_path):
    log_file = tmp_path / "run.log"
    configure_logging("INFO", str(log_file))
    get_logger("r1", "03").info("rows_written", rows=5, url="http://x/?api_key=SECRET9")
    logging.getLogger("soundtrack_lake").handlers[-1].flush()
    doc = json.loads(log_file.read_text().strip().splitlines()[-1])
    assert doc["run_id"] == "r1" and doc["step"] == "03" and doc["event"] == "rows_written" and doc["rows"] == 5
    assert "SECRET9" not in log_file.read_text()
    configure_logging("INFO")


# --- lake -------------------------------------------------------------------------------------------
def test_local_lake_paths(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    assert lake.table_path("silver/films") == str(tmp_path / "lake" / "silver" / "films")
    assert lake.partition_path("gold/soundtrack_matches", "r1").endswith("gold/soundtrack_matches/run_id=r1")
    assert lake.run_file("r1", "manifest.json").endswith("_runs/r1/manifest.json")
    with pytest.raises(LakeError):
        lake.table_path("platinum/x")
    with pytest.raises(LakeError):
        validate_run_id("../escape")


def test_abfss_lake_paths_and_spark_settings():
    root = "abfss://lake@stlakedev.dfs.core.windows.net/soundtrack"
    lake = Lake(root)
    assert lake.is_remote
    assert lake.table_path("gold/film_soundtracks") == root + "/gold/film_soundtracks"
    assert lake.run_file("r1", "manifest.json") == root + "/_runs/r1/manifest.json"
    loc = parse_abfss(root)
    assert (loc.container, loc.account, loc.path) == ("lake", "stlakedev", "/soundtrack")
    assert abfss_spark_conf("stlakedev", account_key="k") == {
        "spark.hadoop.fs.azure.account.key.stlakedev.dfs.core.windows.net": "k"}
    sp = abfss_spark_conf("stlakedev", client_id="c", client_secret="s", tenant_id="t")
    assert sp["spark.hadoop.fs.azure.account.oauth2.client.endpoint.stlakedev.dfs.core.windows.net"].endswith("/t/oauth2/token")
    mi = abfss_spark_conf("stlakedev")
    assert mi["spark.hadoop.fs.azure.account.oauth.provider.type.stlakedev.dfs.core.windows.net"].endswith("MsiTokenProvider")


def test_spark_conf_carries_abfss_key_and_venv_python(settings):
    import sys

    conf = spark_conf(settings.replace(lake_root="abfss://lake@acct.dfs.core.windows.net/x",
                                       azure_storage_key=Secret("k==")))
    assert conf["spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net"] == "k=="
    assert conf["spark.pyspark.python"] == sys.executable


def test_a_small_file_input_runs_short_and_a_large_or_unknown_one_long(settings, tmp_path, monkeypatch):
    from scripts_spark import spark_session

    (tmp_path / "tmdb").mkdir()
    (tmp_path / "tmdb" / "movies.jsonl").write_bytes(b"x" * 1000)
    (tmp_path / "notes.txt").write_bytes(b"y" * 5000)   # not an input: not counted
    small = settings.replace(input_dir=str(tmp_path))
    monkeypatch.setattr(spark_session, "SHORT_RUN_INPUT_BYTES", 1001)
    assert spark_session.spark_profile(small) == ("short", "input 0.0 MiB, under 0 MiB")
    monkeypatch.setattr(spark_session, "SHORT_RUN_INPUT_BYTES", 1000)
    assert spark_session.spark_profile(small)[0] == "long"
    monkeypatch.setattr(spark_session, "SHORT_RUN_INPUT_BYTES", 10**6)
    assert spark_session.spark_profile(small.replace(tmdb_mode="api")) == ("long", "TMDB in API mode")
    assert spark_session.spark_profile(small.replace(spark_master="cluster")) == ("long", "master cluster")
    assert spark_session.spark_profile(small.replace(spark_profile="long")) == ("long", "SPARK_PROFILE=long")

    short, long_ = spark_conf(small, "short"), spark_conf(small, "long")
    assert "-XX:TieredStopAtLevel=1" in short["spark.driver.extraJavaOptions"]
    assert short["spark.sql.codegen.factoryMode"] == "NO_CODEGEN" and short["spark.sql.codegen.wholeStage"] == "false"
    assert "TieredStopAtLevel" not in long_["spark.driver.extraJavaOptions"]
    assert not any(key.startswith("spark.sql.codegen") for key in long_)


def test_rerun_of_a_run_id_replaces_only_its_partition(spark, tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    rows = [(1, "tmdb", "release_group", "a", ["equal_title"]), (2, "tmdb", "release_group", "b", ["rare_token"])]
    df = spark.createDataFrame(rows, schema_of("silver/candidate_pairs"))
    lake.write_table(df, "silver/candidate_pairs", "r1")
    lake.write_table(df.limit(1), "silver/candidate_pairs", "r2")
    lake.write_table(df, "silver/candidate_pairs", "r1")  # re-run r1
    r1 = lake.read_table(spark, "silver/candidate_pairs", "r1", schema_of("silver/candidate_pairs"))
    r2 = lake.read_table(spark, "silver/candidate_pairs", "r2", schema_of("silver/candidate_pairs"))
    assert r1.count() == 2 and r2.count() == 1
    lake.write_table(df.where(F.lit(False)), "silver/candidate_pairs", "r1")  # a re-run that yields nothing
    assert lake.read_table(spark, "silver/candidate_pairs", "r1", schema_of("silver/candidate_pairs")).count() == 0
    assert lake.read_table(spark, "silver/candidate_pairs", "r2", schema_of("silver/candidate_pairs")).count() == 1
    assert lake.table_runs("silver/candidate_pairs") == ["r2"]  # an empty run leaves no partition behind
    never = lake.read_table(spark, "silver/candidate_pairs", "r9", schema_of("silver/candidate_pairs"))
    assert never.count() == 0 and never.columns == [f.name for f in schema_of("silver/candidate_pairs").fields] + ["run_id"]


def test_schema_of_quarantine_and_staged_tables():
    assert schema_of("silver/quarantine/films").fieldNames()[:3] == ["table", "rule", "reason"]
    assert schema_of("silver/staged/films") == schema_of("silver/films")
    with pytest.raises(KeyError):
        schema_of("gold/nope")


# --- steps and manifest --------------------------------------------------------------------------
class _CountingStep(BaseStep):
    number, name = "91", "counting"
    inputs, outputs = ("input:numbers",), ("silver/candidate_pairs",)

    def __init__(self, kept=3, quarantined=1, rejected=1, read=5, fail=None, skip=False):
        self.kept, self.q, self.rj, self.read, self.fail, self.skip = kept, quarantined, rejected, read, fail, skip

    def execute(self, ctx: StepContext) -> StepResult:
        if self.skip:
            raise StepSkipped("no numbers/ folder in the input: source skipped")
        if self.fail:
            raise self.fail
        return StepResult(rows_in=self.read, rows_out=self.kept, quarantined=self.q, rejected=self.rj,
                          tables={"silver/candidate_pairs": self.kept}, metrics={"k": 1})


def _ctx(spark, settings):
    lake = Lake(settings.lake_root)
    return StepContext(spark, settings, lake, "r1", get_logger("r1")), RunManifest(lake, "r1", settings, spark)


def test_step_records_counts_timing_and_status_in_manifest(spark, settings):
    ctx, manifest = _ctx(spark, settings)
    rec = _CountingStep().run(ctx, manifest)
    assert rec.status == "succeeded" and rec.seconds is not None
    manifest.finish("succeeded")
    doc = json.loads(open(manifest.path).read())
    step = doc["steps"]["91"]
    assert (step["rows_in"], step["rows_out"], step["quarantined"], step["rejected"]) == (5, 3, 1, 1)
    assert doc["status"] == "succeeded" and doc["config_fingerprint"] == settings.fingerprint()


def test_write_checked_refuses_a_table_not_checked_on_write_before_writing_it(spark, settings):
    ctx, _ = _ctx(spark, settings)
    with pytest.raises(ValueError, match="silver/candidate_pairs is not checked on write"):
        ctx.write_checked("silver/candidate_pairs", spark.createDataFrame([], schema_of("silver/candidate_pairs")))
    assert not ctx.lake.exists(ctx.lake.partition_path("silver/candidate_pairs", "r1"), spark)


def test_unbalanced_accounting_fails_the_step_with_the_counts(spark, settings):
    ctx, manifest = _ctx(spark, settings)
    with pytest.raises(StepFailed, match=r"step 91_counting failed: row accounting does not balance: read 6"):
        _CountingStep(read=6).run(ctx, manifest)
    assert json.loads(open(manifest.path).read())["steps"]["91"]["status"] == "failed"


def test_failing_step_names_itself_and_the_cause_without_secrets(spark, settings):
    ctx, manifest = _ctx(spark, settings)
    with pytest.raises(StepFailed) as err:
        _CountingStep(fail=RuntimeError("GET http://x/?api_key=SECRET7 answered 500")).run(ctx, manifest)
    assert err.value.step == "91_counting" and "RuntimeError" in err.value.cause and "SECRET7" not in str(err.value)


def test_skipped_step_is_recorded_not_failed(spark, settings):
    ctx, manifest = _ctx(spark, settings)
    rec = _CountingStep(skip=True).run(ctx, manifest)
    assert rec.status == "skipped" and "source skipped" in rec.notes[0]


def test_step_ranges_parse_and_reject_unknown_steps():
    assert parse_step_range("01-03") == ["01", "02", "03"]
    assert parse_step_range("3") == ["03"]
    assert parse_step_range("01,04-05") == ["01", "04", "05"]
    with pytest.raises(ValueError, match="unknown step"):
        parse_step_range("42")
    with pytest.raises(ValueError, match="not within"):
        parse_step_range("05-02")
