"""The sweep orchestration: submit once, then wait cheaply until the job ends.

Deterministic by construction: time comes only from
`context.current_utc_datetime`, every decision from history (activity results,
timers, events). Reporting is pure (`orchestrators.reporting`).

The first generation fetches the template and submits; every generation then
runs the polling loop until its `polls_per_generation`-th timer fires (default:
the first) and continues as new with the loop state; the next generation opens
with the status GET that timer was due for. A sweep that runs for days never
replays more than one wake-up's worth of history.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df

from foundry.status import STALLED, TERMINAL, rank, to_polysync
from orchestrators.polling import LoopState, PollPolicy, next_interval
from orchestrators.reporting import SweepEnded, final_output, progress_status, run_error

bp = df.Blueprint()

# An Event Grid hint that arrives while the orchestrator awaits an activity has no
# waiter yet; the SDK buffers it for the next wait_for_external_event (what we
# want) but warns as if it were a duplicate. Keep the logs for real problems.
warnings.filterwarnings("ignore", message="Potential duplicate Task completion", category=UserWarning)

CANCEL_EVENT = "cancel"
STATUS_EVENT = "job_status_changed"

# Activities retry transient Azure ML failures (the client already retried
# within the call); permanent ones come back as {"ok": False}.
ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=5)

# Wake-ups of any kind (timers, Event Grid hints, cancels) after which a
# generation ends even if its timers have not ended it: a storm of duplicate
# events must not grow one generation's history without bound.
MAX_WAKEUPS_PER_GENERATION = 20


@bp.orchestration_trigger(context_name="context")
def sweep_orchestrator(context: df.DurableOrchestrationContext):
    data: dict[str, Any] = context.get_input()
    policy = PollPolicy.from_dict(data.get("policy"))
    job_name: str = data["jobName"]

    try:
        if data.get("state") is None:
            state = yield from _submit(context, data)
        else:
            state = LoopState.from_dict(data["state"])
            # customStatus starts empty in each generation: publish at once, or the
            # status route reads "Starting" and the cancel route finds no job name
            # (its direct Azure ML cancel is the backup for a cancel event that a
            # continue-as-new drops) until the next poll.
            _publish(context, data, state)
        output = yield from _wait(context, data, policy, state, job_name)
    except SweepEnded as ended:
        # Failed and Cancelled runs must not end "Completed" (Polysync would read
        # Success): the orchestration fails with a message that starts with the
        # Polysync status; the full report stays readable in customStatus.
        context.set_custom_status(ended.report)
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
            ACTIVITY_RETRY,
            {"instanceId": context.instance_id, "references": references},
        )
    except Exception:  # noqa: BLE001, S110 - left to the reconciler's pass and the expiry
        pass


def _now(context: df.DurableOrchestrationContext) -> str:
    return context.current_utc_datetime.strftime("%Y-%m-%dT%H:%M:%SZ")


def _publish(context: df.DurableOrchestrationContext, data: dict[str, Any], state: LoopState) -> None:
    context.set_custom_status(progress_status(data, state, _now(context)))


def _submit(context: df.DurableOrchestrationContext, data: dict[str, Any]):
    state = LoopState(azure_status="NotStarted", started_at=_now(context))
    context.set_custom_status(progress_status(data, state, _now(context), submitted=False))

    fetch = context.call_activity_with_retry("fetch_template", ACTIVITY_RETRY, {"template": data["template"]})
    cancel = context.wait_for_external_event(CANCEL_EVENT)
    winner = yield context.task_any([fetch, cancel])
    if winner is cancel:
        raise SweepEnded(
            "Cancelled",
            run_error(
                "CancelledBeforeSubmit",
                "The run was cancelled before the sweep job was submitted; no Azure ML job was started.",
                None,
            ),
            data,
            state,
            _now(context),
        )
    fetched = fetch.result
    if not fetched.get("ok"):
        raise SweepEnded("Failed", fetched["error"], data, state, _now(context))

    submit = context.call_activity_with_retry(
        "submit_sweep",
        ACTIVITY_RETRY,
        {
            "instanceId": context.instance_id,
            "jobName": data["jobName"],
            "request": data["request"],
            "template": fetched["job"],
        },
    )
    cancel = context.wait_for_external_event(CANCEL_EVENT)
    winner = yield context.task_any([submit, cancel])
    if winner is cancel:
        state.cancel_requested = True
        state.cancel_reason = _reason(cancel.result)
        if not submit.is_completed:
            yield submit  # the PUT may already be on the wire: wait for it, then cancel the job
    submitted = submit.result
    if not submitted.get("ok"):
        raise SweepEnded("Failed", submitted["error"], data, state, _now(context))

    state.azure_status = submitted["azureStatus"]
    state.monitor_url = submitted["monitorUrl"]
    state.submitted_at = _now(context)
    _publish(context, data, state)
    return state


def _cancelled_by_caller(event_data: Any) -> bool:
    if isinstance(event_data, str):  # the real host hands event data over as JSON text
        try:
            event_data = json.loads(event_data)
        except ValueError:
            return False
    return isinstance(event_data, dict) and event_data.get("azureMlCancelled") is True


def _reason(event_data: Any) -> str | None:
    if isinstance(event_data, dict):
        reason = event_data.get("reason")
        return str(reason)[:500] if reason else None
    return None


def _wait(
    context: df.DurableOrchestrationContext,
    data: dict[str, Any],
    policy: PollPolicy,
    state: LoopState,
    job_name: str,
):
    # A fresh run starts at the floor; a new generation keeps the interval it had.
    status_changed = state.interval <= 0
    # One waiter per event name, kept across iterations and replaced only when it
    # fires. The SDK hands an event to the newest waiter of that name; waiters
    # created afresh each iteration would leave stale ones behind, and an event
    # arriving while an activity runs would complete a stale one and be lost.
    cancel = context.wait_for_external_event(CANCEL_EVENT)
    changed = context.wait_for_external_event(STATUS_EVENT) if policy.use_events else None
    if state.generation > 0 and (state.poll_on_resume or state.events_seen):
        # Either the previous generation ended on the timer this GET is for, or
        # events drive the run: events raised during the continue-as-new
        # transition are dropped, and the next safety poll may be hours away, so
        # a status change hidden in that window is confirmed now, with one GET.
        # Coming after the transition, the GET sees whatever a dropped event said.
        state.poll_on_resume = False
        output, status_changed = yield from _poll(context, data, policy, state)
        if output is not None:
            return output
    while True:
        if state.cancel_requested and not state.cancel_sent:
            sent = yield context.call_activity_with_retry("cancel_job", ACTIVITY_RETRY, {"jobName": job_name})
            state.cancel_sent = True
            if not sent.get("ok"):
                state.extra["cancelError"] = sent.get("error")
            output, status_changed = yield from _poll(context, data, policy, state)
            if output is not None:
                return output
            continue

        if state.wakeups >= max(MAX_WAKEUPS_PER_GENERATION, policy.polls_per_generation):
            # Events and cancels alone can also grow the history; bound them too.
            return _continue_as_new(context, data, state)

        state.interval = next_interval(
            state.interval, policy, events_seen=state.events_seen, status_changed=status_changed
        )
        timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=state.interval))
        waiting = [timer, cancel] if changed is None else [timer, cancel, changed]
        winner = yield context.task_any(waiting)
        state.wakeups += 1
        if winner is not timer:
            timer.cancel()
        else:
            state.timer_wakeups += 1
            if state.timer_wakeups >= policy.polls_per_generation:
                # The eternal-orchestration pattern: the generation ends on its
                # timer, before the poll the timer was for, and the next one opens
                # with that GET. Every episode then replays a short history whatever
                # the sweep's age, and no status GET is added for the transition.
                state.poll_on_resume = True
                return _continue_as_new(context, data, state)

        if winner is cancel:
            state.cancel_requested = True
            state.cancel_reason = _reason(cancel.result)
            # The cancel route already cancelled the job in Azure ML: one cancel per run.
            state.cancel_sent = state.cancel_sent or _cancelled_by_caller(cancel.result)
            cancel = context.wait_for_external_event(CANCEL_EVENT)  # absorbs repeated cancels
            _publish(context, data, state)
            continue

        if changed is not None and winner is changed:
            state.events_seen = True
            payload = changed.result
            changed = context.wait_for_external_event(STATUS_EVENT)
            event_status = payload.get("runStatus") if isinstance(payload, dict) else None
            if event_status not in TERMINAL and event_status not in STALLED:
                # A hint about progress: trust it for reporting (no GET), but never
                # step backwards on a late or duplicate delivery.
                status_changed = bool(event_status) and rank(event_status) > rank(state.azure_status)
                if status_changed:
                    state.azure_status = event_status
                    _publish(context, data, state)
                continue
            # A terminal (or alarming) event is confirmed with a GET before acting,
            # made by a fresh generation like every other poll (see above).
            state.poll_on_resume = True
            return _continue_as_new(context, data, state)

        output, status_changed = yield from _poll(context, data, policy, state)
        if output is not None:
            return output


def _continue_as_new(context: df.DurableOrchestrationContext, data: dict[str, Any], state: LoopState) -> None:
    state.wakeups = 0
    state.timer_wakeups = 0
    state.generation += 1
    context.continue_as_new({**data, "state": state.to_dict()})
    return None


def _poll(
    context: df.DurableOrchestrationContext,
    data: dict[str, Any],
    policy: PollPolicy,
    state: LoopState,
):
    """GET the job's status and apply it. Returns (final output on success or None,
    whether the Azure ML status changed); raises SweepEnded on other endings."""
    snap = yield context.call_activity_with_retry(
        "get_job_status", ACTIVITY_RETRY, {"jobName": data["jobName"], "request": data["request"]}
    )
    state.polls += 1
    if not snap.get("ok"):
        raise SweepEnded("Failed", snap["error"], data, state, _now(context))
    changed = snap["azureStatus"] != state.azure_status
    state.azure_status = snap["azureStatus"]
    state.monitor_url = snap.get("monitorUrl") or state.monitor_url
    _publish(context, data, state)

    if snap.get("terminal") or state.azure_status in TERMINAL:
        polysync = to_polysync(state.azure_status)
        if polysync == "Success":
            output = final_output(data, state, snap, _now(context))
            context.set_custom_status({**output, "startedAt": state.started_at})
            return output, changed
        raise SweepEnded(polysync, snap.get("error"), data, state, _now(context), snap=snap)

    if state.azure_status in STALLED:
        now = context.current_utc_datetime
        if state.stalled_since is None:
            state.stalled_since = _now(context)
        else:
            since = _parse(state.stalled_since)
            if (now - since).total_seconds() >= policy.stalled_limit:
                if not state.cancel_sent:
                    yield context.call_activity_with_retry(
                        "cancel_job", ACTIVITY_RETRY, {"jobName": data["jobName"]}
                    )
                    state.cancel_sent = True
                raise SweepEnded(
                    "Failed",
                    run_error(
                        "JobStalled",
                        f"The sweep job stayed {state.azure_status} for over {int(policy.stalled_limit)} s; "
                        "the connector cancelled it rather than wait forever.",
                        "Open the monitor URL to see why the job stopped progressing (compute quota, "
                        "a paused workspace), then run again. SWEEP_STALLED_LIMIT_SECONDS sets the limit.",
                    ),
                    data,
                    state,
                    _now(context),
                    snap=snap,
                )
    else:
        state.stalled_since = None
    return None, changed


def _parse(iso: str) -> datetime:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
