"""The sweep orchestrator replayed by the real azure-functions-durable SDK from histories
(no host, no I/O): a new generation's first moves, and every way out of the wait loop."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import function_app
from contracts import (
    CANCEL_EVENT,
    CANCEL_JOB,
    FETCH_TEMPLATE,
    GET_JOB_STATUS,
    STATUS_EVENT,
    SUBMIT_SWEEP,
    WATCHER_EVENT_TYPE,
    Cancelled,
    CancelSignal,
    JobSnapshot,
    PollPolicy,
    StatusSignal,
    Submitted,
    SweepInput,
    TemplateFetched,
    answer,
    refusal,
    timestamp,
    unreachable,
)
from devhost.durable import EventType, replay_prefixes
from devhost.durable.history import event, flatten_actions
from foundry.events import RUN_COMPLETED, RUN_STATUS_CHANGED
from foundry.job_status import JobStatus
from orchestrators.polling import LoopState
from orchestrators.sweep import MAX_WAKEUPS_PER_GENERATION
from polysync.request.payload import status_query
from polysync.status import to_polysync
from tests.unit.orchestrators.history import Orchestration, Reply

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


# -- every way out of the wait loop, from histories (tests/unit/orchestrators/history.py) ------------
JOB = "tmpl-0123456789abcdef"
URL = f"https://ml.azure.com/runs/{JOB}"
TEMPLATE = {"name": "tmpl", "properties": {"jobType": "Sweep", "trial": {"command": "python train.py"}}}
OUTAGE = {"code": "ServiceUnavailable", "message": "Azure ML answered 503", "hint": None}


def sweep(state: LoopState | None = None, **policy) -> SweepInput:
    request = {
        "externalId": "tmpl",
        "name": "n",
        "attributes": {"objectiveMetric": "accuracy"},
        "parameters": [{"name": "model", "dataType": "String", "direction": "Output"}],
    }
    return SweepInput(request, "tmpl", JOB, PollPolicy(**policy), state.to_dict() if state else None)


def snapshot(status: str, **fields) -> dict:
    """get_job_status's answer for a job in `status`, as the activity builds it."""
    job_status = JobStatus(status)
    return answer(JobSnapshot(status, to_polysync(status), JOB, URL, job_status.is_terminal, **fields))


def submitted_run(**policy) -> tuple[Orchestration, Reply]:
    """A first generation that has fetched the template and submitted the sweep."""
    run = Orchestration(sweep(**policy), NOW)
    assert run.start().activities == [FETCH_TEMPLATE]
    assert run.answer(FETCH_TEMPLATE, answer(TemplateFetched(TEMPLATE))).activities == [SUBMIT_SWEEP]
    return run, run.answer(SUBMIT_SWEEP, answer(Submitted(JOB, "Queued", URL, adopted=False)))


def resumed(state: LoopState, **policy) -> tuple[Orchestration, Reply]:
    """A later generation, opened with the state its predecessor continued as new with."""
    run = Orchestration(sweep(state, **policy), NOW)
    return run, run.start()


def running_state(**fields) -> LoopState:
    return LoopState(azure_status="Running", interval=120, generation=3, monitor_url=URL, **fields)


def test_a_run_given_its_template_submits_from_it_without_fetching():
    """The start route read the template (SweepInput.template_job): the first activity is the
    submit, carrying that definition; later generations do not carry it."""
    given = SweepInput(sweep().request, "tmpl", JOB, PollPolicy(), None, template_job=TEMPLATE)
    run = Orchestration(given, NOW)
    first = run.start()
    assert first.activities == [SUBMIT_SWEEP]
    assert first.activity_input(SUBMIT_SWEEP)["template"] == TEMPLATE
    run.answer(SUBMIT_SWEEP, answer(Submitted(JOB, "Queued", URL, adopted=False)))
    continued = run.fire_timer()
    assert continued.continued_as_new is not None and "templateJob" not in continued.continued_as_new


