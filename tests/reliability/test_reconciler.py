"""Orphan reconciler: the pure policy, then the timer on devhost after a terminate
through Polysync's terminate URL (the Durable management API)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import pytest
import requests

from compat import parse_utc
from devhost.stack import LocalStack
from foundry.names import job_name_for
from foundry.vault import StoredSecret
from tests.e2e.helpers import custom_status, start, structured, wait_finished, wait_for, wait_until
from triggers.reconciler import (
    GRACE,
    LEFT_RUNNING,
    RECONCILED_TAG,
    _runtime_status,
    candidates,
    decide,
    decide_secret,
    reconcile,
    reconcile_secrets,
    reference_now,
)

UTC = timezone.utc  # datetime.UTC is 3.11+; the app supports 3.10

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
HUB = "polysyncsweeps"


def job(
    name: str | None = None,
    status: str = "Running",
    instance: str | None = "ps-1",
    age: timedelta = timedelta(hours=1),
    hub: str | None = HUB,
) -> dict:
    """A job as the app submits it: named from its instance id and template tags."""
    tags = {"polysync.template": "train"}
    if name is None:
        name = job_name_for(instance or "ps-none", "train")
    if instance is not None:
        tags["polysync.instanceId"] = instance
    if hub is not None:
        tags["polysync.taskHub"] = hub
    return {
        "name": name,
        "properties": {"jobType": "Sweep", "status": status, "tags": tags},
        "systemData": {"createdAt": (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


@pytest.mark.parametrize("runtime", ["Terminated", "Failed", "Completed", "Canceled"])
def test_an_active_job_whose_orchestration_is_over_is_cancelled(runtime):
    verdict = decide(job(), runtime, now=NOW, task_hub=HUB)
    assert verdict.cancel
    assert verdict.reason == f"orchestration-{runtime.lower()}"
    assert verdict.job_name == job_name_for("ps-1", "train") and verdict.instance_id == "ps-1"


def test_a_job_whose_instance_does_not_exist_here_is_not_provably_ours():
    """Purged, or another deployment's instance in a task hub of the same name."""
    verdict = decide(job(), None, now=NOW, task_hub=HUB)
    assert not verdict.cancel and verdict.reason == "instance-missing"


def test_a_copy_of_a_run_under_another_name_is_never_cancelled():
    """A Studio clone copies the tags, not the derived name."""
    clone = job(name="train-clone-of-a-run")
    assert decide(clone, "Completed", now=NOW, task_hub=HUB).reason == "name-not-derived"
    assert candidates([clone], HUB) == []
    untagged_template = job()
    del untagged_template["properties"]["tags"]["polysync.template"]
    assert decide(untagged_template, "Completed", now=NOW, task_hub=HUB).reason == "name-not-derived"


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


def test_a_run_that_left_its_job_running_on_purpose_is_not_an_orphan():
    """A run that gave up waiting for an unreachable Azure ML (past the outage limit)
    fails without cancelling and marks `jobLeftRunning`; its job stays."""

    class Status:
        def __init__(self, runtime: str, custom: object) -> None:
            self.runtime_status, self.custom_status = runtime, custom

    class Client:
        def __init__(self, status: Status) -> None:
            self.status = status

        async def get_status(self, _instance_id: str) -> Status:
            return self.status

    left = asyncio.run(_runtime_status(Client(Status("Failed", {"jobLeftRunning": True})), "ps-1"))
    plain = asyncio.run(_runtime_status(Client(Status("Failed", {"status": "Failed"})), "ps-1"))
    assert (left, plain) == (LEFT_RUNNING, "Failed")
    assert decide(job(), left, now=NOW, task_hub=HUB).reason == "left-running"
    assert not decide(job(), left, now=NOW, task_hub=HUB).cancel
    assert decide(job(), plain, now=NOW, task_hub=HUB).cancel


def test_junk_resources_and_unsafe_tags_never_reach_a_url():
    jobs = [
        job(instance="../../x"),
        job(instance="ps-ok", name="../evil"),
        job(instance="a" * 101),
        {"name": None, "properties": "junk"},
        "not a job",
        job(instance="ps-good"),
    ]
    assert [j["name"] for j in candidates(jobs, HUB)] == [job_name_for("ps-good", "train")]


def test_reference_now_follows_the_earlier_of_wall_clock_and_timer():
    class Timer:
        schedule_status = {"Last": "2026-01-05T09:00:00+00:00"}

    wall = datetime(2026, 11, 1, tzinfo=UTC)
    assert reference_now(Timer(), wall) == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert reference_now(object(), wall) == wall


