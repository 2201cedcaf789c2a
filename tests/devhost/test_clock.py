"""The shared clock: virtual time jumps only when the stack is quiet, never to a
cancelled timer, and runs callbacks in time order."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from devhost.clock import RealClock, VirtualClock


def _wait(event: threading.Event) -> bool:
    return event.wait(5)


def test_virtual_clock_jumps_to_timers_in_order_without_waiting():
    clock = VirtualClock().start()
    try:
        start = clock.now()
        seen: list[float] = []
        done = threading.Event()
        clock.call_later(
            2 * 24 * 3600, lambda: (seen.append((clock.now() - start).total_seconds()), done.set())
        )
        clock.call_later(60, lambda: seen.append((clock.now() - start).total_seconds()))
        began = time.monotonic()
        assert _wait(done)
        assert time.monotonic() - began < 10  # virtual: nowhere near two real days
        assert seen == [60.0, 172800.0]
    finally:
        clock.stop()


def test_virtual_clock_does_not_jump_while_work_is_held():
    clock = VirtualClock().start()
    try:
        fired = threading.Event()
        clock.acquire()
        clock.call_later(10, fired.set)
        assert not fired.wait(0.2)
        clock.release()
        assert _wait(fired)
    finally:
        clock.stop()


def test_cancelled_timers_neither_fire_nor_move_time():
    clock = VirtualClock().start()
    try:
        start = clock.now()
        fired = threading.Event()
        later = threading.Event()
        clock.call_later(3600, fired.set).cancel()
        clock.call_later(10, later.set)
        assert _wait(later)
        time.sleep(0.1)
        assert not fired.is_set()
        assert clock.now() - start == timedelta(seconds=10)
    finally:
        clock.stop()


def test_manual_advance_runs_due_callbacks():
    clock = VirtualClock(auto=False).start()
    try:
        hits: list[int] = []
        clock.call_later(5, lambda: hits.append(5))
        clock.call_later(50, lambda: hits.append(50))
        clock.advance(10)
        assert hits == [5]
        clock.advance(100)
        assert hits == [5, 50]
    finally:
        clock.stop()


def test_real_clock_fires_on_the_wall_clock():
    clock = RealClock().start()
    try:
        fired = threading.Event()
        began = time.monotonic()
        clock.call_later(0.1, fired.set)
        assert _wait(fired)
        assert time.monotonic() - began >= 0.09
    finally:
        clock.stop()


def test_background_callbacks_fire_as_time_passes_but_never_move_it_alone():
    """A timer trigger's schedule is background: passing time fires it in order with the rest,
    and an idle stack with only background callbacks left stays put (it would otherwise jump
    from one occurrence to the next forever)."""
    clock = VirtualClock().start()
    try:
        start = clock.now()
        seen: list[str] = []
        done = threading.Event()
        for minutes in (10, 20, 30, 40):
            clock.call_at(
                start + timedelta(minutes=minutes),
                lambda m=minutes: seen.append(f"tick {m}"),
                background=True,
            )
        clock.call_later(25 * 60, lambda: (seen.append("work"), done.set()))
        assert _wait(done)
        time.sleep(0.2)  # idle now: only the background ticks at 30 and 40 minutes remain
        assert seen == ["tick 10", "tick 20", "work"]
        assert clock.now() - start == timedelta(minutes=25)
    finally:
        clock.stop()
