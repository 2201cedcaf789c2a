"""What a benchmark counts on the local host, per function: every orchestrator and activity
invocation (a Function execution each) and the list pages the sweep watcher reads. The engine's
callables are wrapped; nothing the app does changes.

Azure ML calls are counted by the emulator (per job and HTTP status); list calls carry no job, so
the watcher's are taken from its own reports (`pages`) and the rest of the lists are the orphan
reconciler's.
"""

from __future__ import annotations

import inspect
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from contracts import WATCH_JOBS


class Executions:
    """Invocations per function name, and the watcher's list pages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_function: Counter[str] = Counter()
        self.watcher_pages = 0

    def count(self, name: str) -> None:
        with self._lock:
            self.by_function[name] += 1

    def add_pages(self, result: Any) -> None:
        if isinstance(result, dict):
            with self._lock:
                self.watcher_pages += int(result.get("pages") or 0)


def install(host: Any) -> Executions:
    """Wrap the host's orchestrators and activities; trigger invocations (HTTP, Event Grid,
    timers) are the host's own counters (`host.metrics`)."""
    counts = Executions()
    engine = host.engine
    for name, fn in list(engine.orchestrators.items()):
        engine.orchestrators[name] = _counted(counts, name, fn)
    for name, fn in list(engine.activities.items()):
        engine.activities[name] = _counted(counts, name, fn, pages=name == WATCH_JOBS)
    return counts


def _counted(
    counts: Executions, name: str, fn: Callable[..., Any], *, pages: bool = False
) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        counts.count(name)
        result = fn(*args)
        if not pages:
            return result
        if inspect.isawaitable(result):

            async def recorded() -> Any:
                value = await result
                counts.add_pages(value)
                return value

            return recorded()
        counts.add_pages(result)
        return result

    return call
