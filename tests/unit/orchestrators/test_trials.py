"""Trial progress in the orchestration, from histories replayed by the real SDK: one
`read_trial_progress` after a status GET of a running sweep (never per event, never while
queued, never when the run's policy is off), its counts in customStatus, and a listing that
fails leaving the run and the last counts alone."""

from __future__ import annotations

from contracts import (
    GET_JOB_STATUS,
    READ_TRIAL_PROGRESS,
    STATUS_EVENT,
    TrialCounts,
    answer,
    refusal,
    unreachable,
)
from foundry.events import RUN_STATUS_CHANGED
from tests.unit.orchestrators.test_sweep import NOW, OUTAGE, resumed, running_state, snapshot

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


def test_a_status_event_reads_no_trials():
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
