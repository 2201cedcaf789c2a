"""The sweep watcher: one orchestration per task hub (a singleton with a fixed instance id) that
lists the connector's watched jobs every `period` seconds and tells each run whose job changed.

Why a singleton orchestration and not a Durable entity: the watcher's work is a timer, one Azure
ML call and a few Durable client calls per pass, which an eternal orchestration expresses
directly (an entity has no timers of its own and should not do I/O), and the local host plays
orchestrations faithfully already. It lives only while sweeps run: after `idle_passes` passes
that listed nothing it completes, and the start route (or the orphan reconciler, which lists the
running sweeps anyway) starts it again when a run needs it.

One pass is one generation: list (and tell) -> untag the jobs whose runs know they ended ->
sleep one period -> continue as new with what was seen. History per generation is a handful
of events whatever the number of sweeps; the `seen` map (job name -> status) travels in the
input. Deterministic like every orchestrator: time from the context, decisions from history.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from contracts import UNWATCH_JOB, WATCH_JOBS, WatcherInput, WatchOrder, WatchReport, timestamp
from orchestrators.outcomes import Outcome

bp = df.Blueprint()

# The watcher ends after this much time without a watched job: long enough that a run being
# started (its job not PUT yet) is not left behind; the start route wakes it again anyway.
IDLE_SECONDS = 300.0


# While Azure ML does not answer the listing, the watcher backs off (never sooner than the
# service's Retry-After) up to this: nothing can be learnt meanwhile, and a throttled
# subscription must not be hammered.
MAX_BACKOFF_SECONDS = 600.0


def next_pass_in(period: float, failures: int, retry_after: float | None) -> float:
    """Seconds to the next pass: the period, doubled per consecutive failed pass up to
    MAX_BACKOFF_SECONDS, and never sooner than Retry-After."""
    if failures <= 0:
        return period
    backoff = min(MAX_BACKOFF_SECONDS, period * 2 ** min(failures, 16))
    return max(period, backoff, min(retry_after or 0.0, MAX_BACKOFF_SECONDS))


def idle_passes(period: float) -> int:
    """Consecutive empty passes after which the watcher ends."""
    return max(2, math.ceil(IDLE_SECONDS / period))


@bp.orchestration_trigger(context_name="context")
def sweep_watcher(context: df.DurableOrchestrationContext):
    watch = WatcherInput.from_dict(context.get_input())
    order = WatchOrder(watch.task_hub, watch.events, watch.seen)
    task = context.call_activity(WATCH_JOBS, order.to_dict())
    try:
        yield task
    except Exception:  # noqa: BLE001, S110 - read from the task below: a failed pass keeps what it saw
        pass
    outcome = Outcome.of(task)
    seen, listed, note, failures, pages = watch.seen, None, None, 0, watch.pages
    if outcome.ok:
        report = WatchReport.from_dict(outcome.value)
        seen, listed, pages = report.seen, report.listed, watch.pages + report.pages
        yield from _untag(context, report.finished)
    else:
        note = (outcome.error or {}).get("code") or "unreachable"
        failures = watch.failures + 1
    empty = watch.empty_passes + 1 if listed == 0 else 0
    context.set_custom_status(
        {
            "watching": len(seen),
            "passes": watch.passes + 1,
            "pages": pages,
            "lastPass": timestamp(context.current_utc_datetime),
            **({"lastError": note} if note else {}),
        }
    )
    if empty >= idle_passes(watch.period):
        return {
            "passes": watch.passes + 1,
            "pages": pages,
            "endedAt": timestamp(context.current_utc_datetime),
        }
    sleep = next_pass_in(watch.period, failures, outcome.retry_after)
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=sleep))
    context.continue_as_new(
        WatcherInput(
            watch.period,
            watch.events,
            watch.task_hub,
            seen,
            empty_passes=empty,
            passes=watch.passes + 1,
            failures=failures,
            pages=pages,
        ).to_dict()
    )
    return None


def _untag(context: df.DurableOrchestrationContext, finished: tuple[dict[str, Any], ...]):
    """One `unwatch_job` per ended job, in parallel; one that fails is listed again next pass
    (still tagged, already seen ended: it is not told twice) and untagged then."""
    if not finished:
        return
    tasks = [context.call_activity(UNWATCH_JOB, {"job": job}) for job in finished]
    try:
        yield context.task_all(tasks)
    except Exception:  # noqa: BLE001, S110 - an untag that raised is retried by the next pass
        pass
