"""Trial progress in the orchestration, from histories replayed by the real SDK: one
`read_trial_progress` after a status GET of a running sweep (never while queued, never when
the run's policy is off), its counts in customStatus, a listing that fails leaving the run and
the last counts alone; and the cadence (`trial_progress_seconds`): a watched running sweep's
run wakes for a listing alone every cadence, one generation per wake-up, without pushing its
safety poll out, reads at each status change and at the end; and the final read, made at the
hint that the sweep ended, so the generation that confirms the end replays its GET alone."""

from __future__ import annotations

from datetime import timedelta

from contracts import (
    GET_JOB_STATUS,
    READ_TRIAL_PROGRESS,
    STATUS_EVENT,
    WATCHER_EVENT_TYPE,
    StatusSignal,
    TrialCounts,
    answer,
    refusal,
    unreachable,
)
from devhost.durable import EventType
from foundry.events import RUN_COMPLETED, RUN_STATUS_CHANGED
from orchestrators.polling import LoopState
from tests.unit.orchestrators.history import Orchestration
from tests.unit.orchestrators.test_sweep import NOW, OUTAGE, resumed, running_state, snapshot, sweep

COUNTS = TrialCounts(total=10, done=3, running=2, queued=4, failed=1)


def _polled(status: str = "Running", **policy):
    run, first = resumed(running_state(poll_on_resume=True), **policy)
    assert first.activities == [GET_JOB_STATUS]
    return run, run.answer(GET_JOB_STATUS, snapshot(status))