def test_a_cancel_before_the_submit_starts_no_job():
    run = Orchestration(sweep(), NOW)
    run.start()
    assert run.raise_event(CANCEL_EVENT, CancelSignal("not today").to_dict()).scheduled == []
    ended = run.answer(FETCH_TEMPLATE, answer(TemplateFetched(TEMPLATE)))
    assert ended.failure is not None and ended.failure.startswith("Cancelled: The run was cancelled before")
    assert "Reason: not today" in ended.failure
    assert ended.activities == [] and ended.custom_status["error"]["code"] == "CancelledBeforeSubmit"


def test_a_cancel_during_a_put_whose_answer_is_lost_cancels_whatever_it_may_have_created():
    run = Orchestration(sweep(), NOW)
    run.start()
    run.answer(FETCH_TEMPLATE, answer(TemplateFetched(TEMPLATE)))
    run.raise_event(CANCEL_EVENT, CancelSignal("stop").to_dict())
    cancelling = run.answer(SUBMIT_SWEEP, unreachable(OUTAGE, retry_after=None))
    assert cancelling.activities == [CANCEL_JOB]
    ended = run.answer(CANCEL_JOB, answer(Cancelled(JOB, found=False)))
    assert ended.failure is not None and "Azure ML has no such job, so none was started" in ended.failure
    assert ended.custom_status["error"]["code"] == "CancelledBeforeSubmit"


def test_a_submit_retried_after_no_answer_says_so_and_the_first_does_not():
    """The first submit PUTs without looking; once a try went unanswered (its PUT may have been
    applied), the next one is marked `retried`, so that it GETs before it PUTs."""
    run = Orchestration(sweep(), NOW)
    run.start()
    first = run.answer(FETCH_TEMPLATE, answer(TemplateFetched(TEMPLATE)))
    assert "retried" not in first.activity_input(SUBMIT_SWEEP)
    waiting = run.answer(SUBMIT_SWEEP, unreachable(OUTAGE, retry_after=None))
    assert waiting.activities == [] and len(waiting.timers) == 1
    again = run.fire_timer()
    assert again.activities == [SUBMIT_SWEEP]
    assert again.activity_input(SUBMIT_SWEEP) == {**first.activity_input(SUBMIT_SWEEP), "retried": True}


def test_a_cancel_while_waiting_cancels_the_job_then_polls_until_canceled():
    run, _ = submitted_run()
    cancelling = run.raise_event(CANCEL_EVENT, CancelSignal("operator").to_dict())
    assert cancelling.activities == [CANCEL_JOB]
    polling = run.answer(CANCEL_JOB, answer(Cancelled(JOB, found=True)))
    assert polling.activities == [GET_JOB_STATUS]
    ended = run.answer(GET_JOB_STATUS, snapshot("Canceled"))
    assert ended.failure is not None and ended.failure.startswith("Cancelled: ")
    assert "Reason: operator" in ended.failure


def test_a_cancel_the_route_already_sent_to_azure_ml_is_not_sent_again():
    run, _ = submitted_run()
    woken = run.raise_event(CANCEL_EVENT, CancelSignal("operator", azure_ml_cancelled=True).to_dict())
    assert woken.activities == [] and len(woken.timers) == 1
    assert woken.custom_status["cancelRequested"] is True


def test_a_cancel_azure_ml_does_not_take_waits_for_the_next_timer():
    run, _ = submitted_run()
    run.raise_event(CANCEL_EVENT, CancelSignal("operator").to_dict())
    backing_off = run.answer(CANCEL_JOB, unreachable(OUTAGE, retry_after=None))
    assert backing_off.activities == [] and len(backing_off.timers) == 1
    assert "Azure ML unreachable since" in backing_off.custom_status["note"]


