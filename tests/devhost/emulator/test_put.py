from __future__ import annotations

import copy

import pytest

from devhost.emulator import WorkspaceEmulator

from .conftest import Client, assert_arm_error, sweep_body


def test_put_creates_job_201(make_emu):
    """201 with the resource and a `Location` (the job URL, caller's api-version); the Studio
    service's endpoint uses `wsid=/subscriptions/{s}/resourcegroups/{rg}/workspaces/{ws}` without
    a tenant (the SDK appends `tid`). Source: tests/recordings, the recorded PUT answer."""
    emu = make_emu(tenant_id="tenant-1")
    client = Client(emu)
    resp = client.put("run-1", sweep_body())
    assert resp.status_code == 201, resp.text
    assert (
        resp.headers["Location"] == f"{emu.arm_endpoint}{emu.workspace_id}/jobs/run-1?api-version=2024-10-01"
    )
    job = resp.json()
    assert job["name"] == "run-1"
    assert job["id"] == f"{emu.workspace_id}/jobs/run-1"
    assert job["type"] == "Microsoft.MachineLearningServices/workspaces/jobs"
    assert job["systemData"]["createdAt"].startswith("2026-01-05T09:00:00")
    props = job["properties"]
    assert props["status"] == "NotStarted"
    assert props["services"]["Studio"]["endpoint"] == (
        "https://ml.azure.com/runs/run-1?wsid=/subscriptions/00000000-0000-0000-0000-000000000000"
        "/resourcegroups/rg-polysync-dev/workspaces/foundry-dev"
    )
    assert props["searchSpace"]["batch_size"] == ["choice", [[16, 32, 64]]]
    assert client.get("run-1").json() == job
    assert emu.job("run-1") == job
    assert emu.calls["put"] == 1 and emu.calls["put_created"] == 1 and emu.calls["get"] == 1
    assert emu.active_jobs() == ["run-1"]


def test_goal_and_sampling_are_accepted_lower_case_and_stored_pascal_case(client):
    body = sweep_body()
    body["properties"]["objective"]["goal"] = "maximize"
    body["properties"]["samplingAlgorithm"]["samplingAlgorithmType"] = "random"
    props = client.put("run-lc", body).json()["properties"]
    assert props["objective"]["goal"] == "Maximize"
    assert props["samplingAlgorithm"]["samplingAlgorithmType"] == "Random"


@pytest.mark.parametrize("name", ["-leading-dash", "has.dot", "x" * 256, "sp ace"])
def test_invalid_names_rejected(client, name):
    assert_arm_error(client.put(name, sweep_body()), 400, "UserError")


@pytest.mark.parametrize(
    "mutate, target",
    [
        (lambda p: p.pop("jobType"), "properties.jobType"),
        (lambda p: p["trial"].pop("command"), "properties.trial.command"),
        (lambda p: p["trial"].pop("environmentId"), "properties.trial.environmentId"),
        (lambda p: p.pop("objective"), "properties.objective"),
        (lambda p: p.pop("samplingAlgorithm"), "properties.samplingAlgorithm"),
        (lambda p: p.pop("searchSpace"), "properties.searchSpace"),
        (lambda p: p["objective"].update(goal="best"), "properties.objective.goal"),
    ],
)
def test_missing_sweep_fields_rejected(client, mutate, target):
    body = sweep_body()
    mutate(body["properties"])
    err = assert_arm_error(client.put("run-x", body), 400, "UserError")
    assert err["target"] == target
    assert client.get("run-x").status_code == 404


def test_dict_form_search_space_rejected(client):
    body = sweep_body()
    body["properties"]["searchSpace"] = {"alpha": {"type": "choice", "values": [0.5]}}
    err = assert_arm_error(client.put("run-dict", body), 400, "UserError")
    assert err["details"][0]["code"] == "InvalidSearchSpace"
    assert "alpha" in err["message"]
    assert client.emu.calls["put_created"] == 0


@pytest.mark.parametrize(
    "space",
    [
        {"a": ["choice", [0.5]]},  # missing double nesting
        {"a": ["choice", [[]]]},
        {"a": ["uniform", [1]]},
        {"a": ["uniform", [2, 1]]},
        {"a": ["randint", [0]]},
        {"a": ["bogus", [1, 2]]},
        {"a": "choice"},
        {},
    ],
)
def test_malformed_list_search_space_rejected(client, space):
    body = sweep_body()
    body["properties"]["searchSpace"] = space
    assert_arm_error(client.put("run-bad", body), 400, "UserError")


def test_all_wire_distributions_accepted(client):
    body = sweep_body()
    body["properties"]["searchSpace"] = {
        "c": ["choice", [["a", "b"]]],
        "r": ["randint", [10]],
        "u": ["uniform", [0, 1]],
        "lu": ["loguniform", [-5, -1]],
        "qu": ["quniform", [0, 10, 1]],
        "qlu": ["qloguniform", [0, 10, 1]],
        "n": ["normal", [0, 1]],
        "ln": ["lognormal", [0, 1]],
        "qn": ["qnormal", [0, 1, 0.5]],
        "qln": ["qlognormal", [0, 1, 0.5]],
    }
    assert client.put("run-all", body).status_code == 201


