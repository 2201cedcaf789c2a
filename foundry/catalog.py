"""Does the compute or environment a run names exist in the workspace? Asked before a run
starts, so that a typo is a 400 at once rather than a run that fails a second later.

Answers are remembered (per app instance): the computes listing for 5 minutes, an environment
version that exists for an hour (versions do not change), one that does not for a minute. So a
run pays no Azure ML call for this once the answer is known, and a compute created a minute ago
is found. When Azure ML cannot answer, the answer is "unknown" and the run starts: Azure ML
checks again when the sweep is submitted, and the run then fails with the same hint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from foundry.errors import FoundryError, NotFoundError

if TYPE_CHECKING:
    from foundry.client import AzureMLClient

COMPUTES_TTL = 300.0
FOUND_TTL = 3600.0
MISSING_TTL = 60.0


@dataclass
class _Entry:
    value: object
    until: float


@dataclass
class WorkspaceCatalog:
    """What the workspace holds, as far as a run's references go."""

    client: Callable[[], AzureMLClient]
    now: Callable[[], float] = time.monotonic
    _cache: dict[str, _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def compute_names(self) -> list[str] | None:
        """The workspace's compute names (sorted), or None when Azure ML could not say."""
        names = self._remembered("computes", self._list_computes, lambda _: COMPUTES_TTL)
        return names if isinstance(names, list) else None

    def compute_exists(self, name: str) -> bool | None:
        """True/False, or None when unknown. A name missing from a listing older than a minute is
        looked for in a fresh one (it may have just been created)."""
        names = self.compute_names()
        if names is None:
            return None
        if name.lower() in (n.lower() for n in names):
            return True
        with self._lock:
            entry = self._cache.get("computes")
            stale = entry is not None and entry.until - COMPUTES_TTL + MISSING_TTL <= self.now()
            if stale:
                self._cache.pop("computes", None)
        if stale:
            names = self.compute_names()
            return None if names is None else name.lower() in (n.lower() for n in names)
        return False

    def environment_version_exists(self, name: str, version: str) -> bool | None:
        return self._exists(
            f"env:{name}:{version}", lambda: self.client().get_environment_version(name, version)
        )

    def environment_exists(self, name: str) -> bool | None:
        """Has environment `name` any version (what a `name@latest` reference needs)?"""

        def ask() -> None:
            if not self.client().environment_has_versions(name):
                raise NotFoundError(f"Environment '{name}' has no version.")

        return self._exists(f"env:{name}", ask)

    # -- plumbing ------------------------------------------------------------------------------
    def _list_computes(self) -> list[str]:
        return sorted({str(c.get("name")) for c in self.client().list_computes() if c.get("name")})

    def _exists(self, key: str, ask: Callable[[], object]) -> bool | None:
        def found() -> bool:
            try:
                ask()
            except NotFoundError:
                return False
            return True

        value = self._remembered(key, found, lambda v: FOUND_TTL if v else MISSING_TTL)
        return value if isinstance(value, bool) else None

    def _remembered(
        self, key: str, compute: Callable[[], object], ttl: Callable[[object], float]
    ) -> object | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.until > self.now():
                return entry.value
        try:
            value = compute()
        except FoundryError:
            return None  # unknown: throttled, down, forbidden; Azure ML checks at submission
        with self._lock:
            self._cache[key] = _Entry(value, self.now() + ttl(value))
        return value