def test_a_poll_timer_ends_the_generation_before_its_get():
    run, waiting = submitted_run(watch_period=0)
    assert waiting.timers == [NOW + timedelta(seconds=15)]
    ended = run.fire_timer()
    assert ended.activities == [] and ended.continued_as_new is not None
    assert ended.continued_as_new["state"]["poll_on_resume"] is True


def test_a_terminal_event_is_confirmed_by_the_next_generations_get():
    run, _ = submitted_run()
    signal = StatusSignal(JOB, "Completed", RUN_COMPLETED, "2026-01-05T09:05:00Z")
    woken = run.raise_event(STATUS_EVENT, signal.to_dict())
    assert woken.activities == [] and woken.timers == [NOW]  # a fired timer ahead of continue-as-new
    carried = run.fire_timer().continued_as_new
    assert carried is not None and carried["state"]["poll_on_resume"] is True
    nxt, opened = resumed(LoopState.from_dict(carried["state"]))
    assert opened.activities == [GET_JOB_STATUS]
    assert opened.activity_input(GET_JOB_STATUS) == status_query(JOB, sweep().request).to_dict()
    best = {"runId": f"{JOB}_3", "score": 0.91, "metricStatus": "Succeeded"}
    done = nxt.answer(GET_JOB_STATUS, snapshot("Completed", best_trial=best, outputs={"model": "m://1"}))
    assert done.output["status"] == "Success" and done.output["model"] == "m://1"
    assert (
        done.output["bestTrial"] == best
        and done.custom_status["startedAt"] == opened.custom_status["startedAt"]
    )


def test_a_progress_event_updates_the_status_without_a_get():
    run, _ = submitted_run(watch_period=0)
    woken = run.raise_event(STATUS_EVENT, StatusSignal(JOB, "Running", RUN_STATUS_CHANGED, "t1").to_dict())
    assert woken.activities == [] and woken.custom_status["azureStatus"] == "Running"
    assert woken.timers == [NOW + timedelta(hours=1)]  # events flow: polling becomes the safety net


def test_a_watched_run_polls_only_as_the_safety_net_and_hears_the_watcher_without_events():
    """With the sweep watcher on, the run's own first poll is 4 h away, and it listens for the
    watcher's status events even with Event Grid events off."""
    run, waiting = submitted_run(use_events=False)
    assert waiting.timers == [NOW + timedelta(hours=4)]
    signal = StatusSignal(JOB, "Completed", WATCHER_EVENT_TYPE, None)
    woken = run.raise_event(STATUS_EVENT, signal.to_dict())
    assert woken.activities == [] and woken.timers == [NOW]
    carried = run.fire_timer().continued_as_new
    assert carried is not None and carried["state"]["poll_on_resume"] is True


LISTED = {
    "name": JOB,
    "properties": {
        "status": "Completed",
        "outputs": {"model": {"jobOutputType": "uri_folder", "uri": "m://1"}},
        "services": {"Studio": {"endpoint": URL}},
        "properties": {"best_child_run_id": f"{JOB}_3", "score": "0.91", "best_metric_status": "Succeeded"},
    },
}


def test_an_ending_the_watcher_listed_needs_no_get():
    """The watcher's terminal event carries the listed job: the next generation reports it as
    `get_job_status` would, without calling it."""
    run, _ = submitted_run(use_events=False)
    signal = StatusSignal(JOB, "Completed", WATCHER_EVENT_TYPE, None, LISTED)
    run.raise_event(STATUS_EVENT, signal.to_dict())
    carried = run.fire_timer().continued_as_new
    assert carried is not None and carried["state"]["listed_ending"]["azureStatus"] == "Completed"
    _, done = resumed(LoopState.from_dict(carried["state"]), use_events=False)
    assert GET_JOB_STATUS not in done.activities
    assert done.output["status"] == "Success" and done.output["model"] == "m://1"
    assert done.output["bestTrial"] == {"runId": f"{JOB}_3", "score": 0.91, "metricStatus": "Succeeded"}
    assert done.output["monitorUrl"] == URL


