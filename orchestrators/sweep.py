"""The sweep orchestration: submit once, then wait cheaply until the job ends.

Deterministic by construction: time comes only from `context.current_utc_datetime`,
every decision from history (activity results, timers, events). Reporting is pure
(`orchestrators.reporting`), and so is the outage bookkeeping (`orchestrators.outage`).

The first generation fetches the template and submits; every generation then runs the
wait loop until its `polls_per_generation`-th timer fires (default: the first) and
continues as new with the loop state; the next generation opens with the status GET
that timer was due for. A sweep that runs for days never replays more than one
wake-up's worth of history.

The wait loop reads like the Durable monitor sample: sleep until something wakes the
run, then one handler per kind of wake-up (`_on_timer`, `_on_event`, `_send_cancel`),
each answering "keep waiting", "new generation" or the run's output. Submitting is in
`orchestrators.submit`; what every step needs (the generation, calling an activity
while listening, taking an event) in `orchestrators.run`.

Written for what the real Durable extension does with the reply (see
devhost/durable/dtfx.py): every `task_any` races at least one *new* task that is sure
to finish (an activity, or a timer that fires or is cancelled), because the extension
replays the action list in order and only the tasks first listed in a `task_any` are
part of its wait; no activity is called with a durable retry policy (its hidden retry
timers are numbered by the extension when it replays, which a cancel event can
reorder); every generation registers its event waiters before anything can deliver to them.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from enum import Enum
from typing import Any

import azure.durable_functions as df

from contracts import (
    CANCEL_JOB,
    DELETE_RUN_SECRETS,
    GET_JOB_STATUS,
    Cancelled,
    JobSnapshot,
    SecretsToErase,
    SweepInput,
    parse_timestamp,
    timestamp,
)
from foundry.job_status import JobStatus
from orchestrators import outage, trials
from orchestrators.polling import LoopState, next_interval, retry_interval
from orchestrators.reporting import SweepEnded, final_output, fit_custom_status, run_error, success_status
from orchestrators.run import CANCELLED, FAILED, Next, Run, call, take, unreachable
from orchestrators.signals import Listeners
from orchestrators.submit import submit
from polysync.request import payload
from polysync.status import PolysyncStatus, to_polysync

bp = df.Blueprint()

# An event that arrives while no waiter of its name is open is buffered by the SDK
# and handed to the next waiter (what we want: nothing is lost), with a warning as
# if it were a duplicate. Keep the logs for real problems.
warnings.filterwarnings("ignore", message="Potential duplicate Task completion", category=UserWarning)

# Wake-ups of any kind (timers, Event Grid hints, cancels) after which a
# generation ends even if its timers have not ended it: a storm of duplicate
# events must not grow one generation's history without bound.
MAX_WAKEUPS_PER_GENERATION = 20

# Key Vault trouble while erasing a finished run's secrets is retried by the durable
# retry policy. Safe here, unlike anywhere else in the run: it is the last task, so
# no later task can have its sequence number swapped with the hidden retry timers.
SECRETS_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=5)


@bp.orchestration_trigger(context_name="context")
def sweep_orchestrator(context: df.DurableOrchestrationContext):
    sweep = SweepInput.from_dict(context.get_input())
    # A watched run hears from the sweep watcher through the same event as from Event Grid.
    listening = sweep.policy.use_events or sweep.policy.watched
    run = Run(context, sweep, Listeners(context, status_events=listening))
    try:
        if sweep.state is None:
            state = yield from submit(run)
        else:
            state = LoopState.from_dict(sweep.state)
            # customStatus starts empty in each generation: publish at once, or the
            # status route reads "Starting" and the cancel route finds no job name.
            run.publish(state)
        output = yield from _wait(run, state)
    except SweepEnded as ended:
        # Failed and Cancelled runs must not end "Completed" (Polysync would read
        # Success): the orchestration fails with a message that starts with the
        # Polysync status; the report stays readable in customStatus.
        context.set_custom_status(fit_custom_status(ended.report))
        yield from _erase_secrets(run)
        raise
    if output is not None:  # None: this generation continued as new, the run goes on
        yield from _erase_secrets(run)
    return output


def _erase_secrets(run: Run):
    """The run is over, whatever the ending: its Secret values leave Key Vault. A failure
    here never changes the run's result; the reconciler and the secrets' expiry remain."""
    references = payload.secret_references(run.input.request)
    if not references:
        return
    order = SecretsToErase(run.context.instance_id, tuple(references))
    try:
        yield run.context.call_activity_with_retry(DELETE_RUN_SECRETS, SECRETS_RETRY, order.to_dict())
    except Exception:  # noqa: BLE001, S110 - left to the reconciler's pass and the expiry
        pass


# -- waiting ------------------------------------------------------------------------------------
def _wait(run: Run, state: LoopState):
    """Until the job ends (returns the output) or this generation does (returns None)."""
    run.status_changed = state.interval <= 0  # a fresh run starts at the floor
    step: Next | dict[str, Any] = Next.WAIT
    if state.poll_on_resume:
        # The previous generation ended on the timer this GET is for, or on a
        # terminal hint that a GET must confirm.
        state.poll_on_resume = state.trials_on_resume = False
        step = yield from _poll(run, state)
    elif state.trials_on_resume:
        # The previous generation ended on the trial timer this listing is for.
        state.trials_on_resume = False
        yield from trials.refresh(run, state)
        run.publish(state)
    while step is Next.WAIT:
        if _generation_is_full(run, state):
            step = yield from _end_generation(run, state)
        elif state.cancel_requested and not state.cancel_sent and not run.cancel_backoff:
            step = yield from _send_cancel(run, state)
        else:
            woken_by = yield from _sleep(run, state)
            if woken_by is Alarm.POLL:
                step = yield from _on_timer(run, state)
            elif woken_by is Alarm.TRIALS:
                step = yield from _on_trial_timer(run, state)
            else:
                step = yield from _on_event(run, state, woken_by)
    return None if step is Next.NEW_GENERATION else step


def _generation_is_full(run: Run, state: LoopState) -> bool:
    """A re-delivered event, a hint that needs a GET, or a bound on wake-ups (events and
    cancels alone can also grow the history): time for a fresh generation."""
    cap = max(MAX_WAKEUPS_PER_GENERATION, run.policy.polls_per_generation)
    return run.end_generation or state.poll_on_resume or state.wakeups >= cap


class Alarm(Enum):
    """Which of the run's own timers woke it (the other wake-ups are events)."""

    POLL = "the status (or safety) poll is due"
    TRIALS = "a trial progress listing is due, the poll not yet"


