"""The first generation's work: fetch the template and submit the sweep, exactly once,
waiting out an unreachable Azure ML on durable timers; a cancel stops it before a job
exists (or cancels whatever the PUT may have created)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from contracts import FETCH_TEMPLATE, SUBMIT_SWEEP, SubmitOrder, Submitted, TemplateFetched
from foundry.job_status import JobStatus
from orchestrators import outage
from orchestrators.polling import LoopState, retry_interval
from orchestrators.reporting import run_error
from orchestrators.run import CANCELLED, FAILED, Run, call, take, unreachable


def submit(run: Run):
    """Fetch the template and submit; returns the loop state the wait starts from."""
    state = LoopState(azure_status=JobStatus.NOT_STARTED.value, started_at=run.now())
    run.publish(state, submitted=False)

    template = run.input.template_job
    if template is None:  # the start route could not read it: fetch it, waiting Azure ML out
        fetched = yield from _until_answered(run, state, FETCH_TEMPLATE, {"template": run.input.template})
        _stop_if_cancelled(run, state)
        if not fetched.ok:
            raise run.ended(FAILED, fetched.error, state)
        template = TemplateFetched.from_dict(fetched.value).job

    order = SubmitOrder(run.context.instance_id, run.input.job_name, run.input.request, template)
    # A retried submit looks before it PUTs (`SubmitOrder.retried`): the first PUT may have
    # created the job with its answer lost.
    outcome = yield from _until_answered(
        run, state, SUBMIT_SWEEP, order.to_dict(), retry_payload=order.retry().to_dict()
    )
    if outcome.ok:
        submitted = Submitted.from_dict(outcome.value)
        state.azure_status = submitted.azure_status
        state.monitor_url = submitted.monitor_url
        state.submitted_at = run.now()
    elif state.cancel_requested and outcome.transient:
        # The PUT may have been applied with its answer lost: cancel whatever exists.
        state.submit_uncertain = True
    else:
        raise run.ended(FAILED, outcome.error, state)
    state.interval = 0.0  # the wait starts at the poll floor
    run.publish(state)
    return state


def _stop_if_cancelled(run: Run, state: LoopState) -> None:
    """A cancel that arrived before anything was submitted ends the run with nothing started."""
    if state.cancel_requested:
        raise run.ended(
            CANCELLED,
            run_error(
                "CancelledBeforeSubmit",
                "The run was cancelled before the sweep job was submitted; no Azure ML job was started.",
                None,
            ),
            state,
        )


def _until_answered(
    run: Run,
    state: LoopState,
    name: str,
    payload: dict[str, Any],
    *,
    retry_payload: dict[str, Any] | None = None,
):
    """Call an activity until Azure ML answers (ok or a permanent error), waiting on
    durable timers while it is unreachable (each try after the first with `retry_payload`,
    when given); a cancel stops the trying."""
    while True:
        outcome = yield from call(run, state, name, payload, listen_status=False)
        if not outcome.transient:
            outage.clear(state)
            return outcome
        payload = retry_payload or payload
        unreachable(run, state, outcome, job_exists=False)
        if state.cancel_requested:
            return outcome
        run.publish(state, submitted=False)
        state.interval, sleep = retry_interval(state.interval, run.policy, state.retry_after)
        timer = run.context.create_timer(run.clock() + timedelta(seconds=sleep))
        winner = yield run.context.task_any([timer, *run.listeners.tasks(status=False)])
        if winner is not timer:
            timer.cancel()
            take(run, state, winner)
            if state.cancel_requested:
                return outcome
