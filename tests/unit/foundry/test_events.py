from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundry.events import RUN_COMPLETED, RUN_STATUS_CHANGED, RunEvent, parse_run_event
from foundry.names import job_name_for
from foundry.workspace import Workspace
from tests.unit.conftest import WS_ID

JOB = job_name_for("ps-123", "train-sweep-template")
RECORDINGS = pathlib.Path(__file__).resolve().parents[2] / "recordings"


def recorded(name: str, *, run_id: str = JOB, instance: str | None = "ps-123") -> dict[str, Any]:
    """A published sample (tests/recordings/README.md) made ours: this workspace as topic/source,
    the run id of a Polysync job, and that run's instance tag."""
    event = json.loads((RECORDINGS / name).read_text())[0]
    event["topic" if "topic" in event else "source"] = WS_ID
    event["subject"] = event["subject"].replace("AutoML_ad912b2d-6467-4f32-a616-dbe4af6dd8fc_5", run_id)
    data = event["data"]
    run_key = "RunId" if "RunId" in data else "runId"
    data[run_key] = run_id
    if instance is not None:
        data["RunTags" if "RunTags" in data else "runTags"] = {"polysync.instanceId": instance}
    return event


def event(**over: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "id": "evt-1",
        "topic": WS_ID,
        "subject": f"experiments/0fa9dfaa-cba3-4fa7-b590-23e48548f5c1/runs/{JOB}",
        "eventType": RUN_STATUS_CHANGED,
        "eventTime": "2024-11-02T10:00:00.0000000Z",
        "dataVersion": "2",
        "data": {
            "experimentId": "0fa9dfaa-cba3-4fa7-b590-23e48548f5c1",
            "experimentName": "churn-model",
            "runId": JOB,
            "runType": "hyperdrive",
            "runTags": {"polysync.instanceId": "ps-123"},
            "runProperties": {},
            "runStatus": "running",
        },
    }
    e.update(over)
    return e


def test_status_changed(workspace: Workspace) -> None:
    parsed, why = parse_run_event(event(), workspace)
    assert why is None
    assert parsed == RunEvent(
        JOB,
        "ps-123",
        "Running",
        RUN_STATUS_CHANGED,
        "2024-11-02T10:00:00.0000000Z",
        "evt-1",
    )


def test_run_completed_and_topic_case(workspace: Workspace) -> None:
    e = event(eventType=RUN_COMPLETED, topic=WS_ID.lower())
    del e["data"]["runStatus"]
    parsed, _ = parse_run_event(e, workspace)
    assert parsed is not None and parsed.run_status == "Completed"


def test_runid_from_subject_and_no_tag(workspace: Workspace) -> None:
    e = event()
    del e["data"]["runId"]
    e["data"]["runTags"] = {"polysync.instanceId": "../bad"}
    parsed, _ = parse_run_event(e, workspace)
    assert parsed is not None and parsed.job_name == JOB and parsed.instance_id is None


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"topic": WS_ID.replace("ws-foundry", "other")}, "another workspace"),
        ({"topic": None}, "no topic"),
        ({"eventType": "Microsoft.MachineLearningServices.ModelRegistered"}, "not a run status"),
        ({"data": "nope"}, "no data"),
        ({"data": {"runId": "x", "runStatus": "Exploded"}}, "runStatus"),
        ({"data": {"runId": "../x", "runStatus": "Failed"}, "subject": "s"}, "runId"),
    ],
)
def test_ignored_with_reason(workspace: Workspace, over: dict[str, Any], reason: str) -> None:
    parsed, why = parse_run_event(event(**over), workspace)
    assert parsed is None and reason in (why or "")


def test_recorded_event_grid_schema_event(workspace: Workspace) -> None:
    """RunStatusChanged as documented (camelCase keys, `runStatus` lower case)."""
    parsed, why = parse_run_event(recorded("eventgrid_run_status_changed.json"), workspace)
    assert why is None and parsed is not None
    assert (parsed.job_name, parsed.instance_id, parsed.run_status) == (JOB, "ps-123", "Failed")
    assert parsed.event_time == "2017-06-26T18:41:00.9584103Z"


