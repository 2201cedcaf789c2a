"""A cancel is never lost: raised at every step of a run, it ends with the Azure ML
job Canceled (or, before the PUT, with no job at all)."""

from __future__ import annotations

import time

import pytest

from devhost.emulator import FaultPlan
from devhost.stack import LocalStack
from tests.e2e.helpers import custom_status, start, structured, wait_finished, wait_for, wait_until


@pytest.fixture(scope="module")
def stack():
    # One poll per generation: every wake-up of the wait loop is a continue-as-new.
    # Every activity runs twice (at-least-once delivery): cancels and submits are idempotent.
    with LocalStack.start(
        virtual=True, events=True, settings={"SWEEP_POLLS_PER_GENERATION": "1"}, rerun_activities=True
    ) as s:
        yield s


@pytest.fixture
def frozen(stack):
    """Virtual time stands still (only advance() moves it) until the test ends."""
    stack.clock.auto = False
    try:
        yield stack.clock
    finally:
        stack.clock.auto = True


def _wait_custom(stack: LocalStack, instance_id: str, predicate, timeout: float = 30.0) -> dict:
    return wait_for(lambda: custom_status(stack, instance_id), predicate, timeout, "customStatus", 0.01)


def _cancel(stack: LocalStack, instance_id: str) -> None:
    answer = stack.post(f"sweeps/{instance_id}/cancel", {"reason": "test"})
    assert answer.status_code in (200, 202), answer.text


def _assert_cancelled(stack: LocalStack, instance_id: str, *, job_expected: bool = True) -> dict:
    view = wait_finished(stack, instance_id)
    assert view["status"] == "Cancelled", view
    assert view["runtimeStatus"] == "Failed"  # never Completed: Polysync would read Success
    job_name = view["jobName"] or custom_status(stack, instance_id).get("jobName")
    if job_expected:
        job = stack.emulator.job(job_name)
        assert job["properties"]["status"] == "Canceled"
    assert not stack.emulator.active_jobs()
    return view


def test_cancel_while_the_run_fetches_its_template_starts_no_job(stack):
    """The start route could not read the template (Azure ML throttling), so the run fetches it
    and is cancelled meanwhile."""
    created = stack.emulator.calls["put_created"]
    stack.emulator.set_faults(
        FaultPlan(rate=1.0, kinds=("429",), retry_after_seconds=30, methods=frozenset({"get"}))
    )
    try:
        instance_id = start(stack, structured())
        _cancel(stack, instance_id)
        view = wait_finished(stack, instance_id)
    finally:
        stack.emulator.set_faults(None)
    assert view["status"] == "Cancelled" and view["error"]["code"] == "CancelledBeforeSubmit"
    assert stack.emulator.calls["put_created"] == created
    assert not stack.emulator.active_jobs()


def test_cancel_while_the_put_is_on_the_wire(stack):
    puts = stack.emulator.calls["put"]
    stack.emulator.set_faults(
        FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=0.5, methods=frozenset({"put"}))
    )
    try:
        instance_id = start(stack, structured("train-sweep-forever"))
        deadline = time.monotonic() + 10
        while stack.emulator.calls["put"] == puts and time.monotonic() < deadline:
            time.sleep(0.005)
        assert stack.emulator.calls["put"] > puts
        _cancel(stack, instance_id)  # the job name is not published yet: the event alone carries it
    finally:
        stack.emulator.set_faults(None)
    _assert_cancelled(stack, instance_id)


def test_cancel_between_the_put_and_the_first_poll(stack, frozen):
    instance_id = start(stack, structured("train-sweep-forever"))
    custom = _wait_custom(stack, instance_id, lambda c: c.get("jobName") and c.get("polls") == 0)
    assert custom["azureStatus"] == "NotStarted"
    _cancel(stack, instance_id)
    frozen.auto = True
    _assert_cancelled(stack, instance_id)


def test_cancel_during_a_timer(stack, frozen):
    frozen.auto = True
    instance_id = start(stack, structured("train-sweep-forever"))
    wait_until(stack, instance_id, lambda v: v.get("azureStatus") == "Running")
    frozen.auto = False
    time.sleep(0.05)  # whatever was in flight settles; the orchestrator now sleeps on a timer
    _cancel(stack, instance_id)
    frozen.auto = True
    _assert_cancelled(stack, instance_id)


def test_cancel_event_lost_in_a_continue_as_new_is_still_honoured(stack, monkeypatch):
    """A cancel event that never reaches the run (the raise is lost between the
    route and the instance): the route's direct Azure ML cancel must still end the
    run Cancelled."""
    instance_id = start(stack, structured("train-sweep-forever"))
    wait_until(stack, instance_id, lambda v: v.get("azureStatus") == "Running")
    engine = stack.host.engine
    real = engine.raise_event

    def drop_cancel(iid, name, data_json):
        return "accepted" if name == "cancel" else real(iid, name, data_json)

    monkeypatch.setattr(engine, "raise_event", drop_cancel)
    _cancel(stack, instance_id)
    view = wait_finished(stack, instance_id)
    assert view["status"] == "Cancelled"
    assert stack.emulator.job(view["jobName"])["properties"]["status"] == "Canceled"
    assert not stack.emulator.active_jobs()


def test_cancels_at_random_moments_with_a_continue_as_new_every_poll(stack):
    """Every wake-up is a continue-as-new, so many of these cancels land in a
    generation change. All end Cancelled with the job Canceled."""
    ids = [start(stack, structured("train-sweep-forever")) for _ in range(12)]
    for i, instance_id in enumerate(ids):
        if i % 3:
            wait_until(stack, instance_id, lambda v: v.get("azureStatus") in ("Queued", "Running"))
        time.sleep(0.002 * i)
        _cancel(stack, instance_id)
    for instance_id in ids:
        view = wait_finished(stack, instance_id)
        assert view["status"] == "Cancelled", view
        if view["jobName"]:
            assert stack.emulator.job(view["jobName"])["properties"]["status"] == "Canceled"
    assert not stack.emulator.active_jobs()


def test_status_names_the_job_in_every_generation(stack):
    """customStatus starts empty in a new generation; the orchestrator republishes at
    once, so the status route never falls back to "Starting" mid-run."""
    instance_id = start(stack, structured("train-sweep-forever"))
    wait_until(stack, instance_id, lambda v: v.get("azureStatus") == "Running")
    generations = set()
    samples = 0
    deadline = time.monotonic() + 30
    # at least 40 looks, and on until a generation change has been seen (a slow
    # machine may need more than 40 to cross one)
    while samples < 40 or (len(generations) < 2 and time.monotonic() < deadline):
        custom = custom_status(stack, instance_id)
        assert custom.get("jobName") and custom.get("azureStatus") == "Running", custom
        generations.add(custom.get("generation"))
        samples += 1
        time.sleep(0.01)
    assert len(generations) > 1
    _cancel(stack, instance_id)
    _assert_cancelled(stack, instance_id)


def test_the_cancel_reason_reaches_the_final_message(stack):
    """The Python client's raise_event delivers the cancel's data as a JSON string on
    Azure; the reason must still reach the message Polysync reads."""
    instance_id = start(stack, structured("train-sweep-forever"))
    wait_until(stack, instance_id, lambda v: v.get("azureStatus") == "Running")
    answer = stack.post(f"sweeps/{instance_id}/cancel", {"reason": "operator said so"})
    assert answer.status_code == 202
    _assert_cancelled(stack, instance_id)
    output = stack.host.get_status(instance_id)["output"]
    assert "Cancelled: " in output and "Reason: operator said so" in output