def _sleep(run: Run, state: LoopState):
    """Wait on a durable timer or an event; returns the event, or the Alarm that fired.

    One timer, at the earlier of the next poll and the next trial listing: a trial wake-up
    keeps the poll's due time (`poll_due`), any other wake-up computes the next one afresh."""
    if state.unreachable_since:
        state.poll_due = None
        state.interval, seconds = retry_interval(state.interval, run.policy, state.retry_after)
        poll_at = run.clock() + timedelta(seconds=seconds)
    elif state.poll_due is None:
        state.interval = next_interval(
            state.interval,
            run.policy,
            events_seen=state.events_seen,
            status_changed=run.status_changed,
            cancelling=state.cancel_sent and "cancelError" not in state.extra,
        )
        seconds = state.interval
        if state.stalled_since is not None:
            # A stalled job is looked at again by the stalled limit, however slow the safety net.
            seconds = min(seconds, run.policy.stalled_limit)
        poll_at = run.clock() + timedelta(seconds=seconds)
    else:
        poll_at = max(run.clock(), parse_timestamp(state.poll_due))
    trials_at = trials.due_at(run, state)
    if trials_at is not None and trials_at < poll_at:
        alarm, fire_at = Alarm.TRIALS, max(run.clock(), trials_at)
        state.poll_due = timestamp(poll_at)
    else:
        alarm, fire_at = Alarm.POLL, poll_at
    timer = run.context.create_timer(fire_at)
    winner = yield run.context.task_any([timer, *run.listeners.tasks()])
    state.wakeups += 1
    if winner is timer:
        if alarm is Alarm.POLL:
            state.poll_due = None
        return alarm
    timer.cancel()
    state.poll_due = None
    return winner


