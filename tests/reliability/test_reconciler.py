"""Orphan reconciler: the pure policy, then the timer on devhost after a terminate
through Polysync's terminate URL (the Durable management API)."""

from __future__ import annotations

import logging

import pytest
import requests

from compat import parse_utc
from devhost.stack import LocalStack
from tests.e2e.helpers import custom_status, start, structured, wait_finished, wait_for, wait_until
from triggers.reconciler import (
    GRACE,
    RECONCILED_TAG,
)

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


def test_cancel_on_a_terminated_run_cancels_its_job_at_once(stack):
    """Terminated through the Durable API, the run no longer tracks its job; a cancel call asks
    for the job to stop now (200 with the final status and jobCancelRequested) instead of saying
    Cancelled while the job keeps running until the reconciler's pass."""
    answer = stack.post("sweeps", structured("train-sweep-forever"))
    payload = answer.json()
    instance_id = payload["id"]
    job_name = wait_until(stack, instance_id, lambda v: v.get("azureStatus") == "Running")["jobName"]
    _terminate(stack, instance_id, payload)
    cancelled = stack.post(f"sweeps/{instance_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "Cancelled" and cancelled.json()["jobCancelRequested"] is True
    wait_for(
        lambda: stack.emulator.job(job_name)["properties"], lambda p: p["status"] == "Canceled", 30, "job"
    )
    assert job_name not in stack.emulator.active_jobs()
