"""Trial progress in customStatus and the status route, end to end: the orchestration reads
the sweep's trials from the emulator's run-history children listing (the call azure-ai-ml's
`jobs.list(parent_job_name=...)` makes: `RunOperations.get_run_children` ->
`GET /history/v1.0/.../runs/{id}/children`) every SWEEP_TRIAL_PROGRESS_SECONDS while the sweep
runs (the sweep watcher on, so the run hardly GETs its job), and shows the counts while the
sweep runs and when it ends. Virtual time, clock stepped by the test."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
import requests

from compat import parse_utc
from devhost.durable import EventType
from devhost.emulator.faults import FaultPlan
from devhost.stack import LocalStack
from tests.e2e.helpers import custom_status, start, status, structured, wait_finished


def _children(stack: LocalStack, job_name: str) -> list[dict]:
    """The trials as run history lists them (what the SDK would see right now)."""
    emu = stack.emulator
    url = f"{emu.arm_endpoint}/history/v1.0{emu.workspace_id}/runs/{job_name}/children"
    answer = requests.get(url, headers={"Authorization": f"Bearer {emu.token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


CADENCE = 60  # SWEEP_TRIAL_PROGRESS_SECONDS here; the emulated sweep runs 5 waves of 2 trials in ~300 s


def _listings(stack: LocalStack, job_name: str) -> int:
    return sum(n for (kind, _), n in stack.emulator.calls_for(job_name).items() if kind == "runhistory")


def _status_gets(stack: LocalStack, job_name: str) -> int:
    return sum(
        n for (kind, st), n in stack.emulator.calls_for(job_name).items() if kind == "get" and st == 200
    )


def test_with_the_watcher_the_counts_move_while_the_sweep_runs_and_end_complete():
    """The watcher on (the default): the run GETs its job only when told it ended, yet
    customStatus.trials is re-read on the run's own timer every CADENCE seconds while the sweep
    runs, each read what run history said at that moment, and the end reads the final counts."""
    settings = {"SWEEP_TRIAL_PROGRESS_SECONDS": str(CADENCE)}
    with LocalStack.start(virtual=True, events=False, settings=settings) as stack:
        stack.clock.auto = False
        instance_id = start(stack, structured(runId="trials-live"))
        reads: list[dict] = []  # each distinct read seen while the sweep runs
        gets_while_running = -1
        for _ in range(400):
            assert stack.clock.wait_quiet()
            custom = custom_status(stack, instance_id)
            trials = custom.get("trials")
            job = stack.emulator.job(custom["jobName"]) if custom.get("jobName") else None
            # Running in Azure ML (the run itself may not know: the watcher tells it only endings)
            running = job is not None and job["properties"]["status"] == "Running"
            if not running or trials is None:
                if reads:
                    break
            elif not reads or trials["asOf"] != reads[-1]["asOf"]:
                # As read at that wake-up; the clock has not moved since, so run history agrees now.
                runs = _children(stack, custom["jobName"])
                assert trials["asOf"] == stack.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
                assert trials["total"] == len(runs) and trials["done"] == sum(
                    r["status"] == "Completed" for r in runs
                )
                assert trials["running"] == sum(r["status"] == "Running" for r in runs)
                if not reads:
                    assert status(stack, instance_id)["trials"] == trials  # the status route shows it
                reads.append(trials)
                gets_while_running = _status_gets(stack, custom["jobName"])
            stack.clock.advance(15)
        job_name = custom["jobName"]
        assert len(reads) >= 3, reads
        assert len({r["done"] for r in reads}) >= 2, reads  # progress moved between reads
        as_of = [parse_utc(r["asOf"]) for r in reads]
        assert all((b - a).total_seconds() <= CADENCE + 15 for a, b in pairwise(as_of)), as_of
        assert gets_while_running == 0  # the counts came from listings alone, no job GET

        stack.clock.auto = True
        view = wait_finished(stack, instance_id)
        assert view["status"] == "Success"
        final = view["trials"]
        assert (final["total"], final["done"], final["running"], final["queued"]) == (10, 10, 0, 0)
        assert final["best"] == {"trial": view["bestTrial"]["runId"], "score": view["bestTrial"]["score"]}
        # Bounded: one listing per cadence of the running sweep, per status change and the end.
        running_s = (as_of[-1] - as_of[0]).total_seconds()
        app_listings = _listings(stack, job_name) - len(reads)  # this test listed once per read
        assert len(reads) < app_listings <= running_s // CADENCE + 3, stack.emulator.calls_for(job_name)


def _given_to_last_episode(history: list[dict]) -> list[dict]:
    """The history events the generation's last episode replayed: all up to the end of the
    batch that started it (its OrchestratorStarted and the events that woke it)."""
    started = max(i for i, e in enumerate(history) if e["EventType"] == EventType.OrchestratorStarted)
    closed = next(
        i for i in range(started, len(history)) if history[i]["EventType"] == EventType.OrchestratorCompleted
    )
    return history[:closed]


@pytest.mark.parametrize("events", [True, False], ids=["event-grid", "watcher-only"])
def test_the_final_counts_are_listed_at_the_end_hint_so_the_last_generation_replays_its_get_alone(events):
    """The hint that the sweep ended (its Event Grid event, or the watcher's listing) lists the
    trials in the generation it ends; the next generation GETs, sees the end and returns: its
    last episode replays 6 history events, not 10 (a listing after the GET adds 4). An ending the
    watcher listed needs no GET at all: that generation returns in its first episode (2 events).
    The counts are still final: listed after Azure ML recorded the end, every trial ended.
    With Event Grid the watcher's period is 45 s, so that no pass falls on the sweep's end (300 s
    after its start, as the passes are) and the Event Grid hint, 1 s later, is the first told."""
    settings = {"SWEEP_WATCH_PERIOD_SECONDS": "45"} if events else {}
    with LocalStack.start(virtual=True, events=events, settings=settings) as stack:
        instance_id = start(stack, structured(runId=f"trials-final-{events}"))
        view = wait_finished(stack, instance_id)
        assert view["status"] == "Success"
        final = view["trials"]
        assert (final["total"], final["done"], final["running"], final["queued"]) == (10, 10, 0, 0)
        ended = stack.emulator.ended_at(view["jobName"])
        assert ended is not None and parse_utc(final["asOf"]) >= ended.replace(microsecond=0)

        last = stack.host.history(instance_id)
        scheduled = [e["Name"] for e in last if e["EventType"] == EventType.TaskScheduled]
        if events:
            assert scheduled == ["get_job_status"]  # no listing after the GET that saw the end
            assert len(_given_to_last_episode(last)) == 6
        else:
            assert scheduled == []  # the listed ending: no GET, no listing
            assert len(_given_to_last_episode(last)) == 2
        before = stack.host.history(instance_id, previous_generation=True)
        kinds = [(e["EventType"], e.get("Name")) for e in before]
        hint = kinds.index((EventType.EventRaised, "job_status_changed"))
        assert (EventType.TaskScheduled, "read_trial_progress") in kinds[hint:]


def test_with_no_cadence_and_no_watcher_the_trials_are_read_at_each_status_poll():
    """SWEEP_TRIAL_PROGRESS_SECONDS=0: no timer of its own; one listing per status GET of the
    running sweep (the run polls for itself: watcher off)."""
    settings = {"SWEEP_TRIAL_PROGRESS_SECONDS": "0", "SWEEP_WATCH_PERIOD_SECONDS": "0"}
    with LocalStack.start(virtual=True, events=False, settings=settings) as stack:
        view = wait_finished(stack, start(stack, structured(runId="trials-per-poll")))
        assert view["status"] == "Success" and view["trials"]["done"] == 10
        listings, gets = _listings(stack, view["jobName"]), _status_gets(stack, view["jobName"])
        assert 0 < listings < gets, stack.emulator.calls_for(view["jobName"])


def test_failed_trials_are_counted_in_the_failed_run():
    with LocalStack.start(virtual=True, events=False) as stack:
        view = wait_finished(stack, start(stack, structured("train-sweep-fails-trials")))
        assert view["status"] == "Failed"
        trials = view["trials"]
        assert trials["failed"] == trials["total"] > 0 and trials["done"] == 0


def test_the_setting_turns_the_listing_off():
    with LocalStack.start(virtual=True, events=False, settings={"SWEEP_TRIAL_PROGRESS": "false"}) as stack:
        view = wait_finished(stack, start(stack, structured(runId="no-trials")))
        assert view["status"] == "Success" and view["trials"] is None
        assert stack.emulator.calls["runhistory"] == 0


def test_a_listing_azure_ml_does_not_answer_keeps_the_last_counts_and_the_run_going():
    """Run history answers 503 for two minutes mid-run: the counts keep their last read (their
    asOf ages), no outage is reported (the job is fine), and the end reads the final counts."""
    settings = {"SWEEP_TRIAL_PROGRESS_SECONDS": str(CADENCE)}
    with LocalStack.start(virtual=True, events=False, settings=settings) as stack:
        stack.clock.auto = False
        now = stack.clock.now()
        stack.emulator.set_faults(
            FaultPlan(
                rate=1.0,
                kinds=("503",),
                methods=frozenset({"runhistory"}),
                active_from=now + timedelta(seconds=90),
                active_until=now + timedelta(seconds=210),
            )
        )
        instance_id = start(stack, structured(runId="trials-outage"))
        for _ in range(14):  # to 09:03:30, the window's end
            assert stack.clock.wait_quiet()
            stack.clock.advance(15)
        assert stack.clock.wait_quiet()
        custom = custom_status(stack, instance_id)
        assert custom["trials"]["asOf"] == (now + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "unreachableSince" not in custom and stack.emulator.faults_injected
        assert stack.host.metrics.activities_failed == 0  # a 503 is an answer, not a crashed activity
        stack.clock.auto = True
        view = wait_finished(stack, instance_id)
        assert view["status"] == "Success" and view["trials"]["done"] == 10
