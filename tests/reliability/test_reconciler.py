"""Orphan reconciler: the pure policy, then the timer on devhost after a terminate
through Polysync's terminate URL (the Durable management API)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
import requests

from devhost.stack import LocalStack
from tests.e2e.helpers import start, structured, wait_finished, wait_until
from triggers.reconciler import (
    GRACE,
    RECONCILED_TAG,
    candidates,
    decide,
    reconcile,
    reference_now,
)

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
HUB = "polysyncsweeps"


def job(
    name: str = "train-abc",
    status: str = "Running",
    instance: str | None = "ps-1",
    age: timedelta = timedelta(hours=1),
    hub: str | None = HUB,
) -> dict:
    tags = {}
    if instance is not None:
        tags["polysync.instanceId"] = instance
    if hub is not None:
        tags["polysync.taskHub"] = hub
    return {
        "name": name,
        "properties": {"jobType": "Sweep", "status": status, "tags": tags},
        "systemData": {"createdAt": (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


@pytest.mark.parametrize("runtime", ["Terminated", "Failed", "Completed", "Canceled", None])
def test_an_active_job_whose_orchestration_is_over_or_missing_is_cancelled(runtime):
    verdict = decide(job(), runtime, now=NOW, task_hub=HUB)
    assert verdict.cancel
    assert verdict.reason == (
        "orchestration-missing" if runtime is None else f"orchestration-{runtime.lower()}"
    )
    assert verdict.job_name == "train-abc" and verdict.instance_id == "ps-1"


@pytest.mark.parametrize("runtime", ["Running", "Pending", "ContinuedAsNew", "Suspended"])
def test_a_tracked_job_is_kept(runtime):
    verdict = decide(job(), runtime, now=NOW, task_hub=HUB)
    assert not verdict.cancel and verdict.reason == "tracked"


@pytest.mark.parametrize(
    ("the_job", "reason"),
    [
        (job(age=GRACE - timedelta(seconds=1)), "within-grace"),
        (job(status="Completed"), "not-active"),
        (job(status="Canceled"), "not-active"),
        (job(status="CancelRequested"), "not-active"),
        (job(instance=None), "not-ours"),
        (job(hub="another-app"), "other-task-hub"),
        (job(hub=None), "other-task-hub"),
        (
            {"name": "x", "properties": {"status": "Running", "tags": {"polysync.instanceId": "ps-1"}}},
            "other-task-hub",
        ),
    ],
)
def test_jobs_that_must_never_be_cancelled(the_job, reason):
    assert decide(the_job, None, now=NOW, task_hub=HUB).reason == reason
    assert not decide(the_job, "Terminated", now=NOW, task_hub=HUB).cancel


def test_no_created_time_or_unknown_status_means_keep():
    no_time = job()
    del no_time["systemData"]
    assert decide(no_time, None, now=NOW, task_hub=HUB).reason == "no-createdAt"
    assert decide(job(), None, now=NOW, task_hub=HUB, looked_up=False).reason == "status-unknown"


def test_junk_resources_and_unsafe_tags_never_reach_a_url():
    jobs = [
        job(instance="../../x"),
        job(instance="ps-ok", name="../evil"),
        job(instance="a" * 101),
        {"name": None, "properties": "junk"},
        "not a job",
        job(instance="ps-good", name="good-job"),
    ]
    assert [j["name"] for j in candidates(jobs, HUB)] == ["good-job"]


def test_reference_now_follows_the_earlier_of_wall_clock_and_timer():
    class Timer:
        schedule_status = {"Last": "2026-01-05T09:00:00+00:00"}

    wall = datetime(2026, 11, 1, tzinfo=UTC)
    assert reference_now(Timer(), wall) == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert reference_now(object(), wall) == wall


def test_reconcile_cancels_records_and_survives_failures(caplog):
    jobs = [job("a-1", instance="ps-a"), job("b-1", instance="ps-b"), job("c-1", instance="ps-c")]
    runtime = {"ps-a": "Terminated", "ps-b": "Running"}
    cancelled, tagged = [], []

    async def status(instance_id):
        if instance_id == "ps-c":
            raise ConnectionError("durable store unavailable")
        return runtime.get(instance_id)

    with caplog.at_level(logging.WARNING, logger="triggers.reconciler"):
        summary = asyncio.run(
            reconcile(
                jobs,
                status,
                cancelled.append,
                lambda j, why: tagged.append((j["name"], why)),
                now=NOW,
                task_hub=HUB,
            )
        )
    assert cancelled == ["a-1"]  # ps-c's lookup failed: never cancel on doubt
    assert tagged == [("a-1", "orchestration-terminated")]
    assert summary["cancelled"] == [
        {
            "job": "a-1",
            "instanceId": "ps-a",
            "runtimeStatus": "Terminated",
            "reason": "orchestration-terminated",
        }
    ]
    assert summary["kept"] == {"tracked": 1, "status-unknown": 1}
    line = next(r.getMessage() for r in caplog.records if "a-1" in r.getMessage())
    assert "ps-a" in line and "Terminated" in line


def test_a_failing_cancel_is_reported_and_retried_next_pass():
    def cancel(name):
        raise TimeoutError

    summary = asyncio.run(reconcile([job()], _const("Terminated"), cancel, None, now=NOW, task_hub=HUB))
    assert summary["cancelled"] == [] and summary["errors"][0]["step"] == "cancel"


def _const(value):
    async def lookup(_):
        return value

    return lookup


# ---------------------------------------------------------------- on devhost


@pytest.fixture(scope="module")
def stack():
    with LocalStack.start(virtual=True, events=True, settings={"RECONCILE_SCHEDULE": "0 */10 * * * *"}) as s:
        yield s


def _terminate(stack: LocalStack, instance_id: str, payload: dict) -> None:
    url = payload["terminatePostUri"].replace("{text}", "operator%20pulled%20the%20plug")
    answer = requests.post(url, timeout=10)
    assert answer.status_code == 202, answer.text
    wait_until(stack, instance_id, lambda v: v["runtimeStatus"] == "Terminated")


def _reconcile(stack: LocalStack) -> None:
    stack.host.fire_timer_trigger("reconcile_orphans", wait=True)


def test_terminated_run_job_is_cancelled_by_the_reconciler_after_the_grace(stack, caplog):
    answer = stack.post("sweeps", structured("train-sweep-forever"))
    assert answer.status_code == 202
    payload = answer.json()
    instance_id = payload["id"]
    view = wait_until(stack, instance_id, lambda v: v.get("azureStatus") == "Running")
    job_name = view["jobName"]
    # a second, live run is never touched
    live = start(stack, structured("train-sweep-forever"))
    wait_until(stack, live, lambda v: v.get("azureStatus") == "Running")

    _terminate(stack, instance_id, payload)
    assert job_name in stack.emulator.active_jobs()  # terminate alone leaves it running: the problem

    created = datetime.fromisoformat(
        stack.emulator.job(job_name)["systemData"]["createdAt"].replace("Z", "+00:00")
    )
    young = (stack.clock.now() - created) < GRACE
    if young:
        _reconcile(stack)  # within the grace period: left alone
        assert job_name in stack.emulator.active_jobs()
        stack.clock.advance((GRACE - (stack.clock.now() - created)).total_seconds() + 60)

    with caplog.at_level(logging.INFO):
        _reconcile(stack)
    stack.clock.advance(30)  # the emulator finishes the cancel 5 virtual seconds later
    job = stack.emulator.job(job_name)
    assert job["properties"]["status"] == "Canceled"
    assert job["properties"]["tags"][RECONCILED_TAG] == "orchestration-terminated"
    warning = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and job_name in r.getMessage()
    ]
    assert warning and instance_id in warning[0] and "Terminated" in warning[0]

    # the live run still runs, then cancels normally; another pass changes nothing
    assert stack.get(f"sweeps/{live}").json()["azureStatus"] == "Running"
    _reconcile(stack)
    assert stack.get(f"sweeps/{live}").json()["runtimeStatus"] == "Running"
    assert stack.post(f"sweeps/{live}/cancel").status_code == 202
    assert wait_finished(stack, live)["status"] == "Cancelled"
    assert not stack.emulator.active_jobs()
    assert stack.get(f"sweeps/{instance_id}").json()["status"] == "Cancelled"


def test_purged_instance_job_is_cancelled_too(stack):
    answer = stack.post("sweeps", structured("train-sweep-forever"))
    payload = answer.json()
    view = wait_until(stack, payload["id"], lambda v: v.get("azureStatus") == "Running")
    _terminate(stack, payload["id"], payload)
    assert requests.delete(payload["purgeHistoryDeleteUri"], timeout=10).status_code == 200
    stack.clock.advance(GRACE.total_seconds() + 60)
    _reconcile(stack)
    stack.clock.advance(30)
    job = stack.emulator.job(view["jobName"])
    assert job["properties"]["status"] == "Canceled"
    assert job["properties"]["tags"][RECONCILED_TAG] == "orchestration-missing"
