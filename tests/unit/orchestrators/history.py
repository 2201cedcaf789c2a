"""Histories of the sweep orchestrator, written event by event and replayed by the real
azure-functions-durable SDK: no host, no threads, no I/O.

Like the SDK's own orchestrator tests (`ContextBuilder`), a test says what happened (an
activity answered, a timer fired, an event was raised) and reads what the orchestrator
did. The answers are the activities' contract types (`contracts.answer(Submitted(...))`),
not our activities run against anything. What the extension schedules from each reply,
with which ids, is decided by devhost's model of the extension's shim and DTFx
(`devhost.durable.dtfx.replay`, each behaviour traced to its source there and tested in
tests/devhost/durable/test_conformance.py), and the payloads are stored as the extension
stores them (`devhost.durable.payloads`), so these are the histories the real extension
would write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.functions import _durable_functions as fdf

import function_app
from contracts import ACTIVITIES, ORCHESTRATOR, SweepInput
from devhost.durable import dtfx
from devhost.durable.engine import OUT_OF_PROC_MARKER
from devhost.durable.functions import app_functions
from devhost.durable.history import EventType, event, iso, timespan
from devhost.durable.payloads import as_json, compact, stored_as_python_client


def _orchestrator(name: str = ORCHESTRATOR) -> Any:
    for function in app_functions(function_app.app):
        if function.get_function_name() == name:
            return function.get_user_function()
    raise LookupError(name)


@dataclass
class Reply:
    """What the orchestrator did in one episode, as the extension reads its reply."""

    scheduled: list[dtfx.NewAction]
    custom_status: Any
    output: Any = None
    failure: str | None = None  # the orchestration failed with this message
    continued_as_new: dict[str, Any] | None = None  # the next generation's input

    @property
    def activities(self) -> list[str]:
        return [a.name or "" for a in self.scheduled if a.kind == "activity"]

    @property
    def timers(self) -> list[datetime]:
        return [a.fire_at for a in self.scheduled if a.kind == "timer" and a.fire_at is not None]

    def activity_input(self, name: str) -> Any:
        (action,) = [a for a in self.scheduled if a.kind == "activity" and a.name == name]
        return fdf.df_loads(action.input) if action.input is not None else None


@dataclass
class Orchestration:
    """One generation of the sweep orchestrator (or another of the app's, by `name`) over a
    history this test writes."""

    sweep: SweepInput | Any  # the input: anything with to_dict()
    now: datetime
    instance_id: str = "ps-history-test"
    name: str = ORCHESTRATOR
    history: list[dict[str, Any]] = field(default_factory=list)
    open_tasks: dict[int, dtfx.NewAction] = field(default_factory=dict)
    finished: bool = False

    def start(self) -> Reply:
        stored = stored_as_python_client(self.sweep.to_dict())
        self._input = stored
        return self._episode(
            event(EventType.ExecutionStarted, self.now, Name=self.name, Input=stored, Version="")
        )

    # -- what happened ---------------------------------------------------------------------
    def answer(self, activity: str, result: dict[str, Any]) -> Reply:
        """The open call of `activity` returned `result`."""
        task_id = self._open("activity", activity)
        return self._episode(
            event(EventType.TaskCompleted, self.now, TaskScheduledId=task_id, Result=fdf.df_dumps(result))
        )

    def fire_timer(self) -> Reply:
        """The newest open timer fires (older ones were cancelled by the orchestrator)."""
        task_id = max(i for i, a in self.open_tasks.items() if a.kind == "timer")
        fire_at = self.open_tasks.pop(task_id).fire_at
        assert fire_at is not None
        self.now = max(self.now, fire_at)
        return self._episode(event(EventType.TimerFired, self.now, TimerId=task_id, FireAt=iso(fire_at)))

    def raise_event(self, name: str, data: dict[str, Any]) -> Reply:
        """`raise_event` of the Python client (the cancel route, the Event Grid intake)."""
        return self._episode(
            event(EventType.EventRaised, self.now, Name=name, Input=stored_as_python_client(data))
        )

    def pending(self, kind: str) -> list[str | datetime | None]:
        return [
            a.name if kind == "activity" else a.fire_at for a in self.open_tasks.values() if a.kind == kind
        ]

    # -- the extension's side ----------------------------------------------------------------
    def _open(self, kind: str, name: str) -> int:
        matches = [i for i, a in self.open_tasks.items() if a.kind == kind and a.name == name]
        assert matches, f"no open {kind} {name}: {self.open_tasks}"
        self.open_tasks.pop(matches[-1])
        return matches[-1]

    def _episode(self, *events: dict[str, Any]) -> Reply:
        assert not self.finished, "the orchestration is over"
        for ev in self.history:
            ev["IsPlayed"] = True
        replaying = bool(self.history)
        self.history.append(event(EventType.OrchestratorStarted, self.now))
        self.history.extend(events)
        context = {
            "history": self.history,
            "input": as_json(self._input),
            "instanceId": self.instance_id,
            "isReplaying": replaying,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            "maximumShortTimerDuration": timespan(timedelta(days=6)),
            "longRunningTimerIntervalDuration": timespan(timedelta(days=3)),
        }
        error: str | None = None
        try:
            state = json.loads(_orchestrator(self.name)(json.dumps(context)))
        except Exception as exc:
            text = str(exc)
            if OUT_OF_PROC_MARKER not in text:
                raise
            error, _, state_json = text.partition(OUT_OF_PROC_MARKER)
            state = json.loads(state_json)
        actions = state.get("actions") or [[]]
        result = dtfx.replay(actions[0] if actions else [], self.history, list(ACTIVITIES))
        assert result.nondeterminism is None, result.nondeterminism
        assert result.shim_error is None, result.shim_error
        for action in result.new_actions:
            self.open_tasks[action.task_id] = action
            if action.kind == "timer":
                assert action.fire_at is not None
                self.history.append(
                    event(EventType.TimerCreated, self.now, action.task_id, FireAt=iso(action.fire_at))
                )
            else:
                self.history.append(
                    event(
                        EventType.TaskScheduled,
                        self.now,
                        action.task_id,
                        Name=action.name,
                        Input=action.input,
                    )
                )
        self.history.append(event(EventType.OrchestratorCompleted, self.now))
        reply = Reply(result.new_actions, state.get("customStatus"))
        done = result.shim_done and not result.open_tasks
        if done and error is not None:
            reply.failure, self.finished = error, True
        elif done and result.continue_as_new is not None:
            reply.continued_as_new = json.loads(compact(as_json(result.continue_as_new.get("input"))))
            self.finished = True
        elif done and state.get("isDone"):
            reply.output, self.finished = state.get("output"), True
        return reply
