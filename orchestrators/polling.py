"""The waiting strategy, as pure data: how long to sleep before the next status
check (under the run's `contracts.PollPolicy`), and the loop state that survives
`continue_as_new`.

Two regimes. Until the run has received an Azure ML Event Grid event, the poll
interval starts at the floor, doubles up to the cap and drops back to the floor
whenever the status changes (a job that just moved tends to move again soon).
Once an event has arrived for the run, delivery is proven: events carry the
news, and polling becomes a slow safety net (events can be lost or late), from
`event_floor` doubling to `event_cap`.

A watched run (the sweep watcher lists its job every `watch_period` seconds and tells it
what changed) polls only as a safety net from the start, from `safety_floor` doubling to
`safety_cap`: the watcher bounds how late an ending is seen, events or not.

A run whose job has been told to cancel polls in the first regime (floor doubling to cap),
watched or not, events or not, until the job has ended: Azure ML ends a cancelled job within
seconds (CancelRequested, then Canceled), someone is waiting for that answer (Polysync's cancel,
a Ctrl-C on `devhost run --workspace`), and it must not wait for the watcher's next pass, its
back-off after a failed listing, or a watcher that is not running (only the 4-hour safety net
would see the end then). It costs a few GETs per cancelled run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from contracts import MAX_TIMER_SECONDS, PollPolicy


@dataclass
class LoopState:
    """Everything the polling loop needs to resume in a fresh generation."""

    azure_status: str = "NotStarted"
    interval: float = 0.0
    events_seen: bool = False
    cancel_requested: bool = False
    cancel_sent: bool = False
    cancel_reason: str | None = None
    stalled_since: str | None = None
    generation: int = 0
    polls: int = 0  # status checks (REST GETs) over the whole run
    wakeups: int = 0  # wake-ups of any kind in this generation (bounds the history)
    timer_wakeups: int = 0  # of which poll timers that fired (ends a generation)
    poll_on_resume: bool = (
        False  # the previous generation ended on a poll timer or a terminal hint: GET first
    )
    # Azure ML unreachable (throttled, 5xx, no connection): since when, and the
    # last Retry-After it asked for; cleared by the next answer.
    unreachable_since: str | None = None
    retry_after: float | None = None
    unreachable_error: str | None = None
    # The last status event acted on, across generations: the extension carries an
    # event over into the next generation when it reaches the continue-as-new first
    # (it replays a cancelled timer as done at once), and that copy is no news.
    last_status_event: str | None = None
    submit_uncertain: bool = False  # cancelled while the PUT's outcome was unknown: the job may exist
    monitor_url: str | None = None
    submitted_at: str | None = None
    started_at: str | None = None  # the run's first episode; Durable's createdTime resets per generation
    trials: dict[str, Any] | None = None  # the last trial progress read (orchestrators.trials)
    trials_read_at: str | None = None  # the last try at reading it: the next is due a cadence later
    trials_retry_after: float | None = None  # the last try was throttled: not again before this
    trials_on_resume: bool = False  # the previous generation ended on a trial timer: read first
    # The last listing was made at a terminal hint and found every trial ended: the GET that
    # follows it (the next generation's first step), if it confirms the end, lists no more.
    trials_final: bool = False
    # When the pending status/safety poll is due, kept while trial timers wake the run before
    # it (else each of those wake-ups would push the safety poll out again); None: computed at
    # the next sleep, as after any other wake-up.
    poll_due: str | None = None
    # The ending the sweep watcher listed (a JobSnapshot dict, orchestrators.sweep._poll): the
    # poll it asks for takes it instead of GETting the job. None: GET as for any other poll.
    listed_ending: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopState:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def next_interval(
    current: float,
    policy: PollPolicy,
    *,
    events_seen: bool,
    status_changed: bool,
    cancelling: bool = False,
) -> float:
    """The sleep before the next safety/status poll. `cancelling`: the job was told to cancel
    and has not ended yet (see the module's docstring)."""
    if cancelling:
        floor, cap = policy.floor, policy.cap
    elif policy.watched:
        floor, cap = policy.safety_floor, policy.safety_cap
    elif events_seen:
        floor, cap = policy.event_floor, policy.event_cap
    else:
        floor, cap = policy.floor, policy.cap
    # also the first poll (0); floors are > 0 (PollPolicy); above the cap: the safety net was left
    if status_changed or current < floor or (cancelling and current > cap):
        return floor
    return min(cap, current * 2)


def retry_interval(current: float, policy: PollPolicy, retry_after: float | None) -> tuple[float, float]:
    """(backoff, sleep) before the next try while Azure ML is unreachable: the
    no-events backoff (floor doubling to cap, whatever the events regime: an
    answer is wanted soon), but never sooner than the service's Retry-After,
    however long, bounded only by the longest single durable timer."""
    fast = replace(policy, watch_period=0.0)
    backoff = next_interval(min(current, policy.cap), fast, events_seen=False, status_changed=False)
    return backoff, min(MAX_TIMER_SECONDS, max(backoff, retry_after or 0.0))
