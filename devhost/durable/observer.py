"""What the local host tells whoever watches it (the `devhost serve` console): each HTTP request
served, each timer invocation, each instance whose state an episode may have changed.

Callbacks run on the host's threads, so an observer only records and returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class HttpServed:
    method: str
    path: str  # without the query string, which may carry a key
    status: int
    milliseconds: float
    function: str | None  # the app function that answered, None for host routes


@dataclass(frozen=True)
class FunctionRan:
    function: str
    reason: str
    succeeded: bool
    milliseconds: float


class HostObserver(Protocol):
    def http_served(self, served: HttpServed) -> None: ...

    def function_ran(self, ran: FunctionRan) -> None: ...

    def instance_touched(self, instance_id: str) -> None: ...
