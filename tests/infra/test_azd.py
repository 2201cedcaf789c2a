"""azure.yaml and the postdeploy hook: layout, wiring to main.bicep outputs, and a dry run with a stub `az`."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess

import pytest
import yaml

from tests.infra import sources as src

HOOKS = src.INFRA / "hooks"
# Set by azd itself, or optional knobs of the hook; everything else must be a main.bicep output.
NOT_OUTPUTS = {"AZURE_ENV_NAME", "EVENTGRID_DEPLOY_ATTEMPTS"}


def _azure_yaml() -> dict:
    return yaml.safe_load((src.ROOT / "azure.yaml").read_text())


def test_azure_yaml_service_and_infra():
    doc = _azure_yaml()
    assert doc["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    assert doc["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert (src.ROOT / doc["infra"]["path"] / f"{doc['infra']['module']}.bicep").is_file()
    assert (src.ROOT / "function_app.py").is_file() or not (src.ROOT / "triggers" / "http_api.py").is_file()


def test_postdeploy_hook_is_wired_for_both_shells():
    hook = _azure_yaml()["hooks"]["postdeploy"]
    assert hook["posix"]["shell"] == "sh" and hook["windows"]["shell"] == "pwsh"
    for flavour in ("posix", "windows"):
        script = src.ROOT / hook[flavour]["run"]
        assert script.is_file(), script
        assert "eventgrid.bicep" in script.read_text()
        assert hook[flavour]["continueOnError"] is False
    assert os.access(HOOKS / "postdeploy.sh", os.X_OK)


@pytest.mark.parametrize(
    ("script", "pattern"),
    [("postdeploy.sh", r"\$\{?([A-Z][A-Z0-9_]+)"), ("postdeploy.ps1", r"\$env:([A-Z][A-Z0-9_]+)")],
)
def test_hook_reads_only_main_bicep_outputs(script, pattern):
    text = (HOOKS / script).read_text()
    used = set(re.findall(pattern, text)) | set(re.findall(r"'([A-Z][A-Z0-9_]+_[A-Z0-9_]+)'", text))
    outputs = set(src.bicep("main.bicep")["outputs"])
    assert used - NOT_OUTPUTS, f"{script}: no azd env values found"
    assert used - NOT_OUTPUTS <= outputs, (
        f"{script}: not main.bicep outputs: {sorted(used - NOT_OUTPUTS - outputs)}"
    )


ENV = {
    "AZURE_ENV_NAME": "dev",
    "AZURE_FUNCTION_APP_ID": "/subscriptions/s1/resourceGroups/rg-dev/providers/Microsoft.Web/sites/func-x",
    "FOUNDRY_WORKSPACE_SUBSCRIPTION_ID": "s2",
    "FOUNDRY_WORKSPACE_RESOURCE_GROUP": "rg-ml",
    "EVENTGRID_SYSTEM_TOPIC_NAME": "evgt-ws",
    "EVENTGRID_SUBSCRIPTION_NAME": "polysync-x",
}


def _stub_az(tmp_path, fail_deployments: int = 0):
    """An `az` that logs its arguments and fails the first N `deployment` calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{tmp_path}/az.log"\n'
        'if [ "$1" = deployment ]; then\n'
        f'  n=$(grep -c "^deployment" "{tmp_path}/az.log")\n'
        f'  [ "$n" -le {fail_deployments} ] && exit 1\n'
        "fi\n"
        "exit 0\n"
    )
    az.chmod(az.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def _run_hook(tmp_path, env, fail_deployments=0):
    bin_dir = _stub_az(tmp_path, fail_deployments)
    full_env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(
        ["sh", str(HOOKS / "postdeploy.sh")],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_hook_deploys_eventgrid_bicep_into_the_workspace_resource_group(tmp_path):
    result = _run_hook(tmp_path, ENV)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "az.log").read_text().splitlines()
    deploy = next(c for c in calls if c.startswith("deployment group create"))
    assert f"--template-file {HOOKS.resolve()}/../eventgrid.bicep" in deploy
    assert "--subscription s2 --resource-group rg-ml" in deploy
    assert f"functionAppId={ENV['AZURE_FUNCTION_APP_ID']}" in deploy
    assert "systemTopicName=evgt-ws" in deploy and "subscriptionName=polysync-x" in deploy
    # Every parameter the hook passes is declared by eventgrid.bicep.
    passed = set(re.findall(r"(\w+)=", deploy.split("--parameters", 1)[1]))
    assert passed <= set(src.bicep("eventgrid.bicep")["parameters"])


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_hook_gives_up_with_a_clear_message_when_outputs_are_missing(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "AZURE_FUNCTION_APP_ID"}
    result = _run_hook(tmp_path, env)
    assert result.returncode == 1
    assert "AZURE_FUNCTION_APP_ID is not set" in result.stderr
    assert not (tmp_path / "az.log").exists()


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_hook_creates_no_subscription_when_events_are_disabled(tmp_path):
    result = _run_hook(tmp_path, {**ENV, "SWEEP_EVENTS_ENABLED": "false"})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "az.log").exists()


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_hook_stops_after_the_configured_attempts(tmp_path):
    result = _run_hook(tmp_path, {**ENV, "EVENTGRID_DEPLOY_ATTEMPTS": "1"}, fail_deployments=5)
    assert result.returncode == 1
    assert "giving up after 1 attempts" in result.stderr
