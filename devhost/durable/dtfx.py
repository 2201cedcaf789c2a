"""What the Durable extension and DTFx make of an out-of-process orchestrator's reply.

The Python SDK replies with a cumulative action list; the extension does not
schedule that list as it is. It *replays* it, every episode, through DTFx over the
instance's history, and only what that replay produces is scheduled. This module
is that replay, so devhost schedules, numbers, completes and rejects exactly what
the real host would:

- `OutOfProcOrchestrationShim.ProcessAsyncActionsV2` (azure-functions-durable-extension,
  Listener/OutOfProcOrchestrationShim.cs) invokes the actions *in order* and awaits
  each before invoking the next; `WhenAny`/`WhenAll` cover only the child actions
  listed (the SDK lists a task once, when first yielded); a timer action with
  `isCanceled` has its token cancelled at once; an empty `WhenAny` throws.
- `TaskOrchestrationContext` (Azure/durabletask, src/DurableTask.Core/
  TaskOrchestrationContext.cs): one id counter for activities and timers
  (`ScheduleTask`, `CreateTimer`); a cancelled timer leaves `openTasks` at once;
  `HandleTaskScheduledEvent` / `HandleTimerCreatedEvent` raise
  `NonDeterministicOrchestrationException` when history disagrees with the replay;
  `HandleEventRaisedEvent` carries an event over to the next generation once
  `ContinueAsNew` was called (`BehaviorOnContinueAsNew.Carryover`, the Azure
  Storage default: AzureStorageOrchestrationServiceSettings.cs).
- `RetryInterceptor.Invoke` (src/DurableTask.Core/RetryInterceptor.cs): a failed
  attempt waits `FirstRetryInterval * BackoffCoefficient^attempt` on a durable
  timer; after the last attempt a "dummy timer for back-compat" fires at once.
- `DurableOrchestrationContext.WaitForExternalEvent` / `RaiseEvent`
  (ContextImplementations/DurableOrchestrationContext.cs): waiters of a name form a
  stack, the newest gets the event; an event nobody waits for is buffered and
  handed to the next waiter.
- `TaskOrchestrationExecutor.ExecuteCore` (src/DurableTask.Core/
  TaskOrchestrationExecutor.cs): the orchestration completes, continues as new or
  fails only when no task is open.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .history import ActionType, EventType, parse_iso

PENDING, SUCCEEDED, FAILED, CANCELLED = "pending", "succeeded", "failed", "cancelled"

# DTFx's NonDeterministicOrchestrationException prefixes every message with this.
NON_DETERMINISTIC = "Non-Deterministic workflow detected: "
_CHANGED = "Was a change made to the orchestrator code after this instance had already started running?"
# .NET Task.WhenAny over no tasks (the shim passes an empty compound action straight through).
EMPTY_WHEN_ANY = "The tasks argument contains no tasks. (Parameter 'tasks')"


class _Future:
    """A .NET Task as the shim sees it: continuations run synchronously, in order."""

    __slots__ = ("_callbacks", "state", "value")

    def __init__(self) -> None:
        self.state = PENDING
        self.value: Any = None
        self._callbacks: list[Callable[[_Future], None]] = []

    @property
    def done(self) -> bool:
        return self.state != PENDING

    def resolve(self, state: str, value: Any = None) -> None:
        if self.done:
            return
        self.state, self.value = state, value
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def then(self, callback: Callable[[_Future], None]) -> None:
        if self.done:
            callback(self)
        else:
            self._callbacks.append(callback)


@dataclass(frozen=True)
class NewAction:
    """Something DTFx schedules in this episode (its history event is not written yet)."""

    task_id: int
    kind: str  # "activity" | "timer"
    name: str | None = None
    input: str | None = None
    fire_at: datetime | None = None


@dataclass
class ReplayResult:
    new_actions: list[NewAction]
    open_tasks: int
    shim_done: bool  # every action of the reply was invoked and its task finished
    shim_error: str | None = None  # the shim itself threw (the orchestrator function faults)
    nondeterminism: str | None = None
    continue_as_new: dict[str, Any] | None = None
    carried_over: list[dict[str, Any]] = field(default_factory=list)


class ShimError(Exception):
    pass


class _RetryCall:
    """DTFx RetryInterceptor.Invoke over ScheduleTask."""

    def __init__(self, replay: Replay, name: str, input_json: str | None, options: dict[str, Any]) -> None:
        self.replay, self.name, self.input = replay, name, input_json
        self.first_ms = float(options.get("firstRetryIntervalInMilliseconds") or 0)
        self.attempts = int(options.get("maxNumberOfAttempts") or 1)
        self.backoff = float(options.get("backoffCoefficient") or 1.0)
        max_ms = options.get("maxRetryIntervalInMilliseconds")
        self.max_ms = float(max_ms) if max_ms else None
        self.retry_count = 0
        self.last_error: Any = None
        self.result = _Future()
        self._attempt()

    def _attempt(self) -> None:
        self.replay.schedule_activity(self.name, self.input).then(self._on_attempt)

    def _on_attempt(self, attempt: _Future) -> None:
        if attempt.state == SUCCEEDED:
            self.result.resolve(SUCCEEDED, attempt.value)
            return
        self.last_error = attempt.value
        if self.retry_count + 1 >= self.attempts:
            # "Earlier versions of this retry interceptor had a bug that scheduled an extra
            # delay timer ... we schedule a timer that fires immediately" (RetryInterceptor.cs)
            self.replay.schedule_timer(self.replay.now).then(self._give_up)
            return
        delay_ms = self.first_ms * (self.backoff**self.retry_count)
        if self.max_ms is not None:
            delay_ms = min(delay_ms, self.max_ms)
        if delay_ms <= 0:
            self._give_up(None)
            return
        self.replay.schedule_timer(self.replay.now + timedelta(milliseconds=delay_ms)).then(self._retry)

    def _retry(self, _: _Future) -> None:
        self.retry_count += 1
        self._attempt()

    def _give_up(self, _: _Future | None) -> None:
        self.result.resolve(FAILED, self.last_error)


class Replay:
    """One DTFx replay of `actions` (the reply's flat V2/V3 action list) over `history`."""

    def __init__(self, actions: list[dict[str, Any]], known_activities: list[str] | None = None) -> None:
        self.actions = actions
        self.known_activities = known_activities
        self.now: datetime | None = None
        self._counter = 0
        self._unmatched: dict[int, NewAction] = {}  # orchestratorActionsMap
        self._open: dict[int, _Future] = {}  # openTasks
        self._waiters: dict[str, list[_Future]] = {}
        self._buffered: dict[str, deque[Any]] = {}
        self._cursor = 0
        self._stepping = False
        self._again = False
        self.shim_done = False
        self.shim_error: str | None = None
        self.continue_as_new: dict[str, Any] | None = None
        self.carried_over: list[dict[str, Any]] = []

    # -- what the shim's API calls do ------------------------------------------------
    def schedule_activity(self, name: str, input_json: str | None) -> _Future:
        task_id = self._next_id()
        self._unmatched[task_id] = NewAction(task_id, "activity", name=name, input=input_json)
        future = self._open[task_id] = _Future()
        return future

    def schedule_timer(self, fire_at: datetime | None, *, cancelled: bool = False) -> _Future:
        task_id = self._next_id()
        self._unmatched[task_id] = NewAction(task_id, "timer", fire_at=fire_at)
        future = self._open[task_id] = _Future()
        if cancelled:
            # CreateTimer's cancelToken.Register: TrySetCanceled, then openTasks.Remove(id)
            del self._open[task_id]
            future.resolve(CANCELLED)
        return future

    def _next_id(self) -> int:
        task_id = self._counter
        self._counter += 1
        return task_id

    def _wait_for_event(self, name: str) -> _Future:
        future = _Future()
        self._waiters.setdefault(name, []).append(future)
        buffered = self._buffered.get(name)
        if buffered:
            self._raise(name, buffered.popleft())
        return future

    def _raise(self, name: str, data: Any) -> None:
        waiters = self._waiters.get(name)
        if waiters:
            waiters.pop().resolve(SUCCEEDED, data)  # the newest waiter (a stack)
        else:
            self._buffered.setdefault(name, deque()).append(data)

    def _check_activity(self, name: str) -> None:
        """DurableTaskExtension.ThrowIfFunctionDoesNotExist / GetInvalidActivityFunctionMessage."""
        known = self.known_activities
        if known is None or name.lower() in {k.lower() for k in known}:
            return
        info = (
            "The following are the known activity functions: '" + "', '".join(known) + "'."
            if known
            else "No activity functions are currently registered!"
        )
        raise ShimError(
            f"The function '{name}' doesn't exist, is disabled, or is not an activity function. "
            f"Additional info: {info}"
        )

    def _invoke(self, action: dict[str, Any]) -> _Future:
        atype = action.get("actionType")
        if atype in (ActionType.CallActivity, ActionType.CallActivityWithRetry):
            self._check_activity(str(action.get("functionName")))
        if atype == ActionType.CallActivity:
            return self.schedule_activity(action["functionName"], action.get("input"))
        if atype == ActionType.CallActivityWithRetry:
            options = action.get("retryOptions") or {}
            return _RetryCall(self, action["functionName"], action.get("input"), options).result
        if atype == ActionType.CreateTimer:
            return self.schedule_timer(parse_iso(action["fireAt"]), cancelled=bool(action.get("isCanceled")))
        if atype == ActionType.WaitForExternalEvent:
            return self._wait_for_event(str(action.get("externalEventName")))
        if atype == ActionType.ContinueAsNew:
            self.continue_as_new = action
            done = _Future()
            done.resolve(SUCCEEDED)
            return done
        if atype in (ActionType.WhenAny, ActionType.WhenAll):
            children = [self._invoke(child) for child in action.get("compoundActions") or []]
            return self._when_any(children) if atype == ActionType.WhenAny else self._when_all(children)
        raise ShimError(f"Received an unexpected action type from the out-of-proc function: '${atype}'.")

    @staticmethod
    def _when_any(children: list[_Future]) -> _Future:
        if not children:
            raise ShimError(EMPTY_WHEN_ANY)
        future = _Future()
        for child in children:
            child.then(lambda c: future.resolve(SUCCEEDED, c))
        return future

    @staticmethod
    def _when_all(children: list[_Future]) -> _Future:
        future = _Future()
        remaining = [len(children)]

        def one_done(_: _Future) -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                states = {c.state for c in children}
                future.resolve(
                    FAILED if FAILED in states else CANCELLED if CANCELLED in states else SUCCEEDED
                )

        if not children:
            future.resolve(SUCCEEDED)
        for child in children:
            child.then(one_done)
        return future

    # -- the shim's loop: invoke, await, next --------------------------------------------
    def _step(self, _: _Future | None = None) -> None:
        if self._stepping:  # a continuation fired while the loop runs: it will look again
            self._again = True
            return
        self._stepping = True
        try:
            while True:
                self._again = False
                while self._cursor < len(self.actions) and self.shim_error is None:
                    action = self.actions[self._cursor]
                    self._cursor += 1
                    try:
                        future = self._invoke(action)
                    except ShimError as exc:
                        self.shim_error = str(exc)
                        return
                    if not future.done:
                        future.then(self._step)
                        break
                else:
                    if self.shim_error is None:
                        self.shim_done = True
                if not self._again:
                    return
        finally:
            self._stepping = False

    # -- history ------------------------------------------------------------------------
    def run(self, history: list[dict[str, Any]]) -> ReplayResult:
        nondeterminism: str | None = None
        for ev in history:
            et = ev.get("EventType")
            if et == EventType.OrchestratorStarted:
                self.now = parse_iso(ev["Timestamp"])
            elif et == EventType.ExecutionStarted:
                if self.now is None:
                    self.now = parse_iso(ev["Timestamp"])
                self._step()
            elif et == EventType.TaskScheduled:
                nondeterminism = self._match_task(ev)
            elif et == EventType.TimerCreated:
                nondeterminism = self._match_timer(ev)
            elif et == EventType.TaskCompleted:
                self._complete(ev.get("TaskScheduledId"), SUCCEEDED, ev.get("Result"))
            elif et == EventType.TaskFailed:
                self._complete(ev.get("TaskScheduledId"), FAILED, (ev.get("Reason"), ev.get("Details")))
            elif et == EventType.TimerFired:
                self._complete(ev.get("TimerId"), SUCCEEDED, None)  # a cancelled timer is ignored
            elif et == EventType.EventRaised:
                if self.continue_as_new is not None:
                    self.carried_over.append(ev)  # AddEventToNextIteration
                else:
                    self._raise(str(ev.get("Name")), ev.get("Input"))
            if nondeterminism:
                break
        return ReplayResult(
            new_actions=[self._unmatched[i] for i in sorted(self._unmatched)],
            open_tasks=len(self._open),
            shim_done=self.shim_done,
            shim_error=self.shim_error,
            nondeterminism=nondeterminism,
            continue_as_new=self.continue_as_new,
            carried_over=list(self.carried_over),
        )

    def _complete(self, task_id: Any, state: str, value: Any) -> None:
        future = self._open.pop(task_id, None)  # absent: DTFx logs a duplicate and moves on
        if future is not None:
            future.resolve(state, value)

    def _match_task(self, ev: dict[str, Any]) -> str | None:
        task_id, name = ev.get("EventId"), ev.get("Name")
        action = self._unmatched.get(task_id)
        if action is None:
            return (
                f"{NON_DETERMINISTIC}A previous execution of this orchestration scheduled an activity task "
                f"with sequence ID {task_id} and name '{name}' (version ''), but the current replay execution "
                f"hasn't (yet?) scheduled this task. {_CHANGED}"
            )
        if action.kind != "activity":
            return (
                f"{NON_DETERMINISTIC}A previous execution of this orchestration scheduled an activity task "
                f"with sequence number {task_id} named '{name}', but the current orchestration replay instead "
                f"produced a CreateTimerOrchestratorAction action with this sequence number. {_CHANGED}"
            )
        if str(action.name).lower() != str(name).lower():
            return (
                f"{NON_DETERMINISTIC}A previous execution of this orchestration scheduled an activity task "
                f"with sequence number {task_id} named '{name}', but the current orchestration replay instead "
                f"scheduled an activity task named '{action.name}' with this sequence number.  {_CHANGED}"
            )
        del self._unmatched[task_id]
        return None

    def _match_timer(self, ev: dict[str, Any]) -> str | None:
        task_id = ev.get("EventId")
        action = self._unmatched.get(task_id)
        if action is None:
            return (
                f"{NON_DETERMINISTIC}A previous execution of this orchestration scheduled a timer task with "
                f"sequence number {task_id} but the current replay execution hasn't (yet?) scheduled this "
                f"task. {_CHANGED}"
            )
        if action.kind != "timer":
            return (
                f"{NON_DETERMINISTIC}A previous execution of this orchestration scheduled a timer task with "
                f"sequence number {task_id} named but the current orchestration replay instead produced a "
                f"ScheduleTaskOrchestratorAction action with this sequence number. {_CHANGED}"
            )
        del self._unmatched[task_id]
        return None


def replay(
    actions: list[dict[str, Any]],
    history: list[dict[str, Any]],
    known_activities: list[str] | None = None,
) -> ReplayResult:
    """Replay a reply's flat action list over a generation's history, as DTFx does."""
    return Replay(actions, known_activities).run(history)
