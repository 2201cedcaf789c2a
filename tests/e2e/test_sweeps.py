"""The product, end to end: HTTP routes on the local Durable host, the real
orchestrator replayed by the azure-functions-durable SDK, activities calling
the Azure ML emulator over loopback. Virtual time, Event Grid events on."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import requests

from devhost.durable import replay_prefixes
from devhost.emulator import FaultPlan
from devhost.stack import LocalStack
from runtime import services
from tests.e2e.helpers import failure_message, start, structured, wait_finished, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack():
    # Every activity runs twice (at-least-once, as on Azure): each must be idempotent.
    with LocalStack.start(virtual=True, events=True, rerun_activities=True) as s:
        yield s


def _job(stack: LocalStack, name: str) -> dict:
    job = stack.emulator.job(name)
    assert job is not None, f"no job {name} in the emulator"
    return job


def test_success_reports_status_monitor_url_best_trial_and_outputs(stack):
    answer = stack.post("sweeps", structured(runId="e2e-success"))
    assert answer.status_code == 202
    payload = answer.json()
    assert answer.headers["Location"]
    for key in ("id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri"):
        assert payload[key]
    instance_id = payload["id"]

    view = wait_finished(stack, instance_id)
    assert view["status"] == "Success"
    assert view["runtimeStatus"] == "Completed"
    job_name = view["jobName"]
    assert view["monitorUrl"].startswith("https://ml.azure.com/runs/" + job_name)
    assert view["bestTrial"]["runId"].startswith(job_name)
    assert view["outputs"]["model"].startswith("azureml://")

    # What Polysync reads: the Durable status URL from the 202, output with the
    # Output parameter repeated at the top level.
    durable = requests.get(payload["statusQueryGetUri"], timeout=10).json()
    assert durable["runtimeStatus"] == "Completed"
    assert durable["output"]["status"] == "Success"
    assert durable["output"]["model"] == view["outputs"]["model"]

    job = _job(stack, job_name)
    props = job["properties"]
    assert props["jobType"] == "Sweep"
    assert props["displayName"] == "e2e sweep"
    assert props["searchSpace"]["learning_rate"] == ["choice", [[0.01]]]
    assert props["tags"]["polysync.instanceId"] == instance_id
    assert props["tags"]["polysync.runId"] == "e2e-success"
    assert props["objective"] == {"goal": "Maximize", "primaryMetric": "accuracy"}
    # every activity ran twice (the module's at-least-once switch): still one job, PUT once
    # submit, the status GET (the start route read the template)
    assert stack.host.metrics.activities_rerun >= 2
    calls = stack.emulator.calls_for(job_name)
    puts = [status for (kind, status), n in calls.items() if kind == "put" for _ in range(n)]
    # one submit (201), and the sweep watcher's tag-only re-PUTs once the run knew the end (200, rerun too)
    assert puts.count(201) == 1 and set(puts) <= {200, 201}


def test_flat_polysync_body_on_the_template_route(stack):
    answer = stack.post("sweeps/train-sweep-template", {"learning_rate": 0.02, "batch_size": 64})
    assert answer.status_code == 202, answer.text
    view = wait_finished(stack, answer.json()["id"])
    assert view["status"] == "Success"
    space = _job(stack, view["jobName"])["properties"]["searchSpace"]
    assert space["learning_rate"] == ["choice", [[0.02]]]
    assert space["batch_size"] == ["choice", [[64]]]
    # template entries not named by an input stay exactly as they were
    template_space = _job(stack, "train-sweep-template")["properties"]["searchSpace"]
    assert space["n_estimators"] == template_space["n_estimators"]


def test_primary_metric_mismatch_fails_with_the_hint(stack):
    body = structured()
    body["attributes"]["AI Foundry Objective Metric"] = "f1_score"
    instance_id = start(stack, body)
    view = wait_finished(stack, instance_id)
    assert view["status"] == "Failed"
    assert view["runtimeStatus"] == "Failed"
    assert "f1_score" in view["error"]["message"] + (view["error"]["hint"] or "")
    assert "AI Foundry Objective Metric" in view["error"]["hint"]
    assert failure_message(stack, instance_id).startswith("Failed: ")


def test_no_trials_completed_fails_with_the_hint(stack):
    view = wait_finished(stack, start(stack, structured("train-sweep-fails-trials")))
    assert view["status"] == "Failed"
    assert view["error"]["hint"]
    assert "trial" in (view["error"]["message"] + view["error"]["hint"]).lower()


def test_template_not_found_is_a_404_and_starts_nothing(stack):
    # No job and no instance appear. (Not "no PUT": the stack is shared, and the watcher's untag PUTs
    # for earlier tests' runs, e.g. a cancelled one, may fall in this test.)
    before, instances = _job_names(stack), set(stack.host.instances())
    for path, body in (("sweeps", structured("no-such-template")), ("sweeps/no-such-template", {"lr": 0.1})):
        answer = stack.post(path, body)
        assert answer.status_code == 404, answer.text
        error = answer.json()["error"]
        assert error["code"] == "TemplateNotFound" and "External Id" in error["hint"]
    assert set(stack.host.instances()) == instances
    assert _job_names(stack) == before


def _job_names(stack: LocalStack) -> set[str]:
    return {job["name"] for job in stack.emulator.jobs()}


@pytest.mark.parametrize(
    ("template", "kind"), [("prep-data-command", "a Command"), ("churn-pipeline", "a Pipeline")]
)
def test_a_template_that_is_no_sweep_is_a_400_and_starts_nothing(stack, template, kind):
    instances = set(stack.host.instances())
    answer = stack.post(f"sweeps/{template}", {"lr": 0.1})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "TemplateNotSweep" and f"is {kind}, not a Sweep job" in error["message"]
    assert set(stack.host.instances()) == instances


def test_a_compute_or_environment_the_workspace_lacks_is_a_400_naming_the_attribute(stack):
    instances, created = set(stack.host.instances()), stack.emulator.calls["put_created"]
    for attribute, value, said in (
        (
            "AI Foundry Compute Name",
            "no-such-cluster",
            "Its computes: cpu-cluster, cpu-cluster-lowpri, gpu-cluster.",
        ),
        ("AI Foundry Environment Name", "no-such-env:1", "no environment 'no-such-env:1'"),
        ("AI Foundry Environment Name", "no-such-env@latest", "no environment 'no-such-env@latest'"),
    ):
        body = structured()
        body["attributes"][attribute] = value
        answer = stack.post("sweeps", body)
        assert answer.status_code == 400, answer.text
        (error,) = answer.json()["error"]["errors"]
        assert error["field"] == f"attributes.{attribute}"
        assert said in error["message"] and f"Set the '{attribute}' attribute" in error["message"]
    assert set(stack.host.instances()) == instances
    assert stack.emulator.calls["put_created"] == created


def _template_reads(stack: LocalStack) -> int:
    return sum(
        n for (kind, _), n in stack.emulator.calls_for("train-sweep-template").items() if kind == "get"
    )


def test_the_run_submits_the_template_the_start_route_read(stack):
    """No Azure ML call is added per run: the template is read once, by the start route, and the
    orchestration submits from that definition (no fetch_template); a repeated runId answers
    from the existing instance without asking Azure ML anything."""
    body = structured(runId="e2e-template-once")
    services.template_cache().clear()  # earlier starts of this module read the template
    reads = _template_reads(stack)
    first = stack.post("sweeps", body)
    assert first.status_code == 202
    instance_id = first.json()["id"]
    assert _template_reads(stack) == reads + 1  # the start route's check
    again = stack.post("sweeps", body)
    assert again.headers.get("X-Polysync-Existing-Instance") == "true"
    assert _template_reads(stack) == reads + 1  # the repeat read nothing (the preflight is its only read)
    assert wait_finished(stack, instance_id)["status"] == "Success"
    assert _template_reads(stack) == reads + 1  # nor did the run: it submitted what the route read


def test_duplicate_run_id_starts_nothing_new(stack):
    created = stack.emulator.calls["put_created"]
    body = structured(runId="e2e-duplicate")
    first = stack.post("sweeps", body)
    second = stack.post("sweeps", body)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("X-Polysync-Existing-Instance") == "true"
    wait_finished(stack, first.json()["id"])
    assert stack.emulator.calls["put_created"] == created + 1


def test_cancel_while_running_ends_cancelled_with_the_job_canceled(stack):
    instance_id = start(stack, structured("train-sweep-forever"))
    view = wait_until(stack, instance_id, lambda v: v.get("azureStatus") == "Running")
    answer = stack.post(f"sweeps/{instance_id}/cancel", {"reason": "operator asked"})
    assert answer.status_code == 202
    assert answer.json()["cancelRequested"] is True
    # a second cancel while cancelling gives the same answer, nothing breaks
    again = stack.post(f"sweeps/{instance_id}/cancel")
    assert again.status_code in (200, 202)

    view = wait_finished(stack, instance_id)
    assert view["status"] == "Cancelled"
    assert view["runtimeStatus"] == "Failed"  # never "Completed": Polysync would read Success
    assert _job(stack, view["jobName"])["properties"]["status"] == "Canceled"
    assert failure_message(stack, instance_id).startswith("Cancelled: ")

    # cancel after the end: 200 with the final status, repeatedly
    for _ in range(2):
        late = stack.post(f"sweeps/{instance_id}/cancel")
        assert late.status_code == 200
        assert late.json()["status"] == "Cancelled"


def test_cancel_before_submit_leaves_no_job(stack):
    """Azure ML unreachable when the run starts: the start route cannot read the template, the
    run starts anyway and fetches it itself, waiting on durable timers; a cancel meanwhile ends
    it with no job."""
    created = stack.emulator.calls["put_created"]
    services.template_cache().clear()  # else the start route submits what earlier starts read
    stack.emulator.set_faults(FaultPlan(rate=1.0, kinds=("503",), methods=frozenset({"GET"})))
    try:
        instance_id = start(stack, structured())
        answer = stack.post(f"sweeps/{instance_id}/cancel")
        assert answer.status_code == 202
        view = wait_finished(stack, instance_id)
    finally:
        stack.emulator.set_faults(None)
    assert view["status"] == "Cancelled"
    assert view["error"]["code"] == "CancelledBeforeSubmit"
    assert stack.emulator.calls["put_created"] == created
    assert not stack.emulator.active_jobs()


def test_unknown_instance_is_404_and_bad_id_is_400(stack):
    assert stack.get("sweeps/ps-doesnotexist").status_code == 404
    assert stack.post("sweeps/ps-doesnotexist/cancel").status_code == 404
    assert stack.get("sweeps/bad%20id").status_code == 400


def test_bad_input_lists_every_field_and_starts_nothing(stack):
    before = set(stack.host.instances())
    body = {
        "externalId": "../etc",
        "attributes": {"AI Foundry Objective Goal": "sideways", "AI Foundry Max Total Trials": "many"},
        "parameters": [{"name": "lr", "value": "fast", "dataType": "Float", "direction": "Input"}],
    }
    answer = stack.post("sweeps", body)
    assert answer.status_code == 400
    fields = {e["field"] for e in answer.json()["error"]["errors"]}
    assert any("externalId" in f for f in fields)
    assert any("Objective Goal" in f or "objectiveGoal" in f for f in fields)
    assert any("Max Total Trials" in f or "maxTotalTrials" in f for f in fields)
    assert any("parameters[0]" in f for f in fields)
    not_json = requests.post(stack.url("sweeps"), data=b"{not json", headers=stack.key_header, timeout=10)
    assert not_json.status_code == 400
    assert set(stack.host.instances()) == before


def test_secret_parameter_never_shows_in_status_or_input(stack):
    secret = "s3cr3t-value-9f8e7d"
    body = structured()
    body["parameters"].append(
        {"name": "api_token", "value": secret, "dataType": "Secret", "direction": "Input"}
    )
    instance_id = start(stack, body)
    view = wait_finished(stack, instance_id)
    assert view["status"] == "Success"
    durable = stack.host.get_status(instance_id, show_history=True, show_input=True)
    assert secret not in json.dumps(durable)
    assert secret not in json.dumps(view)
    # Azure ML got only the Key Vault secret's identifier, and the run's end erased the value
    space = _job(stack, view["jobName"])["properties"]["searchSpace"]
    reference = space["api_token"][1][0][0]
    assert reference.startswith(
        stack.env["RUN_SECRETS_VAULT_URL"] + "/secrets/" + instance_id + "-api-token-"
    )
    assert secret not in json.dumps(_job(stack, view["jobName"]))
    assert secret not in stack.keyvault.all_values()
    assert reference.rsplit("/", 1)[1] not in stack.keyvault.deleted_names()  # purged, not just deleted


def test_template_discovery_lists_only_sweep_jobs_over_every_page(stack):
    answer = stack.get("templates")
    assert answer.status_code == 200
    templates = {t["externalId"]: t for t in answer.json()["value"]}
    assert "train-sweep-template" in templates
    assert all(t["jobType"] == "AI Foundry Sweep Job" for t in templates.values())
    jobs = [j for j in stack.emulator.jobs() if j["properties"]["jobType"] != "Sweep"]
    assert jobs and not any(j["name"] in templates for j in jobs)
    template = templates["train-sweep-template"]
    names = {p["name"]: p for p in template["parameters"]}
    assert names["learning_rate"]["direction"] == "Input"
    assert names["learning_rate"]["dataType"] == "Float"
    assert names["model"]["direction"] == "Output"
    assert template["attributes"]["AI Foundry Compute Name"] == "cpu-cluster"


def test_malformed_event_grid_events_are_dropped(stack):
    for event in (
        {},
        {"eventType": "Microsoft.MachineLearningServices.RunStatusChanged", "data": "oops"},
        {"id": "x", "topic": "/subscriptions/other", "eventType": "Something.Else", "data": {}},
        {
            "id": "y",
            "topic": stack.emulator.workspace_id,
            "subject": "experiments/e/runs/unknown",
            "eventType": "Microsoft.MachineLearningServices.RunStatusChanged",
            "eventTime": "2026-01-05T09:00:00Z",
            "dataVersion": "2",
            "data": {
                "runId": "unknown",
                "runStatus": "Running",
                "runTags": {"polysync.instanceId": "ps-gone"},
            },
        },
    ):
        stack.host.deliver_event_grid(event)
    # the app still serves runs afterwards
    assert wait_finished(stack, start(stack, structured()))["status"] == "Success"


def _assert_prefixes_replay_alike(history: list[dict], instance_id: str, at_least: int) -> None:
    import function_app

    replays = [
        _without_cancel_flags(actions)
        for actions in replay_prefixes(
            function_app.app, "sweep_orchestrator", history, instance_id=instance_id
        )
    ]
    assert len(replays) >= at_least
    for shorter, longer in itertools.pairwise(replays):
        assert longer[: len(shorter)] == shorter


def test_every_history_prefix_replays_to_the_same_actions(stack):
    """Defaults: one poll per generation. Both the last generation (opens with the
    confirming GET, or ends at once on the ending the watcher listed) and the one before it
    replay deterministically."""
    instance_id = start(stack, structured())
    wait_finished(stack, instance_id)
    # 2 episodes (open with the GET, end) or 3 when the second completion event lands mid-GET;
    # 1 when the watcher's listing told the ending (no GET to wait for)
    _assert_prefixes_replay_alike(stack.host.history(instance_id), instance_id, at_least=1)
    previous = stack.host.history(instance_id, previous_generation=True)
    _assert_prefixes_replay_alike(previous, instance_id, at_least=2)


def test_a_whole_run_in_one_generation_replays_to_the_same_actions_at_every_prefix():
    """Submit, backoff polls and the ending in one long history (events off, no sweep watcher, a
    generation cap the run never reaches): every prefix replays alike."""
    settings = {"SWEEP_POLLS_PER_GENERATION": "50", "SWEEP_WATCH_PERIOD_SECONDS": "0"}
    with LocalStack.start(virtual=True, events=False, settings=settings) as stack:
        instance_id = start(stack, structured())
        assert wait_finished(stack, instance_id)["status"] == "Success"
        assert stack.host.metrics.instance(instance_id).generations == 1
        _assert_prefixes_replay_alike(stack.host.history(instance_id), instance_id, at_least=10)


def _without_cancel_flags(value):
    """A timer cancelled in a later episode flips isCanceled in the replies that
    follow; everything else must match exactly."""
    if isinstance(value, dict):
        return {k: _without_cancel_flags(v) for k, v in value.items() if k != "isCanceled"}
    if isinstance(value, list):
        return [_without_cancel_flags(v) for v in value]
    return value


def test_concurrent_starts_with_one_run_id_make_one_run_and_one_job(stack):
    from concurrent.futures import ThreadPoolExecutor

    created = stack.emulator.calls["put_created"]
    body = structured(runId="e2e-concurrent")
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: stack.post("sweeps", body), range(6)))
    assert {a.status_code for a in answers} == {202}
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    assert wait_finished(stack, ids.pop())["status"] == "Success"
    assert stack.emulator.calls["put_created"] == created + 1


def test_a_template_whose_own_compute_is_gone_fails_naming_the_attribute_to_set(stack, tmp_path):
    """The template's own compute is not looked up before starting (Azure ML checks it when the
    sweep is submitted); its refusal ends the run with a hint naming the attribute to set."""
    template = json.loads((ROOT / "examples/workspace/jobs/train-sweep-template.json").read_text())
    template["name"] = "train-sweep-lost-compute"
    template["id"] = template["id"].rsplit("/", 1)[0] + "/train-sweep-lost-compute"
    template["properties"]["computeId"] = (
        template["properties"]["computeId"].rsplit("/", 1)[0] + "/deleted-cluster"
    )
    seeded = tmp_path / "train-sweep-lost-compute.json"
    seeded.write_text(json.dumps(template))
    stack.emulator.load_job(seeded)
    view = wait_finished(stack, start(stack, structured("train-sweep-lost-compute")))
    assert view["status"] == "Failed"
    assert view["error"]["code"] == "ComputeNotFound"
    assert "'AI Foundry Compute Name' attribute" in view["error"]["hint"]


@pytest.mark.parametrize("path", ["sweeps", "sweeps/train-sweep-template"])
def test_an_over_size_body_is_a_413_naming_the_limit(stack, path):
    instances = set(stack.host.instances())
    answer = requests.post(
        stack.url(path), data=b"{" + b" " * 1_000_001 + b"}", headers=stack.key_header, timeout=30
    )
    assert answer.status_code == 413, answer.text[:300]
    error = answer.json()["error"]
    assert error["code"] == "BodyTooLarge" and error["errors"][0]["field"] == "body"
    assert "the limit is 1000000 bytes" in error["errors"][0]["message"]
    assert set(stack.host.instances()) == instances


def test_a_run_id_that_differs_between_query_and_body_is_a_400(stack):
    instances = set(stack.host.instances())
    answer = stack.post("sweeps/train-sweep-template?runId=query-id", {"runId": "body-id", "lr": 0.1})
    assert answer.status_code == 400, answer.text
    assert [e["field"] for e in answer.json()["error"]["errors"]] == ["runId"]
    assert set(stack.host.instances()) == instances
