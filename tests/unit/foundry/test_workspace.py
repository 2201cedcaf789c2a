"""The workspace ARM id, and compute and environment references that must stay in it."""

from __future__ import annotations

import re

import pytest

from foundry.workspace import Workspace
from tests.unit.conftest import WS_ID


def test_workspace_parse_and_paths() -> None:
    ws = Workspace.parse(
        WS_ID.replace("Microsoft.MachineLearningServices", "microsoft.machinelearningservices")
    )
    assert ws.subscription_id == "00000000-0000-0000-0000-000000000001"
    assert ws.resource_group == "rg-ml" and ws.name == "ws-foundry"
    assert ws.arm_id == WS_ID
    assert ws.jobs_path == WS_ID
    assert Workspace.parse(WS_ID + "/").name == "ws-foundry"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ws-foundry",
        WS_ID + "/jobs/x",
        WS_ID.replace("workspaces", "registries"),
        "/subscriptions/a/resourceGroups/b",
    ],
)
def test_workspace_parse_errors_name_setting(bad: str) -> None:
    with pytest.raises(ValueError, match="AZUREML_WORKSPACE_ID") as exc:
        Workspace.parse(bad)
    assert "/subscriptions/<subscription-id>" in str(exc.value)


def test_compute_id_forms() -> None:
    ws = Workspace.parse(WS_ID)
    assert ws.compute_id("cpu-cluster") == WS_ID + "/computes/cpu-cluster"
    assert ws.compute_id("azureml:cpu-cluster") == WS_ID + "/computes/cpu-cluster"
    own = WS_ID + "/computes/c"
    assert ws.compute_id(own) == own
    assert ws.compute_id("azureml:" + own.upper().replace("/COMPUTES/C", "/computes/c")) == own
    with pytest.raises(ValueError, match="Compute Name"):
        ws.compute_id("../evil")


@pytest.mark.parametrize(
    "foreign",
    [
        "/subscriptions/other/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/computes/c",
        WS_ID.replace("/workspaces/", "/workspaces/x") + "/computes/c",
        WS_ID + "/computes/../../../computes/c",
        WS_ID + "/computes/c?x=1",
        WS_ID + "/computes/c/extra",
    ],
)
def test_a_compute_outside_the_workspace_is_refused(foreign: str) -> None:
    with pytest.raises(ValueError, match="configured workspace"):
        Workspace.parse(WS_ID).compute_id(foreign)


@pytest.mark.parametrize(
    "foreign",
    [
        "/subscriptions/../../anything?x=1#y",
        "/subscriptions/other/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w"
        "/environments/e/versions/1",
        WS_ID + "/environments/e/versions/1?x=1",
        WS_ID + "/environments/../e/versions/1",
        "azureml://registries/azureml/environments/e/versions/1#frag",
        "azureml://registries/azureml/environments/../x/versions/1",
        "https://evil.example/environments/e/versions/1",
    ],
)
def test_an_environment_outside_the_workspace_or_a_registry_is_refused(foreign: str) -> None:
    with pytest.raises(ValueError, match="Environment Name"):
        Workspace.parse(WS_ID).environment_id(foreign)


def test_environment_id_forms() -> None:
    ws = Workspace.parse(WS_ID)
    assert ws.environment_id("sklearn-env:7") == WS_ID + "/environments/sklearn-env/versions/7"
    assert ws.environment_id("azureml:sklearn-env:7") == WS_ID + "/environments/sklearn-env/versions/7"
    assert ws.environment_id("sklearn-env@latest") == "azureml:sklearn-env@latest"
    reg = "azureml://registries/azureml/environments/sklearn-1.5/versions/3"
    assert ws.environment_id(reg) == reg
    with pytest.raises(ValueError, match="Environment Name"):
        ws.environment_id("no version")
    assert re.match(r"^/subscriptions/", ws.environment_id(WS_ID + "/environments/e/versions/1"))
