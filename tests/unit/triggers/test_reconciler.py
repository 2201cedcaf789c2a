"""The orphan reconciler's policy, pure: which jobs and run secrets it acts on, and a pass's summary.
On devhost after a terminate through Polysync's terminate URL: tests/reliability/test_reconciler.py."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import pytest

from foundry.names import job_name_for
from foundry.vault import StoredSecret
from triggers.reconciler import (
    GRACE,
    LEFT_RUNNING,
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


def test_reference_now_is_the_occurrence_firing_not_the_previous_one():
    """Azure/azure-webjobs-sdk-extensions TimerListener.InvokeJobFunction hands the function the
    schedule status as it stood before the invocation: `Next` is the occurrence now firing,
    `Last` the previous invocation (`0001-01-01T00:00:00` after a host start). Reading `Last`
    held every job within its grace on the first pass after each start."""

    class Timer:
        def __init__(self, last: str, next_: str) -> None:
            self.schedule_status = {"Last": last, "Next": next_, "LastUpdated": last}

    wall = datetime(2026, 11, 1, tzinfo=UTC)
    first_pass = Timer("0001-01-01T00:00:00", "2026-01-05T09:10:00+00:00")
    assert reference_now(first_pass, wall) == datetime(2026, 1, 5, 9, 10, tzinfo=UTC)
    later = Timer("2026-01-05T09:10:00+00:00", "2026-01-05T09:20:00+00:00")
    assert reference_now(later, wall) == datetime(2026, 1, 5, 9, 20, tzinfo=UTC)
    skewed = Timer("2026-10-31T23:50:00+00:00", "2026-11-01T00:00:00.5+00:00")  # fired a little early
    assert reference_now(skewed, wall) == wall
    assert reference_now(object(), wall) == wall  # no schedule monitor: no status


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
