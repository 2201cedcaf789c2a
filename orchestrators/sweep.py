"""The sweep orchestration: submit once, then wait cheaply until the job ends.

Deterministic by construction: time comes only from
`context.current_utc_datetime`, every decision from history (activity results,
timers, events). Reporting is pure (`orchestrators.reporting`).

The first generation fetches the template and submits; every generation then
runs the polling loop until its `polls_per_generation`-th timer fires (default:
the first) and continues as new with the loop state; the next generation opens
with the status GET that timer was due for. A sweep that runs for days never
replays more than one wake-up's worth of history.

Written for what the real Durable extension does with the reply (see
devhost/durable/dtfx.py): every `task_any` races at least one *new* task that is
sure to finish (an activity, or a timer that fires or is cancelled), because the
extension replays the action list in order and only the tasks first listed in a
`task_any` are part of its wait; no activity is called with a durable retry
policy (its hidden retry timers are numbered by the extension when it replays,
which a cancel event can reorder); every generation registers its event waiters
before anything can deliver to them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import azure.durable_functions as df

from foundry.job_status import STALLED, TERMINAL, JobStatus, rank
from orchestrators.outcomes import Outcome
from orchestrators.polling import LoopState, PollPolicy, next_interval, retry_interval
from orchestrators.reporting import (
    SweepEnded,
    final_output,
    fit_custom_status,
    progress_status,
    run_error,
    success_status,
)
from orchestrators.signals import CANCEL_EVENT, STATUS_EVENT, Delivery, Listeners, cancel_reason
from polysync.status import to_polysync

UTC = timezone.utc  # datetime.UTC is 3.11+; the app supports 3.10

bp = df.Blueprint()

# An event that arrives while no waiter of its name is open is buffered by the SDK
# and handed to the next waiter (what we want: nothing is lost), with a warning as
# if it were a duplicate. Keep the logs for real problems.
warnings.filterwarnings("ignore", message="Potential duplicate Task completion", category=UserWarning)

__all__ = ["CANCEL_EVENT", "MAX_WAKEUPS_PER_GENERATION", "STATUS_EVENT", "bp", "sweep_orchestrator"]

# Wake-ups of any kind (timers, Event Grid hints, cancels) after which a
# generation ends even if its timers have not ended it: a storm of duplicate
# events must not grow one generation's history without bound.
MAX_WAKEUPS_PER_GENERATION = 20

# Key Vault trouble while erasing a finished run's secrets is retried by the durable
# retry policy. Safe here, unlike anywhere else in the run: it is the last task, so
# no later task can have its sequence number swapped with the hidden retry timers.
SECRETS_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=5)


@dataclass
class Run:
    """One execution (generation) of the orchestrator: what every step needs."""

    context: df.DurableOrchestrationContext
    data: dict[str, Any]
    policy: PollPolicy
    listeners: Listeners
    end_generation: bool = False  # a re-delivered event: start afresh (see orchestrators.signals)

    def clock(self) -> datetime:
        return self.context.current_utc_datetime

    def now(self) -> str:
        return self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")

    def publish(self, state: LoopState, *, submitted: bool = True) -> None:
        self.context.set_custom_status(
            fit_custom_status(progress_status(self.data, state, self.now(), submitted=submitted))
        )

    def ended(self, status: str, error: dict[str, Any] | None, state: LoopState, **kw: Any) -> SweepEnded:
        return SweepEnded(status, error, self.data, state, self.now(), **kw)


@bp.orchestration_trigger(context_name="context")
def sweep_orchestrator(context: df.DurableOrchestrationContext):
    data: dict[str, Any] = context.get_input()
    policy = PollPolicy.from_dict(data.get("policy"))
    run = Run(context, data, policy, Listeners(context, status_events=policy.use_events))
    try:
        if data.get("state") is None:
            state = yield from _submit(run)
        else:
            state = LoopState.from_dict(data["state"])
            # customStatus starts empty in each generation: publish at once, or the
            # status route reads "Starting" and the cancel route finds no job name.
            run.publish(state)
        output = yield from _wait(run, state)
    except SweepEnded as ended:
        # Failed and Cancelled runs must not end "Completed" (Polysync would read
        # Success): the orchestration fails with a message that starts with the
        # Polysync status; the report stays readable in customStatus.
        context.set_custom_status(fit_custom_status(ended.report))
        yield from _erase_secrets(context, data)
        raise
    if output is not None:  # None: this generation continued as new, the run goes on
        yield from _erase_secrets(context, data)
    return output


def _erase_secrets(context: df.DurableOrchestrationContext, data: dict[str, Any]):
    """The run is over, whatever the ending: its Secret values leave Key Vault. A failure
    here never changes the run's result; the reconciler and the secrets' expiry remain."""
    params = (data.get("request") or {}).get("parameters") or []
    references = [p["value"] for p in params if isinstance(p, dict) and p.get("keyVaultSecret")]
    if not references:
        return
    try:
        yield context.call_activity_with_retry(
            "delete_run_secrets",
            SECRETS_RETRY,
            {"instanceId": context.instance_id, "references": references},
        )
    except Exception:  # noqa: BLE001, S110 - left to the reconciler's pass and the expiry
        pass


# -- calling activities ------------------------------------------------------------------
def _call(run: Run, state: LoopState, name: str, payload: dict[str, Any], *, listen_status: bool = True):
    """Call one activity while listening for events (a cancel or a status hint that
    lands meanwhile is taken, not buffered); returns its Outcome."""
    task = run.context.call_activity(name, payload)
    winner = yield run.context.task_any([task, *run.listeners.tasks(status=listen_status)])
    if winner is not task:
        _absorb(run, state, run.listeners.take(winner))
        if not task.is_completed:
            # Only the activity is new here: racing it again against fresh waiters
            # alone would leave the extension waiting on those waiters.
            try:
                yield task
            except Exception:  # noqa: BLE001, S110 - a failed activity is read from task.result below
                pass
    return Outcome.of(task)


def _absorb(run: Run, state: LoopState, delivery: Delivery) -> None:
    """Apply an event to the state; a re-delivery only asks for a fresh generation."""
    if delivery.repeated:
        run.end_generation = True
        return
    if delivery.name == CANCEL_EVENT:
        if not state.cancel_requested:
            state.cancel_requested = True
            state.cancel_reason = cancel_reason(delivery.data)
        # The cancel route already cancelled the job in Azure ML: one cancel per run.
        state.cancel_sent = state.cancel_sent or delivery.data.get("azureMlCancelled") is True
        return
    state.events_seen = True
    key = "|".join(str(delivery.data.get(k)) for k in ("runStatus", "eventType", "eventTime"))
    if key == state.last_status_event:
        return
    state.last_status_event = key
    status = JobStatus.parse(delivery.data.get("runStatus"))
    if status in TERMINAL or status in STALLED:
        # Confirmed with a GET before acting, made by a fresh generation.
        state.poll_on_resume = True
    elif status and rank(status) > rank(state.azure_status):
        # A hint about progress: trusted for reporting (no GET), never a step backwards.
        state.azure_status = status


def _unreachable(run: Run, state: LoopState, outcome: Outcome, *, job_exists: bool) -> None:
    """Azure ML did not answer (throttled, 5xx, no connection): note since when, and
    give up only past the outage limit. A job that exists is left running then."""
    if state.unreachable_since is None:
        state.unreachable_since = run.now()
    state.retry_after = outcome.retry_after
    error = outcome.error or {}
    state.unreachable_error = f"{error.get('code') or 'Unavailable'}: {error.get('message') or ''}"[:300]
    since = _parse(state.unreachable_since)
    if (run.clock() - since).total_seconds() < run.policy.outage_limit:
        return
    waited = _duration(run.policy.outage_limit)
    hint = (
        "Check Azure ML's service health; SWEEP_OUTAGE_LIMIT_SECONDS sets how long a run waits for Azure ML."
    )
    if not job_exists:
        raise run.ended(
            "Failed",
            run_error(
                "AzureMLUnreachable",
                f"Azure ML could not be reached for over {waited} (since {state.unreachable_since}; "
                f"last answer {state.unreachable_error}) while submitting the sweep.",
                hint,
            ),
            state,
        )
    raise run.ended(
        "Failed",
        run_error(
            "AzureMLUnreachable",
            f"Azure ML could not be reached for over {waited} (since {state.unreachable_since}; last "
            f"answer {state.unreachable_error}). The sweep job {run.data['jobName']} was left running: it "
            "was not cancelled and may still finish in Azure ML.",
            "Look at the job at the monitor URL and cancel it there if it is no longer wanted (the "
            "connector's orphan reconciler leaves it alone). " + hint,
        ),
        state,
        left_running=True,
    )


def _answered(state: LoopState) -> None:
    state.unreachable_since = None
    state.retry_after = None
    state.unreachable_error = None


# -- submitting -------------------------------------------------------------------------------
def _submit(run: Run):
    data = run.data
    state = LoopState(azure_status="NotStarted", started_at=run.now())
    run.publish(state, submitted=False)

    fetched = yield from _until_answered(run, state, "fetch_template", {"template": data["template"]})
    if state.cancel_requested:
        raise run.ended(
            "Cancelled",
            run_error(
                "CancelledBeforeSubmit",
                "The run was cancelled before the sweep job was submitted; no Azure ML job was started.",
                None,
            ),
            state,
        )
    if not fetched.ok:
        raise run.ended("Failed", fetched.error, state)

    submitted = yield from _until_answered(
        run,
        state,
        "submit_sweep",
        {
            "instanceId": run.context.instance_id,
            "jobName": data["jobName"],
            "request": data["request"],
            "template": fetched.value["job"],
        },
    )
    if submitted.ok:
        state.azure_status = submitted.value["azureStatus"]
        state.monitor_url = submitted.value["monitorUrl"]
        state.submitted_at = run.now()
    elif state.cancel_requested and submitted.transient:
        # The PUT may have been applied with its answer lost: cancel whatever exists.
        state.submit_uncertain = True
    else:
        raise run.ended("Failed", submitted.error, state)
    state.interval = 0.0  # the wait starts at the poll floor
    run.publish(state)
    return state


def _until_answered(run: Run, state: LoopState, name: str, payload: dict[str, Any]):
    """Call an activity until Azure ML answers (ok or a permanent error), waiting on
    durable timers while it is unreachable; a cancel stops the trying."""
    while True:
        outcome = yield from _call(run, state, name, payload, listen_status=False)
        if not outcome.transient:
            _answered(state)
            return outcome
        _unreachable(run, state, outcome, job_exists=False)
        if state.cancel_requested:
            return outcome
        run.publish(state, submitted=False)
        state.interval, sleep = retry_interval(state.interval, run.policy, state.retry_after)
        timer = run.context.create_timer(run.clock() + timedelta(seconds=sleep))
        winner = yield run.context.task_any([timer, *run.listeners.tasks(status=False)])
        if winner is not timer:
            timer.cancel()
            _absorb(run, state, run.listeners.take(winner))
            if state.cancel_requested:
                return outcome


# -- waiting ------------------------------------------------------------------------------------
def _wait(run: Run, state: LoopState):
    context, policy = run.context, run.policy
    # A fresh run starts at the floor; a new generation keeps the interval it had.
    status_changed = state.interval <= 0
    cancel_backoff = False  # a cancel that Azure ML did not take waits for the next timer
    if state.poll_on_resume:
        # The previous generation ended on the timer this GET is for, or on a
        # terminal hint that a GET must confirm.
        state.poll_on_resume = False
        output, status_changed = yield from _poll(run, state)
        if output is not None:
            return output
    while True:
        if (
            run.end_generation
            or state.poll_on_resume
            or state.wakeups >= max(MAX_WAKEUPS_PER_GENERATION, policy.polls_per_generation)
        ):
            # A re-delivered event, a hint that needs a GET, or a bound on wake-ups
            # (events and cancels alone can also grow the history).
            return (yield from _end_generation(run, state))

        if state.cancel_requested and not state.cancel_sent and not cancel_backoff:
            sent = yield from _call(run, state, "cancel_job", {"jobName": run.data["jobName"]})
            if sent.transient:
                _unreachable(run, state, sent, job_exists=True)
                cancel_backoff = True
                run.publish(state)
                continue
            _answered(state)
            state.cancel_sent = True
            if not sent.ok:
                state.extra["cancelError"] = sent.error
            elif state.submit_uncertain and not sent.value.get("found", True):
                raise run.ended(
                    "Cancelled",
                    run_error(
                        "CancelledBeforeSubmit",
                        "The run was cancelled while the sweep job was being submitted; Azure ML has no "
                        "such job, so none was started.",
                        None,
                    ),
                    state,
                )
            output, status_changed = yield from _poll(run, state)
            if output is not None:
                return output
            continue

        if state.unreachable_since:
            state.interval, sleep = retry_interval(state.interval, policy, state.retry_after)
        else:
            state.interval = next_interval(
                state.interval, policy, events_seen=state.events_seen, status_changed=status_changed
            )
            sleep = state.interval
        timer = context.create_timer(run.clock() + timedelta(seconds=sleep))
        winner = yield context.task_any([timer, *run.listeners.tasks()])
        state.wakeups += 1
        if winner is not timer:
            timer.cancel()
            before = state.azure_status
            delivery = run.listeners.take(winner)
            _absorb(run, state, delivery)
            if delivery.name == CANCEL_EVENT or state.azure_status != before:
                run.publish(state)
            status_changed = state.azure_status != before
            continue

        cancel_backoff = False
        state.timer_wakeups += 1
        if state.timer_wakeups >= policy.polls_per_generation:
            # The eternal-orchestration pattern: the generation ends on its timer,
            # before the poll the timer was for, and the next one opens with that GET.
            state.poll_on_resume = True
            return _continue_as_new(run, state)
        output, status_changed = yield from _poll(run, state)
        if output is not None:
            return output


def _end_generation(run: Run, state: LoopState):
    """Continue as new behind a timer that fires at once and is never cancelled.

    The extension replays the action list ahead of history wherever a cancelled
    timer lets a `task_any` finish at once, so after an event-driven wake-up it
    reaches `continue_as_new` *before* the events this generation already took
    and carries them into the next one (DTFx `HandleEventRaisedEvent` after
    `ContinueAsNew`). A fired timer holds its replay until after them: only
    events that arrive later, which this generation has not seen, go on."""
    yield run.context.create_timer(run.clock())
    for waiter in run.listeners.tasks():
        if waiter.is_completed:  # an event that landed meanwhile: taken now, not lost
            _absorb(run, state, run.listeners.take(waiter))
    return _continue_as_new(run, state)


def _continue_as_new(run: Run, state: LoopState) -> None:
    state.wakeups = 0
    state.timer_wakeups = 0
    state.generation += 1
    run.context.continue_as_new({**run.data, "state": state.to_dict()})
    return None


def _poll(run: Run, state: LoopState):
    """GET the job's status and apply it. Returns (final output on success or None,
    whether the Azure ML status changed); raises SweepEnded on other endings."""
    data = run.data
    got = yield from _call(
        run, state, "get_job_status", {"jobName": data["jobName"], "request": data["request"]}
    )
    state.polls += 1
    if got.transient:
        _unreachable(run, state, got, job_exists=True)
        run.publish(state)
        return None, False
    _answered(state)
    if not got.ok:
        raise run.ended("Failed", got.error, state)
    snap = got.value
    changed = snap["azureStatus"] != state.azure_status
    state.azure_status = snap["azureStatus"]
    state.monitor_url = snap.get("monitorUrl") or state.monitor_url
    run.publish(state)

    if snap.get("terminal") or state.azure_status in TERMINAL:
        polysync = to_polysync(state.azure_status)
        if polysync == "Success":
            output = final_output(data, state, snap, run.now())
            run.context.set_custom_status(fit_custom_status(success_status(output, state)))
            return output, changed
        raise run.ended(polysync, snap.get("error"), state, snap=snap)

    if state.azure_status in STALLED:
        if state.stalled_since is None:
            state.stalled_since = run.now()
        elif (run.clock() - _parse(state.stalled_since)).total_seconds() >= run.policy.stalled_limit:
            if not state.cancel_sent:
                # One try: if Azure ML does not take it, the orphan reconciler
                # cancels the job of this Failed run.
                sent = yield from _call(run, state, "cancel_job", {"jobName": data["jobName"]})
                state.cancel_sent = sent.ok
            raise run.ended(
                "Failed",
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
    else:
        state.stalled_since = None
    return None, changed


def _parse(iso: str) -> datetime:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds)} s"