def test_unknown_compute_rejected_naming_it(client):
    body = sweep_body()
    body["properties"]["computeId"] = "azureml:tpu-cluster"
    err = assert_arm_error(client.put("run-c", body), 400, "UserError")
    assert "tpu-cluster" in err["message"]
    assert err["target"] == "properties.computeId"


@pytest.mark.parametrize("compute", ["cpu-cluster", "azureml:gpu-cluster"])
def test_known_compute_forms_accepted(client, compute):
    body = sweep_body()
    body["properties"]["computeId"] = compute
    assert client.put("run-c", body).status_code == 201


def test_unknown_environment_rejected_naming_it(client):
    body = sweep_body()
    body["properties"]["trial"]["environmentId"] = "azureml:sklearn-env:99"
    err = assert_arm_error(client.put("run-e", body), 400, "UserError")
    assert "azureml:sklearn-env:99" in err["message"]


@pytest.mark.parametrize(
    "env",
    [
        "azureml:sklearn-env:3",
        "azureml:pytorch-env@latest",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-polysync-dev/providers/"
        "Microsoft.MachineLearningServices/workspaces/foundry-dev/environments/sklearn-env/versions/2",
        "azureml://registries/azureml/environments/sklearn-1.5/versions/7",
        "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
        "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:33",
        "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-polysync-dev/providers/"
        "Microsoft.MachineLearningServices/workspaces/foundry-dev/environments/AzureML-sklearn-1.0-ubuntu20.04-py38-cpu/versions/33",
    ],
)
def test_environment_forms_accepted(client, env):
    """Workspace and curated environments in every form the service accepts; curated ones are
    visible in the workspace (recorded PUT: `azureml:AzureML-sklearn-...:33` accepted)."""
    body = sweep_body()
    body["properties"]["trial"]["environmentId"] = env
    assert client.put("run-e", body).status_code == 201, env


def test_short_environment_reference_is_stored_resolved(client):
    """The service stores `azureml:NAME:VERSION` as the workspace environment's ARM id
    (tests/recordings: sent `azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:33`, answered
    `.../workspaces/00000/environments/AzureML-sklearn-1.0-ubuntu20.04-py38-cpu/versions/33`)."""
    body = sweep_body()
    body["properties"]["trial"]["environmentId"] = "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:33"
    stored = client.put("run-e", body).json()["properties"]["trial"]["environmentId"]
    assert (
        stored
        == f"{client.emu.workspace_id}/environments/AzureML-sklearn-1.0-ubuntu20.04-py38-cpu/versions/33"
    )


@pytest.mark.parametrize(
    "env",
    [
        "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:34",
        "azureml://registries/other/environments/sklearn-1.5/versions/7",
        "azureml://registries/azureml/environments/no-such-env/labels/latest",
        "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-polysync-dev/providers/"
        "Microsoft.MachineLearningServices/workspaces/foundry-dev/environments/sklearn-env/versions/2",
    ],
)
def test_environments_outside_the_catalog_rejected(client, env):
    body = sweep_body()
    body["properties"]["trial"]["environmentId"] = env
    err = assert_arm_error(client.put("run-e", body), 400, "UserError")
    assert err["details"][0]["code"] == "EnvironmentNotFound"


def test_templates_dir_adds_computes_and_environments(make_emu):
    emu = make_emu(templates_dir=WorkspaceEmulator.default_templates_dir())
    client = Client(emu)
    body = sweep_body()
    body["properties"]["computeId"] = "cpu-cluster-lowpri"
    body["properties"]["trial"]["environmentId"] = "azureml:lightgbm-env:1"
    assert client.put("run-t", body).status_code == 201


def test_reput_identical_returns_existing_unchanged(vclock, client):
    created = client.put("run-1", sweep_body()).json()
    vclock.advance(40)
    before = client.get("run-1").json()
    assert before["properties"]["status"] == "Running"
    resp = client.put("run-1", sweep_body())
    assert resp.status_code == 200
    assert resp.json() == before
    assert resp.json()["systemData"]["createdAt"] == created["systemData"]["createdAt"]
    assert client.emu.calls["put_created"] == 1


def test_reput_mutable_fields_updates_them(vclock, client):
    """Only description, tags, displayName, properties, isArchived may change (facts.md);
    the service's own `_aml_system_*` tags and sweep properties stay."""
    client.put("run-1", sweep_body())
    vclock.advance(5)
    body = sweep_body(extra="yes")
    body["properties"]["displayName"] = "renamed"
    body["properties"]["description"] = "now described"
    resp = client.put("run-1", body)
    assert resp.status_code == 200
    props = resp.json()["properties"]
    user_tags = {k: v for k, v in props["tags"].items() if not k.startswith("_aml_system_")}
    assert user_tags == {"polysync.run": "r1", "extra": "yes"}
    assert props["tags"]["_aml_system_max_total_jobs"] == "10"
    assert props["properties"]["runTemplate"] == "HyperDrive"
    assert props["displayName"] == "renamed"
    assert props["description"] == "now described"
    assert props["status"] == "Queued"
    assert resp.json()["systemData"]["lastModifiedAt"].startswith("2026-01-05T09:00:05")
    assert client.get("run-1").json() == resp.json()


