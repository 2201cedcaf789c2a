"""Azure ML unreachable while a sweep runs (throttling with long Retry-After, 503s).

The run keeps waiting on durable timers, honouring Retry-After, and ends as the
job ends; only past SWEEP_OUTAGE_LIMIT_SECONDS does it give up, naming the job and
leaving it running (the reconciler then leaves it alone). All through the real
stack: HTTP routes, the orchestrator replayed by the SDK on devhost, the emulator
answering every call with the fault for the outage's virtual-time window.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bench.outage import body, outage_plan, run_outage, seed_template
from devhost.emulator import FaultPlan
from devhost.stack import LocalStack
from foundry import tags as tag
from tests.e2e.helpers import custom_status, start, structured, wait_finished, wait_for


@pytest.mark.parametrize("kind", ["503", "429"])
def test_a_two_hour_outage_mid_sweep_ends_in_success_without_cancel_or_reconciler(kind):
    """All-503 (Retry-After: 1), and separately all-429 with Retry-After: 600, for
    two hours in the middle of five-hour sweeps, the orphan reconciler running on
    its schedule throughout."""
    figures = run_outage(kind, runs=3, hours=2.0)
    print(figures.table())
    assert figures.success == figures.runs, figures.table()
    assert figures.cancel_calls == 0
    assert figures.reconciled == 0 and figures.reconciler_passes >= 20
    assert figures.duplicate_jobs == 0
    assert figures.faults.get(kind, 0) >= figures.runs  # the outage did hit the runs' calls
    if kind == "429":
        # Retry-After: 600 honoured: at most one try per run every 10 minutes (a watched run's
        # tries are its trial listings: its 5-minute cadence waits for the Retry-After), plus the
        # watcher's and the reconciler's listing every 10 minutes (2 h = 12 windows each)
        assert figures.faults["429"] <= figures.runs * 13 + 2 * 13


def _stack_with_outage_template(**settings: str) -> LocalStack:
    stack = LocalStack.start(virtual=True, events=False, settings=settings or None)
    seed_template(stack, sweep_hours=5)
    return stack


def test_custom_status_says_azure_ml_is_unreachable_while_the_run_waits():
    # The run's own calls meet the outage (a watched run makes none for hours: the watcher's
    # customStatus says `lastError` instead).
    with _stack_with_outage_template(SWEEP_WATCH_PERIOD_SECONDS="0") as stack:
        stack.clock.auto = False
        instance_id = start(stack, body("outage-status"))
        stack.clock.wait_quiet()
        stack.emulator.set_faults(outage_plan(stack, "429", after_hours=1, hours=2))
        outage_start = stack.clock.now() + timedelta(hours=1)
        for _ in range(40):  # into the outage: 90 virtual minutes in 3-minute steps
            stack.clock.advance(180)
            assert stack.clock.wait_quiet()
        custom = custom_status(stack, instance_id)
        assert custom["note"].startswith("Azure ML unreachable since ")
        assert "TooManyRequests" in custom["note"]
        since = custom["unreachableSince"]
        assert (
            outage_start.strftime("%Y-%m-%dT%H:%M")
            <= since
            < (outage_start + timedelta(minutes=5)).isoformat()
        )
        view = stack.get(f"sweeps/{instance_id}").json()
        assert view["status"] == "Running" and view["runtimeStatus"] == "Running"
        stack.clock.auto = True
        view = wait_finished(stack, instance_id, timeout=120)
        assert view["status"] == "Success"
        assert "note" not in custom_status(stack, instance_id)  # cleared by the first answer
        assert stack.emulator.calls["cancel"] == 0


def test_past_the_outage_limit_the_run_fails_naming_the_job_it_left_running(caplog):
    # the run's own calls meet the outage: no watcher
    with _stack_with_outage_template(
        SWEEP_OUTAGE_LIMIT_SECONDS="3600", SWEEP_WATCH_PERIOD_SECONDS="0"
    ) as stack:
        stack.clock.auto = False
        instance_id = start(stack, body("outage-limit"))
        stack.clock.wait_quiet()
        now = stack.clock.now()
        stack.emulator.set_faults(
            FaultPlan(rate=1.0, kinds=("503",), retry_after_seconds=1, active_from=now + timedelta(hours=1))
        )
        for _ in range(60):  # 3 virtual hours in 3-minute steps; the sweep runs for 5
            stack.clock.advance(180)
            assert stack.clock.wait_quiet()
        view = wait_finished(stack, instance_id, timeout=10)
        assert view["runtimeStatus"] == "Failed" and view["status"] == "Failed"
        job_name = view["jobName"]
        error = view["error"]
        assert error["code"] == "AzureMLUnreachable"
        assert f"The sweep job {job_name} was left running" in error["message"]
        assert "over 1 h" in error["message"] and "SWEEP_OUTAGE_LIMIT_SECONDS" in error["hint"]
        assert custom_status(stack, instance_id)["jobLeftRunning"] is True
        # Azure ML comes back: the job is still running, and the reconciler keeps it.
        stack.emulator.set_faults(None)
        assert stack.emulator.job(job_name)["properties"]["status"] == "Running"
        stack.clock.advance(3600)
        with caplog.at_level(logging.INFO, logger="triggers.reconciler"):
            stack.host.fire_timer_trigger("reconcile_orphans", wait=True)
        assert stack.emulator.job(job_name)["properties"]["status"] == "Running"
        assert tag.RECONCILED not in (stack.emulator.job(job_name)["properties"].get("tags") or {})
        assert stack.emulator.calls["cancel"] == 0
        assert any("left-running" in r.getMessage() for r in caplog.records)


def test_throttled_submission_waits_and_then_submits_once():
    """429 with Retry-After: 300 on every PUT for 20 minutes: the run waits (Starting,
    "Azure ML unreachable"), then submits exactly one job and succeeds."""
    with LocalStack.start(virtual=True, events=True) as stack:
        now = stack.clock.now()
        stack.emulator.set_faults(
            FaultPlan(
                rate=1.0,
                kinds=("429",),
                retry_after_seconds=300,
                methods=frozenset({"put"}),
                active_until=now + timedelta(minutes=20),
            )
        )
        view = wait_finished(stack, start(stack, structured()), timeout=120)
        assert view["status"] == "Success"
        assert stack.emulator.calls["put_created"] == 1
        assert 4 <= stack.emulator.faults_injected["429"] <= 6  # one try per Retry-After


def test_a_cancel_while_the_submission_is_being_retried_starts_no_job():
    with LocalStack.start(virtual=True, events=True) as stack:
        stack.clock.auto = False
        stack.emulator.set_faults(FaultPlan(rate=1.0, kinds=("503",), methods=frozenset({"put"})))
        instance_id = start(stack, structured("train-sweep-forever"))
        wait_for(
            lambda: custom_status(stack, instance_id),
            lambda c: "unreachableSince" in c,
            30,
            "customStatus",
        )
        answer = stack.post(f"sweeps/{instance_id}/cancel", {"reason": "changed my mind"})
        assert answer.status_code == 202
        stack.clock.auto = True
        view = wait_finished(stack, instance_id)
        assert view["status"] == "Cancelled"
        assert view["error"]["code"] == "CancelledBeforeSubmit"
        assert stack.emulator.calls["put_created"] == 0
        assert not stack.emulator.active_jobs()
