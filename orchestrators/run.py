"""One generation of the sweep orchestration, and the steps every phase of it takes:
calling an activity while listening for events, taking an event, noting that Azure ML
did not answer. Deterministic, like everything the orchestrator runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import azure.durable_functions as df

from contracts import WATCHER_EVENT_TYPE, PollPolicy, StatusSignal, SweepInput, timestamp
from foundry.job_status import JobStatus, rank
from orchestrators import outage
from orchestrators.outcomes import Outcome
from orchestrators.polling import LoopState
from orchestrators.reporting import SweepEnded, fit_custom_status, progress_status
from orchestrators.signals import Delivery, Listeners
from polysync.request import payload
from polysync.status import PolysyncStatus

FAILED, CANCELLED = PolysyncStatus.FAILED, PolysyncStatus.CANCELLED  # the two ways a run ends unsuccessfully


class Next(Enum):
    """What the wait loop does after a wake-up (the third answer is the run's output)."""

    WAIT = "keep waiting in this generation"
    NEW_GENERATION = "this generation continued as new"


@dataclass
class Run:
    """One execution (generation) of the orchestrator: what every step needs."""

    context: df.DurableOrchestrationContext
    input: SweepInput
    listeners: Listeners
    end_generation: bool = False  # a re-delivered event: start afresh (see orchestrators.signals)
    status_changed: bool = False  # the last wake-up changed the Azure ML status: poll at the floor
    cancel_backoff: bool = False  # a cancel Azure ML did not take waits for the next timer
    terminal_hint: bool = False  # a hint said the sweep ended: this generation ends for the GET

    @property
    def policy(self) -> PollPolicy:
        return self.input.policy

    def clock(self) -> datetime:
        return self.context.current_utc_datetime

    def now(self) -> str:
        return timestamp(self.clock())

    def publish(self, state: LoopState, *, submitted: bool = True) -> None:
        status = progress_status(self.input.job_name, state, self.now(), submitted=submitted)
        self.context.set_custom_status(fit_custom_status(status))

    def ended(
        self, status: PolysyncStatus, error: dict[str, Any] | None, state: LoopState, **kw: Any
    ) -> SweepEnded:
        return SweepEnded(status, error, self.input.job_name, state, self.now(), **kw)


# -- calling activities ---------------------------------------------------------------------
def call(run: Run, state: LoopState, name: str, payload: dict[str, Any], *, listen_status: bool = True):
    """Call one activity while listening for events (a cancel or a status hint that
    lands meanwhile is taken, not buffered); returns its Outcome."""
    task = run.context.call_activity(name, payload)
    winner = yield run.context.task_any([task, *run.listeners.tasks(status=listen_status)])
    if winner is not task:
        take(run, state, winner)
        if not task.is_completed:
            # Only the activity is new here: racing it again against fresh waiters
            # alone would leave the extension waiting on those waiters.
            try:
                yield task
            except Exception:  # noqa: BLE001, S110 - a failed activity is read from task.result below
                pass
    return Outcome.of(task)


def unreachable(run: Run, state: LoopState, outcome: Outcome, *, job_exists: bool) -> None:
    """Azure ML did not answer: note since when, and give up only past the outage limit."""
    outage.note(state, outcome.error, outcome.retry_after, run.now())
    if outage.lasted(state, run.clock()) < run.policy.outage_limit:
        return
    error = outage.gave_up(state, run.policy.outage_limit, run.input.job_name, job_exists=job_exists)
    raise run.ended(FAILED, error, state, left_running=job_exists)


# -- events ------------------------------------------------------------------------------------
def take(run: Run, state: LoopState, waiter: Any) -> Delivery:
    """Read the event a waiter got and apply it; a re-delivery only asks for a fresh generation."""
    delivery = run.listeners.take(waiter)
    if delivery.repeated:
        run.end_generation = True
    elif delivery.is_cancel:
        _on_cancel_event(state, delivery)
    elif _on_status_event(run, state, delivery):
        run.terminal_hint = True
    return delivery


def _on_cancel_event(state: LoopState, delivery: Delivery) -> None:
    signal = delivery.cancel()
    if not state.cancel_requested:
        state.cancel_requested = True
        state.cancel_reason = signal.reason
    # The cancel route already cancelled the job in Azure ML: one cancel per run.
    state.cancel_sent = state.cancel_sent or signal.azure_ml_cancelled


def _on_status_event(run: Run, state: LoopState, delivery: Delivery) -> bool:
    """Apply a status hint; True when it says the sweep ended (news, not a repeat)."""
    signal = delivery.status()
    state.events_seen = True
    if signal.key == state.last_status_event:
        return False
    state.last_status_event = signal.key
    status = JobStatus.parse(signal.run_status)
    if status is not None and status.is_terminal and state.listed_ending is None:
        state.listed_ending = _listed_ending(run, state, signal)
    if status is not None and (status.is_terminal or status.is_stalled):
        # Acted on by a fresh generation: after a GET that confirms it, or on what the sweep
        # watcher listed (`state.listed_ending`), which is the job as the GET would read it.
        state.poll_on_resume = True
        return status.is_terminal
    if status and rank(status) > rank(state.azure_status):
        # A hint about progress: trusted for reporting (no GET), never a step backwards.
        state.azure_status = status.value
    return False


def _listed_ending(run: Run, state: LoopState, signal: StatusSignal) -> dict[str, Any] | None:
    """The report of an ending the sweep watcher listed, or None when a GET must confirm it.

    Trusted only as the watcher sends it: its event type, the job it read (`signal.job`, the
    part of the listed resource a report reads) of this run's job name in the same terminal
    status. An Event Grid hint carries no job (the intake builds the signal from the event's own
    fields) and is always confirmed by a GET. The report is the one `get_job_status` makes of a
    GET (the same `polysync.outcome` code, the declared outputs, a Secret one masked)."""
    job = signal.job
    if signal.event_type != WATCHER_EVENT_TYPE or not isinstance(job, dict):
        return None
    query = payload.status_query(run.input.job_name, run.input.request)
    from polysync.outcome import listed_snapshot

    snap = listed_snapshot(job, state.monitor_url, query.outputs, query.objective_metric)
    if snap.job_name != run.input.job_name or snap.azure_status != signal.run_status or not snap.terminal:
        return None
    return snap.to_dict()