def test_reput_replaces_the_callers_tags(client):
    """A re-PUT with an unchanged definition answers 200 and its tags *replace* the job's (the
    service's own `_aml_system_*` ones stay). Source: the REST spec's `Jobs_CreateOrUpdate`
    (Azure/azure-rest-api-specs, machinelearningservices, 2024-04-01 and later): "Creates and
    executes a Job. For update case, the Tags in the definition passed in will replace Tags in
    the existing job." This is what lets the submit activity PUT first (activities/azureml.py)."""
    client.put("run-1", sweep_body(extra="yes"))
    body = sweep_body()
    body["properties"]["tags"] = {"other": "1"}
    resp = client.put("run-1", body)
    assert resp.status_code == 200, resp.text
    tags = resp.json()["properties"]["tags"]
    assert {k: v for k, v in tags.items() if not k.startswith("_aml_system_")} == {"other": "1"}
    assert any(k.startswith("_aml_system_") for k in tags)
    assert client.emu.calls["put_created"] == 1


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p["trial"].update(command="python other.py"),
        lambda p: p["searchSpace"].update(batch_size=["choice", [[8]]]),
        lambda p: p.update(computeId="gpu-cluster"),
        lambda p: p["objective"].update(primaryMetric="loss"),
        lambda p: p["trial"].update(environmentVariables={"A": "1"}),
    ],
)
def test_reput_immutable_change_rejected(client, mutate):
    client.put("run-1", sweep_body())
    body = copy.deepcopy(sweep_body())
    mutate(body["properties"])
    err = assert_arm_error(client.put("run-1", body), 400, "UserError")
    assert "A job with this name already exists" in err["message"]
    assert "cannot be changed" in err["message"]
    assert err["details"][0]["code"] == "JobPropertyImmutable"
    assert (
        client.get("run-1").json()["properties"]["trial"]["command"]
        == sweep_body()["properties"]["trial"]["command"]
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p["trial"].update(environmentVariables={}),
        lambda p: p["trial"].update(distribution=None),
        lambda p: p["objective"].update(goal="maximize"),
        lambda p: p["samplingAlgorithm"].update(samplingAlgorithmType="random"),
        lambda p: p["trial"].update(
            environmentId="/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-polysync-dev"
            "/providers/Microsoft.MachineLearningServices/workspaces/foundry-dev/environments/sklearn-env/versions/3"
        ),
        lambda p: p.update(computeId="azureml:cpu-cluster"),
        lambda p: p.update(experimentName="polysync-sweeps", inputs={}),
    ],
)
def test_reput_compares_meaning_not_bytes(client, mutate):
    """The service compares definitions: an empty field and an absent one are equal, enum
    casing is no change (the SDK sends `maximize`, the service stores `Maximize`: recorded PUT
    in tests/recordings), and a reference equals its resolved form."""
    client.put("run-1", sweep_body())
    body = sweep_body()
    mutate(body["properties"])
    assert client.put("run-1", body).status_code == 200
    assert client.emu.calls["put_created"] == 1


def test_reput_of_the_answer_itself_is_no_change(vclock, client):
    """A GET sent back as a PUT (what a client re-submitting a fetched job does) carries the
    service's own additions - default output URIs, the `default` output, nulls, status - and
    still defines the same job."""
    client.put("run-1", sweep_body())
    vclock.advance(40)
    fetched = client.get("run-1").json()
    resp = client.put("run-1", {"properties": fetched["properties"]})
    assert resp.status_code == 200, resp.text
    assert client.emu.calls["put_created"] == 1


def test_compute_ids_are_compared_whole(client):
    """A compute ARM id must name this workspace's compute: subscription, resource group and
    workspace are compared, not only the last segment."""
    own = client.emu.compute_id("cpu-cluster")
    for other in (
        own.replace("foundry-dev", "other-ws"),
        own.replace("rg-polysync-dev", "rg-other"),
        own.replace("00000000-0000-0000-0000-000000000000", "11111111-1111-1111-1111-111111111111"),
    ):
        body = sweep_body()
        body["properties"]["computeId"] = other
        err = assert_arm_error(client.put("run-c", body), 400, "UserError")
        assert err["details"][0]["code"] == "ComputeNotFound"
    body = sweep_body()
    body["properties"]["computeId"] = own.upper().replace("/COMPUTES/CPU-CLUSTER", "/computes/cpu-cluster")
    assert client.put("run-c", body).status_code == 201


def test_command_job_requires_command(client):
    body = {"properties": {"jobType": "Command", "environmentId": "azureml:sklearn-env:1"}}
    assert_arm_error(client.put("cmd-1", body), 400, "UserError")
    body["properties"]["command"] = "echo hi"
    assert client.put("cmd-1", body).status_code == 201
