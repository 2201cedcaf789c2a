"""azure.yaml: layout, the azd version it needs, and the hooks wired for both shells."""

from __future__ import annotations

import ast
import os
import re

import yaml

from tests.infra import sources as src

HOOKS = src.INFRA / "hooks"
HOOK_MODULE = HOOKS / "deploy_hooks.py"
# Knobs a user may set with `azd env set` (documented in docs/deploy.md) or that azd sets itself;
# every other name the hooks read must be an output of infra/main.bicep.
HOOK_KNOBS = {
    "AZURE_ENV_NAME",
    "EVENTGRID_EXISTING_SYSTEM_TOPIC",
    "WORKSPACE_COMPUTE_PRINCIPAL_IDS",
    "HOOK_RETRY_SECONDS",
    "EVENTGRID_DEPLOY_ATTEMPTS",
    "WORKSPACE_DEPLOY_ATTEMPTS",
    "KEY_VAULT_REFERENCE_ATTEMPTS",
}


def _azure_yaml() -> dict:
    return yaml.safe_load((src.ROOT / "azure.yaml").read_text())


def test_azure_yaml_service_and_infra():
    doc = _azure_yaml()
    assert doc["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    assert doc["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert (src.ROOT / doc["infra"]["path"] / f"{doc['infra']['module']}.bicep").is_file()


def test_azd_older_than_1_24_is_refused():
    # azd <= 1.23 deletes every resource group a deployment output's resources live in on
    # `azd down` (Azure/azure-dev#2916, fixed in 1.24.0). Issue 16, finding 2.
    required = _azure_yaml().get("requiredVersions", {}).get("azd", "")
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)\.(\d+)", required)
    assert match, f"requiredVersions.azd must be '>=X.Y.Z', got {required!r}"
    assert tuple(int(p) for p in match.groups()) >= (1, 24, 0)


def test_both_hooks_are_wired_for_both_shells():
    hooks = _azure_yaml()["hooks"]
    assert set(hooks) == {"postprovision", "postdeploy"}
    for name, hook in hooks.items():
        assert hook["posix"] == {
            "shell": "sh",
            "run": f"./infra/hooks/hook.sh {name}",
            "interactive": False,
            "continueOnError": False,
        }
        assert hook["windows"] == {
            "shell": "pwsh",
            "run": f"./infra/hooks/hook.ps1 {name}",
            "interactive": False,
            "continueOnError": False,
        }
    assert os.access(HOOKS / "hook.sh", os.X_OK)
    ps1 = (HOOKS / "hook.ps1").read_text()
    assert "ValidateSet('postprovision', 'postdeploy')" in ps1 and "deploy_hooks.py" in ps1
    assert "exit $LASTEXITCODE" in ps1


def _names_the_hooks_read() -> set[str]:
    tree = ast.parse(HOOK_MODULE.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"get", "require", "number", "flag"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and re.fullmatch(r"[A-Z][A-Z0-9_]+", node.args[0].value)
        ):
            names.add(node.args[0].value)
    return names


def test_hooks_read_main_bicep_outputs_and_documented_knobs_only():
    used = _names_the_hooks_read()
    outputs = set(src.bicep("main.bicep")["outputs"])
    assert {"AZURE_FUNCTION_APP_ID", "AZURE_KEY_VAULT_ID", "KEY_VAULT_REFERENCE_SETTINGS"} <= used
    assert used - HOOK_KNOBS <= outputs, f"not main.bicep outputs: {sorted(used - HOOK_KNOBS - outputs)}"
    deploy_md = (src.ROOT / "docs" / "deploy.md").read_text()
    for knob in HOOK_KNOBS - {"AZURE_ENV_NAME"}:
        assert knob in deploy_md, f"{knob} is not documented in docs/deploy.md"


def test_hook_deployments_pass_only_parameters_the_templates_declare():
    tree = ast.parse(HOOK_MODULE.read_text())
    passed: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "deploy":
            keywords = {k.arg: k.value for k in node.keywords}
            template = keywords["template"].id  # WORKSPACE_TEMPLATE / EVENTGRID_TEMPLATE
            params = keywords["parameters"]
            assert isinstance(params, ast.Dict)
            passed[template] = {k.value for k in params.keys}
    assert set(passed) == {"WORKSPACE_TEMPLATE", "EVENTGRID_TEMPLATE"}
    for constant, file in (
        ("WORKSPACE_TEMPLATE", "workspace.bicep"),
        ("EVENTGRID_TEMPLATE", "eventgrid.bicep"),
    ):
        declared = src.bicep(file)["parameters"]
        required = {p for p, d in declared.items() if d.get("default") is None}
        assert passed[constant] <= set(declared), (file, passed[constant] - set(declared))
        assert required <= passed[constant], (file, required - passed[constant])
