"""Azure ML unreachable (throttled, 5xx, no connection): what a run notes, and what it
says when it stops waiting. Pure; the orchestrator decides when (`SWEEP_OUTAGE_LIMIT_SECONDS`).

An outage never ends a healthy run early: it keeps waiting on durable timers, never
sooner than the service's `Retry-After`. Past the limit it ends Failed, and a job that
exists is left running (not cancelled): the user decides in Azure ML studio.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts import parse_timestamp
from orchestrators.polling import LoopState
from orchestrators.reporting import run_error

HINT = "Check Azure ML's service health; SWEEP_OUTAGE_LIMIT_SECONDS sets how long a run waits for Azure ML."


def note(state: LoopState, error: dict[str, Any] | None, retry_after: float | None, now: str) -> None:
    """An unanswered call: since when Azure ML is unreachable, and its last word."""
    if state.unreachable_since is None:
        state.unreachable_since = now
    state.retry_after = retry_after
    error = error or {}
    state.unreachable_error = f"{error.get('code') or 'Unavailable'}: {error.get('message') or ''}"[:300]


def clear(state: LoopState) -> None:
    """Azure ML answered (ok or a permanent error): the outage, if any, is over."""
    state.unreachable_since = None
    state.retry_after = None
    state.unreachable_error = None


def lasted(state: LoopState, now: datetime) -> float:
    """Seconds since Azure ML was first found unreachable (0 when it is not)."""
    if state.unreachable_since is None:
        return 0.0
    return (now - parse_timestamp(state.unreachable_since)).total_seconds()


def gave_up(state: LoopState, limit: float, job_name: str, *, job_exists: bool) -> dict[str, Any]:
    """The error of a run that waited out the limit; a job that exists was left running."""
    waited = duration(limit)
    if not job_exists:
        return run_error(
            "AzureMLUnreachable",
            f"Azure ML could not be reached for over {waited} (since {state.unreachable_since}; "
            f"last answer {state.unreachable_error}) while submitting the sweep.",
            HINT,
        )
    return run_error(
        "AzureMLUnreachable",
        f"Azure ML could not be reached for over {waited} (since {state.unreachable_since}; last "
        f"answer {state.unreachable_error}). The sweep job {job_name} was left running: it "
        "was not cancelled and may still finish in Azure ML.",
        "Look at the job at the monitor URL and cancel it there if it is no longer wanted (the "
        "connector's orphan reconciler leaves it alone). " + HINT,
    )


def duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds)} s"
