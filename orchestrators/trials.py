"""Trial progress in customStatus: after a status GET of a sweep that has started running,
one more activity lists its trials (run history) and the counts go into the loop state.

Bounded by design: read only where a status poll already happens (never per event), one
activity per poll, skipped while the sweep is still queued, and off when the run's policy
says so (SWEEP_TRIAL_PROGRESS). Advisory: a listing Azure ML does not answer keeps the last
counts (their `asOf` shows their age) and never ends the run nor counts as an outage.
"""

from __future__ import annotations

from contracts import READ_TRIAL_PROGRESS, JobSnapshot, TrialCounts
from foundry.job_status import JobStatus, rank
from foundry.trials import progress
from orchestrators.polling import LoopState
from orchestrators.run import Run, call


def refresh(run: Run, state: LoopState, snap: JobSnapshot):
    """Read the sweep's trial counts once for this poll (a generator: `yield from`)."""
    if not run.policy.trial_progress:
        return
    if state.trials is None and rank(snap.azure_status) < rank(JobStatus.RUNNING):
        return  # no trial runs before the sweep runs: save the call
    got = yield from call(run, state, READ_TRIAL_PROGRESS, {"jobName": run.input.job_name})
    if not got.ok:
        return
    best = snap.best_trial or (state.trials or {}).get("best")
    if best and "trial" in best:  # the summary's own form, carried over from the last read
        best = {"runId": best["trial"], "score": best.get("score")}
    state.trials = progress(TrialCounts.from_dict(got.value).to_dict(), best, run.now())