def _listed_ending(status: str, **properties) -> Reply:
    """The generation that reports a watcher-listed ending of LISTED changed by `properties`."""
    run, _ = submitted_run(use_events=False)
    listed = {**LISTED, "properties": {**LISTED["properties"], "status": status, **properties}}
    run.raise_event(STATUS_EVENT, StatusSignal(JOB, status, WATCHER_EVENT_TYPE, None, listed).to_dict())
    _, done = resumed(LoopState.from_dict(run.fire_timer().continued_as_new["state"]), use_events=False)
    assert GET_JOB_STATUS not in done.activities
    return done


@pytest.mark.parametrize(
    ("services", "reported"),
    [
        # the service's own Studio link (with its tenant) over the one the run knew
        ({"Studio": {"endpoint": f"{URL}?tid=tenant"}}, f"{URL}?tid=tenant"),
        ({}, URL),  # none listed: the run's own
    ],
)
def test_a_listed_ending_reports_the_jobs_studio_link_else_the_runs(services, reported):
    assert _listed_ending("Completed", services=services).output["monitorUrl"] == reported


def test_a_listed_ending_reports_the_declared_outputs_only():
    outputs = {
        **LISTED["properties"]["outputs"],
        "checkpoint": {"jobOutputType": "uri_folder", "uri": "c://1"},
    }
    done = _listed_ending("Completed", outputs=outputs)
    assert done.output["outputs"] == {"model": "m://1"} and "checkpoint" not in done.output


def test_a_listed_failure_names_the_runs_objective_metric_not_the_templates():
    done = _listed_ending(
        "Failed",
        error={"code": "UserError", "message": "Primary metric val_loss not found"},
        objective={"primaryMetric": "val_loss", "goal": "minimize"},
    )
    assert done.failure is not None and "The objective metric 'accuracy' does not match" in done.failure


@pytest.mark.parametrize(
    "signal",
    [
        # an Event Grid hint is confirmed by a GET, whatever it carries
        StatusSignal(JOB, "Completed", RUN_COMPLETED, "2026-01-05T09:05:00Z", LISTED),
        # another job's listing, or one whose status is not the event's, is not this run's ending
        StatusSignal(JOB, "Completed", WATCHER_EVENT_TYPE, None, {**LISTED, "name": "tmpl-other"}),
        StatusSignal(JOB, "Failed", WATCHER_EVENT_TYPE, None, LISTED),
        StatusSignal(JOB, "Completed", WATCHER_EVENT_TYPE, None, None),  # too large to carry
    ],
)
def test_a_terminal_event_without_a_trusted_listing_is_confirmed_by_a_get(signal):
    run, _ = submitted_run()
    run.raise_event(STATUS_EVENT, signal.to_dict())
    carried = run.fire_timer().continued_as_new
    assert carried is not None and carried["state"]["listed_ending"] is None
    _, opened = resumed(LoopState.from_dict(carried["state"]))
    assert opened.activities == [GET_JOB_STATUS]


def test_without_watcher_or_events_a_status_event_is_not_listened_for():
    run, waiting = submitted_run(use_events=False, watch_period=0)
    assert waiting.timers == [NOW + timedelta(seconds=15)]
    ignored = run.raise_event(
        STATUS_EVENT, StatusSignal(JOB, "Completed", WATCHER_EVENT_TYPE, None).to_dict()
    )
    assert ignored.activities == [] and ignored.timers == []


def test_a_stalled_job_is_looked_at_again_by_the_stalled_limit_however_slow_the_safety_net():
    run, _ = resumed(running_state(poll_on_resume=True))
    stalled = run.answer(GET_JOB_STATUS, snapshot("NotResponding"))
    assert stalled.timers == [NOW + timedelta(seconds=3600)]  # not the 4 h safety poll


