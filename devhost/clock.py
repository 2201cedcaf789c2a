"""One clock for the whole local stack: the emulator's job lifecycles, the durable
host's timers and Event Grid delivery all read and schedule on it.

`RealClock` follows the wall clock (interactive use). `VirtualClock` jumps straight
to the next scheduled callback whenever the stack is quiet, so a two-day sweep
runs in seconds while every component still sees consistent, monotonic time.
"Quiet" means no component holds work: anything that has queued or is running
work must `acquire()` before handing it over and `release()` when done, otherwise
the virtual clock could jump past a timer the work was about to create.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

UTC = timezone.utc  # datetime.UTC is 3.11+; the app supports 3.10

Callback = Callable[[], None]


class TimerHandle:
    """Returned by `call_at`; `cancel()` stops a callback that has not run yet."""

    __slots__ = ("background", "cancelled", "when")

    def __init__(self, when: datetime, background: bool = False) -> None:
        self.when = when
        self.cancelled = False
        self.background = background

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Scheduler thread + heap of callbacks. Callbacks run on the scheduler thread
    and must be short (enqueue work elsewhere; never block on the network)."""

    virtual = False

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[datetime, int, TimerHandle, Callback]] = []
        self._seq = itertools.count()
        self._busy = 0
        self._stopped = False
        self._thread: threading.Thread | None = None

    # -- time -------------------------------------------------------------
    def now(self) -> datetime:
        raise NotImplementedError

    # -- scheduling -------------------------------------------------------
    def call_at(self, when: datetime, fn: Callback, *, background: bool = False) -> TimerHandle:
        """Run `fn` at `when`. A `background` callback (a timer trigger's schedule) runs when time
        gets there, but never makes virtual time move on its own: an idle stack whose only
        callbacks are background ones stays put instead of jumping from one to the next forever."""
        if when.tzinfo is None:
            raise ValueError("call_at needs an aware datetime")
        handle = TimerHandle(when, background)
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._seq), handle, fn))
            self._cond.notify_all()
        return handle

    def call_later(self, seconds: float, fn: Callback) -> TimerHandle:
        return self.call_at(self.now() + timedelta(seconds=seconds), fn)

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of this clock's time (the app's in-call retry back-off)."""
        raise NotImplementedError

    # -- quiescence (only the virtual clock cares) --------------------------
    def acquire(self) -> None:
        with self._cond:
            self._busy += 1

    def release(self) -> None:
        with self._cond:
            self._busy -= 1
            if self._busy < 0:
                raise RuntimeError("Clock.release() without acquire()")
            self._cond.notify_all()

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @property
    def busy(self) -> int:
        return self._busy

    def pending(self) -> int:
        with self._cond:
            return sum(1 for _, _, h, _ in self._heap if not h.cancelled)

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> Clock:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _pop_due(self) -> list[Callback]:
        """Pop every callback due at the current time (caller holds the lock)."""
        now = self.now()
        due: list[Callback] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, handle, fn = heapq.heappop(self._heap)
            if not handle.cancelled:
                due.append(fn)
        return due

    def _run_callbacks(self, callbacks: list[Callback]) -> None:
        for fn in callbacks:
            try:
                fn()
            except Exception:
                import logging

                logging.getLogger(__name__).exception("clock callback failed")
            finally:
                self.release()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                due = self._pop_due()
                self._busy += len(due)
                if not due:
                    self._idle()
                    continue
            self._run_callbacks(due)

    def _idle(self) -> None:
        """Nothing is due: wait (the lock is held) until something may be."""
        raise NotImplementedError


class RealClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def _idle(self) -> None:
        timeout = 1.0
        if self._heap:
            timeout = min(timeout, max(0.0, (self._heap[0][0] - self.now()).total_seconds()))
        self._cond.wait(timeout=timeout)


class VirtualClock(Clock):
    """Simulated time. With `auto=True` time jumps to the next callback once the
    stack has been quiet for `settle` wall seconds; with `auto=False` only
    `advance()` moves it (fully deterministic tests)."""

    virtual = True

    def __init__(
        self,
        start: datetime | None = None,
        *,
        auto: bool = True,
        settle: float = 0.002,
    ) -> None:
        super().__init__()
        self._now = start or datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
        self.auto = auto
        self.settle = settle
        self.jumps = 0

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        """Returns at once: the app's in-call retry back-off takes no time here.

        Work in flight holds the clock, so virtual time cannot move under a sleeper,
        and a sleeper waiting for it would deadlock a busy worker pool. Retries
        therefore come back to back, and an outage reaches the orchestrator's
        durable timers sooner than on Azure: stricter than the real service, never
        kinder (the client still counts the back-off it asked for against its budget).
        """
        return None

    def advance(self, seconds: float) -> None:
        """Move time forward, running due callbacks in order (blocking until each
        step's work has quieted down)."""
        target = self._now + timedelta(seconds=seconds)
        while True:
            with self._cond:
                nxt = self._heap[0][0] if self._heap else None
                if nxt is None or nxt > target:
                    self._now = max(self._now, target)
                    self._cond.notify_all()
                    break
                self._now = max(self._now, nxt)
                self._cond.notify_all()
            self.wait_quiet()
        self.wait_quiet()

    def wait_quiet(self, timeout: float = 30.0) -> bool:
        """Block until nothing is due and no work is held."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy or (self._heap and self._heap[0][0] <= self._now):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(timeout=min(remaining, 0.05))
        return True

    def _foreground_pending(self) -> bool:
        """Is a live callback other than a background one waiting (caller holds the lock)?"""
        if self._heap and not self._heap[0][2].background:
            return True
        return any(not h.cancelled and not h.background for _, _, h, _ in self._heap)

    def _idle(self) -> None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)  # never jump to a timer nobody waits for
        if not (self.auto and self._busy == 0 and self._heap and self._foreground_pending()):
            self._cond.wait(timeout=0.05)
            return
        # Let the stack settle, then jump if still quiet.
        self._cond.wait(timeout=self.settle)
        if not self._stopped and self._busy == 0 and self._heap and self._heap[0][0] > self._now:
            self._now = self._heap[0][0]
            self.jumps += 1
