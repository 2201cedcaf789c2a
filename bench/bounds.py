"""The fewest Azure ML calls any design can make while still seeing a sweep's end within the
detection bound when no event arrives: the floor under the call targets, computed from the
measured figures, so the bench can tell a target this app misses from one nothing can meet.

Why a floor exists: an end that no event reports (events off, lost or never delivered) is only
seen by looking. To see it within `bound` seconds, some caller must look at the job at least once
every `bound` seconds for as long as it runs, that is at least floor(duration / bound) looks. The
only Azure ML call that looks at many jobs at once is List Jobs (`GET .../jobs`, paged by the
service; the API takes no page-size parameter), so one look at `sweeps` running jobs costs
ceil(sweeps / page_size) calls, shared by all of them. On top come each run's own calls (submit,
confirm, untag...), measured by the bench.
"""

from __future__ import annotations

import math


def looks_needed(sweep_seconds: float, bound_seconds: float) -> int:
    """Looks a sweep of this length needs so that an unreported end is seen within the bound."""
    return math.floor(sweep_seconds / bound_seconds)


def calls_floor(
    sweep_seconds: float, bound_seconds: float, sweeps: int, page_size: int, own_calls: float
) -> float:
    """The fewest calls per run, shares included, with `sweeps` running together."""
    pages = math.ceil(sweeps / page_size)
    return own_calls + looks_needed(sweep_seconds, bound_seconds) * pages / sweeps


def page_size_needed(
    sweep_seconds: float, bound_seconds: float, sweeps: int, own_calls: float, limit: float
) -> int | None:
    """The smallest service page size with which `limit` calls per run can hold at `sweeps`
    concurrent sweeps; None when no page size can (the run's own calls plus one page per look,
    shared, already exceed it)."""
    looks = looks_needed(sweep_seconds, bound_seconds)
    if looks == 0:
        return 1 if own_calls <= limit else None
    pages_per_look = math.floor((limit - own_calls) * sweeps / looks)
    if pages_per_look < 1:
        return None
    return math.ceil(sweeps / pages_per_look)


def hourly_floor(bound_seconds: float) -> float:
    """Looks per sweep-hour a lone sweep needs without events: one every `bound_seconds`."""
    return 3600.0 / bound_seconds