def test_recorded_pascal_case_event(workspace: Workspace) -> None:
    """RunCompleted with PascalCase data keys (`RunId`, `RunTags`), as first documented."""
    parsed, why = parse_run_event(recorded("eventgrid_run_completed_pascalcase.json"), workspace)
    assert why is None and parsed is not None
    assert (parsed.job_name, parsed.instance_id, parsed.run_status) == (JOB, "ps-123", "Completed")


def test_pascal_case_run_status(workspace: Workspace) -> None:
    event = recorded("eventgrid_run_status_changed.json")
    data = event["data"]
    event["data"] = {k[0].upper() + k[1:]: v for k, v in data.items()}
    parsed, why = parse_run_event(event, workspace)
    assert (
        why is None
        and parsed is not None
        and parsed.run_status == "Failed"
        and parsed.instance_id == "ps-123"
    )


@pytest.mark.parametrize("name", ["cloudevent_run_status_changed.json", "cloudevent_run_completed.json"])
def test_recorded_cloud_events(workspace: Workspace, name: str) -> None:
    """The CloudEvents 1.0 schema (`source`, `type`, `time`)."""
    parsed, why = parse_run_event(recorded(name), workspace)
    assert why is None and parsed is not None
    assert parsed.instance_id == "ps-123" and parsed.event_time == "2017-06-26T18:41:00.9584103Z"
    assert parsed.run_status == ("Completed" if "completed" in name else "Failed")


def test_a_trial_carrying_the_runs_tag_is_not_the_run(workspace: Workspace) -> None:
    """A sweep's trial (`{job}_{k}`) is another run: its events must not be applied to the
    Polysync run whose instance tag it carries."""
    parsed, why = parse_run_event(recorded("eventgrid_run_status_changed.json", run_id=f"{JOB}_3"), workspace)
    assert parsed is None and "not its job" in (why or "")
    parsed, why = parse_run_event(recorded("eventgrid_run_status_changed.json", instance="ps-999"), workspace)
    assert parsed is None and "not its job" in (why or "")


def test_documented_sample_without_a_workspace_is_dropped(workspace: Workspace) -> None:
    event = recorded("eventgrid_run_status_changed.json")
    del event["topic"]
    parsed, why = parse_run_event(event, workspace)
    assert parsed is None and "no topic" in (why or "")


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
        max_leaves=20,
    )
    | st.fixed_dictionaries(
        {"eventType": st.sampled_from([RUN_STATUS_CHANGED, RUN_COMPLETED, "x"])},
        optional={
            "topic": st.sampled_from([WS_ID, None, 5]),
            "data": st.dictionaries(
                st.sampled_from(["runId", "runStatus", "runTags"]),
                st.text(max_size=10) | st.integers() | st.dictionaries(st.text(), st.text()),
            ),
            "eventTime": st.integers() | st.text(max_size=5),
            "subject": st.text(max_size=30),
        },
    )
)
def test_fuzz_never_raises(value: Any) -> None:
    ws = Workspace.parse(WS_ID)
    parsed, why = parse_run_event(value, ws)
    assert (parsed is None) != (why is None)
    if parsed is not None:
        assert parsed.run_status[0].isupper()


def _bare(run_id: str, **data: Any) -> dict[str, Any]:
    e = event()
    e["data"] = {"runId": run_id, "runStatus": "Running", **data}
    return e


@pytest.mark.parametrize(
    ("run_id", "accepted"), [("a", True), ("", False), ("x" * 255, True), ("x" * 256, False)]
)
def test_run_id_length_boundaries(workspace: Workspace, run_id: str, accepted: bool) -> None:
    e = _bare(run_id)
    e["subject"] = "experiments/e/no-run-here"
    parsed, why = parse_run_event(e, workspace)
    if accepted:
        assert why is None and parsed is not None and parsed.job_name == run_id
    else:
        assert parsed is None and why == "event has no valid runId"


