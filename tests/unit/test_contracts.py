"""The contract between the durable layers: its names are the app's functions, and every
type survives the JSON trip through history with the wire keys docs/architecture.md names."""

from __future__ import annotations

import json

import function_app
from contracts import (
    ACTIVITIES,
    ORCHESTRATOR,
    WATCHER,
    CancelSignal,
    JobSnapshot,
    OutputParameter,
    PollPolicy,
    StatusQuery,
    StatusSignal,
    SweepInput,
    parse_timestamp,
    timestamp,
)
from devhost.durable.functions import app_functions

REQUEST = {
    "externalId": "tmpl",
    "name": "Nightly",
    "runId": "r-1",
    "attributes": {"objectiveMetric": "f1"},
    "parameters": [
        {"name": "lr", "dataType": "Float", "direction": "Input", "value": 0.1},
        {"name": "batch", "dataType": "Int", "direction": "Input&Output", "value": 8},
        {"name": "model", "dataType": "String", "direction": "Output"},
        {
            "name": "key",
            "dataType": "Secret",
            "direction": "Input&Output",
            "value": "https://v/secrets/s",
            "keyVaultSecret": True,
        },
    ],
}


def _through_history(value: dict) -> dict:
    return json.loads(json.dumps(value))


def test_the_names_are_the_apps_functions():
    by_trigger: dict[str, set[str]] = {}
    for function in app_functions(function_app.app):
        trigger = next(b.type for b in function.get_bindings() if b.type.endswith("Trigger"))
        by_trigger.setdefault(trigger, set()).add(function.get_function_name())
    assert by_trigger["activityTrigger"] == set(ACTIVITIES)
    assert by_trigger["orchestrationTrigger"] == {ORCHESTRATOR, WATCHER}


def test_the_orchestration_input_round_trips_with_its_documented_keys():
    sweep = SweepInput(REQUEST, "tmpl", "tmpl-abc", PollPolicy(floor=5, cap=60))
    wire = _through_history(sweep.to_dict())
    assert set(wire) == {"request", "template", "jobName", "policy", "state"}
    assert SweepInput.from_dict(wire) == sweep
    assert set(sweep.next_generation({"generation": 1})) == set(wire)
    query = StatusQuery(
        "tmpl-abc", (OutputParameter("batch", echo=8), OutputParameter("k", secret=True)), "f1"
    )
    assert StatusQuery.from_dict(_through_history(query.to_dict())) == query


def test_an_input_without_a_policy_reads_the_defaults():
    """Runs started before the policy travelled in the input keep replaying; runs started before
    the sweep watcher existed are not watched (their jobs carry no watch tag)."""
    old = {"request": {"externalId": "t"}, "template": "t", "jobName": "t-1", "state": None}
    assert SweepInput.from_dict(old).policy == PollPolicy(watch_period=0)
    before_watcher = PollPolicy(floor=5, cap=60).to_dict()
    del before_watcher["watch_period"]
    assert PollPolicy.from_dict(before_watcher) == PollPolicy(floor=5, cap=60, watch_period=0)
    assert PollPolicy.from_dict(PollPolicy().to_dict()).watched


def test_answers_and_events_round_trip():
    snap = JobSnapshot(
        "Failed", "Failed", "j", "https://u", True, error={"code": "X", "message": "m", "hint": None}
    )
    assert JobSnapshot.from_dict(_through_history(snap.to_dict())) == snap
    running = JobSnapshot("Running", "Running", "j", "https://u", False).to_dict()
    assert set(running) == {"azureStatus", "status", "jobName", "monitorUrl", "terminal"}
    cancel = CancelSignal("x" * 900, azure_ml_cancelled=True)
    assert CancelSignal.from_dict(_through_history(cancel.to_dict())) == CancelSignal("x" * 500, True)
    status = StatusSignal("j", "Running", "Microsoft.MachineLearningServices.RunStatusChanged", "t")
    assert StatusSignal.from_dict(_through_history(status.to_dict())) == status


def test_timestamps_are_whole_seconds_of_utc():
    moment = parse_timestamp("2026-01-05T09:00:00Z")
    assert timestamp(moment) == "2026-01-05T09:00:00Z" and moment.utcoffset().total_seconds() == 0