def test_reconcile_cancels_records_and_survives_failures(caplog):
    jobs = [job(instance="ps-a"), job(instance="ps-b"), job(instance="ps-c")]
    a_1 = job_name_for("ps-a", "train")
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
    assert cancelled == [a_1]  # ps-c's lookup failed: never cancel on doubt
    assert tagged == [(a_1, "orchestration-terminated")]
    assert summary["cancelled"] == [
        {
            "job": a_1,
            "instanceId": "ps-a",
            "runtimeStatus": "Terminated",
            "reason": "orchestration-terminated",
        }
    ]
    assert summary["kept"] == {"tracked": 1, "status-unknown": 1}
    line = next(r.getMessage() for r in caplog.records if a_1 in r.getMessage())
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
    # Hold the clock from the start, so the run's job is young when the first pass runs:
    # the within-grace branch is always exercised, whatever the machine's speed.
    stack.clock.acquire()
    try:
        answer = stack.post("sweeps", structured("train-sweep-forever"))
        assert answer.status_code == 202
        payload = answer.json()
        instance_id = payload["id"]
        job_name = wait_for(
            lambda: custom_status(stack, instance_id), lambda c: bool(c.get("jobName")), 60, "customStatus"
        )["jobName"]
        _terminate(stack, instance_id, payload)
        assert job_name in stack.emulator.active_jobs()  # terminate alone leaves it running: the problem
        created = parse_utc(stack.emulator.job(job_name)["systemData"]["createdAt"])
        assert stack.clock.now() - created < GRACE
        _reconcile(stack)  # within the grace period: left alone
        assert stack.emulator.job(job_name)["properties"]["status"] not in ("CancelRequested", "Canceled")
        assert not [k for k in stack.emulator.calls_for(job_name) if k[0] == "cancel"]
    finally:
        stack.clock.release()
    # a second, live run is never touched
    live = start(stack, structured("train-sweep-forever"))
    wait_until(stack, live, lambda v: v.get("azureStatus") == "Running")
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


def test_a_purged_instance_job_is_left_alone_and_logged(stack, caplog):
    """The instance no longer exists in this task hub, so nothing proves the job the app's
    (another deployment may share the workspace and task hub name): kept, with a WARNING."""
    answer = stack.post("sweeps", structured("train-sweep-forever"))
    payload = answer.json()
    view = wait_until(stack, payload["id"], lambda v: v.get("azureStatus") == "Running")
    _terminate(stack, payload["id"], payload)
    assert requests.delete(payload["purgeHistoryDeleteUri"], timeout=10).status_code == 200
    stack.clock.advance(GRACE.total_seconds() + 60)
    with caplog.at_level(logging.WARNING, logger="triggers.reconciler"):
        _reconcile(stack)
    stack.clock.advance(30)
    assert stack.emulator.job(view["jobName"])["properties"]["status"] == "Running"
    assert any(view["jobName"] in r.getMessage() and "by hand" in r.getMessage() for r in caplog.records)
    from runtime import services

    services.client().cancel_job(view["jobName"])  # by hand, as the log line says


# ---------------------------------------------------------------- run secrets


def stored(name: str, instance: str = "ps-1", hub: str | None = HUB, age=timedelta(hours=1), expires=None):
    return StoredSecret(
        name=name,
        instance_id=instance,
        task_hub=hub,
        created=NOW - age,
        expires=expires or NOW + timedelta(days=7),
    )


@pytest.mark.parametrize(
    ("secret", "runtime", "expected"),
    [
        (stored("ps-1-token-00"), "Completed", "orchestration-completed"),
        (stored("ps-1-token-00"), "Terminated", "orchestration-terminated"),
        (stored("ps-1-token-00"), "Running", None),
        (stored("ps-1-token-00"), None, None),  # not provably ours: left to the expiry
        (stored("ps-1-token-00", age=timedelta(minutes=1)), "Completed", None),  # within grace
        (stored("ps-1-token-00", hub="other"), "Completed", None),
        (stored("ps-2-token-00"), "Completed", None),  # the tag names another instance than the name
        (stored("ps-1-token-00", expires=NOW - timedelta(seconds=1)), "Running", "expired"),
        (stored("ps-1-token-00", expires=NOW - timedelta(seconds=1), hub="other"), None, None),
    ],
)
def test_which_run_secrets_are_erased(secret, runtime, expected):
    assert decide_secret(secret, runtime, now=NOW, wall=NOW, task_hub=HUB) == expected


def test_reconcile_secrets_erases_and_never_on_doubt():
    erased = []

    async def status(instance_id):
        if instance_id == "ps-3":
            raise ConnectionError
        return {"ps-1": "Completed", "ps-2": "Running"}.get(instance_id)

    summary = asyncio.run(
        reconcile_secrets(
            [stored("ps-1-a-00", "ps-1"), stored("ps-2-a-00", "ps-2"), stored("ps-3-a-00", "ps-3")],
            status,
            erased.append,
            now=NOW,
            wall=NOW,
            task_hub=HUB,
        )
    )
    assert erased == ["ps-1-a-00"] and summary["errors"][0]["secret"] == "ps-3-a-00"