def test_a_workspace_named_with_a_trailing_x_gets_its_events() -> None:
    """The topic's trailing slash is trimmed, and nothing else (a workspace name may end in X)."""
    workspace = Workspace.parse(WS_ID + "X")
    parsed, why = parse_run_event(event(topic=WS_ID + "X/"), workspace)
    assert why is None and parsed is not None and parsed.job_name == JOB


def test_a_run_id_too_long_to_be_a_job_name_gives_way_to_the_subjects(workspace: Workspace) -> None:
    parsed, why = parse_run_event(_bare("x" * 256), workspace)  # event()'s subject names JOB
    assert why is None and parsed is not None and parsed.job_name == JOB


def test_run_id_from_the_subject_takes_the_last_runs_segment(workspace: Workspace) -> None:
    e = _bare("")
    e["subject"] = "experiments/x/runs/parent/runs/child-1"
    parsed, _ = parse_run_event(e, workspace)
    assert parsed is not None and parsed.job_name == "child-1"
    e["subject"] = "experiments/x/child-1"
    assert parse_run_event(e, workspace) == (None, "event has no valid runId")


def test_event_time_and_id_are_kept_only_when_plausible(workspace: Workspace) -> None:
    parsed, _ = parse_run_event(event(eventTime="t" * 64, id="i" * 256), workspace)
    assert parsed is not None and (parsed.event_time, parsed.event_id) == ("t" * 64, "i" * 256)
    parsed, _ = parse_run_event(event(eventTime="t" * 65, id="i" * 257), workspace)
    assert parsed is not None and (parsed.event_time, parsed.event_id) == (None, None)
    parsed, _ = parse_run_event(event(eventTime=5, id=""), workspace)
    assert parsed is not None and (parsed.event_time, parsed.event_id) == (None, None)


def test_cloud_event_names_time_and_type_its_own_way(workspace: Workspace) -> None:
    e = event()
    e["source"], e["type"], e["time"] = e.pop("topic") + "/", e.pop("eventType"), e.pop("eventTime")
    parsed, why = parse_run_event(e, workspace)
    assert why is None and parsed is not None
    assert (parsed.event_type, parsed.event_time) == (RUN_STATUS_CHANGED, "2024-11-02T10:00:00.0000000Z")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([event()], "event is not a JSON object"),
        ({**event(), "eventType": "T" * 150}, f"event type {'T' * 100!r} is not a run status event"),
        ({**event(), "topic": ""}, "event names no topic (workspace); cannot tell whose run it is"),
        ({**event(), "topic": 7}, "event names no topic (workspace); cannot tell whose run it is"),
        ({**event(), "data": None}, "event has no data object"),
        ({**event(), "topic": WS_ID + "-other"}, "event is for another workspace"),
        (_bare(JOB, runStatus="Sleeping"), "event has no recognised runStatus"),
    ],
)
def test_each_reason_for_ignoring_an_event_is_said_in_full(
    workspace: Workspace, value: Any, reason: str
) -> None:
    assert parse_run_event(value, workspace) == (None, reason)


def test_a_tag_of_another_shape_is_no_instance(workspace: Workspace) -> None:
    for tags in (["ps-123"], {"polysync.instanceId": 5}, {"polysync.instanceId": "x" * 101}):
        parsed, _ = parse_run_event(_bare(JOB, runTags=tags), workspace)
        assert parsed is not None and parsed.instance_id is None


class _Exploding(dict):  # type: ignore[type-arg]
    """An event object that fails when read (a host library's lazy object going wrong)."""

    def get(self, *args: Any) -> Any:
        raise RuntimeError("boom")


def test_an_event_that_fails_while_being_read_is_dropped_with_a_reason(workspace: Workspace) -> None:
    """`parse_run_event` never raises, whatever arrives: Event Grid would only redeliver a
    poison event, and the webhook must answer."""
    assert parse_run_event(_Exploding(event()), workspace) == (None, "malformed event (RuntimeError)")
