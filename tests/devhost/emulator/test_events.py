from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from compat import parse_utc

from .conftest import Client, sweep_body

CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
COMPLETED = "Microsoft.MachineLearningServices.RunCompleted"


def collect(vclock, make_emu, *, trials: bool = False, **kw):
    """Events the sink receives, with their delivery time: the jobs' own, or (`trials`) only
    their trials' (child runs: runType azureml.scriptrun)."""
    got: list[tuple[datetime, dict]] = []

    def sink(e: dict) -> None:
        if (e["data"]["runType"] == "azureml.scriptrun") == trials:
            got.append((vclock.now(), e))

    emu = make_emu(event_sink=sink, **kw)
    return emu, Client(emu), got


def test_events_in_order_with_schema_and_times(vclock, make_emu):
    emu, client, got = collect(vclock, make_emu)
    t0 = vclock.now()
    client.put("run-1", sweep_body())
    vclock.advance(400)
    kinds = [(e["eventType"], e["data"].get("runStatus")) for _, e in got]
    assert kinds == [
        (CHANGED, "Queued"),
        (CHANGED, "Running"),
        (CHANGED, "Finalizing"),
        (CHANGED, "Completed"),
        (COMPLETED, None),
    ]
    delivered = [(at - t0).total_seconds() for at, _ in got]
    assert delivered == [3, 31, 291, 301, 301]
    occurred = [parse_utc(e["eventTime"]) - t0 for _, e in got]
    assert occurred == [timedelta(seconds=s) for s in (2, 30, 290, 300, 300)]
    for _, e in got:
        assert set(e) == {
            "id",
            "topic",
            "subject",
            "eventType",
            "eventTime",
            "data",
            "dataVersion",
            "metadataVersion",
        }
        uuid.UUID(e["id"])
        assert e["topic"] == emu.workspace_id
        data = e["data"]
        assert e["subject"] == f"experiments/{data['experimentId']}/runs/run-1"
        uuid.UUID(data["experimentId"])
        assert data["experimentName"] == "polysync-sweeps"
        assert data["runId"] == "run-1"
        assert data["runType"] == "hyperdrive"
        assert data["runTags"]["polysync.run"] == "r1"
        assert data["runTags"]["_aml_system_max_total_jobs"] == "10"  # the service's own tags ride along
        assert isinstance(data["runProperties"], dict)
        assert e["dataVersion"] == "2" and e["metadataVersion"] == "1"
        assert ("runStatus" in data) == (e["eventType"] == CHANGED)
    assert "best_child_run_id" in got[-1][1]["data"]["runProperties"]
    assert len({e["id"] for _, e in got}) == 5


def test_no_run_completed_on_failure(vclock, make_emu):
    _, client, got = collect(vclock, make_emu)
    client.put("run-f", sweep_body(**{"emulator.trialOutcome": "allFail"}))
    vclock.advance(400)
    assert [e["data"].get("runStatus") for _, e in got] == ["Queued", "Running", "Finalizing", "Failed"]
    assert all(e["eventType"] == CHANGED for _, e in got)


def test_cancel_events_and_delay_setting(vclock, make_emu):
    _, client, got = collect(vclock, make_emu, event_delay_seconds=10)
    t0 = vclock.now()
    client.put("run-c", sweep_body(**{"emulator.runForever": "true"}))
    vclock.advance(100)
    client.cancel("run-c")
    vclock.advance(100)
    assert [(e["data"]["runStatus"], (at - t0).total_seconds()) for at, e in got] == [
        ("Queued", 12),
        ("Running", 40),
        ("CancelRequested", 110),
        ("Canceled", 115),
    ]


def test_sink_set_later_and_failing_sink(vclock, make_emu):
    emu = make_emu()
    client = Client(emu)
    client.put("run-1", sweep_body())
    vclock.advance(10)
    got: list[dict] = []

    def sink(e: dict) -> None:
        if e["data"]["runId"] == "run-1":
            got.append(e)
        raise RuntimeError("subscriber down")

    emu.set_event_sink(sink)
    vclock.advance(400)
    assert [e["data"].get("runStatus") for e in got] == ["Running", "Finalizing", "Completed", None]
    assert client.get("run-1").json()["properties"]["status"] == "Completed"


def test_cloud_event_schema(vclock, make_emu):
    """With `event_schema="CloudEventSchemaV1_0"` events arrive as an Event Grid subscription with
    that delivery schema sends them: `source`, `type`, `time`, `specversion` (MicrosoftDocs/
    azure-docs, event-schema-machine-learning.md, "Cloud event schema" tab; tests/recordings)."""
    emu, client, got = collect(vclock, make_emu, event_schema="CloudEventSchemaV1_0")
    client.put("run-1", sweep_body())
    vclock.advance(400)
    assert [(e["type"], e["data"].get("runStatus")) for _, e in got][-2:] == [
        (CHANGED, "Completed"),
        (COMPLETED, None),
    ]
    for _, e in got:
        assert set(e) == {"id", "source", "subject", "type", "time", "data", "specversion"}
        assert e["source"] == emu.workspace_id and e["specversion"] == "1.0"
        assert e["data"]["runId"] == "run-1"


def test_a_simulated_sweeps_trials_raise_their_own_events(vclock, make_emu):
    """Azure ML raises RunStatusChanged (and RunCompleted on success) for every run, child runs
    included: the documented RunStatusChanged sample is a child run's (MicrosoftDocs/azure-docs,
    event-schema-machine-learning.md; tests/recordings/eventgrid_run_status_changed.json). Each
    trial of a simulated sweep raises its Running and its end, with its own run type, tags and
    properties (not its parent's tags), as a rehearsed sweep's trials do."""
    _emu, client, got = collect(vclock, make_emu, trials=True)
    client.put("run-1", sweep_body())  # 10 trials, 2 at a time
    vclock.advance(400)
    by_trial: dict[str, list] = {}
    for _, e in got:
        by_trial.setdefault(e["data"]["runId"], []).append((e["eventType"], e["data"].get("runStatus")))
    assert sorted(by_trial) == sorted(f"run-1_{k}" for k in range(10))
    for events in by_trial.values():
        assert events == [(CHANGED, "Running"), (CHANGED, "Completed"), (COMPLETED, None)]
    for _, e in got:
        assert e["data"]["runType"] == "azureml.scriptrun"
        assert set(e["data"]["runTags"]) == {"hyperparameters"}  # its own, not polysync.* of the parent
        assert e["subject"].endswith("/runs/" + e["data"]["runId"])


def test_a_cancelled_sweeps_unfinished_trials_end_canceled_with_an_event(vclock, make_emu):
    _emu, client, got = collect(vclock, make_emu, trials=True)
    client.put("run-c", sweep_body())
    vclock.advance(60)  # running: the first wave of trials has started
    client.cancel("run-c")
    vclock.advance(60)
    ends = {e["data"]["runId"]: e["data"]["runStatus"] for _, e in got if e["data"]["runStatus"] != "Running"}
    started = {e["data"]["runId"] for _, e in got if e["data"]["runStatus"] == "Running"}
    assert started and set(ends) == {f"run-c_{k}" for k in range(10)}
    assert set(ends.values()) == {"Canceled"}
