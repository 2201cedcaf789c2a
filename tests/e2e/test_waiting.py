"""How the orchestration waits: Event Grid wake-ups, backoff polling, and
continue-as-new generations, measured in virtual time through the real stack."""

from __future__ import annotations

from datetime import datetime

from compat import parse_utc
from devhost.durable.history import EventType
from devhost.stack import LocalStack
from tests.e2e.helpers import custom_status, start, structured, wait_finished

# These tests are about how a run waits on its own (Event Grid, its own polls, generations):
# no sweep watcher. The watcher's own behaviour is in test_watcher.py.
# The run polling on its own: no watcher, and no trial timer of its own (a listing after each GET)
ON_ITS_OWN = {"SWEEP_WATCH_PERIOD_SECONDS": "0", "SWEEP_TRIAL_PROGRESS_SECONDS": "0"}


def _at(iso: str) -> datetime:
    return parse_utc(iso)


def _detection_lag(stack: LocalStack, view: dict) -> float:
    """Virtual seconds from the job reaching its terminal state to the run ending."""
    job = stack.emulator.job(view["jobName"])
    ended = _at(job["systemData"]["lastModifiedAt"])
    return (_at(view["lastUpdatedTime"]) - ended).total_seconds()


def _pending_timer(stack: LocalStack, instance_id: str) -> datetime:
    """When the run's current durable timer is due, from its protocol history: the
    newest TimerCreated (earlier unfired ones lost a race and were abandoned)."""
    history = stack.host.history(instance_id)
    created = [e for e in history if e["EventType"] == EventType.TimerCreated]
    fired = {e.get("TimerId") for e in history if e["EventType"] == EventType.TimerFired}
    assert created and created[-1]["EventId"] not in fired, "the run is not waiting on a timer"
    return _at(created[-1]["FireAt"])


def _advance_until_running(stack: LocalStack, instance_id: str) -> dict:
    """With the clock stopped, step virtual time until the job runs (the template
    queues for minutes first); returns the run's customStatus."""
    for _ in range(240):
        assert stack.clock.wait_quiet()
        if custom_status(stack, instance_id).get("azureStatus") == "Running":
            break
        stack.clock.advance(30)
    custom = custom_status(stack, instance_id)
    assert custom.get("azureStatus") == "Running", custom
    return custom


def test_event_grid_wakes_the_run_at_once_even_for_a_48_hour_sweep():
    with LocalStack.start(virtual=True, events=True, settings=ON_ITS_OWN) as stack:
        instance_id = start(stack, structured("train-sweep-long"))
        view = wait_finished(stack, instance_id, timeout=120)
        assert view["status"] == "Success"
        # The terminal event is confirmed by one GET and ends the run within the
        # event's delivery delay, not at the next (hours-long) safety poll.
        assert 0 <= _detection_lag(stack, view) <= 2
        # template GET + existence GET + PUT + a handful of safety polls over 48 h
        total = sum(stack.emulator.calls[k] for k in ("get", "put", "list", "cancel"))
        assert total <= 12, stack.emulator.calls


def test_without_events_the_end_is_seen_within_the_poll_cap():
    with LocalStack.start(virtual=True, events=False, settings=ON_ITS_OWN) as stack:
        view = wait_finished(stack, start(stack, structured()), timeout=120)
        assert view["status"] == "Success"
        assert 0 <= _detection_lag(stack, view) <= 120


def test_a_run_spans_several_continue_as_new_generations_and_keeps_history_bounded():
    settings = {
        "SWEEP_POLL_FLOOR_SECONDS": "5",
        "SWEEP_POLL_CAP_SECONDS": "10",
        "SWEEP_POLLS_PER_GENERATION": "4",
        **ON_ITS_OWN,
    }
    with LocalStack.start(virtual=True, events=False, settings=settings) as stack:
        instance_id = start(stack, structured(runId="e2e-generations"))
        view = wait_finished(stack, instance_id, timeout=120)
        assert view["status"] == "Success"
        assert view["bestTrial"]["runId"]
        metrics = stack.host.metrics.instance(instance_id)
        assert metrics.generations >= 5
        # every generation's history stays small: 4 wake-ups' worth of events
        assert max(metrics.history_len_per_generation) <= 60
        # one job, submitted once, across all generations
        assert stack.emulator.calls["put_created"] == 1


def test_an_event_arriving_while_a_poll_is_in_flight_is_not_lost():
    """The SDK hands an event to the newest waiter of its name. The orchestrator
    keeps one waiter per name, so an Event Grid event that lands while a safety
    poll's GET is running still wakes the run (here: a confirming GET at once)
    instead of waiting for the next, hours-away, safety poll."""
    import threading
    import time

    from devhost.emulator import FaultPlan

    with LocalStack.start(virtual=True, events=True, settings=ON_ITS_OWN) as stack:
        # Time moves only when the test says so: a free-running virtual clock could
        # race through the whole 48 h sweep before the test looks.
        stack.clock.auto = False
        instance_id = start(stack, structured("train-sweep-long"))

        def custom() -> dict:
            return custom_status(stack, instance_id)

        _advance_until_running(stack, instance_id)
        # the run now sleeps on its first events-mode safety timer, an hour or more away
        polls_before = custom()["polls"]
        to_timer = (_pending_timer(stack, instance_id) - stack.clock.now()).total_seconds()
        assert to_timer > 3600 - 30  # a safety timer set within the last 30 s step

        job_name = custom()["jobName"]
        gets_before = stack.emulator.calls["get"]
        stack.emulator.set_faults(
            FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=3.0, methods=frozenset({"GET"}))
        )
        ticking = threading.Thread(target=stack.clock.advance, args=(to_timer + 100,))
        ticking.start()  # the safety timer fires; its GET is held for 3 s of wall time
        # Raise the event only once that GET has reached the emulator (it is counted
        # before the hold), so the event lands while the poll is in flight however
        # slow the machine is. Raising it earlier would test a different race.
        deadline = time.monotonic() + 30
        while stack.emulator.calls["get"] == gets_before and time.monotonic() < deadline:
            time.sleep(0.005)
        assert stack.emulator.calls["get"] == gets_before + 1
        stack.host.raise_event(
            instance_id, "job_status_changed", {"jobName": job_name, "runStatus": "Failed"}
        )
        ticking.join(timeout=30)
        assert stack.clock.wait_quiet()
        stack.emulator.set_faults(None)

        # the timer's poll, then the GET confirming the event (the job is in fact still Running)
        assert custom()["polls"] == polls_before + 2
        assert custom()["azureStatus"] == "Running"
        stack.clock.auto = True
        stack.post(f"sweeps/{instance_id}/cancel")
        assert wait_finished(stack, instance_id)["status"] == "Cancelled"


