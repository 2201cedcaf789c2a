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
}
# Which file assigns which role, on a resource of which type.
EXPECTED_ASSIGNMENTS = {
    ("app/storage.bicep", "Storage Blob Data Owner", "Microsoft.Storage/storageAccounts"),
    ("app/storage.bicep", "Storage Queue Data Contributor", "Microsoft.Storage/storageAccounts"),
    ("app/storage.bicep", "Storage Table Data Contributor", "Microsoft.Storage/storageAccounts"),
    ("app/monitoring.bicep", "Monitoring Metrics Publisher", "Microsoft.Insights/components"),
    ("app/workspace.bicep", "AzureML Data Scientist", "Microsoft.MachineLearningServices/workspaces"),
    ("app/keyvault.bicep", "Key Vault Secrets User", "Microsoft.KeyVault/vaults"),
}
# Settings the code reads that must NOT reach Azure (documented as emulator / devhost only).
DEVHOST_ONLY = {"AZUREML_STATIC_TOKEN", "RUN_SECRETS_VAULT_STATIC_TOKEN", "RUN_SECRETS_VAULT_CA_BUNDLE"}
# Read by the app since issue 11; infra/app/function.bicep gains them with issue 16 (which owns
# infra/). Remove this set, and its two uses below, when that lands.
PENDING_INFRA = {
    "INSTANCE_ID_KEY",
    "RUN_SECRETS_VAULT_URL",
    "RUN_SECRETS_TTL_HOURS",
    "SWEEP_ALLOW_CODE_OVERRIDES",
}
EVENT_TYPES = {
    "Microsoft.MachineLearningServices.RunStatusChanged",
    "Microsoft.MachineLearningServices.RunCompleted",
}


def _rel(path: Path) -> str:
    return str(path.relative_to(src.INFRA))


# --- every file parses; modules are local and wired consistently ---------------------------


def test_expected_bicep_files_exist():
    names = {_rel(p) for p in src.bicep_files()}
    assert {"main.bicep", "eventgrid.bicep", "app/function.bicep", "app/workspace.bicep"} <= names


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
        passed = set(module["config"].get("params", {}))
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
    assert given["secretSealingKey"]["value"] == "${SECRET_SEALING_KEY}"
    assert given["foundryWorkspaceId"]["value"] == "${FOUNDRY_WORKSPACE_ID}"


def test_secret_parameters_are_secure_without_defaults():
    for relative, names in {
        "main.bicep": ("secretSealingKey", "webhookSecret"),
        "app/keyvault.bicep": ("secretSealingKey", "webhookSecret"),
    }.items():
        params = src.bicep(relative)["parameters"]
        for name in names:
            decorators = {d["type"] for d in params[name]["decorators"]}
            assert "secure" in decorators, f"{relative}: {name} must be @secure()"
            assert params[name].get("default") in (None, ""), f"{relative}: {name} has a default value"
    sealing = src.bicep("main.bicep")["parameters"]["secretSealingKey"]
    assert sealing.get("default") is None, "SECRET_SEALING_KEY must be stable: no generated default"


# --- app settings ---------------------------------------------------------------------------


def test_every_documented_setting_is_set():
    documented = src.documented_settings()
    assert "AZUREML_WORKSPACE_ID" in documented
    missing = set(documented) - DEVHOST_ONLY - PENDING_INFRA - set(src.app_settings())
    assert not missing, (
        f"docs/architecture.md settings not set by infra/app/function.bicep: {sorted(missing)}"
    )


def test_every_setting_the_code_reads_is_set():
    # foundry/settings.py is "the one reader"; once it exists its names must be extracted.
    assert src.SETTINGS_PY.is_file(), "foundry/settings.py is the documented reader of app settings"
    read = src.code_setting_names()
    from_settings = {n for n, files in read.items() if src.SETTINGS_PY in files}
    assert "AZUREML_WORKSPACE_ID" in from_settings, (
        "could not extract the names foundry/settings.py reads: update tests/infra/sources.environ_lookups"
    )
    missing = set(read) - DEVHOST_ONLY - PENDING_INFRA - set(src.app_settings())
    assert not missing, {n: sorted(str(p.relative_to(src.ROOT)) for p in read[n]) for n in missing}


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
    assert settings["SECRET_SEALING_KEY"] == "@Microsoft.KeyVault(SecretUri=${secretSealingKeyUri})"
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
        assert props["principalId"] == "principalId", f"{relative}:{name} must target the app identity"
        scope = src.body(res)["scope"]
        scope_type = doc["resources"][scope]["type"]
        seen.add((relative, BUILTIN_ROLES[guid], scope_type))
    assert seen == EXPECTED_ASSIGNMENTS


def test_workspace_is_existing_and_reached_in_its_own_resource_group():
    ws = src.the_resource("app/workspace.bicep", "Microsoft.MachineLearningServices/workspaces")
    assert ws["existing"] is True
    main = src.bicep("main.bicep")
    scope = main["modules"]["workspaceAccess"]["config"]["scope"]["function"]
    assert scope["type"] == "resource_group"
    assert scope["parameters"] == {
        "resource_group_name": "workspaceResourceGroupName",
        "subscription_id": "workspaceSubscriptionId",
    }
    variables = main["variables"]
    # split(foundryWorkspaceId, '/')[2] and [4]
    assert "[2]" in json.dumps(variables["workspaceSubscriptionId"]) or variables["workspaceSubscriptionId"]
    text = (src.INFRA / "main.bicep").read_text()
    assert "split(foundryWorkspaceId, '/')" in text
    assert re.search(r"workspaceSubscriptionId = workspaceIdParts\[2\]", text)
    assert re.search(r"workspaceResourceGroupName = workspaceIdParts\[4\]", text)
    assert re.search(r"workspaceName = workspaceIdParts\[8\]", text)


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
    for hook in (src.INFRA / "hooks").glob("postdeploy.*"):
        assert "functionName" not in hook.read_text(), f"{hook.name} must not override functionName"


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
    topic = src.the_resource("app/workspace.bicep", "Microsoft.EventGrid/systemTopics")
    assert topic["config"]["condition"] == "createSystemTopic"
    props = src.body(topic)["properties"]
    assert props["topicType"] == "Microsoft.MachineLearningServices.Workspaces"
    assert props["source"]["operator"]["operands"] == {"operand_1": "workspace", "operand_2": "id"}
    main = src.bicep("main.bicep")
    assert main["modules"]["workspaceAccess"]["config"]["params"]["existingSystemTopicName"] == (
        "eventGridSystemTopicName"
    )


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
