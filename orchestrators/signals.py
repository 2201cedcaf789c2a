"""The two external events a run listens to, as the real host delivers them.

Payloads: the Python client's `raise_event` JSON-encodes the data and posts it as
JSON, so on Azure the orchestrator receives a JSON *string*; a caller of the
`sendEventPostUri` webhook posting an object delivers a dict. Both are accepted.

Re-delivery: an event raised while no waiter of its name is open is buffered by
the SDK and handed to *every* later waiter of that name in the same execution
(azure-functions-durable-python#507: `deferred_tasks` is never cleared). The
listener spots a payload identical to the one it just delivered and reports it as
`repeated`; the wait loop then ends the generation instead of waking again and
again (a fresh execution has no buffered events).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df

from contracts import CANCEL_EVENT, STATUS_EVENT, CancelSignal, StatusSignal


def decode_payload(raw: Any) -> dict[str, Any]:
    """An event's data as a dict: a dict, or a JSON string holding one (at most two
    levels of string encoding); anything else is an empty dict."""
    value = raw
    for _ in range(2):
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Delivery:
    """One event taken from a waiter: a cancel or a status hint."""

    name: str
    data: dict[str, Any]
    repeated: bool  # the same payload as this listener's previous delivery

    @property
    def is_cancel(self) -> bool:
        return self.name == CANCEL_EVENT

    def cancel(self) -> CancelSignal:
        return CancelSignal.from_dict(self.data)

    def status(self) -> StatusSignal:
        return StatusSignal.from_dict(self.data)


class Listeners:
    """One open waiter per event name, replaced only when it fires (the SDK hands
    an event to the newest waiter of its name, so a waiter left behind would
    swallow events)."""

    def __init__(self, context: df.DurableOrchestrationContext, *, status_events: bool) -> None:
        self._context = context
        self.cancel = context.wait_for_external_event(CANCEL_EVENT)
        self.status = context.wait_for_external_event(STATUS_EVENT) if status_events else None
        self._last: dict[str, Any] = {}

    def tasks(self, *, status: bool = True) -> list[Any]:
        """The open waiters to race against (status ones only when `status`)."""
        return [self.cancel] + ([self.status] if status and self.status is not None else [])

    def owns(self, task: Any) -> bool:
        return task is self.cancel or (self.status is not None and task is self.status)

    def take(self, winner: Any) -> Delivery:
        """Read the waiter that fired and open a fresh one of that name."""
        name = CANCEL_EVENT if winner is self.cancel else STATUS_EVENT
        raw = winner.result
        repeated = name in self._last and self._last[name] == raw
        self._last[name] = raw
        fresh = self._context.wait_for_external_event(name)
        if name == CANCEL_EVENT:
            self.cancel = fresh
        else:
            self.status = fresh
        return Delivery(name, decode_payload(raw), repeated)
