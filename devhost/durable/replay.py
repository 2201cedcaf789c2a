"""Determinism helper: replay an orchestrator on every prefix of a recorded history."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from .engine import OUT_OF_PROC_MARKER
from .functions import app_functions
from .history import EventType, timespan
from .payloads import as_json


def _orchestrator(app: Any, name: str):
    for f in app_functions(app):
        if f.get_function_name() == name:
            return f.get_user_function()
    raise KeyError(f"no orchestrator named {name!r}")


def _input_of(history: list[dict[str, Any]]) -> str | None:
    for ev in history:
        if ev.get("EventType") == EventType.ExecutionStarted:
            return ev.get("Input")
    return None


def replay_prefixes(
    app: Any,
    orchestrator_name: str,
    history: list[dict[str, Any]],
    *,
    instance_id: str = "replay",
    max_short_timer: timedelta = timedelta(days=6),
    long_timer_interval: timedelta = timedelta(days=3),
) -> list[list[dict[str, Any]]]:
    """Re-run the orchestrator on every prefix of `history` cut just before each
    OrchestratorStarted (plus the whole history) and return the flat action list of
    each reply (`actions[0]` of schema V3; an orchestrator failure yields the actions
    carried in the `$OutOfProcData$` state).

    A deterministic orchestrator gives, for each prefix, an action list that is a
    prefix of the next one's (actions are cumulative), so

        runs = replay_prefixes(app, "my_orch", host.history(iid))
        for a, b in zip(runs, runs[1:]):
            assert b[: len(a)] == a   # modulo isCanceled flips on timers

    `history` is the raw protocol history (`DurableHost.history(id)`)."""
    fn = _orchestrator(app, orchestrator_name)
    starts = [i for i, ev in enumerate(history) if ev.get("EventType") == EventType.OrchestratorStarted]
    cuts = [*starts[1:], len(history)]
    results: list[list[dict[str, Any]]] = []
    input_json = _input_of(history)
    for cut in cuts:
        prefix = json.loads(json.dumps(history[:cut]))
        last_start = max(i for i in starts if i < cut)
        for i, ev in enumerate(prefix):
            ev["IsPlayed"] = i < last_start
        # drop trailing events the orchestrator never sees (OrchestratorCompleted, ExecutionCompleted)
        context = {
            "history": prefix,
            "input": as_json(input_json),
            "instanceId": instance_id,
            "isReplaying": last_start > 0,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            "maximumShortTimerDuration": timespan(max_short_timer),
            "longRunningTimerIntervalDuration": timespan(long_timer_interval),
        }
        try:
            state = json.loads(fn(json.dumps(context)))
        except Exception as exc:
            text = str(exc)
            if OUT_OF_PROC_MARKER not in text:
                raise
            state = json.loads(text.partition(OUT_OF_PROC_MARKER)[2])
        actions = state.get("actions") or [[]]
        results.append(actions[0] if actions else [])
    return results