def _on_event(run: Run, state: LoopState, waiter: Any):
    """A cancel or a status hint woke the run: apply it and keep waiting (a hint that moved
    the running sweep on also reads its trials: a status change is progress users look for)."""
    before = state.azure_status
    delivery = take(run, state, waiter)
    run.status_changed = state.azure_status != before
    if run.status_changed and not state.poll_on_resume:
        yield from trials.after_hint(run, state)
    if delivery.is_cancel or run.status_changed:
        run.publish(state)
    return Next.WAIT


def _on_timer(run: Run, state: LoopState):
    """A poll timer fired: end the generation on it (the next one opens with the GET it was
    for: the eternal-orchestration pattern), or poll now."""
    run.cancel_backoff = False
    state.timer_wakeups += 1
    if state.timer_wakeups >= run.policy.polls_per_generation:
        state.poll_on_resume = True
        return _continue_as_new(run, state)
    return (yield from _poll(run, state))


def _on_trial_timer(run: Run, state: LoopState):
    """The trial timer fired before the poll was due: list the trials, no job GET. Counted
    like a poll timer, so a generation stays one wake-up long (the next one opens with the
    listing) and a long sweep's history per generation does not grow with its trial reads."""
    state.timer_wakeups += 1
    if state.timer_wakeups >= run.policy.polls_per_generation:
        state.trials_on_resume = True
        return _continue_as_new(run, state)
    yield from trials.refresh(run, state)
    run.publish(state)
    return Next.WAIT


def _send_cancel(run: Run, state: LoopState):
    """A cancel was asked for and Azure ML has not been told: tell it, then look at the job."""
    sent = yield from call(run, state, CANCEL_JOB, {"jobName": run.input.job_name})
    if sent.transient:
        unreachable(run, state, sent, job_exists=True)
        run.cancel_backoff = True
        run.publish(state)
        return Next.WAIT
    outage.clear(state)
    state.cancel_sent = True
    if not sent.ok:
        state.extra["cancelError"] = sent.error
    elif state.submit_uncertain and not Cancelled.from_dict(sent.value).found:
        raise run.ended(
            CANCELLED,
            run_error(
                "CancelledBeforeSubmit",
                "The run was cancelled while the sweep job was being submitted; Azure ML has no "
                "such job, so none was started.",
                None,
            ),
            state,
        )
    return (yield from _poll(run, state))


def _end_generation(run: Run, state: LoopState):
    """Continue as new behind a timer that fires at once and is never cancelled; on a hint
    that the sweep ended, list its trials first (the final counts, read in this generation so
    that the next one, which confirms the end and returns the output, replays its GET alone:
    see orchestrators.trials).

    The extension replays the action list ahead of history wherever a cancelled
    timer lets a `task_any` finish at once, so after an event-driven wake-up it
    reaches `continue_as_new` *before* the events this generation already took
    and carries them into the next one (DTFx `HandleEventRaisedEvent` after
    `ContinueAsNew`). A fired timer holds its replay until after them: only
    events that arrive later, which this generation has not seen, go on."""
    if run.terminal_hint and state.poll_on_resume:
        yield from trials.at_terminal_hint(run, state)
        run.publish(state)
    yield run.context.create_timer(run.clock())
    for waiter in run.listeners.tasks():
        if waiter.is_completed:  # an event that landed meanwhile: taken now, not lost
            take(run, state, waiter)
    return _continue_as_new(run, state)


