from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foundry.errors import FoundryError, RequestValidationError
from foundry.names import (
    JOB_NAME_RE,
    instance_id_for,
    job_name_for,
    validate_instance_id,
    validate_job_name,
)
from foundry.workspace import Workspace
from tests.unit.conftest import WS_ID


@pytest.mark.parametrize(
    "bad", ["", "../x", "a/b", "-lead", "_lead", "x" * 256, "a b", "a%2Fb", "a?b=c", None, 3]
)
def test_validate_job_name_rejects(bad: object) -> None:
    with pytest.raises(RequestValidationError) as exc:
        validate_job_name(bad, "externalId")
    assert exc.value.errors[0].field == "externalId"
    assert "externalId" in exc.value.errors[0].message


@pytest.mark.parametrize("good", ["a", "train-sweep_1", "9x", "x" * 255])
def test_validate_job_name_accepts(good: str) -> None:
    assert validate_job_name(good, "f") == good


def test_validate_instance_id_limit() -> None:
    assert validate_instance_id("ps-" + "a" * 97) == "ps-" + "a" * 97
    with pytest.raises(RequestValidationError) as exc:
        validate_instance_id("ps-" + "a" * 98)
    assert exc.value.errors[0].field == "instanceId"


def test_instance_id_deterministic_from_run_id_and_keyed() -> None:
    a = instance_id_for("run-1", "tpl", "key-1")
    assert a == instance_id_for("run-1", "tpl", "key-1")
    assert a != instance_id_for("run-2", "tpl", "key-1")
    assert a != instance_id_for("run-1", "tpl", "key-2")  # unknowable without the key
    unkeyed = "ps-" + hashlib.sha256(b"tpl\nrun-1").hexdigest()[:40]
    assert a != unkeyed
    assert a.startswith("ps-")
    validate_instance_id(a)


def test_instance_id_from_run_id_needs_the_key() -> None:
    with pytest.raises(FoundryError, match="INSTANCE_ID_KEY"):
        instance_id_for("run-1", "tpl", None)


def test_instance_id_fresh_without_run_id() -> None:
    a, b = instance_id_for(None, "tpl", None), instance_id_for(None, "tpl", "k")
    assert a != b
    validate_instance_id(a)


def test_job_name_for_long_template() -> None:
    name = job_name_for("ps-1", "t" * 255)
    assert len(name) <= 255 and JOB_NAME_RE.fullmatch(name)
    assert name == job_name_for("ps-1", "t" * 255)


@given(
    st.text(min_size=1, max_size=120),
    st.text(min_size=1, max_size=120),
    st.from_regex(JOB_NAME_RE, fullmatch=True),
)
def test_job_name_for_valid_and_collision_free(i1: str, i2: str, template: str) -> None:
    n1, n2 = job_name_for(i1, template), job_name_for(i2, template)
    assert JOB_NAME_RE.fullmatch(n1) and len(n1) <= 255
    assert (n1 == n2) == (i1 == i2)


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
