from __future__ import annotations

import threading
import time
from datetime import timedelta

from devhost.emulator import FaultPlan, WorkspaceEmulator

from .conftest import Client, sweep_body


def status(client: Client, name: str) -> str:
    return client.get(name).json()["properties"]["status"]


def test_default_lifecycle_at_virtual_times(vclock, client):
    t0 = vclock.now()
    assert client.put("run-1", sweep_body()).status_code == 201
    timeline = [
        (1.9, "NotStarted"),
        (2, "Queued"),
        (29.9, "Queued"),
        (30, "Running"),
        (289.9, "Running"),
        (290, "Finalizing"),
        (299.9, "Finalizing"),
        (300, "Completed"),
    ]
    for at, expected in timeline:
        vclock.advance((t0 + timedelta(seconds=at) - vclock.now()).total_seconds())
        assert status(client, "run-1") == expected, at
    assert client.emu.active_jobs() == []


def test_completed_sweep_has_best_trial_and_outputs(vclock, client):
    client.put("run-1", sweep_body())
    vclock.advance(300)
    props = client.get("run-1").json()["properties"]
    assert props["status"] == "Completed"
    best = props["properties"]
    assert best["best_child_run_id"].startswith("run-1_")
    assert 0 <= int(best["best_child_run_id"].rsplit("_", 1)[1]) < 10
    assert 0.5 <= float(best["score"]) < 1.0
    assert best["best_metric_status"] == "Succeeded"
    assert (
        props["outputs"]["model"]["uri"]
        == "azureml://datastores/workspaceblobstore/paths/azureml/run-1/model/"
    )
    assert "error" not in props
    # deterministic from the search space
    client.put("run-2", sweep_body())
    vclock.advance(300)
    assert client.get("run-2").json()["properties"]["properties"]["score"] == best["score"]


def test_knobs_from_tags(vclock, client):
    client.put("run-k", sweep_body(**{"emulator.durationSeconds": "100", "emulator.queueSeconds": "10"}))
    vclock.advance(9)
    assert status(client, "run-k") == "Queued"
    vclock.advance(1)
    assert status(client, "run-k") == "Running"
    vclock.advance(90)
    assert status(client, "run-k") == "Completed"


def test_primary_metric_not_logged_fails(vclock, client):
    client.put("run-m", sweep_body(**{"emulator.loggedMetrics": "loss, f1"}))
    vclock.advance(300)
    props = client.get("run-m").json()["properties"]
    assert props["status"] == "Failed"
    err = props["error"]
    assert err["code"] == "UserError"
    assert "'accuracy'" in err["message"] and "PrimaryMetricNotFound" in err["message"]
    assert err["details"][0]["code"] == "PrimaryMetricNotFound"
    assert "best_child_run_id" not in props["properties"]


def test_all_trials_fail(vclock, client):
    client.put("run-f", sweep_body(**{"emulator.trialOutcome": "allFail"}))
    vclock.advance(300)
    props = client.get("run-f").json()["properties"]
    assert props["status"] == "Failed"
    assert props["error"]["details"][0]["code"] == "NoTrialsCompleted"


def test_run_forever_then_cancel(vclock, client):
    emu = client.emu
    client.put("run-inf", sweep_body(**{"emulator.runForever": "true"}))
    vclock.advance(7 * 24 * 3600)
    assert status(client, "run-inf") == "Running"
    assert emu.active_jobs() == ["run-inf"]
    resp = client.cancel("run-inf")
    assert resp.status_code == 202
    assert int(resp.headers["Retry-After"]) >= 10
    location = resp.headers["Location"]
    assert location.startswith(emu.arm_endpoint) and "api-version=2024-10-01" in location
    assert status(client, "run-inf") == "CancelRequested"
    assert client.session.get(location).status_code == 202
    assert client.cancel("run-inf").status_code == 202  # still cancelling: no change
    vclock.advance(5)
    assert status(client, "run-inf") == "Canceled"
    assert client.session.get(location).status_code == 200
    again = client.cancel("run-inf")
    assert again.status_code == 200 and again.content == b""
    assert emu.active_jobs() == []
    assert emu.calls["cancel"] == 3