def test_a_storm_of_duplicate_events_cannot_grow_one_generation_without_bound():
    """Progress hints do not end a generation (they need no GET); a duplicate ends it
    (it may be the SDK re-delivering a buffered event), behind a fired timer so the
    extension does not carry the events it took into the next generation; the run goes on."""
    import time

    from orchestrators.sweep import MAX_WAKEUPS_PER_GENERATION

    with LocalStack.start(virtual=True, events=True, settings=ON_ITS_OWN) as stack:
        stack.clock.auto = False
        instance_id = start(stack, structured("train-sweep-long"))
        job_name = _advance_until_running(stack, instance_id)["jobName"]
        generations_before = stack.host.metrics.instance(instance_id).generations
        for _ in range(3 * MAX_WAKEUPS_PER_GENERATION):
            stack.host.raise_event(
                instance_id, "job_status_changed", {"jobName": job_name, "runStatus": "Running"}
            )
            deadline = time.monotonic() + 10
            while not stack.clock.wait_quiet(0.5) and time.monotonic() < deadline:
                generations = stack.host.metrics.instance(instance_id).generations
                assert generations <= generations_before + 2 * MAX_WAKEUPS_PER_GENERATION, (
                    "endless generations"
                )
        metrics = stack.host.metrics.instance(instance_id)
        assert metrics.generations >= generations_before + 2
        # ... and no generation hands the events it took on to the next (the
        # extension's carry-over after a continue-as-new): a bounded count
        assert metrics.generations <= generations_before + 2 * MAX_WAKEUPS_PER_GENERATION
        assert max(metrics.history_len_per_generation) <= 200
        stack.clock.auto = True
        assert wait_finished(stack, instance_id, timeout=120)["status"] == "Success"


def test_the_status_route_keeps_the_runs_start_time_across_generations():
    """The Durable createdTime restarts with every continue-as-new generation (as
    the real extension does); the status route reports when the run started."""
    with LocalStack.start(virtual=True, events=False, settings=ON_ITS_OWN) as stack:
        start_time = stack.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        instance_id = start(stack, structured())
        view = wait_finished(stack, instance_id, timeout=120)
        assert view["status"] == "Success"
        durable = stack.host.get_status(instance_id, show_input=False)
        assert stack.host.metrics.instance(instance_id).generations > 2
        assert durable["createdTime"] > start_time  # the last generation's start
        assert view["createdTime"] == start_time
        job = stack.emulator.job(view["jobName"])
        assert view["createdTime"] <= job["systemData"]["createdAt"][:19] + "Z"
        assert view["lastUpdatedTime"] > view["createdTime"]


def test_an_event_that_arrives_before_any_waiter_wakes_the_run_once():
    """A status event that lands while only the cancel waiter is open (the PUT is in
    flight) is buffered by the SDK and handed to every later waiter of its name
    (azure-functions-durable-python#507). The run takes it once, ends that
    generation at the repeat, and goes on: no storm of wake-ups, timers or history."""
    import threading
    import time

    from devhost.emulator import FaultPlan

    with LocalStack.start(virtual=True, events=False, settings=ON_ITS_OWN) as stack:
        stack.clock.auto = False
        stack.emulator.set_faults(
            FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=1.0, methods=frozenset({"put"}))
        )
        puts = stack.emulator.calls["put"]
        instance_id = start(stack, structured("train-sweep-forever"))
        deadline = time.monotonic() + 30
        while stack.emulator.calls["put"] == puts and time.monotonic() < deadline:
            time.sleep(0.005)
        stack.host.raise_event(instance_id, "job_status_changed", {"jobName": "x", "runStatus": "Queued"})
        settle = threading.Thread(target=stack.clock.wait_quiet)
        settle.start()
        settle.join(30)
        stack.emulator.set_faults(None)
        assert stack.clock.wait_quiet()
        first = stack.host.history(instance_id, previous_generation=True) or stack.host.history(instance_id)
        timers = [e for e in first if e["EventType"] == EventType.TimerCreated]
        assert len(timers) <= 3, [EventType(e["EventType"]).name for e in first]
        custom = custom_status(stack, instance_id)
        assert custom["azureStatus"] in ("Queued", "NotStarted") and custom["generation"] <= 1
        assert stack.host.metrics.instance(instance_id).generations <= 2
        stack.clock.auto = True
        assert stack.post(f"sweeps/{instance_id}/cancel").status_code == 202
        assert wait_finished(stack, instance_id)["status"] == "Cancelled"