def test_a_poll_of_a_running_sweep_reads_its_trials_once_and_shows_them():
    run, polled = _polled(trial_progress=True)
    assert polled.activities == [READ_TRIAL_PROGRESS]
    assert polled.activity_input(READ_TRIAL_PROGRESS) == {"jobName": run.sweep.job_name}
    waiting = run.answer(READ_TRIAL_PROGRESS, answer(COUNTS))
    assert waiting.activities == [] and len(waiting.timers) == 1
    assert waiting.custom_status["trials"] == {
        "total": 10, "done": 3, "running": 2, "queued": 4, "failed": 1, "cancelled": 0,
        "best": None, "asOf": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip


def test_without_a_cadence_a_status_event_reads_no_trials():
    run, _ = _polled(trial_progress=True)
    waiting = run.answer(READ_TRIAL_PROGRESS, answer(COUNTS))
    hint = {"jobName": run.sweep.job_name, "runStatus": "Finalizing", "eventType": RUN_STATUS_CHANGED}
    woken = run.raise_event(STATUS_EVENT, {**hint, "eventTime": "2026-01-05T09:00:01Z"})
    assert READ_TRIAL_PROGRESS not in woken.activities
    assert woken.custom_status["trials"] == waiting.custom_status["trials"]


def test_a_listing_azure_ml_does_not_answer_keeps_the_run_waiting_and_the_last_counts():
    state = running_state(poll_on_resume=True, trials={"total": 4, "done": 1, "asOf": "earlier"})
    for failed in (unreachable(OUTAGE, retry_after=30), refusal({"code": "AuthorizationFailed"})):
        run, _ = resumed(state, trial_progress=True)
        run.answer(GET_JOB_STATUS, snapshot("Running"))
        waiting = run.answer(READ_TRIAL_PROGRESS, failed)
        assert waiting.failure is None and len(waiting.timers) == 1
        assert waiting.custom_status["trials"] == state.trials
        assert "unreachableSince" not in waiting.custom_status  # no outage: the job's GET answered


def test_no_listing_while_queued_nor_when_the_policy_is_off():
    assert _polled("Queued", trial_progress=True)[1].activities == []
    assert _polled("Running", trial_progress=False)[1].activities == []
    assert _polled("Running")[1].activities == []  # inputs written before the setting existed


def test_a_best_trial_the_running_sweep_names_is_shown_and_kept():
    run, _ = resumed(running_state(poll_on_resume=True), trial_progress=True)
    best = {"runId": f"{run.sweep.job_name}_3", "score": 0.91, "metricStatus": "Succeeded"}
    run.answer(GET_JOB_STATUS, snapshot("Running", best_trial=best))
    waiting = run.answer(READ_TRIAL_PROGRESS, answer(COUNTS))
    assert waiting.custom_status["trials"]["best"] == {"trial": best["runId"], "score": 0.91}
    # The next generation's poll does not name it: the last one named stays.
    state = running_state(poll_on_resume=True, trials=waiting.custom_status["trials"])
    run, _ = resumed(state, trial_progress=True)
    run.answer(GET_JOB_STATUS, snapshot("Running"))
    again = run.answer(READ_TRIAL_PROGRESS, answer(COUNTS))
    assert again.custom_status["trials"]["best"] == {"trial": best["runId"], "score": 0.91}


# -- the cadence: trial_progress_seconds (SWEEP_TRIAL_PROGRESS_SECONDS) ------------------------------
CADENCE = 300
EVERY = {"trial_progress": True, "trial_progress_seconds": CADENCE}  # watched: safety poll from 4 h


def _generation(state: LoopState, at, **policy) -> tuple[Orchestration, object]:
    run = Orchestration(sweep(state, **policy), at)
    return run, run.start()


def test_a_watched_running_sweep_lists_its_trials_every_cadence_and_still_polls_at_the_safety_net():
    """Four hours of a running sweep the watcher watches: a listing alone (no job GET) every
    5 minutes, each its own generation (a handful of events), and the 4 h safety GET on time."""
    run, _ = _polled(**EVERY)
    waiting = run.answer(READ_TRIAL_PROGRESS, answer(COUNTS))
    assert waiting.timers == [NOW + timedelta(seconds=CADENCE)]  # not the 4 h safety poll
    listings, gets, history_max = 1, 1, 0
    at = NOW
    while True:
        carried = run.fire_timer().continued_as_new
        assert carried is not None  # every wake-up ends its generation, as a poll timer does
        history_max = max(history_max, len(run.history))
        at = run.now
        state = LoopState.from_dict(carried["state"])
        run, opened = _generation(state, at, **EVERY)
        if state.poll_on_resume:
            assert opened.activities == [GET_JOB_STATUS] and not state.trials_on_resume
            gets += 1
            break
        assert state.trials_on_resume and opened.activities == [READ_TRIAL_PROGRESS]
        listings += 1
        counted = TrialCounts(total=10, done=min(10, listings), running=2)
        waiting = run.answer(READ_TRIAL_PROGRESS, answer(counted))
        assert waiting.custom_status["trials"]["done"] == min(10, listings)  # live, not the last GET's
        assert waiting.custom_status["trials"]["asOf"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert waiting.timers == [min(at + timedelta(seconds=CADENCE), NOW + timedelta(hours=4))]
    assert at == NOW + timedelta(hours=4)  # the safety poll was not pushed out by the listings
    assert (listings, gets) == (4 * 3600 // CADENCE, 2)
    assert history_max <= 16  # per generation, far below the 200-event bound


def test_a_get_of_a_running_sweep_lists_only_when_a_read_is_due():
    read = (NOW - timedelta(seconds=CADENCE - 10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run, _ = resumed(running_state(poll_on_resume=True, trials_read_at=read), **EVERY)
    waiting = run.answer(GET_JOB_STATUS, snapshot("Running"))
    assert waiting.activities == []  # read 290 s ago: the trial timer is 10 s away
    assert waiting.timers == [NOW + timedelta(seconds=10)]


def test_the_status_get_that_sees_the_end_lists_the_final_counts_whenever_the_last_read_was():
    read = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    run, _ = resumed(running_state(poll_on_resume=True, trials_read_at=read), **EVERY)
    ending = run.answer(GET_JOB_STATUS, snapshot("Completed"))
    assert ending.activities == [READ_TRIAL_PROGRESS]
    final = TrialCounts(total=10, done=10)
    done = run.answer(READ_TRIAL_PROGRESS, answer(final))
    assert done.output["status"] == "Success"
    assert (done.custom_status["trials"]["done"], done.custom_status["trials"]["running"]) == (10, 0)


def test_a_status_change_the_watcher_reports_lists_the_trials_at_once():
    read = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    run, _ = resumed(running_state(trials_read_at=read), **EVERY)
    hint = {"jobName": run.sweep.job_name, "runStatus": "Finalizing", "eventType": RUN_STATUS_CHANGED}
    woken = run.raise_event(STATUS_EVENT, {**hint, "eventTime": "2026-01-05T09:00:01Z"})
    assert woken.activities == [READ_TRIAL_PROGRESS]
    waiting = run.answer(READ_TRIAL_PROGRESS, answer(COUNTS))
    assert waiting.custom_status["trials"]["total"] == 10 and len(waiting.timers) == 1


def test_a_queued_sweep_is_listed_a_cadence_later_not_at_its_get_and_none_while_unreachable():
    """A GET that says Queued reads nothing, but the trial timer still runs: with Event Grid on,
    the watcher tells only endings, and a lost Running event must not hide the trials."""
    run, _ = resumed(running_state(poll_on_resume=True), **EVERY)
    queued = run.answer(GET_JOB_STATUS, snapshot("Queued"))
    assert queued.activities == [] and queued.timers == [NOW + timedelta(seconds=CADENCE)]
    carried = run.fire_timer().continued_as_new
    assert carried is not None and carried["state"]["trials_on_resume"] is True
    run, _ = resumed(running_state(poll_on_resume=True), **EVERY)
    backing_off = run.answer(GET_JOB_STATUS, unreachable(OUTAGE, retry_after=600))
    assert backing_off.activities == [] and backing_off.timers == [NOW + timedelta(seconds=600)]


def test_a_throttled_listing_is_not_tried_again_before_its_retry_after():
    run, _ = _polled(**EVERY)
    waiting = run.answer(READ_TRIAL_PROGRESS, unreachable(OUTAGE, retry_after=900))
    assert waiting.failure is None and "unreachableSince" not in waiting.custom_status
    assert waiting.timers == [NOW + timedelta(seconds=900)]  # not the 300 s cadence
    carried = run.fire_timer().continued_as_new
    assert carried is not None and carried["state"]["trials_on_resume"] is True
    run, opened = _generation(LoopState.from_dict(carried["state"]), run.now, **EVERY)
    assert opened.activities == [READ_TRIAL_PROGRESS]
    answered = run.answer(READ_TRIAL_PROGRESS, answer(COUNTS))
    assert answered.timers == [run.now + timedelta(seconds=CADENCE)]  # back to the cadence


# -- the final read: at the terminal hint, ahead of the generation that confirms the end ---------------
FINAL = TrialCounts(total=10, done=9, failed=1)


def _ended_on_hint(counts_answer: dict, status: str = "Completed", **policy):
    """A running sweep's run told by the watcher that the sweep ended: the listing, then the
    generation's end (a fired timer, then continue-as-new); returns the carried state."""
    read = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    run, _ = resumed(running_state(trials_read_at=read), **policy)
    signal = StatusSignal(run.sweep.job_name, status, WATCHER_EVENT_TYPE, None)
    woken = run.raise_event(STATUS_EVENT, signal.to_dict())
    assert woken.activities == [READ_TRIAL_PROGRESS] and woken.timers == []  # listed before the GET
    listed = run.answer(READ_TRIAL_PROGRESS, counts_answer)
    assert listed.activities == [] and listed.timers == [run.now]  # then the generation ends
    carried = run.fire_timer().continued_as_new
    assert carried is not None and carried["state"]["poll_on_resume"] is True
    return LoopState.from_dict(carried["state"]), listed


def _replayed_by_last_episode(run: Orchestration) -> list[int]:
    """The history the generation's last episode was given (all but its own closing event)."""
    assert run.history[-1]["EventType"] == EventType.OrchestratorCompleted
    return [e["EventType"] for e in run.history[:-1]]


def test_a_hint_that_the_sweep_ended_lists_the_final_counts_before_the_generation_that_confirms_it():
    """The confirming generation GETs and ends: no listing after the GET, so the run's last
    episode replays 6 history events (it was 10 when the final listing followed the GET)."""
    state, listed = _ended_on_hint(answer(FINAL), **EVERY)
    assert state.trials_final is True
    assert listed.custom_status["trials"]["done"] == 9  # shown while the end is being confirmed
    run, opened = _generation(state, NOW, **EVERY)
    assert opened.activities == [GET_JOB_STATUS]
    best = {"runId": f"{run.sweep.job_name}_3", "score": 0.91, "metricStatus": "Succeeded"}
    done = run.answer(GET_JOB_STATUS, snapshot("Completed", best_trial=best))
    assert done.activities == [] and done.output["status"] == "Success"
    assert done.custom_status["trials"] == {
        "total": 10, "done": 9, "running": 0, "queued": 0, "failed": 1, "cancelled": 0,
        "best": {"trial": best["runId"], "score": 0.91}, "asOf": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip
    assert len(_replayed_by_last_episode(run)) == 6


def test_a_failed_sweep_ends_with_the_counts_listed_at_its_hint():
    state, _ = _ended_on_hint(answer(TrialCounts(total=4, failed=4)), "Failed", **EVERY)
    run, _ = _generation(state, NOW, **EVERY)
    ended = run.answer(GET_JOB_STATUS, snapshot("Failed", error={"code": "X", "message": "m", "hint": None}))
    assert ended.failure is not None and ended.activities == []
    assert ended.custom_status["trials"]["failed"] == 4


def test_a_hint_listing_that_is_not_final_is_listed_again_after_the_get_that_sees_the_end():
    """Trials still running (a wrong or early hint, trials still stopping), or run history did
    not answer: the GET that sees the end lists as before."""
    for counts in (answer(TrialCounts(total=10, done=8, running=2)), unreachable(OUTAGE, retry_after=5)):
        state, _ = _ended_on_hint(counts, **EVERY)
        assert state.trials_final is False
        run, _ = _generation(state, NOW, **EVERY)
        ending = run.answer(GET_JOB_STATUS, snapshot("Completed"))
        assert ending.activities == [READ_TRIAL_PROGRESS]
        done = run.answer(READ_TRIAL_PROGRESS, answer(FINAL))
        assert done.output["status"] == "Success" and done.custom_status["trials"]["done"] == 9


def test_a_wrong_terminal_hint_neither_ends_the_run_nor_freezes_its_counts():
    """The GET says the sweep still runs: the run waits on, its counts are read again at the
    cadence, and the end it sees later is listed after its GET (the hint's listing stood only
    for the GET right after it)."""
    state, _ = _ended_on_hint(answer(TrialCounts(total=10, done=6)), **EVERY)
    assert state.trials_final is True
    run, _ = _generation(state, NOW, **EVERY)
    waiting = run.answer(GET_JOB_STATUS, snapshot("Running"))
    assert waiting.output is None and waiting.failure is None and waiting.activities == []
    assert waiting.timers == [NOW + timedelta(seconds=CADENCE)]  # the cadence goes on
    carried = run.fire_timer().continued_as_new
    assert carried is not None and carried["state"]["trials_final"] is False
    run, opened = _generation(LoopState.from_dict(carried["state"]), run.now, **EVERY)
    assert opened.activities == [READ_TRIAL_PROGRESS]
    moved = run.answer(READ_TRIAL_PROGRESS, answer(TrialCounts(total=10, done=7, running=2)))
    assert moved.custom_status["trials"]["done"] == 7
    later = LoopState.from_dict(
        {
            **running_state().to_dict(),
            "trials": moved.custom_status["trials"],
            "poll_on_resume": True,
            "trials_read_at": moved.custom_status["trials"]["asOf"],
        }
    )
    run, _ = _generation(later, run.now, **EVERY)
    ending = run.answer(GET_JOB_STATUS, snapshot("Completed"))
    assert ending.activities == [READ_TRIAL_PROGRESS]


def test_a_terminal_event_lists_nothing_when_trial_progress_is_off_or_run_history_asked_to_wait():
    for policy, state in (
        ({"trial_progress": False}, running_state()),
        (EVERY, running_state(trials_read_at=NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), trials_retry_after=900)),
    ):
        run, _ = resumed(state, **policy)
        signal = StatusSignal(run.sweep.job_name, "Completed", RUN_COMPLETED, "2026-01-05T09:05:00Z")
        woken = run.raise_event(STATUS_EVENT, signal.to_dict())
        assert woken.activities == [] and woken.timers == [NOW]
        carried = run.fire_timer().continued_as_new
        assert carried is not None and carried["state"]["trials_final"] is False
