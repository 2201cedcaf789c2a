"""History events and wire formats of the Durable extension's out-of-process protocol."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Any

from dateutil.parser import isoparse

UTC = timezone.utc  # datetime.UTC is 3.11+; the app supports 3.10


class EventType(IntEnum):
    """Values of `HistoryEventType` in azure-functions-durable (DTFx numbering)."""

    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20


class ActionType(IntEnum):
    """Values of `ActionType` in the SDK's replies."""

    CallActivity = 0
    CallActivityWithRetry = 1
    CallSubOrchestrator = 2
    CallSubOrchestratorWithRetry = 3
    ContinueAsNew = 4
    CreateTimer = 5
    WaitForExternalEvent = 6
    CallEntity = 7
    CallHttp = 8
    SignalEntity = 9
    WhenAny = 11
    WhenAll = 12


# Actions that consume a task id from the SDK's sequence counter.
ID_ACTIONS = {
    ActionType.CallActivity,
    ActionType.CallActivityWithRetry,
    ActionType.CallSubOrchestrator,
    ActionType.CallSubOrchestratorWithRetry,
    ActionType.CreateTimer,
    ActionType.CallEntity,
    ActionType.CallHttp,
}
SUPPORTED_ACTIONS = {
    ActionType.CallActivity,
    ActionType.CallActivityWithRetry,
    ActionType.ContinueAsNew,
    ActionType.CreateTimer,
    ActionType.WaitForExternalEvent,
}


def iso(dt: datetime) -> str:
    """ISO-8601 UTC with microseconds and a `Z` (the format DTFx and the SDK use)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    dt = isoparse(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def timespan(td: timedelta) -> str:
    """.NET `TimeSpan.ToString("c")`: `[d.]hh:mm:ss[.fffffff]`."""
    total_us = int(td.total_seconds() * 1_000_000)
    sign = "-" if total_us < 0 else ""
    total_us = abs(total_us)
    days, rem = divmod(total_us, 86_400 * 1_000_000)
    hours, rem = divmod(rem, 3_600 * 1_000_000)
    minutes, rem = divmod(rem, 60 * 1_000_000)
    seconds, us = divmod(rem, 1_000_000)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    if us:
        text += f".{us * 10:07d}"
    return text


def event(etype: EventType, timestamp: datetime, event_id: int = -1, **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "EventType": int(etype),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": iso(timestamp),
    }
    ev.update(extra)
    return ev


def flatten_actions(actions: list[Any]) -> list[dict[str, Any]]:
    """Leaf actions of a reply, depth first (compound WhenAny/WhenAll expanded).

    Accepts the V2/V3 shape (`[[a, b, ...]]`) and the V1 shape (`[[a], [b, c]]`)."""
    leaves: list[dict[str, Any]] = []

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for sub in item:
                walk(sub)
            return
        if not isinstance(item, dict):
            return
        atype = item.get("actionType")
        if atype in (ActionType.WhenAny, ActionType.WhenAll):
            for sub in item.get("compoundActions") or []:
                walk(sub)
        else:
            leaves.append(item)

    walk(actions or [])
    return leaves


def readable_history(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History shaped like the Durable HTTP API's `historyEvents` (EventType as a name)."""
    out = []
    for ev in history:
        item = dict(ev)
        try:
            item["EventType"] = EventType(ev["EventType"]).name
        except ValueError:
            pass
        item.pop("IsPlayed", None)
        out.append(item)
    return out
