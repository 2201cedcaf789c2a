"""Seeded fault injection for the workspace emulator."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

FAULT_KINDS = ("429", "500", "503", "drop", "slow", "drop_after_apply")


@dataclass
class FaultPlan:
    """With probability `rate` a request (optionally only those whose HTTP method
    or call kind - "get", "put", "list", "cancel" - is in `methods`) gets one of
    `kinds`, chosen by a `random.Random(seed)`:

    - "429": 429 + `Retry-After: retry_after_seconds`, ARM error `TooManyRequests`
    - "500" / "503": that status with an ARM error, nothing applied
    - "drop": the connection is closed without an answer, nothing applied
    - "slow": sleeps `slow_seconds` (wall time), then answers normally
    - "drop_after_apply": the request is applied, then the connection is closed
      without an answer (for GET/list this is the same as "drop")
    """

    rate: float = 0.2
    seed: int = 0
    kinds: tuple = FAULT_KINDS
    retry_after_seconds: int = 1
    slow_seconds: float = 0.05
    methods: frozenset | None = None

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if not self.kinds:
            raise ValueError("FaultPlan.kinds must not be empty")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("FaultPlan.rate must be within [0, 1]")


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

    def draw(self, http_method: str, kind: str) -> str | None:
        if self._methods is not None and not ({http_method.lower(), kind.lower()} & self._methods):
            return None
        with self._lock:
            if self._rng.random() >= self.plan.rate:
                return None
            return self._rng.choice(tuple(self.plan.kinds))