def test_a_failed_job_ends_the_run_failed_with_its_hint():
    run, _ = resumed(running_state(poll_on_resume=True))
    error = {"code": "PrimaryMetricNotFound", "message": "The metric was not logged.", "hint": "Align it."}
    ended = run.answer(GET_JOB_STATUS, snapshot("Failed", error=error))
    assert ended.failure == f"Failed: The metric was not logged. Hint: Align it. Monitor URL: {URL}"
    assert ended.custom_status["error"] == error


def test_a_job_stalled_past_the_limit_is_cancelled_and_the_run_fails():
    stalled_since = timestamp(NOW - timedelta(hours=2))
    run, _ = resumed(running_state(poll_on_resume=True, stalled_since=stalled_since))
    cancelling = run.answer(GET_JOB_STATUS, snapshot("NotResponding"))
    assert cancelling.activities == [CANCEL_JOB]
    ended = run.answer(CANCEL_JOB, answer(Cancelled(JOB, found=True)))
    assert ended.failure is not None and "stayed NotResponding for over 3600 s" in ended.failure
    assert ended.custom_status["error"]["code"] == "JobStalled"


def test_a_job_stalled_within_the_limit_is_polled_on():
    run, _ = resumed(running_state(poll_on_resume=True))
    waiting = run.answer(GET_JOB_STATUS, snapshot("Paused"))
    assert waiting.activities == [] and len(waiting.timers) == 1 and waiting.failure is None


def test_a_storm_of_wake_ups_ends_the_generation_at_the_cap():
    run, _ = submitted_run()
    for i in range(MAX_WAKEUPS_PER_GENERATION - 1):
        woken = run.raise_event(
            STATUS_EVENT, StatusSignal(JOB, "Running", RUN_STATUS_CHANGED, f"t{i}").to_dict()
        )
        assert woken.continued_as_new is None and woken.timers and woken.timers != [run.now]
    last = run.raise_event(STATUS_EVENT, StatusSignal(JOB, "Running", RUN_STATUS_CHANGED, "last").to_dict())
    assert last.timers == [run.now] and last.activities == []
    carried = run.fire_timer().continued_as_new
    assert carried is not None and carried["state"]["wakeups"] == 0
    assert carried["state"]["generation"] == 1


def test_a_repeated_event_starts_a_fresh_generation():
    run, _ = submitted_run()
    payload = StatusSignal(JOB, "Running", RUN_STATUS_CHANGED, "t1").to_dict()
    run.raise_event(STATUS_EVENT, payload)
    again = run.raise_event(STATUS_EVENT, payload)
    assert again.timers == [run.now]
    assert run.fire_timer().continued_as_new is not None


def test_an_unreachable_azure_ml_is_waited_out_no_sooner_than_retry_after():
    run, _ = resumed(running_state(poll_on_resume=True))
    waiting = run.answer(GET_JOB_STATUS, unreachable(OUTAGE, retry_after=600))
    assert waiting.failure is None and waiting.timers == [NOW + timedelta(seconds=600)]
    assert waiting.custom_status["unreachableSince"] == timestamp(NOW)


def test_past_the_outage_limit_the_run_fails_and_leaves_its_job_running():
    since = timestamp(NOW - timedelta(hours=25))
    run, _ = resumed(running_state(poll_on_resume=True, unreachable_since=since))
    ended = run.answer(GET_JOB_STATUS, unreachable(OUTAGE, retry_after=None))
    assert ended.failure is not None and "could not be reached for over 24 h" in ended.failure
    assert f"The sweep job {JOB} was left running" in ended.failure
    assert ended.activities == [] and ended.custom_status["jobLeftRunning"] is True


def test_a_permanent_poll_error_ends_the_run_failed():
    run, _ = resumed(running_state(poll_on_resume=True))
    gone = {"code": "NotFound", "message": "The job is gone.", "hint": None}
    ended = run.answer(GET_JOB_STATUS, refusal(gone))
    assert ended.failure == f"Failed: The job is gone. Monitor URL: {URL}"
