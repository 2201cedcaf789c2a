"""Seeded fault injection for the workspace emulator."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import datetime

FAULT_KINDS = ("429", "500", "503", "drop", "slow", "drop_after_apply")


@dataclass
class FaultPlan:
    """With probability `rate` a request (optionally only those whose HTTP method
    or call kind - "get", "put", "list", "cancel" - is in `methods`) gets one of
    `kinds`, chosen by a `random.Random(seed)`:

    - "429": 429 + `Retry-After: retry_after_seconds`, ARM error `TooManyRequests`
    - "500": 500 with an ARM error, nothing applied
    - "503": 503 + `Retry-After: retry_after_seconds` (none when it is None), nothing applied
    - "drop": the connection is closed without an answer, nothing applied
    - "slow": sleeps `slow_seconds` (wall time), then answers normally
    - "drop_after_apply": the request is applied, then the connection is closed
      without an answer (for GET/list this is the same as "drop")

    `active_from` / `active_until` (aware datetimes on the emulator's clock, each
    optional) limit the plan to a window: an outage that starts and ends at given
    (virtual) times. Every field is plain data, so a plan can be built from JSON.
    """

    rate: float = 0.2
    seed: int = 0
    kinds: tuple = FAULT_KINDS
    retry_after_seconds: int | None = 1
    slow_seconds: float = 0.05
    methods: frozenset | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if not self.kinds:
            raise ValueError("FaultPlan.kinds must not be empty")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("FaultPlan.rate must be within [0, 1]")
        if self.retry_after_seconds is not None and self.retry_after_seconds < 0:
            raise ValueError("FaultPlan.retry_after_seconds must be >= 0 or None")
        for name in ("active_from", "active_until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"FaultPlan.{name} must be an aware datetime")
        if self.active_from and self.active_until and self.active_until <= self.active_from:
            raise ValueError("FaultPlan.active_until must be after active_from")

    def active_at(self, now: datetime) -> bool:
        """Whether the plan's window contains `now` (no window: always)."""
        if self.active_from is not None and now < self.active_from:
            return False
        return self.active_until is None or now < self.active_until


class FaultInjector:
    """Draws faults from a plan in request order (thread-safe, deterministic for a
    given sequence of eligible requests)."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._methods = None
        if plan.methods is not None:
            self._methods = {m.lower() for m in plan.methods}

    def draw(self, http_method: str, kind: str, now: datetime | None = None) -> str | None:
        """The fault for one request, or None. `now` is required when the plan has a window."""
        if self.plan.active_from is not None or self.plan.active_until is not None:
            if now is None:
                raise ValueError("a FaultPlan with a time window needs the request time")
            if not self.plan.active_at(now):
                return None
        if self._methods is not None and not ({http_method.lower(), kind.lower()} & self._methods):
            return None
        with self._lock:
            if self._rng.random() >= self.plan.rate:
                return None
            return self._rng.choice(tuple(self.plan.kinds))
