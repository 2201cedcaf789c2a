"""The run-history data plane behind the workspace's discovery URL, over raw HTTP.

Paths and bodies: azure-ai-ml's generated run-history client (`RunsOperations.get`,
`get_child`, `add_or_modify_by_experiment_name`; models `Run`, `PaginatedRunList`,
`CreateRun`). Run properties are add-only (azureml-core `Run.add_properties`: "properties
are immutable"); `hidden` is what ARM shows as `isArchived`.
"""

from __future__ import annotations

import pytest
import requests

from .conftest import Client, assert_arm_error, sweep_body


def history(client: Client, path: str) -> str:
    return f"{client.emu.arm_endpoint}/history/v1.0{client.emu.workspace_id}{path}"


@pytest.fixture
def sweep(vclock, client) -> str:
    client.put("sw-1", sweep_body())
    return "sw-1"


def test_discovery_names_the_data_plane_on_the_callers_host(client):
    ws = client.session.get(client.base, params={"api-version": "2024-10-01-preview"}).json()
    discovery = requests.get(ws["properties"]["discoveryUrl"], timeout=5).json()
    assert discovery["api"] == discovery["history"] == client.emu.arm_endpoint


def test_children_appear_when_the_sweep_runs_and_settle_with_it(vclock, client, sweep):
    url = history(client, f"/runs/{sweep}/children")
    assert client.session.get(url).json()["value"] == []  # no trials before the sweep runs
    vclock.advance(30)
    page = client.session.get(url).json()
    runs = page["value"]
    assert [r["runId"] for r in runs] == [f"{sweep}_{k}" for k in range(10)]
    assert [r["status"] for r in runs] == ["Running"] * 2 + ["Queued"] * 8  # maxConcurrentTrials 2
    assert {r["parentRunId"] for r in runs} == {sweep} and page["nextLink"] is None
    vclock.advance(300)
    assert {r["status"] for r in client.session.get(url).json()["value"]} == {"Completed"}
    best = client.get(sweep).json()["properties"]["properties"]["best_child_run_id"]
    assert best in {r["runId"] for r in runs}
    trial = client.session.get(history(client, f"/runs/{best}")).json()
    assert trial["runId"] == best and trial["status"] == "Completed" and trial["parentRunId"] == sweep


def test_top_caps_the_children(vclock, client, sweep):
    vclock.advance(30)
    page = client.session.get(history(client, f"/runs/{sweep}/children"), params={"$top": "3"}).json()
    assert [r["runId"] for r in page["value"]] == [f"{sweep}_{k}" for k in range(3)]
    assert page["nextLink"] is None


def test_cancelled_sweep_cancels_its_unfinished_trials(vclock, client, sweep):
    vclock.advance(30)
    client.cancel(sweep)
    vclock.advance(5)
    statuses = {
        r["status"] for r in client.session.get(history(client, f"/runs/{sweep}/children")).json()["value"]
    }
    assert statuses == {"Canceled"}


def test_patch_merges_tags_adds_properties_and_hides(client, sweep):
    url = history(client, f"/experiments/polysync-sweeps/runs/{sweep}")
    resp = client.session.patch(url, json={"tags": {"owner": "ml"}, "properties": {"k": "v"}, "hidden": True})
    assert resp.status_code == 200, resp.text
    run = resp.json()
    assert run["tags"]["owner"] == "ml" and run["tags"]["polysync.run"] == "r1"
    assert run["properties"]["k"] == "v" and run["hidden"] is True
    props = client.get(sweep).json()["properties"]
    assert props["isArchived"] is True and props["tags"]["owner"] == "ml"
    err = assert_arm_error(client.session.patch(url, json={"properties": {"k": "other"}}), 400, "UserError")
    assert "k" in err["message"]
    assert client.session.patch(url, json={"properties": {"k": "v"}}).status_code == 200  # same value: fine


def test_patch_in_another_experiment_or_of_an_unknown_run_is_404(client, sweep):
    resp = client.session.patch(history(client, f"/experiments/other/runs/{sweep}"), json={"tags": {}})
    assert_arm_error(resp, 404, "UserError")
    resp = client.session.get(history(client, "/runs/nope"))
    assert_arm_error(resp, 404, "UserError")


def test_data_plane_needs_the_token(client, sweep):
    resp = requests.get(history(client, f"/runs/{sweep}"), timeout=5)
    assert_arm_error(resp, 401, "AuthenticationFailed")
