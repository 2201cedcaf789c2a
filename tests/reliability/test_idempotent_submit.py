"""Idempotent submit: a PUT whose answer is lost never creates a second job; an
activity that runs twice does no harm; a job at our name that is not ours is a
clear error and is left untouched."""

from __future__ import annotations

import copy
import logging
import time

import pytest

from activities import azureml
from devhost.emulator import FaultPlan
from devhost.stack import LocalStack
from foundry.names import instance_id_for, job_name_for
from polysync.request.parsing import parse_structured_request
from polysync.sweep_body import build_sweep_body
from tests.e2e.helpers import start, structured, wait_finished


@pytest.fixture(scope="module")
def stack():
    with LocalStack.start(virtual=True, events=True) as s:
        from runtime import services

        # The client's backoff sleeps wall seconds; what is under test is what gets
        # retried, not how long it waits.
        services.client()._sleep = lambda seconds: time.sleep(min(seconds, 0.01))
        yield s


def _jobs_of(stack: LocalStack, instance_id: str) -> list[dict]:
    return [
        j
        for j in stack.emulator.jobs()
        if (j["properties"].get("tags") or {}).get("polysync.instanceId") == instance_id
    ]


def test_every_put_answer_lost_still_one_job(stack, caplog):
    """Every PUT is applied and its answer dropped: the client's own retries re-PUT
    the same body (200, unchanged); when they are exhausted the activity is retried
    and its GET adopts the job."""
    created = stack.emulator.calls["put_created"]
    puts = stack.emulator.calls["put"]
    stack.emulator.set_faults(FaultPlan(rate=1.0, kinds=("drop_after_apply",), methods=frozenset({"put"})))
    try:
        with caplog.at_level(logging.INFO, logger="activities"):
            instance_id = start(stack, structured(runId="lost-answers"))
            view = wait_finished(stack, instance_id)
    finally:
        stack.emulator.set_faults(None)
    assert view["status"] == "Success"
    assert stack.emulator.calls["put_created"] == created + 1
    assert stack.emulator.calls["put"] - puts >= 2  # the PUT really was repeated
    assert len(_jobs_of(stack, instance_id)) == 1
    assert any("adopting existing sweep job" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", ["500", "503", "429", "drop"])
def test_put_failing_before_it_is_applied_is_retried_into_one_job(stack, kind):
    created = stack.emulator.calls["put_created"]
    stack.emulator.set_faults(FaultPlan(rate=0.7, seed=3, kinds=(kind,), methods=frozenset({"put"})))
    try:
        instance_id = start(stack, structured())
        view = wait_finished(stack, instance_id)
    finally:
        stack.emulator.set_faults(None)
    assert view["status"] == "Success"
    assert stack.emulator.calls["put_created"] == created + 1
    assert len(_jobs_of(stack, instance_id)) == 1


def _payload(stack: LocalStack, run_id: str, template: str = "train-sweep-template") -> dict:
    request = parse_structured_request(structured(template, runId=run_id))
    from runtime import services

    instance_id = instance_id_for(run_id, template, services.settings().instance_id_key)
    return {
        "instanceId": instance_id,
        "jobName": job_name_for(instance_id, template),
        "request": request.to_payload(),
        "template": stack.emulator.job(template),
    }


def test_submit_activity_run_twice_adopts_its_own_job(stack):
    payload = _payload(stack, "twice")
    created = stack.emulator.calls["put_created"]
    first = azureml.submit_sweep(copy.deepcopy(payload))
    second = azureml.submit_sweep(copy.deepcopy(payload))
    assert first["ok"] and second["ok"]
    assert (first["adopted"], second["adopted"]) == (False, True)
    assert first["jobName"] == second["jobName"] == payload["jobName"]
    assert stack.emulator.calls["put_created"] == created + 1
    tags = stack.emulator.job(payload["jobName"])["properties"]["tags"]
    assert tags["polysync.instanceId"] == payload["instanceId"]
    assert tags["polysync.taskHub"] == stack.env["TASKHUB_NAME"]
    stack.emulator.set_faults(None)
    # cancel and status activities are harmless when repeated too
    for _ in range(2):
        assert azureml.cancel_job({"jobName": payload["jobName"]})["ok"]
    assert azureml.get_job_status({"jobName": payload["jobName"], "request": payload["request"]})["ok"]
    assert azureml.cancel_job({"jobName": "no-such-job-abc"}) == {
        "ok": True,
        "jobName": "no-such-job-abc",
        "found": False,
    }


def test_a_first_submit_is_one_put_and_a_repeat_adopts_by_put(stack):
    """No GET before the PUT: a fresh submit is one Azure ML call (201), and the same order
    delivered again re-PUTs the same body (200, unchanged definition) and adopts the job, still
    without a GET (counted per job at the emulator)."""
    payload = _payload(stack, "put-first")
    first = azureml.submit_sweep(copy.deepcopy(payload))
    assert first["ok"] and not first["adopted"]
    assert stack.emulator.calls_for(payload["jobName"]) == {("put", 201): 1}
    second = azureml.submit_sweep(copy.deepcopy(payload))
    assert second["ok"] and second["adopted"]
    assert stack.emulator.calls_for(payload["jobName"]) == {("put", 201): 1, ("put", 200): 1}


def test_a_retried_submit_looks_before_it_puts(stack):
    """A retried order (an earlier try had no answer) GETs first: its job may exist already."""
    payload = _payload(stack, "retried-looks")
    created = azureml.submit_sweep(copy.deepcopy(payload))
    assert created["ok"]
    again = azureml.submit_sweep({**copy.deepcopy(payload), "retried": True})
    assert again["ok"] and again["adopted"]
    assert stack.emulator.calls_for(payload["jobName"]) == {("put", 201): 1, ("get", 200): 1}
    fresh = _payload(stack, "retried-fresh")
    assert azureml.submit_sweep({**fresh, "retried": True})["ok"]
    assert stack.emulator.calls_for(fresh["jobName"]) == {("get", 404): 1, ("put", 201): 1}


def test_our_job_with_another_definition_is_adopted_after_the_refused_put(stack):
    """A job at our name, tagged with our instance id, whose definition differs from the body
    built now (e.g. put there by an earlier version of the app): Azure ML refuses the PUT with
    400 JobPropertyImmutable (the emulator follows facts.md), the GET finds it ours, it is
    adopted and left as it was."""
    payload = _payload(stack, "changed-definition")
    ours = copy.deepcopy(stack.emulator.job("train-sweep-template"))
    ours["name"] = payload["jobName"]
    ours["id"] = ours["id"].rsplit("/", 1)[0] + "/" + payload["jobName"]
    ours["properties"]["tags"] = {"polysync.instanceId": payload["instanceId"]}
    ours["properties"]["status"] = "Running"
    stack.emulator.add_job(ours)
    before = stack.emulator.job(payload["jobName"])
    got = azureml.submit_sweep(copy.deepcopy(payload))
    assert got["ok"] and got["adopted"] and got["azureStatus"] == "Running"
    assert stack.emulator.calls_for(payload["jobName"]) == {("put", 400): 1, ("get", 200): 1}
    assert stack.emulator.job(payload["jobName"]) == before


def test_the_put_body_is_deterministic_so_a_re_put_is_accepted(stack):
    """The client retries a PUT with the same body; Azure ML refuses a re-PUT that
    changes the definition, so the body must not vary between attempts."""
    from runtime import services

    payload = _payload(stack, "deterministic")
    request = parse_structured_request(structured(runId="deterministic"))
    bodies = [
        build_sweep_body(
            payload["template"],
            request,
            services.settings().workspace,
            instance_id=payload["instanceId"],
        )
        for _ in range(2)
    ]
    assert bodies[0] == bodies[1]


def test_a_foreign_job_at_our_name_is_refused_and_left_alone(stack):
    run_id = "foreign-name"
    template = "train-sweep-template"
    from runtime import services

    job_name = job_name_for(instance_id_for(run_id, template, services.settings().instance_id_key), template)
    foreign = copy.deepcopy(stack.emulator.job(template))
    foreign["name"] = job_name
    foreign["id"] = foreign["id"].rsplit("/", 1)[0] + "/" + job_name
    foreign["properties"]["tags"] = {"owner": "someone else", "polysync.instanceId": "ps-someone-else"}
    foreign["properties"]["status"] = "Running"
    stack.emulator.add_job(foreign)
    before = stack.emulator.job(job_name)

    instance_id = start(stack, structured(template, runId=run_id))
    view = wait_finished(stack, instance_id)
    assert view["status"] == "Failed"
    assert view["error"]["code"] == "JobNameTaken"
    assert job_name in view["error"]["message"]
    assert view["error"]["hint"]
    assert stack.emulator.job(job_name) == before  # not modified, not cancelled
