"""Trial progress in customStatus: one activity lists the sweep's trials (run history) and the
counts go into the loop state.

When. With the sweep watcher (or Event Grid) a running sweep's run GETs its job only as a
safety net, hours apart, so a read tied to status GETs alone would leave the counts hours old.
Until the sweep ends, the run therefore also wakes on its own durable timer for a listing alone
(no job GET) at most every `trial_progress_seconds` (SWEEP_TRIAL_PROGRESS_SECONDS); besides,
it reads at each status change (a watcher/Event Grid hint or a GET that saw one) and once the
sweep has ended, so the final counts are complete. 0 seconds: after each status GET of a
running sweep only (no timer, no read on progress hints).

The final read. A hint that the sweep ended (the watcher's listing, an Event Grid event) ends
the generation; the next one opens with the GET that confirms it and, if it does, returns the
run's output. The final listing is made at the hint, in the generation that ends on it
(`at_terminal_hint`), not after the confirming GET: an episode replays its whole generation,
so a listing after the GET would make the run's last episode replay 4 more history events,
while before it the work is the same (one listing, one GET, no extra episode or generation).
That listing counts as final only if the GET right after it confirms the end and it found no
trial running or queued (the hint came from Azure ML's own record of the ending, so the trials
had ended too); otherwise (a wrong or early hint, a listing that failed or was throttled, trials
still stopping) the GET that sees the end lists as before, and a GET that says the sweep still
runs leaves the counts to the cadence: nothing is frozen. A run that learns the end from its
own GET (no hint: no watcher and no events, a cancel's polls) lists after that GET. An ending
the watcher listed needs no GET (its event carries the job: orchestrators.run._listed_ending):
the next generation reports it in its first episode, and the hint's listing stands for it.

Bounded by design: never at a GET that says the sweep is still queued, never while Azure ML
is unreachable (the retry timer is for the job's GET), never before a Retry-After run history
gave (but for the final read), one listing per wake-up, none after the end, and off when the run's policy says so (SWEEP_TRIAL_PROGRESS). Advisory: a listing Azure ML does not answer keeps the last
counts (their `asOf` shows their age), waits its next turn, and never ends the run nor counts
as an outage.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contracts import READ_TRIAL_PROGRESS, JobSnapshot, TrialCounts, parse_timestamp
from foundry.job_status import JobStatus, rank
from foundry.trials import progress
from orchestrators.polling import LoopState
from orchestrators.run import Run, call


def _cadence_at(run: Run, state: LoopState) -> datetime | None:
    if state.trials_read_at is None:
        return None
    return parse_timestamp(state.trials_read_at) + timedelta(seconds=run.policy.trial_progress_seconds)


def _retry_at(state: LoopState) -> datetime | None:
    """No listing before this: the last one was throttled with a Retry-After."""
    if state.trials_read_at is None or not state.trials_retry_after:
        return None
    return parse_timestamp(state.trials_read_at) + timedelta(seconds=state.trials_retry_after)


def _backing_off(run: Run, state: LoopState) -> bool:
    retry_at = _retry_at(state)
    return retry_at is not None and run.clock() < retry_at


def due_at(run: Run, state: LoopState) -> datetime | None:
    """When the run's own timer should wake for a listing alone; None: no such wake-up.

    From the submit to the end, not only once the run knows the sweep runs: with Event Grid
    on, the watcher tells a run only endings, so a lost Running event would leave the run
    thinking its sweep queued all along. A sweep that has not started lists no trials (0)."""
    policy = run.policy
    if not policy.trial_progress or policy.trial_progress_seconds <= 0 or state.unreachable_since:
        return None
    status = JobStatus.parse(state.azure_status)
    if status is not None and status.is_terminal:
        return None
    cadence_at = _cadence_at(run, state)
    if cadence_at is not None:
        retry_at = _retry_at(state)
        return max(cadence_at, retry_at) if retry_at is not None else cadence_at
    if rank(state.azure_status) >= rank(JobStatus.RUNNING):
        return run.clock()  # running, never read (a hint said so): read at once
    return run.clock() + timedelta(seconds=policy.trial_progress_seconds)  # just submitted


def after_poll(run: Run, state: LoopState, snap: JobSnapshot, *, status_changed: bool, listed_final: bool):
    """After a status GET that answered: read when the sweep ended (final counts) unless the
    listing just before this GET, at the terminal hint, was final (`listed_final`); else,
    unless run history asked to wait (Retry-After), when its status changed, when a read is
    due, or at every GET when the run has no trial timer; never while the GET says the sweep
    has not started and nothing was read yet."""
    if not run.policy.trial_progress:
        return
    if state.trials is None and rank(snap.azure_status) < rank(JobStatus.RUNNING):
        return  # no trial runs before the sweep runs: save the call
    status = JobStatus.parse(snap.azure_status)
    if snap.terminal or (status is not None and status.is_terminal):
        if listed_final and state.trials is not None:
            # The counts stand; the best trial the ended sweep names joins them.
            state.trials = progress(state.trials, _best(state, snap.best_trial), state.trials["asOf"])
            return
        yield from refresh(run, state, snap.best_trial)
        return
    if _backing_off(run, state):
        return
    cadence_at = _cadence_at(run, state)
    no_timer = run.policy.trial_progress_seconds <= 0
    if status_changed or no_timer or cadence_at is None or run.clock() >= cadence_at:
        yield from refresh(run, state, snap.best_trial)


def after_hint(run: Run, state: LoopState):
    """A watcher or Event Grid hint moved the sweep on (no GET is made for it): read once it runs."""
    policy = run.policy
    if not policy.trial_progress or policy.trial_progress_seconds <= 0 or _backing_off(run, state):
        return
    if rank(state.azure_status) >= rank(JobStatus.RUNNING):
        yield from refresh(run, state)


def at_terminal_hint(run: Run, state: LoopState):
    """A watcher or Event Grid hint says the sweep ended and this generation ends for the GET
    that confirms it: read the final counts now (see the module's docstring), unless Azure ML
    is unreachable or run history asked to wait (the GET that sees the end lists then)."""
    state.trials_final = False
    policy = run.policy
    if not policy.trial_progress or state.unreachable_since or _backing_off(run, state):
        return
    read = yield from refresh(run, state)
    trials = state.trials or {}
    state.trials_final = read and not trials.get("running") and not trials.get("queued")


def refresh(run: Run, state: LoopState, best_trial: dict[str, Any] | None = None):
    """Read the sweep's trial counts once (a generator: `yield from`); True if run history
    answered."""
    if not run.policy.trial_progress:
        return False
    state.trials_read_at = run.now()  # a failed read waits its turn too
    got = yield from call(run, state, READ_TRIAL_PROGRESS, {"jobName": run.input.job_name})
    # Throttled: no listing before its Retry-After, however short the cadence.
    state.trials_retry_after = got.retry_after if got.transient else None
    if not got.ok:
        return False
    state.trials = progress(TrialCounts.from_dict(got.value).to_dict(), _best(state, best_trial), run.now())
    return True


def _best(state: LoopState, best_trial: dict[str, Any] | None) -> dict[str, Any] | None:
    """The best trial the service names now, else the one the last read kept."""
    best = best_trial or (state.trials or {}).get("best")
    if best and "trial" in best:  # the summary's own form, carried over from the last read
        best = {"runId": best["trial"], "score": best.get("score")}
    return best