def test_cancel_before_start_never_runs(vclock, client):
    client.put("run-c", sweep_body())
    vclock.advance(1)
    assert client.cancel("run-c").status_code == 202
    vclock.advance(1000)
    assert status(client, "run-c") == "Canceled"


def test_cancel_unknown_is_404(client):
    assert client.cancel("missing").status_code == 404


def test_cancel_completed_template_is_200_no_change(make_emu):
    emu = make_emu(templates_dir=WorkspaceEmulator.default_templates_dir())
    client = Client(emu)
    before = client.get("train-sweep-template").json()
    assert client.cancel("train-sweep-template").status_code == 200
    assert client.get("train-sweep-template").json() == before


def test_seeded_templates_do_not_run(vclock, make_emu):
    events: list[dict] = []
    emu = make_emu(templates_dir=WorkspaceEmulator.default_templates_dir(), event_sink=events.append)
    client = Client(emu)
    before = {j["name"]: j for j in client.list_all(listViewType="All")}
    assert len(before) == 8
    assert before["train-sweep-template"]["properties"]["status"] == "Completed"
    assert before["train-sweep-template"]["id"].startswith(emu.workspace_id)
    vclock.advance(10 * 24 * 3600)
    assert {j["name"]: j for j in client.list_all(listViewType="All")} == before
    assert events == [] and emu.active_jobs() == []


def test_template_workspace_ids_rewritten(make_emu):
    emu = make_emu(
        templates_dir=WorkspaceEmulator.default_templates_dir(),
        subscription_id="11111111-1111-1111-1111-111111111111",
        workspace_name="other-ws",
    )
    job = Client(emu).get("train-sweep-template").json()
    assert job["id"] == f"{emu.workspace_id}/jobs/train-sweep-template"
    assert job["properties"]["computeId"] == f"{emu.workspace_id}/computes/cpu-cluster"
    assert job["properties"]["trial"]["environmentId"].startswith(emu.workspace_id)
    assert (
        "wsid=/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/rg-polysync-dev/workspaces/other-ws"
        in job["properties"]["services"]["Studio"]["endpoint"]
    )


def test_output_uris_are_the_callers_or_the_services(vclock, make_emu):
    """The service binds outputs at creation: a URI the caller sends is kept as sent (a copy of
    a template that keeps the template's URI writes into the template's folder - the service
    does not fix that for you); an output without one gets this job's path; and it adds the
    `default` output on `workspaceartifactstore/ExperimentRun/dcid.{job}` (recorded PUT answer,
    tests/recordings)."""
    emu = make_emu(templates_dir=WorkspaceEmulator.default_templates_dir())
    client = Client(emu)
    template = client.get("train-sweep-template").json()
    props = {k: v for k, v in template["properties"].items() if k not in ("status", "services")}
    props["outputs"]["report"] = {"jobOutputType": "uri_file", "mode": "Upload"}
    copied = client.put("copied-as-is", {"properties": props}).json()["properties"]
    assert copied["outputs"]["default"]["uri"] == template["properties"]["outputs"]["default"]["uri"]
    del props["outputs"]["default"]
    created = client.put("from-template", {"properties": props}).json()["properties"]
    assert created["outputs"]["model"]["uri"] == template["properties"]["outputs"]["model"]["uri"]
    assert (
        created["outputs"]["report"]["uri"]
        == "azureml://datastores/workspaceblobstore/paths/azureml/from-template/report/"
    )
    assert created["outputs"]["default"]["uri"] == (
        "azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.from-template"
    )
    vclock.advance(300)
    assert client.get("from-template").json()["properties"]["status"] == "Completed"


def test_emulator_holds_clock_during_request(vclock, make_emu):
    # held for 2 s once it arrives; the test waits up to 10 s for it to arrive
    # (a loaded CI box can take a while to schedule the client thread)
    emu = make_emu(faults=FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=2.0))
    client = Client(emu)
    t = threading.Thread(target=client.get, args=("x",))
    assert vclock.busy == 0
    t.start()
    deadline = time.monotonic() + 10
    while not vclock.busy and time.monotonic() < deadline:
        time.sleep(0.005)
    assert vclock.busy == 1
    t.join()
    assert vclock.busy == 0
    assert emu.faults_injected["slow"] == 1
