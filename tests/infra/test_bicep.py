"""Offline checks of infra/*.bicep (parsed with pycep; no Bicep CLI, no Azure)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.infra import sources as src

# Built-in role definition ids (Azure built-in roles reference; docs/deploy.md lists them).
BUILTIN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "f6c7c914-8db3-469d-8ca1-694a8f32e121": "AzureML Data Scientist",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
}
# Which file assigns which role, on a resource of which type.
EXPECTED_ASSIGNMENTS = {
    ("app/storage.bicep", "Storage Blob Data Owner", "Microsoft.Storage/storageAccounts"),
    ("app/storage.bicep", "Storage Queue Data Contributor", "Microsoft.Storage/storageAccounts"),
    ("app/storage.bicep", "Storage Table Data Contributor", "Microsoft.Storage/storageAccounts"),
    ("app/monitoring.bicep", "Monitoring Metrics Publisher", "Microsoft.Insights/components"),
    ("app/keyvault.bicep", "Key Vault Secrets User", "Microsoft.KeyVault/vaults"),
    # Deployed by the postprovision hook, outside the app's deployment (see infra/workspace.bicep).
    ("workspace.bicep", "AzureML Data Scientist", "Microsoft.MachineLearningServices/workspaces"),
    ("app/run-secrets-vault.bicep", "Key Vault Secrets Officer", "Microsoft.KeyVault/vaults"),
    ("app/run-secrets-vault.bicep", "Key Vault Secrets User", "Microsoft.KeyVault/vaults"),
}
# Who each assignment is for: the app's identity, or (run secrets) the workspace compute identities.
APP_PRINCIPAL = {"principalId", "appPrincipalId"}
# Settings the code reads that must NOT reach Azure (documented as emulator / devhost only).
DEVHOST_ONLY = {"AZUREML_STATIC_TOKEN", "RUN_SECRETS_VAULT_STATIC_TOKEN", "RUN_SECRETS_VAULT_CA_BUNDLE"}
EVENT_TYPES = {
    "Microsoft.MachineLearningServices.RunStatusChanged",
    "Microsoft.MachineLearningServices.RunCompleted",
}


def _rel(path: Path) -> str:
    return str(path.relative_to(src.INFRA))


# --- every file parses; modules are local and wired consistently ---------------------------


def test_expected_bicep_files_exist():
    names = {_rel(p) for p in src.bicep_files()}
    assert {
        "main.bicep",
        "eventgrid.bicep",
        "workspace.bicep",
        "app/function.bicep",
        "app/run-secrets-vault.bicep",
    } <= names


@pytest.mark.parametrize("path", src.bicep_files(), ids=_rel)
def test_bicep_file_parses(path):
    doc = src.parse(path)
    assert doc.get("resources") or doc.get("modules"), f"{path} declares nothing"


@pytest.mark.parametrize("path", src.bicep_files(), ids=_rel)
def test_modules_are_local_and_get_the_params_they_declare(path):
    for name, module in src.parse(path).get("modules", {}).items():
        assert module["type"] == "local", f"{name}: registry modules cannot be restored offline"
        target = path.parent / module["detail"]["path"]
        assert target.is_file(), f"{name}: {target} is missing"
        declared = src.parse(target).get("parameters", {})
        required = {p for p, d in declared.items() if d.get("default") is None}
        passed = set(src.body(module).get("params", {}))
        assert passed <= set(declared), f"{name}: unknown params {passed - set(declared)}"
        assert required <= passed, f"{name}: missing required params {required - passed}"


def test_parameters_file_matches_main_bicep():
    main = src.bicep("main.bicep")["parameters"]
    given = json.loads((src.INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(main), f"unknown parameters: {set(given) - set(main)}"
    required = {p for p, d in main.items() if d.get("default") is None}
    assert required <= set(given), (
        f"required parameters azd would have to prompt for: {required - set(given)}"
    )
    assert given["foundryWorkspaceId"]["value"] == "${FOUNDRY_WORKSPACE_ID}"


def test_secret_parameters_are_secure_without_defaults():
    for relative, names in {
        "main.bicep": ("webhookSecret",),
        "app/keyvault.bicep": ("webhookSecret",),
    }.items():
        params = src.bicep(relative)["parameters"]
        for name in names:
            decorators = {d["type"] for d in params[name]["decorators"]}
            assert "secure" in decorators, f"{relative}: {name} must be @secure()"
            assert params[name].get("default") in (None, ""), f"{relative}: {name} has a default value"


# --- app settings ---------------------------------------------------------------------------


def test_every_documented_setting_is_set():
    documented = src.documented_settings()
    assert "AZUREML_WORKSPACE_ID" in documented
    missing = set(documented) - DEVHOST_ONLY - set(src.app_settings())
    assert not missing, (
        f"docs/architecture.md settings not set by infra/app/function.bicep: {sorted(missing)}"
    )


def test_every_setting_the_code_reads_is_set():
    # runtime/settings.py is "the one reader"; once it exists its names must be extracted.
    assert src.SETTINGS_PY.is_file(), "runtime/settings.py is the documented reader of app settings"
    read = src.code_setting_names()
    from_settings = {n for n, files in read.items() if src.SETTINGS_PY in files}
    assert "AZUREML_WORKSPACE_ID" in from_settings, (
        "could not extract the names runtime/settings.py reads: update tests/infra/sources.environ_lookups"
    )
    missing = set(read) - DEVHOST_ONLY - set(src.app_settings())
    assert not missing, {n: sorted(str(p.relative_to(src.ROOT)) for p in read[n]) for n in missing}


def test_every_app_setting_infra_sets_is_read_by_the_code():
    # The other direction: a setting the app no longer reads (SECRET_SEALING_KEY since issue 11,
    # whose Secret parameters go to Key Vault at start) must leave infra/, its secret with it.
    read = set(src.code_setting_names())
    platform = {
        n
        for n in src.app_settings()
        if n.startswith(("AzureWebJobs", "AzureFunctionsJobHost__", "APPLICATIONINSIGHTS_"))
    }
    unread = set(src.app_settings()) - read - platform
    assert not unread, f"infra/app/function.bicep sets settings no code reads: {sorted(unread)}"
    for path in [*src.bicep_files(), src.INFRA / "main.parameters.json"]:
        assert "SECRET_SEALING_KEY" not in path.read_text(), f"{path}: SECRET_SEALING_KEY is no longer read"


def test_run_secret_expiry_and_code_overrides_are_parameters_with_the_apps_defaults():
    for relative in ("main.bicep", "app/function.bicep"):
        assert "runSecretsTtlHours" in _param_names(relative)
        assert "sweepAllowCodeOverrides" in _param_names(relative)
    main = src.bicep("main.bicep")["parameters"]
    assert main["runSecretsTtlHours"]["default"] == 168  # foundry/settings.py: RUN_SECRETS_TTL_HOURS
    assert main["sweepAllowCodeOverrides"]["default"] is True  # SWEEP_ALLOW_CODE_OVERRIDES
    settings = src.app_settings()
    ttl = settings["RUN_SECRETS_TTL_HOURS"]["function"]
    assert ttl == {"type": "string", "parameters": {"value_to_convert": "runSecretsTtlHours"}}
    overrides = settings["SWEEP_ALLOW_CODE_OVERRIDES"]["operator"]["operands"]
    assert (overrides["true_value"], overrides["false_value"]) == ("true", "false")


def _param_names(relative: str) -> set[str]:
    return set(src.bicep(relative)["parameters"])


def test_binding_expressions_and_host_json_settings_are_set():
    host = json.loads((src.ROOT / "host.json").read_text())
    names = set(src.binding_expressions()) | set(src.BINDING_EXPRESSION_ANYWHERE.findall(json.dumps(host)))
    assert "TASKHUB_NAME" in names
    missing = names - set(src.app_settings())
    assert not missing, f"%NAME% references without an app setting: {sorted(missing)}"


def test_devhost_only_settings_are_not_deployed():
    assert DEVHOST_ONLY <= set(src.documented_settings())
    assert not DEVHOST_ONLY & set(src.app_settings())


def test_identity_based_host_storage_and_app_insights():
    settings = src.app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    for service in ("blob", "queue", "table"):  # Durable's Azure Storage provider uses all three
        assert f"AzureWebJobsStorage__{service}ServiceUri" in settings
    # No connection string with a key, and nothing Flex Consumption rejects.
    for forbidden in (
        "AzureWebJobsStorage",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "APPINSIGHTS_INSTRUMENTATIONKEY",
    ):
        assert forbidden not in settings
    assert (
        settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
        == "ClientId=${identityClientId};Authorization=AAD"
    )
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    tenant = settings["AZUREML_TENANT_ID"]["function"]
    assert tenant["type"] == "tenant" and "tenantId" in tenant["property_name"]


def test_arm_endpoint_comes_from_the_cloud_without_trailing_slash():
    doc = src.bicep("app/function.bicep")
    assert src.app_settings()["AZUREML_ARM_ENDPOINT"] == "armEndpoint"
    text = (src.INFRA / "app" / "function.bicep").read_text()
    assert "environment().resourceManager" in text
    assert "endsWith(resourceManager, '/')" in text
    assert "armEndpoint" in doc["variables"]


def test_secrets_are_key_vault_references_resolved_by_the_user_assigned_identity():
    settings = src.app_settings()
    webhook = settings["WEBHOOK_SECRET"]["operator"]["operands"]
    assert webhook["false_value"] == "@Microsoft.KeyVault(SecretUri=${webhookSecretUri})"
    assert webhook["true_value"] == ""  # foundry/settings.py treats empty as unset
    site = src.function_site()
    assert site["properties"]["keyVaultReferenceIdentity"] == "identityId"
    assert site["identity"]["type"] == "UserAssigned"
    vault = src.body(src.the_resource("app/keyvault.bicep", "Microsoft.KeyVault/vaults"))["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enablePurgeProtection"] is True
    assert vault["enableSoftDelete"] is True


# --- Flex Consumption shape -------------------------------------------------------------------


def test_flex_consumption_plan_and_site():
    plan = src.body(src.the_resource("app/function.bicep", "Microsoft.Web/serverfarms"))
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan["properties"]["reserved"] is True
    site = src.function_site()
    assert site["kind"] == "functionapp,linux"
    assert site["properties"]["httpsOnly"] is True
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    scale = config["scaleAndConcurrency"]
    params = src.bicep("app/function.bicep")["parameters"]
    for key in ("instanceMemoryMB", "maximumInstanceCount"):
        assert scale[key] == key and key in params, f"{key} must be a parameter"
        assert key in src.bicep("main.bicep")["parameters"]
    memory = next(d for d in params["instanceMemoryMB"]["decorators"] if d["type"] == "allowed")
    assert set(memory["argument"]) <= {512, 2048, 4096}
    # azd finds the app to deploy service `api` to by this tag.
    tags = src.function_site()["tags"]["function"]
    assert tags["type"] == "union" and tags["parameters"]["arg_2"] == {"'azd-service-name'": "api"}


def test_storage_is_identity_only_and_app_insights_uses_entra():
    storage = src.body(src.the_resource("app/storage.bicep", "Microsoft.Storage/storageAccounts"))
    assert storage["properties"]["allowSharedKeyAccess"] is False
    assert storage["properties"]["allowBlobPublicAccess"] is False
    insights = src.body(src.the_resource("app/monitoring.bicep", "Microsoft.Insights/components"))
    assert insights["properties"]["DisableLocalAuth"] is True


# --- role assignments ----------------------------------------------------------------------------


def _assignments():
    for path in src.bicep_files():
        doc = src.parse(path)
        for name, res in src.resources_of_type(doc, "Microsoft.Authorization/roleAssignments").items():
            yield _rel(path), doc, name, res


def test_role_definition_ids_are_documented_builtins():
    seen = set()
    for relative, doc, name, res in _assignments():
        guid = src.role_definition_guid(doc, res)
        assert guid in BUILTIN_ROLES, f"{relative}:{name} uses unknown role definition {guid}"
        props = src.body(res)["properties"]
        assert props["principalType"] == "ServicePrincipal", f"{relative}:{name}"
        if BUILTIN_ROLES[guid] == "Key Vault Secrets User" and relative == "app/run-secrets-vault.bicep":
            loop = res["config"]["loop_type"]["detail"]
            assert props["principalId"] == loop["item_name"], (
                f"{relative}:{name} must target each compute identity"
            )
        else:
            assert props["principalId"] in APP_PRINCIPAL, f"{relative}:{name} must target the app identity"
        scope = src.body(res)["scope"]
        scope_type = doc["resources"][scope]["type"]
        seen.add((relative, BUILTIN_ROLES[guid], scope_type))
    assert seen == EXPECTED_ASSIGNMENTS


def test_main_bicep_deploys_into_the_app_resource_group_only():
    # Issue 16, finding 2: azd <= 1.23 deletes, on `azd down`, every resource group that holds a
    # resource of the deployment azd tracks (main.bicep's). A module or resource there scoped to the
    # workspace's group put the customer's workspace resource group on that list.
    main = src.bicep("main.bicep")
    for name, module in main.get("modules", {}).items():
        assert src.body(module)["scope"] == "rg", (
            f"main.bicep module {name} must deploy into the app's resource group"
        )
    for name, resource in main["resources"].items():
        if resource["type"] == "Microsoft.Resources/resourceGroups":
            continue
        assert resource["existing"], f"main.bicep creates {name} outside the app's modules"
    # The workspace is only read there (its keyVault), in its own resource group.
    workspace = src.the_resource("main.bicep", "Microsoft.MachineLearningServices/workspaces")
    scope = workspace["config"]["scope"]["function"]
    assert scope["type"] == "resource_group"
    assert scope["parameters"] == {
        "resource_group_name": "workspaceResourceGroupName",
        "subscription_id": "workspaceSubscriptionId",
    }
    text = (src.INFRA / "main.bicep").read_text()
    assert "split(foundryWorkspaceId, '/')" in text
    assert re.search(r"workspaceSubscriptionId = workspaceIdParts\[2\]", text)
    assert re.search(r"workspaceResourceGroupName = workspaceIdParts\[4\]", text)
    assert re.search(r"workspaceName = workspaceIdParts\[8\]", text)


def test_workspace_side_pieces_are_in_their_own_template():
    ws = src.the_resource("workspace.bicep", "Microsoft.MachineLearningServices/workspaces")
    assert ws["existing"] is True
    assert "targetScope = 'resourceGroup'" in (src.INFRA / "workspace.bicep").read_text()
    module = src.bicep("workspace.bicep")["modules"]["runSecretsVault"]
    assert module["config"]["condition"] is not None, "no run-secrets vault: no access to grant"


# --- Event Grid -----------------------------------------------------------------------------------


def _event_grid_function_names() -> set[str]:
    if src.trigger_modules():
        # Once triggers/ has modules, the real decorators are the truth.
        names = src.event_grid_functions()
        assert names, "triggers/*.py define no @*.event_grid_trigger function"
        return names
    return {n for n, trigger in src.documented_functions().items() if trigger == "Event Grid"}


def test_event_subscription_names_a_function_the_app_defines():
    names = _event_grid_function_names()
    assert len(names) == 1, names
    doc = src.bicep("eventgrid.bicep")
    assert doc["parameters"]["functionName"]["default"] in names
    sub = src.the_resource("eventgrid.bicep", "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    destination = src.body(sub)["properties"]["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert destination["properties"]["resourceId"] == "${functionAppId}/functions/${functionName}"
    hooks = (src.INFRA / "hooks" / "deploy_hooks.py").read_text()
    assert '"functionName"' not in hooks, "the hook must not override functionName"


def test_event_subscription_filters_and_retries():
    sub = src.body(src.the_resource("eventgrid.bicep", "Microsoft.EventGrid/systemTopics/eventSubscriptions"))
    props = sub["properties"]
    assert set(props["filter"]["includedEventTypes"]) == EVENT_TYPES
    assert set(props["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    assert props["eventDeliverySchema"] == "EventGridSchema"  # func.EventGridEvent
    assert props["destination"]["properties"]["maxEventsPerBatch"] == 1
    topic = src.the_resource("eventgrid.bicep", "Microsoft.EventGrid/systemTopics")
    assert topic["existing"] is True


def test_system_topic_is_on_the_workspace_and_reused_when_given():
    topic = src.the_resource("workspace.bicep", "Microsoft.EventGrid/systemTopics")
    assert topic["config"]["condition"] == "createSystemTopic"
    props = src.body(topic)["properties"]
    assert props["topicType"] == "Microsoft.MachineLearningServices.Workspaces"
    assert props["source"]["operator"]["operands"] == {"operand_1": "workspace", "operand_2": "id"}
    name = src.bicep("workspace.bicep")["parameters"]["systemTopicName"]
    limits = {
        d["type"]: d["argument"] for d in name["decorators"] if d["type"] in ("min_length", "max_length")
    }
    assert limits == {"min_length": 3, "max_length": 50}


def test_main_bicep_does_not_create_the_event_subscription():
    for path in src.bicep_files():
        if path.name == "eventgrid.bicep":
            continue
        assert not src.resources_of_type(
            src.parse(path), "Microsoft.EventGrid/systemTopics/eventSubscriptions"
        ), f"{path}: the subscription must be created after code deploy (eventgrid.bicep)"


# --- host.json fits Flex Consumption + this Bicep ------------------------------------------------


def test_host_json_durable_settings_fit_the_deployment():
    host = json.loads((src.ROOT / "host.json").read_text())
    durable = host["extensions"]["durableTask"]
    assert durable["hubName"] == "%TASKHUB_NAME%"
    # The Bicep provisions identity-based Azure Storage; the Durable Task Scheduler needs a
    # scheduler + task hub resource and other settings (docs/deploy.md), which are not provisioned.
    assert durable.get("storageProvider", {}).get("type", "AzureStorage") == "AzureStorage"
    assert "connectionStringName" not in durable.get("storageProvider", {})
    main = src.bicep("main.bicep")["parameters"]["taskHubName"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", main["default"])


# --- Durable Functions on Flex Consumption (Microsoft's Azure Storage provider guidance) ------------

DURABLE_POLLING_SETTING = (
    "AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval"
)


def _param(relative: str, name: str) -> dict:
    return src.bicep(relative)["parameters"][name]


def _limits(param: dict) -> dict:
    return {d["type"]: d["argument"] for d in param["decorators"] if d["type"] in ("min_value", "max_value")}


def test_always_ready_for_the_durable_group_is_a_parameter_and_scale_to_zero_stays_default():
    for relative in ("main.bicep", "app/function.bicep"):
        param = _param(relative, "durableAlwaysReadyInstances")
        assert param["default"] == 0, f"{relative}: scale to zero must stay the default"
        assert _limits(param)["min_value"] == 0
    assert src.bicep("main.bicep")["modules"]["functionApp"]["config"]["params"][
        "durableAlwaysReadyInstances"
    ] == ("durableAlwaysReadyInstances")
    scale = src.function_site()["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    operands = scale["alwaysReady"]["operator"]["operands"]
    assert operands["false_value"] == [], "no always-ready entry at all when the count is 0"
    (entry,) = src.bicep("app/function.bicep")["variables"][operands["true_value"]]["value"]
    assert entry == {"name": "durable", "instanceCount": "durableAlwaysReadyInstances"}


def test_queue_polling_interval_is_a_parameter_within_microsofts_flex_guidance():
    # "Reduce the queue polling interval to 10 seconds or less" (Durable Functions, Azure Storage
    # provider, Flex Consumption plan). The app setting overrides host.json's
    # extensions.durableTask.storageProvider.maxQueuePollingInterval (AzureFunctionsJobHost__<path>).
    for relative in ("main.bicep", "app/function.bicep"):
        param = _param(relative, "durableMaxQueuePollingIntervalSeconds")
        assert param["default"] <= 10
        assert _limits(param) == {"min_value": 1, "max_value": 30}
    # hh:mm:ss, seconds padded to two digits (the parameter stays below a minute).
    value = src.app_settings()[DURABLE_POLLING_SETTING]
    assert value == "00:00:${padLeft(string(durableMaxQueuePollingIntervalSeconds), 2, '0')}"
    host = json.loads((src.ROOT / "host.json").read_text())
    assert "maxQueuePollingInterval" not in host["extensions"]["durableTask"].get("storageProvider", {}), (
        "one source for the interval: the app setting, not host.json"
    )


# --- issue 11: run secrets and keyed instance ids ------------------------------------------------------


def test_run_secrets_vault_url_comes_from_the_workspace_or_a_parameter():
    settings = src.app_settings()
    assert settings["RUN_SECRETS_VAULT_URL"] == "runSecretsVaultUrl"
    text = (src.INFRA / "main.bicep").read_text()
    assert "workspace.properties.?keyVault" in text, "the workspace's associated vault by default"
    assert "toLower(workspaceKeyVaultId) != 'none'" in text
    assert "environment().suffixes.keyvaultDns" in text
    given = json.loads((src.INFRA / "main.parameters.json").read_text())["parameters"]
    assert given["workspaceKeyVaultId"]["value"] == "${WORKSPACE_KEY_VAULT_ID=}"


def test_instance_id_key_is_a_key_vault_reference_to_a_secret_bicep_never_generates():
    settings = src.app_settings()
    assert settings["INSTANCE_ID_KEY"] == "@Microsoft.KeyVault(SecretUri=${instanceIdKeyUri})"
    doc = src.bicep("app/keyvault.bicep")
    names = {
        src.body(r)["name"] for r in src.resources_of_type(doc, "Microsoft.KeyVault/vaults/secrets").values()
    }
    assert doc["variables"]["instanceIdKeySecretName"]["value"] not in names, (
        "a Bicep-generated key (newGuid) would change on every deployment; the postprovision hook creates it once"
    )
    for path in src.bicep_files():
        code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("//")]
        assert not any("newGuid(" in line for line in code), (
            f"{path}: newGuid() values change on every deployment"
        )


def test_the_hook_waits_for_every_key_vault_reference_setting():
    references = {
        name for name, value in src.app_settings().items() if "@Microsoft.KeyVault(" in json.dumps(value)
    }
    output = src.bicep("main.bicep")["outputs"]["KEY_VAULT_REFERENCE_SETTINGS"]["value"]["operator"][
        "operands"
    ]
    listed = set(output["true_value"].split(",")) | set(output["false_value"].split(","))
    assert listed == references == {"INSTANCE_ID_KEY", "WEBHOOK_SECRET"}
    assert "WEBHOOK_SECRET" not in output["true_value"], "no WEBHOOK_SECRET reference when it is unset"
