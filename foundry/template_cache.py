"""Template definitions the start route read a moment ago, reused by the next starts in the same
worker for `TEMPLATE_CACHE_SECONDS` (default 60; 0 = off).

Why a definition can be reused: an Azure ML job's definition cannot change. A re-PUT of its name
may change only description, tags, displayName, properties and isArchived; anything else is
refused (facts.md, `JobPropertyImmutable`). So a cached definition stays the template's own until
the template is deleted and a new job is created at its name, or its mutable fields are edited.

What the TTL trades, and what is never cached:
- Only a definition from which a sweep body was built is kept (the caller says so by calling
  `remember`); a template that is missing (404), refused (not a Sweep template, a run of this
  connector, no objective, ...) or unreadable is read again on every start, so every 4xx answer
  and message is what a fresh read gives, and a fixed template is seen at once.
- Within the TTL a start does not see an edit of the template's tags, description, displayName
  or properties (copied into the run's job), nor a template deleted or recreated meanwhile: the
  run submits the definition read at most TTL seconds before. It is a whole definition, so the
  sweep still runs; if what it names is gone (its compute, its environment version) Azure ML
  refuses the PUT and the run fails with that hint, as a run started just before the change
  would have.
- Per process (each Flex Consumption instance has its own), bounded to `MAX_ENTRIES` names.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TTL_SECONDS = 60.0
MAX_ENTRIES = 256


@dataclass
class TemplateCache:
    """Template name -> (definition, read at). Thread-safe: the start route reads it from threads."""

    ttl: float = DEFAULT_TTL_SECONDS
    now: Callable[[], float] = time.monotonic
    max_entries: int = MAX_ENTRIES
    _entries: OrderedDict[str, tuple[dict[str, Any], float]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def recall(self, name: str) -> dict[str, Any] | None:
        """The definition read for `name` less than `ttl` seconds ago (a copy), or None."""
        if not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return None
            definition, read_at = entry
            if self.now() - read_at >= self.ttl:
                del self._entries[name]
                return None
            return copy.deepcopy(definition)

    def remember(self, name: str, definition: dict[str, Any], read_at: float) -> None:
        """Keep a definition read at `read_at` (the clock's reading before the GET: its age counts
        from when it was asked for, never from later)."""
        if not self.enabled:
            return
        with self._lock:
            self._entries.pop(name, None)
            self._entries[name] = (copy.deepcopy(definition), read_at)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)  # the oldest read

    def clear(self) -> None:
        """Forget every definition (the next start of each template reads it)."""
        with self._lock:
            self._entries.clear()
