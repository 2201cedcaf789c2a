"""The orchestrator's first moves in a new generation, replayed by the real
azure-functions-durable SDK from a minimal history (no host, no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import function_app
from devhost.durable import EventType, replay_prefixes
from devhost.durable.history import event, flatten_actions
from orchestrators.polling import LoopState, PollPolicy

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


def test_with_events_a_new_generation_confirms_the_status_before_sleeping():
    """An Event Grid event raised during continue-as-new is dropped; with events
    driving the run the next safety poll may be hours away, so check at once."""
    state = LoopState(azure_status="Running", interval=3600, events_seen=True, generation=2, monitor_url="u")
    first = _first_actions(state)[0]
    assert first.get("functionName") == "get_job_status"


def test_without_events_a_new_generation_just_keeps_waiting():
    state = LoopState(azure_status="Running", interval=120, events_seen=False, generation=2, monitor_url="u")
    first = _first_actions(state)[0]
    assert "fireAt" in first  # a durable timer: the poll cap already bounds detection
