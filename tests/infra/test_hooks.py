"""The azd hooks (infra/hooks/deploy_hooks.py) run end to end through hook.sh against a fake `az`.

The fake (tests/infra/fake_az.py) answers as the Azure CLI does: JSON on stdout, `ERROR: ...` on
stderr and exit code 1 on failure. Error texts are ARM's: `AuthorizationFailed` (no permission),
Event Grid's "Destination endpoint not found" while a function is not listed yet, `az rest`'s
`Not Found(...)` for a missing secret; Key Vault reference statuses are Microsoft.Web's
ResolveStatus values (Resolved, Initialized, AccessToKeyVaultDenied, SecretNotFound, ...).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.infra import sources as src

HOOKS = src.INFRA / "hooks"
FAKE_AZ = Path(__file__).with_name("fake_az.py")
pytestmark = pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")

_spec = importlib.util.spec_from_file_location("deploy_hooks", HOOKS / "deploy_hooks.py")
deploy_hooks = importlib.util.module_from_spec(_spec)
sys.modules["deploy_hooks"] = deploy_hooks  # dataclasses look their module up while the class is built
_spec.loader.exec_module(deploy_hooks)

SUB_APP, SUB_WS = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
WS_ID = f"/subscriptions/{SUB_WS}/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws_team"
APP_ID = f"/subscriptions/{SUB_APP}/resourceGroups/rg-dev/providers/Microsoft.Web/sites/func-abc"
APP_VAULT = f"/subscriptions/{SUB_APP}/resourceGroups/rg-dev/providers/Microsoft.KeyVault/vaults/kv-abc"
WS_VAULT = f"/subscriptions/{SUB_WS}/resourceGroups/rg-ml/providers/Microsoft.KeyVault/vaults/kvws"
COMPUTE = "33333333-3333-3333-3333-333333333333"

ENV = {
    "AZURE_ENV_NAME": "dev",
    "AZURE_RESOURCE_TOKEN": "abcdefghijklm",
    "AZURE_FUNCTION_APP_ID": APP_ID,
    "AZURE_FUNCTION_APP_PRINCIPAL_ID": "44444444-4444-4444-4444-444444444444",
    "AZURE_KEY_VAULT_ID": APP_VAULT,
    "INSTANCE_ID_KEY_SECRET_NAME": "instance-id-key",
    "KEY_VAULT_REFERENCE_SETTINGS": "INSTANCE_ID_KEY,WEBHOOK_SECRET",
    "FOUNDRY_WORKSPACE_ID": WS_ID,
    "FOUNDRY_WORKSPACE_NAME": "ws_team",
    "FOUNDRY_WORKSPACE_SUBSCRIPTION_ID": SUB_WS,
    "FOUNDRY_WORKSPACE_RESOURCE_GROUP": "rg-ml",
    "RUN_SECRETS_VAULT_ID": WS_VAULT,
    "EVENTGRID_SUBSCRIPTION_NAME": "polysync-abcdefghijklm",
    "TASKHUB_NAME": "polysyncsweeps",
    "SWEEP_EVENTS_ENABLED": "true",
    "WORKSPACE_COMPUTE_PRINCIPAL_IDS": COMPUTE,
    "HOOK_RETRY_SECONDS": "0",
}

NOT_FOUND_SECRET = 'ERROR: Not Found({"error":{"code":"SecretNotFound","message":"Secret instance-id-key not found in vault kv-abc"}})\n'
AUTHORIZATION_FAILED = (
    'ERROR: {"status":"Failed","error":{"code":"DeploymentFailed","details":[{"code":"AuthorizationFailed",'
    '"message":"The client \'me@contoso.com\' does not have authorization to perform action '
    "'Microsoft.Authorization/roleAssignments/write' over scope '/subscriptions/x/resourceGroups/rg-ml'\"}]}}\n"
)
DESTINATION_NOT_FOUND = (
    'ERROR: {"status":"Failed","error":{"code":"DeploymentFailed","details":[{"code":"BadRequest",'
    '"message":"Destination endpoint not found. Resource details: resourceId: '
    f'{APP_ID}/functions/azureml_events. Resource should pre-exist before attempting this operation."}}]}}}}\n'
)


def references(**statuses: str) -> dict:
    return {
        "value": [
            {
                "id": f"{APP_ID}/config/configreferences/appsettings/{name}",
                "name": name,
                "properties": {"status": status, "vaultName": "kv-abc", "secretName": name.lower()},
            }
            for name, status in statuses.items()
        ]
    }


def ok(out=None) -> dict:
    return {"code": 0, "out": out if out is not None else ""}


def fail(err: str) -> dict:
    return {"code": 1, "err": err}


RESOLVED = references(WEBHOOK_SECRET="Resolved", INSTANCE_ID_KEY="Resolved")
NO_TOPICS = {"value": []}
TOPIC = {"value": [{"name": "existing-topic", "properties": {"source": WS_ID.upper(), "topicType": "x"}}]}


def scenario(**overrides) -> list[dict]:
    """Rules in match order; each maps to answers (the last repeats)."""
    rules = {
        "secret_get": (["rest --method get", "/secrets/instance-id-key"], [fail(NOT_FOUND_SECRET)]),
        "secret_put": (["rest --method put", "/secrets/instance-id-key"], [ok("{}")]),
        "topics": (["rest --method get", "systemTopics"], [ok(NO_TOPICS)]),
        "vault": (
            ["rest --method get", "vaults/kvws?"],
            [ok({"properties": {"enableRbacAuthorization": True}})],
        ),
        "refresh": (["rest --method post", "configreferences/appsettings/refresh"], [ok("{}")]),
        "references": (["rest --method get", "configreferences/appsettings?"], [ok(RESOLVED)]),
        "deploy_workspace": (["deployment group create", "polysync-workspace-"], [ok()]),
        "deploy_eventgrid": (["deployment group create", "polysync-eventgrid-"], [ok()]),
    }
    for key, answers in overrides.items():
        rules[key] = (rules[key][0], answers)
    return [{"match": match, "answers": answers} for match, answers in rules.values()]


def run_hook(
    tmp_path: Path, hook: str, rules: list[dict], env: dict | None = None
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    az = bin_dir / "az"
    az.write_text(f"#!{sys.executable}\n" + FAKE_AZ.read_text())
    az.chmod(az.stat().st_mode | stat.S_IEXEC)
    python3 = bin_dir / "python3"
    if not python3.exists():
        python3.symlink_to(sys.executable)
    (tmp_path / "scenario.json").write_text(json.dumps({"rules": rules}))
    log = tmp_path / "az.log"
    full_env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "FAKE_AZ_SCENARIO": str(tmp_path / "scenario.json"),
        "FAKE_AZ_LOG": str(log),
        **(ENV if env is None else env),
    }
    result = subprocess.run(
        ["sh", str(HOOKS / "hook.sh"), hook],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


def calls_to(calls: list[dict], *parts: str) -> list[dict]:
    return [c for c in calls if all(p in " ".join(c["args"]) for p in parts)]


def arg(call: dict, flag: str) -> str:
    return call["args"][call["args"].index(flag) + 1]


# --- postprovision ---------------------------------------------------------------------------------


def test_postprovision_creates_the_instance_id_key_once_and_never_shows_it(tmp_path):
    result, calls = run_hook(tmp_path, "postprovision", scenario())
    assert result.returncode == 0, result.stderr
    (put,) = calls_to(calls, "rest --method put", "/secrets/instance-id-key")
    assert arg(put, "--url") == f"{APP_VAULT}/secrets/instance-id-key?api-version=2023-07-01"
    value = put["body"]["content"]["properties"]["value"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{64}", value), "48 random bytes, URL-safe base64"
    assert value not in result.stdout + result.stderr + json.dumps([c["args"] for c in calls])
    assert not Path(put["body"]["path"]).exists(), "the file that held the key is removed"
    # An existing key is kept: a new one would change the instance ids of retried runs.
    again, calls = run_hook(
        tmp_path / "again", "postprovision", scenario(secret_get=[ok('{"name": "instance-id-key"}')])
    )
    assert again.returncode == 0, again.stderr
    assert not calls_to(calls, "rest --method put") and "exists; kept" in again.stdout


def test_postprovision_puts_the_workspace_pieces_in_their_own_deployment(tmp_path):
    result, calls = run_hook(tmp_path, "postprovision", scenario())
    assert result.returncode == 0, result.stderr
    (deploy,) = calls_to(calls, "deployment group create")
    assert arg(deploy, "--subscription") == SUB_WS and arg(deploy, "--resource-group") == "rg-ml"
    assert arg(deploy, "--template-file") == str(src.INFRA / "workspace.bicep")
    assert arg(deploy, "--name") == "polysync-workspace-abcdefghijklm"
    params = {k: v["value"] for k, v in deploy["parameters"]["content"]["parameters"].items()}
    topic = params.pop("systemTopicName")
    assert params == {
        "workspaceName": "ws_team",
        "appPrincipalId": ENV["AZURE_FUNCTION_APP_PRINCIPAL_ID"],
        "createSystemTopic": True,
        "runSecretsVaultId": WS_VAULT,
        "runSecretsVaultUsesRbac": True,
        "computePrincipalIds": [COMPUTE],
        "tags": {"azd-env-name": "dev"},
    }
    # Finding 4: the workspace is named `ws_team`; a topic name may not hold '_'.
    assert re.fullmatch(r"evgt-ws-team-[0-9a-f]{8}", topic)


def test_postprovision_reuses_the_workspace_system_topic_and_an_access_policy_vault(tmp_path):
    rules = scenario(topics=[ok(TOPIC)], vault=[ok({"properties": {"enableRbacAuthorization": False}})])
    result, calls = run_hook(tmp_path, "postprovision", rules)
    assert result.returncode == 0, result.stderr
    params = calls_to(calls, "deployment group create")[0]["parameters"]["content"]["parameters"]
    assert (
        params["createSystemTopic"]["value"] is False
        and params["systemTopicName"]["value"] == "existing-topic"
    )
    assert params["runSecretsVaultUsesRbac"]["value"] is False
    assert "reusing existing-topic" in result.stdout and "access policies" in result.stdout


def test_a_permanent_error_stops_at_once(tmp_path):
    # Finding 4: the old hook retried a missing permission six times, 30 s apart.
    result, calls = run_hook(
        tmp_path, "postprovision", scenario(deploy_workspace=[fail(AUTHORIZATION_FAILED)])
    )
    assert result.returncode == 1
    assert len(calls_to(calls, "deployment group create")) == 1
    assert "retrying cannot fix" in result.stderr and "AuthorizationFailed" in result.stderr
    assert "docs/deploy.md" in result.stderr


def test_a_principal_not_replicated_yet_is_retried(tmp_path):
    not_yet = fail(
        'ERROR: {"error":{"code":"PrincipalNotFound","message":"Principal 4444 does not exist in the directory."}}\n'
    )
    result, calls = run_hook(tmp_path, "postprovision", scenario(deploy_workspace=[not_yet, not_yet, ok()]))
    assert result.returncode == 0, result.stderr
    assert len(calls_to(calls, "deployment group create")) == 3


def test_bad_compute_principal_ids_are_refused_before_anything_is_deployed(tmp_path):
    result, calls = run_hook(
        tmp_path, "postprovision", scenario(), {**ENV, "WORKSPACE_COMPUTE_PRINCIPAL_IDS": "gpu-cluster"}
    )
    assert result.returncode == 1 and "WORKSPACE_COMPUTE_PRINCIPAL_IDS" in result.stderr
    assert not calls_to(calls, "deployment group create")


def test_a_bad_knob_is_a_clear_error_not_a_traceback(tmp_path):
    result, calls = run_hook(tmp_path, "postdeploy", scenario(), {**ENV, "HOOK_RETRY_SECONDS": "soon"})
    assert result.returncode == 1 and "HOOK_RETRY_SECONDS must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr and calls == []


def test_a_missing_output_is_named(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "AZURE_KEY_VAULT_ID"}
    result, calls = run_hook(tmp_path, "postprovision", scenario(), env)
    assert result.returncode == 1 and "AZURE_KEY_VAULT_ID is not set" in result.stderr
    assert calls == []


def test_deployment_names_fit_arm_for_the_longest_environment_name(tmp_path):
    # Finding 4: `polysync-eventgrid-<AZURE_ENV_NAME>` passed ARM's 64 characters for long env names.
    env = {**ENV, "AZURE_ENV_NAME": "e" * 64}
    result, calls = run_hook(tmp_path, "postdeploy", scenario(topics=[ok(TOPIC)]), env)
    assert result.returncode == 0, result.stderr
    (deploy,) = calls_to(calls, "deployment group create")
    assert arg(deploy, "--name") == "polysync-eventgrid-abcdefghijklm"
    for token in ("abcdefghijklm", "x" * 80, "bad token/!"):
        name = deploy_hooks.deployment_name("polysync-eventgrid", token)
        assert re.fullmatch(r"[-\w.()]{1,64}", name, re.ASCII), name
    assert deploy_hooks.deployment_name("p", "a" * 80) != deploy_hooks.deployment_name("p", "a" * 79)


# --- postdeploy ------------------------------------------------------------------------------------


def test_postdeploy_waits_for_key_vault_references_then_subscribes(tmp_path):
    pending = ok(references(WEBHOOK_SECRET="AccessToKeyVaultDenied", INSTANCE_ID_KEY="Initialized"))
    rules = scenario(topics=[ok(TOPIC)], references=[ok({"value": []}), pending, ok(RESOLVED)])
    result, calls = run_hook(tmp_path, "postdeploy", rules)
    assert result.returncode == 0, result.stderr
    assert len(calls_to(calls, "configreferences/appsettings?api-version=2024-04-01")) == 3
    assert calls_to(calls, "rest --method post", "appsettings/refresh?api-version=2022-03-01")
    (deploy,) = calls_to(calls, "deployment group create")
    params = {k: v["value"] for k, v in deploy["parameters"]["content"]["parameters"].items()}
    assert params == {
        "systemTopicName": "existing-topic",
        "functionAppId": APP_ID,
        "subscriptionName": ENV["EVENTGRID_SUBSCRIPTION_NAME"],
        "taskHubName": ENV["TASKHUB_NAME"],
    }
    assert "WEBHOOK_SECRET: AccessToKeyVaultDenied" in result.stdout


def test_postdeploy_stops_on_a_reference_that_cannot_resolve(tmp_path):
    broken = ok(references(WEBHOOK_SECRET="Resolved", INSTANCE_ID_KEY="SecretNotFound"))
    result, calls = run_hook(tmp_path, "postdeploy", scenario(topics=[ok(TOPIC)], references=[broken]))
    assert result.returncode == 1
    assert (
        "INSTANCE_ID_KEY: SecretNotFound" in result.stderr and "azd hooks run postprovision" in result.stderr
    )
    assert not calls_to(calls, "deployment group create"), "no event subscription for an app that cannot run"


def test_postdeploy_gives_up_on_references_that_never_resolve(tmp_path):
    pending = ok(references(WEBHOOK_SECRET="Resolved", INSTANCE_ID_KEY="Initialized"))
    env = {**ENV, "KEY_VAULT_REFERENCE_ATTEMPTS": "3"}
    result, calls = run_hook(tmp_path, "postdeploy", scenario(topics=[ok(TOPIC)], references=[pending]), env)
    assert result.returncode == 1 and "still unresolved after 3 checks" in result.stderr
    assert len(calls_to(calls, "configreferences/appsettings?")) == 3


def test_postdeploy_retries_destination_not_found_then_gives_up(tmp_path):
    rules = scenario(topics=[ok(TOPIC)], deploy_eventgrid=[fail(DESTINATION_NOT_FOUND), ok()])
    result, calls = run_hook(tmp_path, "postdeploy", rules)
    assert result.returncode == 0, result.stderr
    assert len(calls_to(calls, "deployment group create")) == 2
    env = {**ENV, "EVENTGRID_DEPLOY_ATTEMPTS": "2"}
    rules = scenario(topics=[ok(TOPIC)], deploy_eventgrid=[fail(DESTINATION_NOT_FOUND)])
    result, calls = run_hook(tmp_path / "forever", "postdeploy", rules, env)
    assert result.returncode == 1 and "still failing after 2 attempts" in result.stderr
    assert len(calls_to(calls, "deployment group create")) == 2


def test_postdeploy_without_a_system_topic_points_to_postprovision(tmp_path):
    result, calls = run_hook(tmp_path, "postdeploy", scenario())
    assert result.returncode == 1 and "azd hooks run postprovision" in result.stderr
    assert not calls_to(calls, "deployment group create")


def test_polling_only_needs_no_topic_and_no_subscription(tmp_path):
    env = {**ENV, "SWEEP_EVENTS_ENABLED": "false"}
    result, calls = run_hook(tmp_path, "postprovision", scenario(), env)
    assert result.returncode == 0, result.stderr
    assert not calls_to(calls, "systemTopics")
    params = calls_to(calls, "deployment group create")[0]["parameters"]["content"]["parameters"]
    assert params["createSystemTopic"]["value"] is False
    result, calls = run_hook(tmp_path / "deploy", "postdeploy", scenario(), env)
    assert result.returncode == 0, result.stderr
    assert not calls_to(calls, "deployment group create")


# --- pure rules ---------------------------------------------------------------------------------------

# Azure ML workspace names: 3..33 characters, letters, digits, '-' and '_', starting alphanumeric.
WORKSPACE_NAMES = st.from_regex(r"\A[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}\Z")


@given(WORKSPACE_NAMES)
def test_system_topic_names_are_valid_for_every_workspace_name(name):
    workspace_id = (
        f"/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/{name}"
    )
    topic = deploy_hooks.system_topic_name(name, workspace_id)
    assert re.fullmatch(r"[A-Za-z0-9-]{3,50}", topic), topic
    assert topic == deploy_hooks.system_topic_name(name, workspace_id.upper()), (
        "ARM ids compare case-insensitively"
    )


def test_workspaces_differing_only_by_underscore_get_different_topics():
    base = "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/"
    assert deploy_hooks.system_topic_name("a_b", base + "a_b") != deploy_hooks.system_topic_name(
        "a-b", base + "a-b"
    )


def test_errors_are_classified_by_what_retrying_can_change():
    assert deploy_hooks.classify(AUTHORIZATION_FAILED) == "permanent"
    assert deploy_hooks.classify(DESTINATION_NOT_FOUND) == "transient"
    assert deploy_hooks.classify("ERROR: (TooManyRequests) Rate limit exceeded") == "transient"
    assert deploy_hooks.classify("ERROR: something nobody has seen") == "permanent"
    assert deploy_hooks.classify("InvalidTemplate ... GatewayTimeout") == "permanent"
