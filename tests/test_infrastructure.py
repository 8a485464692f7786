"""The Azure templates, read without the Bicep CLI: they parse, the parameter files fit them, every resource
has the security settings the platform requires, roles are scoped to one resource, no secret is written down,
names follow one convention, and the templates agree with the code (stream columns, container, .env keys).
Also the VM's cloud-init and the Databricks bundle."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bicep_parser import BicepSyntaxError, Decl, Expr, of_kind, parse, parse_file, tokenize
from scripts_spark.config import Settings, env_keys
from scripts_spark.ship_metrics import STREAM_COLUMNS
from scripts_spark.steps import STEP_CLASSES

REPO = Path(__file__).resolve().parent.parent
INFRA = REPO / "infrastructure"
MAIN = INFRA / "main.bicep"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
PARAM_FILES = sorted((INFRA / "params").glob("*.bicepparam"))
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
# Roles that would give the VM more than data access to one resource.
TOO_WIDE_ROLES = {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner", "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
                  "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
                  "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator"}
# Cloud Adoption Framework abbreviations, one per kind of resource we name.
CAF_ABBREVIATIONS = {"storageAccount": "st", "keyVault": "kv", "logAnalytics": "log", "dataCollectionEndpoint": "dce",
                     "dataCollectionRule": "dcr", "virtualNetwork": "vnet", "subnet": "snet",
                     "networkSecurityGroup": "nsg", "publicIp": "pip", "networkInterface": "nic",
                     "virtualMachine": "vm", "osDisk": "osdisk"}


def decls(path: Path) -> list[Decl]:
    return parse_file(path)


def resources(path: Path, type_prefix: str = "") -> list[Decl]:
    return [d for d in decls(path) if d.keyword == "resource" and d.type.startswith(type_prefix)]


def module_files() -> dict[str, Path]:
    return {p.stem: p for p in (INFRA / "modules").glob("*.bicep")}


# --- the reader itself can fail ---------------------------------------------------------------------
@pytest.mark.parametrize("text, problem", [
    ("resource a 'T@1' = {\n  properties: {\n}\n", "never closed"),
    ("var x = [1, 2}\n", "closes '\\['"),
    ("var x = 'unterminated\n", "unterminated string"),
    ("var x = 'a${concat('b', 'c'}'\n", "in \\$\\{...\\}: '\\(' opened"),
    ("/* open comment\nvar x = 1\n", "unterminated /\\*"),
    ("resource a 'T@1' = {\n  name: 'a'\n  name: 'b'\n}\n", "appears twice"),
    ("frobnicate x = 1\n", "unknown declaration"),
])
def test_the_bicep_reader_rejects_broken_templates(text, problem):
    with pytest.raises(BicepSyntaxError, match=problem):
        parse(text)


def test_the_bicep_reader_keeps_interpolations_escapes_and_comments_apart():
    tokens = tokenize("var s = 'it\\'s ${x['k']}' // note { not a brace\n/* { */ var m = '''a\n{b'''\n")
    strings = [t.value for t in tokens if t.kind in ("string", "mstring")]
    assert strings == ["it's ${x['k']}", "a\n{b"]


# --- every template parses ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", BICEP_FILES + PARAM_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_template_and_parameter_file_parses(path):
    assert decls(path)


def test_modules_and_loaded_files_that_main_refers_to_exist():
    for module in of_kind(decls(MAIN), "module").values():
        assert (INFRA / module.type).exists(), module.type
    vm = (INFRA / "modules" / "vm.bicep").read_text()
    for loaded in re.findall(r"loadTextContent\('([^']+)'\)", vm):
        assert (INFRA / "modules" / loaded).resolve().exists(), loaded


def test_every_module_parameter_is_passed_and_nothing_else():
    for name, module in of_kind(decls(MAIN), "module").items():
        declared = of_kind(decls(INFRA / module.type), "param")
        passed = module.body["params"]
        required = {p for p, d in declared.items() if d.value is None}
        assert required <= set(passed), f"module {name} misses {required - set(passed)}"
        assert set(passed) <= set(declared), f"module {name} passes undeclared {set(passed) - set(declared)}"


# --- parameter files ---------------------------------------------------------------------------------
@pytest.mark.parametrize("param_file", PARAM_FILES, ids=lambda p: p.name)
def test_parameter_files_set_every_required_param_and_only_declared_ones(param_file):
    main_params = of_kind(decls(MAIN), "param")
    file_decls = decls(param_file)
    using = [d for d in file_decls if d.keyword == "using"]
    assert [(param_file.parent / u.name).resolve() for u in using] == [MAIN.resolve()]
    set_here = of_kind(file_decls, "param")

    assert set(set_here) <= set(main_params), f"undeclared: {set(set_here) - set(main_params)}"
    required = {name for name, d in main_params.items() if d.value is None}
    assert required <= set(set_here), f"missing: {required - set(set_here)}"
    for name, d in set_here.items():
        allowed = main_params[name].decorators.get("allowed")
        if allowed and not isinstance(d.value, Expr):
            assert d.value in allowed[0], f"{param_file.name}: {name}={d.value!r} not in {allowed[0]}"
        for bound, check in (("minValue", lambda v, b: v >= b), ("maxValue", lambda v, b: v <= b)):
            limit = main_params[name].decorators.get(bound)
            if limit and isinstance(d.value, int):
                assert check(d.value, limit[0]), f"{param_file.name}: {name}={d.value} breaks @{bound}({limit[0]})"


def test_machine_specific_values_come_from_the_environment_not_the_files():
    for param_file in PARAM_FILES:
        set_here = of_kind(decls(param_file), "param")
        for name in ("adminSshPublicKey", "sshSourceAddressPrefix", "repoUrl"):
            assert isinstance(set_here[name].value, Expr) and set_here[name].value.text.startswith(
                "readEnvironmentVariable"), f"{param_file.name}: {name}"


def test_prod_is_stricter_than_dev():
    dev = {n: d.value for n, d in of_kind(decls(INFRA / "params" / "dev.bicepparam"), "param").items()}
    prod = {n: d.value for n, d in of_kind(decls(INFRA / "params" / "prod.bicepparam"), "param").items()}
    assert prod["allowSharedKeyAccess"] is False
    assert prod["storageSku"] in ("Standard_ZRS", "Standard_GRS", "Standard_RAGRS")
    assert prod["softDeleteRetentionDays"] >= dev["softDeleteRetentionDays"]


# --- security settings ---------------------------------------------------------------------------------
def test_every_storage_account_is_adls_gen2_https_tls12_and_private():
    accounts = [r for p in BICEP_FILES for r in resources(p, "Microsoft.Storage/storageAccounts@") if not r.existing]
    assert accounts
    for account in accounts:
        props = account.body["properties"]
        assert props["isHnsEnabled"] is True
        assert props["minimumTlsVersion"] == "TLS1_2"
        assert props["supportsHttpsTrafficOnly"] is True
        assert props["allowBlobPublicAccess"] is False


def test_blob_and_container_soft_delete_are_on_and_containers_are_private():
    storage = INFRA / "modules" / "storage.bicep"
    (blob_services,) = resources(storage, "Microsoft.Storage/storageAccounts/blobServices@")
    props = blob_services.body["properties"]
    for policy in ("deleteRetentionPolicy", "containerDeleteRetentionPolicy"):
        assert props[policy]["enabled"] is True
        days = of_kind(decls(storage), "param")[props[policy]["days"].text]
        assert days.decorators["minValue"] == [1]
    for container in resources(storage, "Microsoft.Storage/storageAccounts/blobServices/containers@"):
        assert container.body["properties"]["publicAccess"] == "None"


def test_key_vault_uses_rbac_soft_delete_and_purge_protection():
    (vault,) = [r for r in resources(INFRA / "modules" / "keyvault.bicep", "Microsoft.KeyVault/vaults@")]
    props = vault.body["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True


def test_the_vm_has_a_managed_identity_and_no_password_login():
    (vm,) = resources(INFRA / "modules" / "vm.bicep", "Microsoft.Compute/virtualMachines@")
    assert vm.body["identity"]["type"] in ("SystemAssigned", "UserAssigned")
    assert vm.body["properties"]["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] is True
    assert "adminPassword" not in vm.body["properties"]["osProfile"]


def test_ssh_is_open_only_to_the_operator_range():
    (nsg,) = resources(INFRA / "modules" / "network.bicep", "Microsoft.Network/networkSecurityGroups@")
    inbound_allows = [r["properties"] for r in nsg.body["properties"]["securityRules"]
                      if r["properties"]["direction"] == "Inbound" and r["properties"]["access"] == "Allow"]
    assert [(r["destinationPortRange"], r["sourceAddressPrefix"]) for r in inbound_allows] == [
        ("22", Expr("sshSourceAddressPrefix"))]


def test_the_vm_gets_blob_data_contributor_on_the_storage_account_only():
    roles_file = INFRA / "modules" / "roles.bicep"
    roles = decls(roles_file)
    existing = {d.name: d.type for d in roles if d.keyword == "resource" and d.existing}
    role_vars = {name: d.value for name, d in of_kind(roles, "var").items()}
    assignments = [d for d in roles if d.keyword == "resource" and d.type.startswith("Microsoft.Authorization/roleAssignments@")]
    assert assignments

    storage_grants = []
    for a in assignments:
        scope = a.body.get("scope")
        assert isinstance(scope, Expr) and scope.text in existing, f"{a.name} is not scoped to one resource"
        role_var = a.body["properties"]["roleDefinitionId"].text.split()[-2]
        role_id = role_vars[role_var]
        assert role_id not in TOO_WIDE_ROLES, f"{a.name} grants {TOO_WIDE_ROLES.get(role_id)}"
        if role_id == STORAGE_BLOB_DATA_CONTRIBUTOR:
            assert existing[scope.text].startswith("Microsoft.Storage/storageAccounts@")
            storage_grants.append(a)
        assert a.body["name"].text.startswith("guid (")  # deterministic: redeploying does not duplicate it
    vm_grant = [a for a in storage_grants if a.body["properties"]["principalId"] == Expr("vmPrincipalId")]
    assert len(vm_grant) == 1 and not vm_grant[0].condition
    # Nothing in any template assigns a role at resource-group or subscription scope.
    others = [r for p in BICEP_FILES if p != roles_file for r in resources(p, "Microsoft.Authorization/roleAssignments@")]
    assert others == []


def test_no_secret_or_key_is_written_in_any_template():
    texts = {p: p.read_text() for p in [*BICEP_FILES, *PARAM_FILES, *(INFRA / "vm").glob("*"),
                                         *(INFRA / "databricks").glob("*")]}
    for path, text in texts.items():
        for forbidden in ("listKeys(", "listAccountSas(", "listServiceSas(", "listSecrets(", "AccountKey=",
                          "-----BEGIN", "adminPassword", "client_secret="):
            assert forbidden not in text, f"{path.name} contains {forbidden}"
        # A long run of mixed-case letters and digits is a key or token pasted into a file.
        assert not re.search(r"(?<![\w/.-])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])"
                             r"[A-Za-z0-9+/]{32,}={0,2}(?![\w/.-])", text), path.name
    for path in BICEP_FILES:
        for param in of_kind(decls(path), "param").values():
            if "secure" in param.decorators:
                assert param.value is None, f"{path.name}: secure param {param.name} has a default"
        for output in of_kind(decls(path), "output").values():
            assert not re.search(r"(?i)accountkey|storagekey|primarykey|secret|password|connectionstring|sas",
                                 output.name), output.name


# --- naming -------------------------------------------------------------------------------------------------
def test_names_follow_one_convention():
    main = decls(MAIN)
    variables = of_kind(main, "var")
    names = variables["names"].value
    assert set(names) == set(CAF_ABBREVIATIONS)
    assert variables["base"].value == "${workload}-${environmentName}"
    for key, pattern in names.items():
        abbreviation = CAF_ABBREVIATIONS[key]
        if key == "storageAccount":  # storage accounts allow lowercase letters and digits only
            assert pattern == f"{abbreviation}${{workload}}${{environmentName}}${{suffix}}"
        else:
            assert re.fullmatch(rf"{abbreviation}-\$\{{base\}}(-[a-z]+)?(-\$\{{suffix\}})?", pattern), pattern
    passed_names = []
    for module in of_kind(main, "module").values():
        module_decls = decls(INFRA / module.type)
        for param in resource_name_params(module_decls):
            value = module.body["params"][param]
            assert isinstance(value, Expr), f"{module.name}.{param} = {value!r}"
            if value.text.startswith("names ."):
                passed_names.append(value.text.split()[-1])
            elif value.text == "lakeContainerName":
                continue  # a container name is part of the data path (abfss://lake@...), fixed by PUBLISH_CONTAINER
            else:  # roles.bicep names existing resources: they come from the modules that created them
                assert re.fullmatch(r"\w+ \. outputs \. \w+", value.text), f"{module.name}.{param} = {value.text}"
    assert sorted(passed_names) == sorted(names), "every convention name is used for exactly one resource"


def resource_name_params(module_decls: list[Decl]) -> set[str]:
    """Parameters of a module that end up as the `name` of a resource or of a named part (subnet, OS disk)."""
    params = of_kind(module_decls, "param")
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "name" and isinstance(value, Expr) and value.text in params:
                    found.add(value.text)
                if key != "sku":  # a SKU's `name` is a size, not a resource name
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for d in module_decls:
        if d.keyword == "resource":
            walk(d.body)
    return found


def test_named_resources_take_their_name_from_a_parameter():
    for path in (INFRA / "modules").glob("*.bicep"):
        for r in resources(path):
            resource_type = r.type.split("@")[0]
            is_child = resource_type.count("/") > 1 or "parent" in r.body
            if r.existing or is_child or resource_type == "Microsoft.Authorization/roleAssignments":
                continue
            name = r.body["name"]
            assert isinstance(name, Expr) and len(name.text.split()) == 1, f"{path.name}: {r.name} name {name!r}"
            assert name.text in of_kind(decls(path), "param")


# --- templates agree with the code ---------------------------------------------------------------------
def test_metrics_stream_table_and_code_have_the_same_columns_and_name():
    monitoring = decls(INFRA / "modules" / "monitoring.bicep")
    variables = of_kind(monitoring, "var")
    columns = [(c["name"], c["type"]) for c in variables["columns"].value]
    assert columns == list(STREAM_COLUMNS)
    table = [r for r in monitoring if r.type.startswith("Microsoft.OperationalInsights/workspaces/tables@")][0]
    assert table.body["properties"]["schema"]["columns"] == Expr("columns")
    rule = [r for r in monitoring if r.type.startswith("Microsoft.Insights/dataCollectionRules@")][0]
    assert rule.body["properties"]["streamDeclarations"]["${streamName}"]["columns"] == Expr("columns")
    stream = variables["streamName"].value.replace("${tableName}", variables["tableName"].value)
    assert stream == Settings().log_analytics_stream


def test_outputs_give_every_env_key_the_pipeline_needs():
    main = decls(MAIN)
    pipeline_env = of_kind(main, "var")["pipelineEnv"].value
    settings_keys = {key for key, *_ in env_keys()} | {"KEY_VAULT_NAME"}
    assert set(pipeline_env) <= settings_keys
    assert {"AZURE_STORAGE_ACCOUNT", "PUBLISH_CONTAINER", "LOG_ANALYTICS_ENDPOINT", "LOG_ANALYTICS_RULE_ID",
            "LOG_ANALYTICS_STREAM", "KEY_VAULT_NAME"} <= set(pipeline_env)
    outputs = of_kind(main, "output")
    assert outputs["dotenv"].value.refs("pipelineEnv")
    assert outputs["lakeRoot"].value.startswith("abfss://${lakeContainerName}@")
    assert of_kind(main, "var")["lakeContainerName"].value == Settings().publish_container
    setup = (INFRA / "vm" / "setup.sh").read_text()
    env_keys_line = re.search(r"ENV_KEYS=\(([^)]*)\)", setup).group(1).split()
    assert set(pipeline_env) <= set(env_keys_line)


def test_cloud_init_is_valid_yaml_and_its_placeholder_is_filled_by_the_vm_module():
    text = (INFRA / "vm" / "cloud-init.yaml").read_text()
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    for package in ("openjdk-17-jre-headless", "python3-venv", "make", "git", "cron", "logrotate"):
        assert package in doc["packages"]
    (bootstrap,) = [f for f in doc["write_files"] if f["path"] == "/etc/soundtrack-lake/bootstrap.env"]
    assert bootstrap["content"] == "__BOOTSTRAP_ENV_B64__" and bootstrap["encoding"] == "b64"
    vm_vars = of_kind(decls(INFRA / "modules" / "vm.bicep"), "var")
    cloud_init = vm_vars["cloudInit"].value.text
    assert "'__BOOTSTRAP_ENV_B64__'" in cloud_init and "base64 ( bootstrapEnv )" in cloud_init
    assert "infrastructure/vm/setup.sh" in doc["runcmd"][0][2]


# --- Databricks bundle ---------------------------------------------------------------------------------
def bundle() -> dict:
    return yaml.safe_load((INFRA / "databricks" / "databricks.yml").read_text())


def test_databricks_job_runs_every_numbered_step_in_order_on_one_job_cluster():
    job = bundle()["resources"]["jobs"]["soundtrack_lake_nightly"]
    tasks = job["tasks"]
    step_tasks = [t for t in tasks if t["spark_python_task"]["parameters"][0] == "run"]
    assert [t["spark_python_task"]["parameters"][2] for t in step_tasks] == list(STEP_CLASSES)
    for earlier, later in zip(tasks, tasks[1:]):
        assert later["depends_on"] == [{"task_key": earlier["task_key"]}]
    assert "depends_on" not in tasks[0]
    cluster_keys = {c["job_cluster_key"] for c in job["job_clusters"]}
    assert {t["job_cluster_key"] for t in tasks} == cluster_keys == {"pipeline"}
    for t in tasks:
        params = t["spark_python_task"]["parameters"]
        assert params[params.index("--run-id") + 1] == "{{job.parameters.run_id}}"
        assert (INFRA / "databricks" / t["spark_python_task"]["python_file"]).exists()
    assert job["max_concurrent_runs"] == 1
    assert [p["name"] for p in job["parameters"]] == ["run_id"]


def test_databricks_lake_root_is_abfss_and_credentials_come_from_a_secret_scope():
    doc = bundle()
    cluster = doc["resources"]["jobs"]["soundtrack_lake_nightly"]["job_clusters"][0]["new_cluster"]
    lake_root = cluster["spark_env_vars"]["LAKE_ROOT"].replace("${var.lake_container}", "lake").replace(
        "${var.storage_account}", "stsndlakeprod123456")
    Settings(lake_root=lake_root)  # the config's own abfss:// validation
    secrets = [v for k, v in cluster["spark_conf"].items() if "oauth2.client.secret" in k or "oauth2.client.id" in k]
    assert secrets and all(re.fullmatch(r"\{\{secrets/\$\{var\.secret_scope\}/[\w-]+\}\}", v) for v in secrets)
    assert doc["variables"]["lake_container"]["default"] == Settings().publish_container
    assert "../../scripts_spark" in doc["sync"]["paths"]


def test_databricks_libraries_match_the_pins():
    pins = dict(line.split("==", 1) for line in (REPO / "requirements_stable.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    tasks = bundle()["resources"]["jobs"]["soundtrack_lake_nightly"]["tasks"]
    libraries = [lib["pypi"]["package"] for lib in tasks[0]["libraries"]]
    assert all(t["libraries"] == tasks[0]["libraries"] for t in tasks)
    for package in libraries:
        name, version = package.split("==")
        assert pins[name] == version, f"{package} differs from requirements_stable.txt"
    assert not any(p.lower().startswith(("pyspark", "py4j")) for p in libraries)  # the runtime's own Spark wins


def test_databricks_entry_point_runs_the_cli_on_the_active_session(spark, settings, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_step", INFRA / "databricks" / "run_step.py")
    run_step = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_step)
    assert run_step.repo_root() == REPO

    code = run_step.main(["publish", "--dry-run", "--lake-root", settings.lake_root, "--run-id", "r1"])

    assert code == 1 and "status is 'missing'" in capsys.readouterr().out