def _continue_as_new(run: Run, state: LoopState) -> Next:
    state.wakeups = 0
    state.timer_wakeups = 0
    state.generation += 1
    run.context.continue_as_new(run.input.next_generation(state.to_dict()))
    return Next.NEW_GENERATION


# -- polling ------------------------------------------------------------------------------------
def _poll(run: Run, state: LoopState):
    """GET the job's status and act on it: the output on success, WAIT while it runs;
    raises SweepEnded on every other ending. An ending the sweep watcher listed needs no GET:
    the watcher read the job (`state.listed_ending`, orchestrators.run._listed_ending)."""
    state.poll_due = None  # the poll a trial wake-up kept waiting is this one
    # A listing at a terminal hint stands for this GET only (the one it was made ahead of).
    listed_final, state.trials_final = state.trials_final, False
    run.status_changed = False
    if state.listed_ending is not None:
        snap = JobSnapshot.from_dict(state.listed_ending)
        state.listed_ending = None
        outage.clear(state)  # Azure ML answered the watcher: the job's state is known
    else:
        got = yield from call(
            run, state, GET_JOB_STATUS, payload.status_query(run.input.job_name, run.input.request).to_dict()
        )
        state.polls += 1
        if got.transient:
            unreachable(run, state, got, job_exists=True)
            run.publish(state)
            return Next.WAIT
        outage.clear(state)
        if not got.ok:
            raise run.ended(FAILED, got.error, state)
        snap = JobSnapshot.from_dict(got.value)
    run.status_changed = snap.azure_status != state.azure_status
    state.azure_status = snap.azure_status
    state.monitor_url = snap.monitor_url or state.monitor_url
    yield from trials.after_poll(
        run, state, snap, status_changed=run.status_changed, listed_final=listed_final
    )
    run.publish(state)
    status = JobStatus.parse(state.azure_status)
    if snap.terminal or (status is not None and status.is_terminal):
        return _on_terminal(run, state, snap)
    if status is not None and status.is_stalled:
        return (yield from _on_stalled(run, state, snap))
    state.stalled_since = None
    return Next.WAIT


def _on_terminal(run: Run, state: LoopState, snap: JobSnapshot) -> dict[str, Any]:
    """Completed is the output; Failed and Canceled end the run as Polysync reads them."""
    polysync = to_polysync(state.azure_status)
    if polysync is not PolysyncStatus.SUCCESS:
        raise run.ended(polysync, snap.error, state, snap=snap)
    output = final_output(run.input.job_name, state, snap, run.now())
    run.context.set_custom_status(fit_custom_status(success_status(output, state)))
    return output


def _on_stalled(run: Run, state: LoopState, snap: JobSnapshot):
    """NotResponding, Paused, Unknown: tolerated up to the stalled limit, then cancelled."""
    if state.stalled_since is None:
        state.stalled_since = run.now()
        return Next.WAIT
    stalled_for = (run.clock() - parse_timestamp(state.stalled_since)).total_seconds()
    if stalled_for < run.policy.stalled_limit:
        return Next.WAIT
    if not state.cancel_sent:
        # One try: if Azure ML does not take it, the orphan reconciler cancels the job of this Failed run.
        sent = yield from call(run, state, CANCEL_JOB, {"jobName": run.input.job_name})
        state.cancel_sent = sent.ok
    raise run.ended(
        FAILED,
        run_error(
            "JobStalled",
            f"The sweep job stayed {state.azure_status} for over {int(run.policy.stalled_limit)} s; "
            "the connector cancelled it rather than wait forever.",
            "Open the monitor URL to see why the job stopped progressing (compute quota, "
            "a paused workspace), then run again. SWEEP_STALLED_LIMIT_SECONDS sets the limit.",
        ),
        state,
        snap=snap,
    )
