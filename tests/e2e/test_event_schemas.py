"""Azure ML events as real subscriptions deliver them, through the real trigger path: the
devhost decodes each event with azure-functions' own converter (as the Python worker does),
so a CloudEvents 1.0 subscription hands the trigger a `func.CloudEvent`, and published
samples (tests/recordings) reach the orchestration only when they are the run's own."""

from __future__ import annotations

import json
import pathlib

from devhost.stack import LocalStack
from tests.e2e.helpers import start, structured, wait_finished

RECORDINGS = pathlib.Path(__file__).resolve().parents[1] / "recordings"


def _lag(stack: LocalStack, view: dict) -> float:
    from datetime import datetime

    def at(iso: str) -> datetime:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))

    job = stack.emulator.job(view["jobName"])
    return (at(view["lastUpdatedTime"]) - at(job["systemData"]["lastModifiedAt"])).total_seconds()


def test_a_cloud_events_subscription_wakes_the_run_at_once():
    """Event delivery schema CloudEventSchemaV1_0 (source/type/time/specversion): the terminal
    event ends a 48-hour sweep within the delivery delay, as Event Grid-schema events do."""
    with LocalStack.start(virtual=True, events=True) as stack:
        stack.emulator.event_schema = "CloudEventSchemaV1_0"
        instance_id = start(stack, structured("train-sweep-long"))
        view = wait_finished(stack, instance_id, timeout=120)
        assert view["status"] == "Success"
        assert 0 <= _lag(stack, view) <= 2


def test_recorded_events_of_other_runs_and_trials_do_not_touch_the_run(caplog):
    """The published RunStatusChanged sample (`runStatus: failed`), made to look like it
    concerns our running sweep's trial (`{job}_0`, carrying the run's instance tag), is not
    applied: the run keeps running and later succeeds."""
    import logging

    with LocalStack.start(virtual=True, events=True) as stack:
        instance_id = start(stack, structured("train-sweep-template"))
        stack.clock.wait_quiet()
        job_name = next(
            j["name"] for j in stack.emulator.jobs() if j["properties"]["tags"].get("polysync.instanceId")
        )
        sample = json.loads((RECORDINGS / "cloudevent_run_status_changed.json").read_text())[0]
        sample["source"] = stack.emulator.workspace_id
        sample["data"]["runId"] = f"{job_name}_0"
        sample["data"]["runTags"] = {"polysync.instanceId": instance_id}
        with caplog.at_level(logging.INFO, logger="triggers.events"):
            stack.host.deliver_event_grid(sample, wait=True)
        assert any("not its job" in r.getMessage() for r in caplog.records)
        view = wait_finished(stack, instance_id, timeout=120)
        assert view["status"] == "Success"
