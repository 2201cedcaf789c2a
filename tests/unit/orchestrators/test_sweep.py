"""The orchestrator's first moves in a new generation, replayed by the real
azure-functions-durable SDK from a minimal history (no host, no I/O)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import function_app
from devhost.durable import EventType, replay_prefixes
from devhost.durable.history import event, flatten_actions
from orchestrators.polling import LoopState, PollPolicy

UTC = timezone.utc  # datetime.UTC is 3.11+; the app supports 3.10

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _first_actions(state: LoopState) -> list[dict]:
    data = {
        "request": {"externalId": "tmpl", "name": "n", "attributes": {}, "parameters": []},
        "template": "tmpl",
        "jobName": "tmpl-0123456789abcdef",
        "policy": PollPolicy().to_dict(),
        "state": state.to_dict(),
    }
    history = [
        event(EventType.OrchestratorStarted, NOW),
        event(EventType.ExecutionStarted, NOW, Name="sweep_orchestrator", Input=json.dumps(data), Version=""),
    ]
    (actions,) = replay_prefixes(function_app.app, "sweep_orchestrator", history, instance_id="ps-x")
    return flatten_actions([actions])


def test_a_generation_that_ended_on_its_poll_timer_opens_with_that_get():
    """The GET the timer was due for is made by the next generation, racing the
    event waiters (registered before anything can be delivered to them)."""
    state = LoopState(
        azure_status="Running", interval=120, generation=2, monitor_url="u", poll_on_resume=True
    )
    first = _first_actions(state)
    assert first[0].get("functionName") == "get_job_status"
    assert {a.get("externalEventName") for a in first[1:3]} == {"cancel", "job_status_changed"}


def test_with_events_a_new_generation_just_keeps_waiting():
    """Events that reach a continue-as-new are carried over into the next
    generation (Azure Storage), so no GET is needed to cover the transition."""
    state = LoopState(azure_status="Running", interval=3600, events_seen=True, generation=2, monitor_url="u")
    first = _first_actions(state)[0]
    assert "fireAt" in first


def test_without_events_a_new_generation_just_keeps_waiting():
    state = LoopState(azure_status="Running", interval=120, events_seen=False, generation=2, monitor_url="u")
    first = _first_actions(state)[0]
    assert "fireAt" in first  # a durable timer: the poll cap already bounds detection
