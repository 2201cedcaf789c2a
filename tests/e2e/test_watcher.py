"""The sweep watcher through the whole stack (virtual time): one listing of the watched jobs per
period tells each run what changed; a lost terminal event costs at most one period; the watch tag
goes once the run knows; the watcher ends when nothing is left to watch, and the reconciler
starts it again if a watched job runs without it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compat import parse_utc
from contracts import WATCHER_EVENT_TYPE, watcher_instance_id
from devhost.stack import LocalStack
from foundry import tags as tag
from orchestrators.signals import decode_payload
from orchestrators.watcher import idle_passes
from tests.e2e.helpers import custom_status, start, structured, wait_finished, wait_for

PERIOD = 30.0  # the default SWEEP_WATCH_PERIOD_SECONDS
TERMINAL = {"Completed", "Failed", "Canceled"}


def _detection(stack: LocalStack, view: dict[str, Any]) -> float:
    """Virtual seconds from the job's terminal transition to the run's end."""
    ended = stack.emulator.ended_at(view["jobName"])
    assert ended is not None
    return (parse_utc(view["lastUpdatedTime"]) - ended).total_seconds()


def _status_gets(stack: LocalStack, job_name: str) -> int:
    return sum(
        n for (kind, st), n in stack.emulator.calls_for(job_name).items() if kind == "get" and st == 200
    )


def test_without_events_the_watcher_tells_the_run_within_one_period():
    """Every Event Grid event lost (the app still expects them): the watcher tells the run the
    ending, and only that (progress is what events would have said)."""
    with LocalStack.start(virtual=True, events=False) as stack:
        instance_id = start(stack, structured(runId="watch-off"))
        view = wait_finished(stack, instance_id, timeout=60)
        assert view["status"] == "Success"
        assert 0 <= _detection(stack, view) <= PERIOD + 1
        # the run's own calls: none after the submit; the watcher read the ending for it
        assert _status_gets(stack, view["jobName"]) == 0
        assert stack.host.metrics.events_raised == 1  # the ending, from the watcher
        # once the run knew, the tag went: the next listing leaves the job out
        wait_for(
            lambda: stack.emulator.job(view["jobName"])["properties"]["tags"],
            lambda tags: tag.WATCH not in tags,
            30,
            "tags",
        )


def test_with_events_turned_off_the_watcher_tells_every_change():
    """SWEEP_EVENTS_ENABLED=false: the watcher is how the run hears anything, so each status
    change it lists is told (the run's customStatus follows Queued -> Running -> ...)."""
    with LocalStack.start(virtual=True, events=False, settings={"SWEEP_EVENTS_ENABLED": "false"}) as stack:
        instance_id = start(stack, structured(runId="watch-all"))
        view = wait_finished(stack, instance_id, timeout=60)
        assert view["status"] == "Success"
        assert 0 <= _detection(stack, view) <= PERIOD + 1
        assert _status_gets(stack, view["jobName"]) == 0
        # what the 30 s listings caught, each once: Running at first sight and the ending always;
        # the 30 s Queued and the 10 s Finalizing only when a pass falls in them, which depends on
        # where the passes fall against the job's clock (the run's start is not aligned to them)
        assert 2 <= stack.host.metrics.events_raised <= 4
        assert custom_status(stack, instance_id)["azureStatus"] == "Completed"


def test_a_lost_terminal_and_finalizing_event_costs_at_most_one_period():
    """Events on, the sweep's Finalizing and terminal events lost (Event Grid gave up): the
    watcher's listing tells the run within its period, instead of the run's next safety poll."""

    def lose(event: dict[str, Any]) -> bool:
        return event["data"].get("runStatus") in ("Finalizing", *TERMINAL) or event["eventType"].endswith(
            "RunCompleted"
        )

    with LocalStack.start(virtual=True, events=True, lose_events=lose) as stack:
        instance_id = start(stack, structured(runId="watch-lost"))
        view = wait_finished(stack, instance_id, timeout=60)
        assert view["status"] == "Success"
        assert 0 <= _detection(stack, view) <= PERIOD + 1
        assert stack.host.metrics.events_raised >= 1


@pytest.mark.parametrize(("template", "ending"), [(None, "Success"), ("train-sweep-fails-trials", "Failed")])
def test_an_ending_the_watcher_listed_is_reported_as_a_get_would_report_it(template, ending):
    """Events lost: the watcher's event carries the part of the listed job a report reads, so the
    run ends without a GET, with the outputs, best trial, error and monitor URL that a GET of the
    job gives (`get_job_status` called afterwards, the same activity the run would have called);
    the event carries nothing else of the job (no tags, no trial)."""
    from activities import azureml

    body = structured(template or "train-sweep-template", runId=f"listed-{ending}")
    with LocalStack.start(virtual=True, events=False) as stack:
        instance_id = start(stack, body)
        view = wait_finished(stack, instance_id, timeout=60)
        assert view["status"] == ending
        assert _status_gets(stack, view["jobName"]) == 0
        got = azureml.get_job_status({"jobName": view["jobName"], **_query(body)})
        assert got["ok"] and got["terminal"]
        for key in ("outputs", "bestTrial", "error", "monitorUrl"):
            assert view[key] == got[key], key
        assert view["outputs"] and view["monitorUrl"].startswith("https://")
        if ending == "Success":
            assert view["bestTrial"] and view["bestTrial"]["runId"]
        else:
            assert view["error"] and view["error"]["hint"]
        events = [decode_payload(e["Input"]) for e in _raised(stack, instance_id)]
        listed = [e["job"] for e in events if e.get("eventType") == WATCHER_EVENT_TYPE and "job" in e]
        assert len(listed) == 1
        assert set(listed[0]["properties"]) <= {
            "status",
            "error",
            "outputs",
            "objective",
            "services",
            "properties",
        }
        assert "tags" not in listed[0]["properties"] and "trial" not in listed[0]["properties"]


def _query(body: dict[str, Any]) -> dict[str, Any]:
    """`get_job_status`'s input for a run of `body`, without the job name."""
    from polysync.request import payload
    from polysync.request.parsing import parse_structured_request

    request = parse_structured_request(body).to_payload()
    return {k: v for k, v in payload.status_query("x", request).to_dict().items() if k != "jobName"}


EVENT_RAISED = 15  # DTFx EventType.EventRaised


def _raised(stack: LocalStack, instance_id: str) -> list[dict[str, Any]]:
    """The external events in the run's last two generations' histories."""
    history = stack.host.history(instance_id) + stack.host.history(instance_id, previous_generation=True)
    return [e for e in history if e["EventType"] == EVENT_RAISED]


def test_a_secret_output_of_a_listed_ending_is_reported_masked():
    """A Secret output is reported masked, never from the job, on the watcher's path too."""
    body = structured(
        runId="listed-secret",
        parameters=[
            {"name": "learning_rate", "value": "0.01", "dataType": "Float", "direction": "Input"},
            {"name": "model", "dataType": "Secret", "direction": "Output"},
        ],
    )
    with LocalStack.start(virtual=True, events=False) as stack:
        view = wait_finished(stack, start(stack, body), timeout=60)
        assert view["status"] == "Success"
        assert view["outputs"] == {"model": "***"}
        assert _status_gets(stack, view["jobName"]) == 0
        assert "***" not in json.dumps(stack.emulator.job(view["jobName"])["properties"]["outputs"])


def test_with_events_flowing_the_watcher_repeats_nothing():
    """Events on and delivered: the run ends on the Event Grid event; the watcher told it
    nothing (its news would only repeat the events) and only untags the ended job. The period is
    45 s here so that no pass falls on the sweep's end (300 s after its start, as the passes
    are): a pass at that very moment would tell the run before Event Grid, 1 s later, does."""
    with LocalStack.start(virtual=True, events=True, settings={"SWEEP_WATCH_PERIOD_SECONDS": "45"}) as stack:
        instance_id = start(stack, structured(runId="watch-on"))
        view = wait_finished(stack, instance_id, timeout=60)
        assert view["status"] == "Success"
        assert 0 <= _detection(stack, view) <= 2
        # an Event Grid hint is thin and untrusted: the run GETs the job to confirm it
        assert _status_gets(stack, view["jobName"]) == 1
        raised = _raised(stack, instance_id)
        assert raised  # the Event Grid events are there to be told apart
        assert not any(WATCHER_EVENT_TYPE in str(e.get("Input")) for e in raised)


def test_the_watcher_ends_when_nothing_is_left_to_watch_and_comes_back_for_the_next_run():
    with LocalStack.start(virtual=True, events=True) as stack:
        watcher = watcher_instance_id(stack.env["TASKHUB_NAME"])
        first = start(stack, structured(runId="watch-first"))
        assert wait_finished(stack, first, timeout=60)["status"] == "Success"
        done = stack.host.wait_for_completion(watcher, timeout=60)
        assert done["runtimeStatus"] == "Completed"
        assert done["output"]["passes"] >= idle_passes(PERIOD)
        second = start(stack, structured(runId="watch-second"))
        assert stack.host.get_status(watcher)["runtimeStatus"] in ("Pending", "Running")
        assert wait_finished(stack, second, timeout=60)["status"] == "Success"


def _start_with_the_watcher_terminated(stack: LocalStack, run_id: str) -> tuple[str, str]:
    """A long sweep whose run is started, then its watcher terminated (as after a failed start or
    an idle end racing the run); the virtual clock is left stopped. (watcher id, run instance id)"""
    stack.clock.auto = False
    watcher = watcher_instance_id(stack.env["TASKHUB_NAME"])
    instance_id = start(stack, structured("train-sweep-long", runId=run_id))
    assert stack.clock.wait_quiet()
    stack.host.terminate(watcher, "operator")
    stack.clock.advance(1)
    assert stack.clock.wait_quiet()
    assert stack.host.get_status(watcher)["runtimeStatus"] == "Terminated"
    return watcher, instance_id


def test_the_reconciler_starts_the_watcher_again_when_a_watched_job_runs_without_it():
    with LocalStack.start(virtual=True, events=False) as stack:
        watcher, instance_id = _start_with_the_watcher_terminated(stack, "watch-backstop")
        stack.host.fire_timer_trigger("reconcile_orphans", wait=True)
        assert stack.host.get_status(watcher)["runtimeStatus"] in ("Pending", "Running")
        stack.clock.auto = True
        stack.post(f"sweeps/{instance_id}/cancel")
        assert wait_finished(stack, instance_id, timeout=60)["status"] == "Cancelled"


def test_a_cancel_is_answered_at_the_poll_floor_whatever_the_watcher_does():
    """The run whose job was told to cancel looks at it itself from SWEEP_POLL_FLOOR_SECONDS on
    (Azure ML ends a cancelled job in seconds: CancelRequested, then Canceled), so whoever waits
    for the cancel (Polysync, a Ctrl-C on `devhost run --workspace`) is not made to wait for the
    watcher: here there is none (terminated, as after a failed start or an idle end racing the
    run), which left the ending to the 4-hour safety net before."""
    with LocalStack.start(virtual=True, events=False) as stack:
        _, instance_id = _start_with_the_watcher_terminated(stack, "cancel-unwatched")
        asked = stack.clock.now()
        assert stack.post(f"sweeps/{instance_id}/cancel").status_code in (200, 202)
        stack.clock.auto = True
        view = wait_finished(stack, instance_id, timeout=60)
        assert view["status"] == "Cancelled"
        floor, cancel = 15.0, stack.emulator.cancel_seconds  # the default floor; the emulator's cancel
        answered = (parse_utc(view["lastUpdatedTime"]) - asked).total_seconds()
        assert answered <= cancel + 2 * floor, answered
