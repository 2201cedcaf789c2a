from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundry.events import RUN_COMPLETED, RUN_STATUS_CHANGED, RunEvent, parse_run_event
from foundry.workspace import Workspace

from .conftest import WS_ID


def event(**over: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "id": "evt-1",
        "topic": WS_ID,
        "subject": "experiments/0fa9dfaa-cba3-4fa7-b590-23e48548f5c1/runs/train-sweep-template-abc",
        "eventType": RUN_STATUS_CHANGED,
        "eventTime": "2024-11-02T10:00:00.0000000Z",
        "dataVersion": "2",
        "data": {
            "experimentId": "0fa9dfaa-cba3-4fa7-b590-23e48548f5c1",
            "experimentName": "churn-model",
            "runId": "train-sweep-template-abc",
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
        "train-sweep-template-abc",
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
    assert parsed is not None and parsed.job_name == "train-sweep-template-abc" and parsed.instance_id is None


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"topic": WS_ID.replace("ws-foundry", "other")}, "another workspace"),
        ({"eventType": "Microsoft.MachineLearningServices.ModelRegistered"}, "not a run status"),
        ({"data": "nope"}, "no data"),
        ({"data": {"runId": "x", "runStatus": "Exploded"}}, "runStatus"),
        ({"data": {"runId": "../x", "runStatus": "Failed"}, "subject": "s"}, "runId"),
    ],
)
def test_ignored_with_reason(workspace: Workspace, over: dict[str, Any], reason: str) -> None:
    parsed, why = parse_run_event(event(**over), workspace)
    assert parsed is None and reason in (why or "")


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
