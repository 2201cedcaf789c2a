"""Engine semantics through the in-process API."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest

from devhost.durable import EventType, replay_prefixes
from devhost.durable.engine import InstanceExists
from devhost.durable.history import flatten_actions
from tests.devhost.durable import sample_app


def _types(history):
    return [EventType(ev["EventType"]).name for ev in history]


def _wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.005)
    raise AssertionError("condition not reached")


def test_activity_result_and_history_shape(auto_host):
    iid = auto_host.start_orchestration("hello_orchestrator", "Bob")
    status = auto_host.wait_for_completion(iid, 10)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Bob!", "Hello again!"]
    assert status["input"] == '"Bob"'  # the Python client's encoding, as the extension returns it
    assert status["createdTime"].endswith("Z") and status["lastUpdatedTime"].endswith("Z")
    hist = auto_host.history(iid)
    assert _types(hist) == [
        "OrchestratorStarted", "ExecutionStarted", "TaskScheduled", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted", "TaskScheduled", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted", "OrchestratorCompleted", "ExecutionCompleted",
    ]  # fmt: skip
    assert [ev["EventId"] for ev in hist if ev["EventType"] == EventType.TaskScheduled] == [0, 1]
    assert all(ev["Timestamp"].endswith("Z") for ev in hist)
    # earlier episodes are marked played, the last one is not
    last_start = max(i for i, ev in enumerate(hist) if ev["EventType"] == EventType.OrchestratorStarted)
    assert all(ev["IsPlayed"] for ev in hist[:last_start])
    m = auto_host.metrics.instances[iid]
    assert m.episodes == 3 and m.generations == 1 and len(m.replay_cpu) == 3
    assert m.replay_cpu_first is not None and m.replay_cpu_last is not None
    assert auto_host.metrics.activities_run >= 2


def test_fan_out(auto_host):
    iid = auto_host.start_orchestration("fan_out_orchestrator", ["x", "y", "z"])
    assert auto_host.wait_for_completion(iid, 10)["output"] == ["Hello x!", "Hello y!", "Hello z!"]


def test_many_instances_in_parallel(auto_host):
    ids = [auto_host.start_orchestration("hello_orchestrator", f"n{i}") for i in range(40)]
    for i, iid in enumerate(ids):
        assert auto_host.wait_for_completion(iid, 20)["output"][0] == f"Hello n{i}!"
    assert set(ids) <= set(auto_host.instances())


def test_retry_expansion(auto_host):
    iid = auto_host.start_orchestration("retry_orchestrator")
    status = auto_host.wait_for_completion(iid, 10)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"attempts": 3, "payload": {"x": 1}}
    assert sample_app.FLAKY["calls"] == 3
    hist = auto_host.history(iid)
    failed = [ev["TaskScheduledId"] for ev in hist if ev["EventType"] == EventType.TaskFailed]
    fired = [ev["TimerId"] for ev in hist if ev["EventType"] == EventType.TimerFired]
    completed = [ev["TaskScheduledId"] for ev in hist if ev["EventType"] == EventType.TaskCompleted]
    assert failed == [0, 2] and fired == [1, 3] and completed == [4]
    # retry delay: firstRetryInterval 5 s, backoff 1
    created = {ev["EventId"]: ev["FireAt"] for ev in hist if ev["EventType"] == EventType.TimerCreated}
    assert created[1].endswith("09:00:05.000000Z") and created[3].endswith("09:00:10.000000Z")


def test_retry_exhausted_waits_extra_timer_then_fails_into_user_code(auto_host):
    sample_app.FLAKY["fail_times"] = 10
    iid = auto_host.start_orchestration("retry_exhausted_orchestrator")
    status = auto_host.wait_for_completion(iid, 10)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["failed"].startswith(
        "Activity function 'flaky' failed:  RuntimeError: flaky failure #2"
    )
    assert status["output"]["after"] == "Hello after-retry!"
    assert sample_app.FLAKY["calls"] == 2
    hist = auto_host.history(iid)
    # attempt 0 fails, timer 1, attempt 2 fails, extra timer 3, then the next activity is id 4
    assert [ev["TimerId"] for ev in hist if ev["EventType"] == EventType.TimerFired] == [1, 3]
    created = {ev["EventId"]: ev["FireAt"] for ev in hist if ev["EventType"] == EventType.TimerCreated}
    failed_at = [ev["Timestamp"] for ev in hist if ev["EventType"] == EventType.TaskFailed]
    assert created[1].endswith("09:00:01.000000Z")  # firstRetryInterval after the first failure
    assert created[3] == failed_at[1]  # the last one fires at once (RetryInterceptor's back-compat timer)
    assert [ev["EventId"] for ev in hist if ev["EventType"] == EventType.TaskScheduled] == [0, 2, 4]


def test_retry_inside_fan_out_keeps_task_ids_in_step(auto_host):
    iid = auto_host.start_orchestration("parallel_retry_orchestrator")
    status = auto_host.wait_for_completion(iid, 10)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == [
        {"attempts": 3, "payload": {"p": 1}},
        "Hello one!",
        "Hello two!",
        "Hello tail!",
    ]
    runs = replay_prefixes(sample_app.app, "parallel_retry_orchestrator", auto_host.history(iid))
    assert all(len(flatten_actions(b)) >= len(flatten_actions(a)) for a, b in itertools.pairwise(runs))


def test_two_day_timer_is_fast_with_auto_clock(auto_host):
    t0 = time.monotonic()
    start = auto_host.clock.now()
    iid = auto_host.start_orchestration("approval_orchestrator", {"hours": 48})
    status = auto_host.wait_for_completion(iid, 10)
    # virtual time: far below the 48 h a real clock would take (loose so a loaded box passes)
    assert time.monotonic() - t0 < 9.0
    assert status["output"]["outcome"] == "timeout"
    assert status["output"]["at"].startswith((start + timedelta(hours=48)).isoformat()[:19])


def test_timer_fires_at_exact_virtual_time(manual_host):
    clock = manual_host.clock
    start = clock.now()
    iid = manual_host.start_orchestration("approval_orchestrator", {"hours": 48})
    clock.wait_quiet()
    clock.advance(47 * 3600)
    assert manual_host.get_status(iid)["runtimeStatus"] == "Running"
    clock.advance(3600)
    status = manual_host.wait_for_completion(iid, 5)
    assert status["output"] == {"outcome": "timeout", "at": (start + timedelta(hours=48)).isoformat()}


def test_long_timer_is_split_by_the_sdk(manual_host):
    clock = manual_host.clock
    start = clock.now()
    iid = manual_host.start_orchestration("long_timer_orchestrator")
    clock.wait_quiet()
    clock.advance(9 * 86400)
    assert manual_host.get_status(iid)["runtimeStatus"] == "Running"
    clock.advance(86400)
    status = manual_host.wait_for_completion(iid, 5)
    assert status["output"] == (start + timedelta(days=10)).isoformat()
    fire_ats = [ev["FireAt"] for ev in manual_host.history(iid) if ev["EventType"] == EventType.TimerCreated]
    # +3d, +6d, then the remaining 4 days fit in one short timer
    assert [f[:10] for f in fire_ats] == ["2026-01-08", "2026-01-11", "2026-01-15"]


def test_external_event_wins_and_cancelled_timer_does_not_keep_instance_alive(manual_host):
    clock = manual_host.clock
    iid = manual_host.start_orchestration("approval_orchestrator", {"hours": 48})
    clock.wait_quiet()
    assert clock.pending() == 1
    manual_host.raise_event(iid, "approval", {"ok": True})
    status = manual_host.wait_for_completion(iid, 5)
    assert status["output"]["outcome"] == "approved" and status["output"]["data"] == '{"ok": true}'
    clock.wait_quiet()
    assert clock.pending() == 0  # the cancelled timer's callback is cancelled
    assert not any(ev["EventType"] == EventType.TimerFired for ev in manual_host.history(iid))


def test_uncancelled_timer_keeps_instance_running(manual_host):
    clock = manual_host.clock
    iid = manual_host.start_orchestration("no_cancel_orchestrator")
    clock.wait_quiet()
    manual_host.raise_event(iid, "approval")
    clock.wait_quiet()
    assert manual_host.get_status(iid)["runtimeStatus"] == "Running"
    clock.advance(48 * 3600)
    assert manual_host.wait_for_completion(iid, 5)["output"] == "approved"


def test_event_raised_before_waiting_is_buffered(manual_host):
    iid = manual_host.start_orchestration("status_orchestrator")
    manual_host.raise_event(iid, "go", "early")  # may land in the very first episode
    assert manual_host.wait_for_completion(iid, 5)["output"] == '"early"'


def test_custom_status(auto_host):
    iid = auto_host.start_orchestration("status_orchestrator")
    _wait_for(lambda: auto_host.get_status(iid)["customStatus"] == {"stage": "waiting"})
    auto_host.raise_event(iid, "go", 7)
    status = auto_host.wait_for_completion(iid, 5)
    assert status["customStatus"] == {"stage": "done", "data": "7"} and status["output"] == "7"


def test_continue_as_new_generations(auto_host):
    iid = auto_host.start_orchestration("counter_orchestrator", {"count": 0, "limit": 4})
    status = auto_host.wait_for_completion(iid, 10)
    assert status["runtimeStatus"] == "Completed" and status["output"] == {"count": 4}
    assert status["input"] == '{"count": 3, "limit": 4}'  # a JSON string, as the extension stores it
    m = auto_host.metrics.instances[iid]
    assert m.generations == 4 and len(m.history_len_per_generation) == 4
    hist = auto_host.history(iid)
    assert _types(hist)[:2] == ["OrchestratorStarted", "ExecutionStarted"]  # history was reset
    assert len(hist) == m.history_len_per_generation[-1] <= 12
    prev = auto_host.history(iid, previous_generation=True)
    assert prev[-1]["OrchestrationStatus"] == "ContinuedAsNew"


def test_failed_orchestration(auto_host):
    iid = auto_host.start_orchestration("failing_orchestrator")
    status = auto_host.wait_for_completion(iid, 5)
    assert status["runtimeStatus"] == "Failed"
    assert "boom: the orchestrator gave up" in status["output"]
    assert status["output"].startswith("Orchestrator function 'failing_orchestrator' failed")


def test_unsupported_action_fails_clearly(auto_host):
    iid = auto_host.start_orchestration("sub_orchestrator_caller")
    status = auto_host.wait_for_completion(iid, 5)
    assert status["runtimeStatus"] == "Failed" and "CallSubOrchestrator" in status["output"]


def test_terminate(auto_host):
    iid = auto_host.start_orchestration("status_orchestrator")
    _wait_for(lambda: auto_host.get_status(iid)["runtimeStatus"] == "Running")
    auto_host.terminate(iid, "enough")  # asynchronous: the instance processes the message
    status = auto_host.wait_for_completion(iid, 5)
    assert status["runtimeStatus"] == "Terminated" and status["output"] == "enough"
    auto_host.raise_event(iid, "go", 1)  # ignored
    time.sleep(0.05)
    assert auto_host.get_status(iid)["runtimeStatus"] == "Terminated"
    with pytest.raises(KeyError):
        auto_host.raise_event("nope", "go")
    with pytest.raises(KeyError):
        auto_host.terminate("nope", "x")
    assert auto_host.get_status("nope") is None


def test_start_with_existing_running_id_is_refused(auto_host):
    auto_host.start_orchestration("status_orchestrator", instance_id="fixed")
    with pytest.raises(InstanceExists):
        auto_host.start_orchestration("status_orchestrator", instance_id="fixed")
    auto_host.raise_event("fixed", "go", 1)
    auto_host.wait_for_completion("fixed", 5)
    # a finished instance may be replaced
    auto_host.start_orchestration("hello_orchestrator", "again", instance_id="fixed")
    assert auto_host.wait_for_completion("fixed", 5)["output"][0] == "Hello again!"


@pytest.mark.parametrize(
    ("name", "input_", "event"),
    [
        ("hello_orchestrator", "R", None),
        ("retry_orchestrator", None, None),
        ("approval_orchestrator", {"hours": 2}, ("approval", 1)),
        ("fan_out_orchestrator", ["p", "q"], None),
        ("long_timer_orchestrator", None, None),
    ],
)
def test_replay_prefixes_are_deterministic(auto_host, name, input_, event):
    iid = auto_host.start_orchestration(name, input_)
    if event:
        _wait_for(lambda: auto_host.metrics.instances[iid].episodes >= 1)
        auto_host.raise_event(iid, *event)
    auto_host.wait_for_completion(iid, 10)
    history = auto_host.history(iid)
    runs = replay_prefixes(sample_app.app, name, history)
    assert len(runs) == sum(1 for ev in history if ev["EventType"] == EventType.OrchestratorStarted)

    def norm(actions):
        return [{k: v for k, v in a.items() if k != "isCanceled"} for a in flatten_actions(actions)]

    for a, b in itertools.pairwise(runs):
        na, nb = norm(a), norm(b)
        assert nb[: len(na)] == na, (runs, history)
