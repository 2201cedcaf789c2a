"""The orchestration engine: histories, episodes, activities, timers, events.

It plays the Durable extension's side of the out-of-process protocol. Each
"episode" appends `OrchestratorStarted` plus the new events to the instance's
history and calls the SDK's orchestrator handle with the context JSON. What the
reply's action list means is decided as the real extension decides it:
`dtfx.replay` runs it through a model of the extension's shim and DTFx over the
history, and only what that replay schedules is scheduled, with its ids; a
replay that disagrees with history fails the instance as DTFx does.

Storage semantics follow the Azure Storage provider: every created timer fires
(cancelling one in the orchestrator only makes the orchestrator stop waiting for
it), external events go to the current generation, events that reach a
continue-as-new after it was called are carried over into the next generation,
and messages for an earlier generation are discarded.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.functions import _durable_functions as fdf

from devhost.clock import Clock, TimerHandle

from . import dtfx
from .failures import task_failure
from .history import (
    SUPPORTED_ACTIONS,
    ActionType,
    EventType,
    event,
    flatten_actions,
    iso,
    readable_history,
    timespan,
)
from .metrics import HostMetrics, InstanceMetrics
from .payloads import as_json, compact, custom_status_error

log = logging.getLogger("devhost.durable")

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}
RUNNING_LIKE = {"Pending", "Running", "ContinuedAsNew", "Suspended"}


def status_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class InboxItem:
    event: dict[str, Any]
    generation: int | None  # None: an external message (goes to whatever generation is current)
    ends_batch: bool = False  # the next generation's start: its first episode stops here


@dataclass
class Instance:
    instance_id: str
    name: str
    input: str | None  # the stored JSON text (DTFx's serialized input)
    created: datetime
    updated: datetime
    status: str = "Pending"
    output: Any = None
    custom_status: Any = None
    history: list[dict[str, Any]] = field(default_factory=list)
    previous_history: list[dict[str, Any]] | None = None
    inbox: list[InboxItem] = field(default_factory=list)
    generation: int = 1
    timers: dict[int, TimerHandle] = field(default_factory=dict)  # armed in this generation
    running_episode: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class UnknownOrchestrator(ValueError):
    pass


class InstanceExists(RuntimeError):
    pass


class Engine:
    def __init__(
        self,
        *,
        clock: Clock,
        orchestrators: dict[str, Callable[[str], str]],
        activities: dict[str, Callable[[Any], Any]],
        run_async: Callable[[Any], Any],
        metrics: HostMetrics,
        activity_workers: int = 8,
        max_short_timer: timedelta = timedelta(days=6),
        long_timer_interval: timedelta = timedelta(days=3),
        rerun_activities: Callable[[str], bool] | None = None,
        on_episode: Callable[[str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.on_episode = on_episode  # told the instance id after each episode
        self.orchestrators = orchestrators
        self.activities = activities
        self.run_async = run_async
        self.metrics = metrics
        self.max_short_timer = max_short_timer
        self.long_timer_interval = long_timer_interval
        self.rerun_activities = rerun_activities
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._instances: dict[str, Instance] = {}
        self._ready: queue.Queue[str | None] = queue.Queue()
        self._queued: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=activity_workers, thread_name_prefix="df-activity")
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="df-engine", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for inst in self._instances.values():
                self._cancel_timers(inst)
                self._drop_inbox(inst)
        self._ready.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._pool.shutdown(wait=False)  # queued work still runs, to release the clock

    # -- public operations (thread safe) -----------------------------------------
    def start_orchestration(self, name: str, input_json: str | None, instance_id: str | None) -> str:
        """`input_json` is the stored input (see payloads.py)."""
        if name not in self.orchestrators:
            raise UnknownOrchestrator(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
            )
        iid = instance_id or uuid.uuid4().hex
        now = self.clock.now()
        with self._lock:
            old = self._instances.get(iid)
            if old is not None and not old.terminal:
                raise InstanceExists(f"An instance with ID '{iid}' already exists (status {old.status}).")
            if old is not None:
                self._cancel_timers(old)
                self._drop_inbox(old)
            inst = Instance(instance_id=iid, name=name, input=input_json, created=now, updated=now)
            self._instances[iid] = inst
            self.metrics.instances[iid] = InstanceMetrics()
            self._post_locked(inst, self._execution_started(inst, now), inst.generation)
        return iid

    def raise_event(self, instance_id: str, name: str, data_json: str | None) -> str:
        """Returns "accepted", "gone" (terminal) or "missing". `data_json` is the stored payload."""
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is None:
                return "missing"
            if inst.terminal:
                return "gone"
            ev = event(EventType.EventRaised, self.clock.now(), Name=name, Input=data_json)
            self._post_locked(inst, ev, None)
            self.metrics.bump("events_raised")
            return "accepted"

    def terminate(self, instance_id: str, reason: str | None) -> str:
        """Asynchronous, as TaskHubClient.TerminateInstanceAsync: an ExecutionTerminated
        message the next episode processes; until then the instance reads as before."""
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is None:
                return "missing"
            if inst.terminal:
                return "gone"
            self._post_locked(
                inst, event(EventType.ExecutionTerminated, self.clock.now(), Input=reason), None
            )
            return "accepted"

    def purge(self, instance_id: str) -> bool:
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is None or not inst.terminal:
                return False
            del self._instances[instance_id]
            return True

    def instance_ids(self) -> list[str]:
        with self._lock:
            return list(self._instances)

    def history(self, instance_id: str, *, previous: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            inst = self._instances[instance_id]
            src = inst.previous_history if previous else inst.history
            return json.loads(json.dumps(src or []))

    def status(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_input: bool = True,
        show_output: bool = True,
    ) -> dict[str, Any] | None:
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is None:
                return None
            return self._status_locked(inst, show_history, show_input, show_output)

    def statuses(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._status_locked(i, False, True, True) for i in self._instances.values()]

    def wait(self, instance_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                inst = self._instances.get(instance_id)
                if inst is None:
                    raise KeyError(instance_id)
                if inst.terminal:
                    return self._status_locked(inst, False, True, True)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"instance {instance_id} still {inst.status} after {timeout}s "
                        f"(virtual time {iso(self.clock.now())})"
                    )
                self._changed.wait(timeout=min(remaining, 0.5))

    # -- internals -----------------------------------------------------------------
    def _status_locked(self, inst: Instance, show_history: bool, show_input: bool, show_output: bool):
        out: dict[str, Any] = {
            "name": inst.name,
            "instanceId": inst.instance_id,
            # The Azure Storage provider persists a continue-as-new transition as
            # Running (DTFx ContinuedAsNew is transient and never shown there).
            "runtimeStatus": "Running" if inst.status == "ContinuedAsNew" else inst.status,
            # DurableClient.ConvertOrchestrationStateToStatus: ParseToJToken(stored input);
            # for an instance started by the Python client that is a JSON string.
            "input": as_json(inst.input) if show_input else None,
            "customStatus": inst.custom_status,
            "output": inst.output,
            "createdTime": status_time(inst.created),
            "lastUpdatedTime": status_time(inst.updated),
        }
        if show_history:
            hist = readable_history(inst.history)
            if not show_output:
                for ev in hist:
                    ev.pop("Result", None)
            out["historyEvents"] = hist
        return out

    def _execution_started(self, inst: Instance, now: datetime) -> dict[str, Any]:
        return event(
            EventType.ExecutionStarted,
            now,
            Name=inst.name,
            Input=inst.input,
            Version="",
            OrchestrationInstance={"InstanceId": inst.instance_id, "ExecutionId": uuid.uuid4().hex},
            ParentInstance=None,
        )

    def _post_locked(self, inst: Instance, ev: dict[str, Any], generation: int | None) -> None:
        """Queue an event for the instance's next episode (holds the clock until consumed)."""
        if self._stopped:
            return
        self.clock.acquire()
        inst.inbox.append(InboxItem(ev, generation))
        self._schedule_episode(inst)

    def _schedule_episode(self, inst: Instance) -> None:
        if inst.instance_id not in self._queued:
            self._queued.add(inst.instance_id)
            self._ready.put(inst.instance_id)

    def _post(self, instance_id: str, ev: dict[str, Any], generation: int | None) -> None:
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is None or inst.terminal or (generation is not None and generation != inst.generation):
                return  # a message for a finished instance or an earlier execution: discarded
            self._post_locked(inst, ev, generation)

    def _drop_inbox(self, inst: Instance) -> None:
        for _ in inst.inbox:
            self.clock.release()
        inst.inbox.clear()

    def _cancel_timers(self, inst: Instance) -> None:
        """Cleanup only: a timer of a finished instance or an earlier generation would be
        discarded on delivery anyway (OrchestrationSessionManager: wrong execution id)."""
        for handle in inst.timers.values():
            handle.cancel()
        inst.timers.clear()

    def _run(self) -> None:
        while True:
            iid = self._ready.get()
            if iid is None or self._stopped:
                return
            with self._lock:
                self._queued.discard(iid)
            try:
                self._episode(iid)
            except Exception:
                log.exception("durable host: episode for %s crashed", iid)

    def _episode(self, iid: str) -> None:
        with self._lock:
            inst = self._instances.get(iid)
            if inst is None:
                return
            if inst.terminal:
                self._drop_inbox(inst)
                return
            batch: list[InboxItem] = []
            rest: list[InboxItem] = []
            for item in inst.inbox:
                if rest or (batch and batch[-1].ends_batch):
                    rest.append(item)
                elif item.generation is not None and item.generation != inst.generation:
                    self.clock.release()  # a message for an earlier execution: discarded
                else:
                    batch.append(item)
            inst.inbox = rest
            if rest:
                self._schedule_episode(inst)
            if not batch:
                return
            try:
                self._episode_locked(inst, [item.event for item in batch])
            finally:
                inst.updated = self.clock.now()
                self._tell_episode(iid)  # while the clock is held: the watcher sees this moment
                for _ in batch:
                    self.clock.release()
                self._changed.notify_all()

    def _tell_episode(self, iid: str) -> None:
        if self.on_episode is None:
            return
        try:
            self.on_episode(iid)
        except Exception:
            log.exception("durable host: episode observer failed for %s", iid)

    def _episode_locked(self, inst: Instance, events: list[dict[str, Any]]) -> None:
        now = self.clock.now()
        for ev in inst.history:
            ev["IsPlayed"] = True
        had_history = bool(inst.history)
        inst.history.append(event(EventType.OrchestratorStarted, now))
        inst.history.extend(events)
        terminated = next((ev for ev in events if ev["EventType"] == EventType.ExecutionTerminated), None)
        if terminated is not None:
            # TaskOrchestrationContext.HandleExecutionTerminatedEvent: completes at once,
            # open tasks or not, with the reason as output.
            reason = terminated.get("Input")
            inst.history.append(event(EventType.OrchestratorCompleted, now))
            inst.history.append(
                event(EventType.ExecutionCompleted, now, OrchestrationStatus="Terminated", Result=reason)
            )
            self._finish(inst, "Terminated", reason)
            return
        if inst.status in ("Pending", "ContinuedAsNew"):
            inst.status = "Running"
        generation = inst.generation
        context = {
            "history": inst.history,
            # OrchestrationTriggerAttributeBindingProvider.OrchestrationContextToString:
            # `input` is the stored input as a JToken.
            "input": as_json(inst.input),
            "instanceId": inst.instance_id,
            "isReplaying": had_history,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,  # ReplaySchema.V3: single cumulative action list
            "maximumShortTimerDuration": timespan(self.max_short_timer),
            "longRunningTimerIntervalDuration": timespan(self.long_timer_interval),
        }
        body = json.dumps(context)
        fn = self.orchestrators[inst.name]
        inst.running_episode = True
        self._lock.release()
        error: str | None = None
        state: dict[str, Any] | None = None
        t0 = time.thread_time()
        try:
            try:
                reply = fn(body)
                state = json.loads(reply) if isinstance(reply, str) else reply
            except Exception as exc:
                text = str(exc)
                if OUT_OF_PROC_MARKER in text:
                    error, _, state_json = text.partition(OUT_OF_PROC_MARKER)
                    try:
                        state = json.loads(state_json)
                    except ValueError:
                        state = None
                else:
                    error = text or type(exc).__name__
                    log.warning("orchestrator %s raised outside the SDK protocol", inst.name, exc_info=True)
        finally:
            cpu = time.thread_time() - t0
            self._lock.acquire()
            inst.running_episode = False
        m = self.metrics.instance(inst.instance_id)
        m.episodes += 1
        m.replay_cpu.append(cpu)
        self.metrics.bump("episodes")
        if inst.terminal or inst.generation != generation:
            return  # restarted while the orchestrator ran
        self._apply(inst, state or {}, error)
        hist_len = len(inst.history)
        if len(m.history_len_per_generation) < inst.generation:
            m.history_len_per_generation.extend([0] * (inst.generation - len(m.history_len_per_generation)))
        idx = (inst.generation - 1) if inst.status != "ContinuedAsNew" else (inst.generation - 2)
        if 0 <= idx < len(m.history_len_per_generation):
            m.history_len_per_generation[idx] = max(m.history_len_per_generation[idx], hist_len)

    def _apply(self, inst: Instance, state: dict[str, Any], error: str | None) -> None:
        now = self.clock.now()
        actions = _v2_actions(state)
        unsupported = sorted(
            {
                _action_name(a.get("actionType"))
                for a in flatten_actions(actions)
                if a.get("actionType") not in SUPPORTED_ACTIONS
            }
        )
        if unsupported:
            self._fail(
                inst,
                f"devhost durable host does not support {', '.join(unsupported)} "
                "(entities, sub-orchestrations and durable HTTP are not emulated)",
                prefixed=True,
            )
            return
        custom_error = custom_status_error(state.get("customStatus"))
        if custom_error is not None:
            # OutOfProcOrchestrationShim.ScheduleDurableTaskEvents calls SetCustomStatus
            # before replaying the actions: the function faults, the status stays as it was.
            self._fail(inst, custom_error, prefixed=True)
            return

        result = dtfx.replay(actions, inst.history, sorted(self.activities))
        if result.nondeterminism is not None:
            # TaskOrchestrationExecutor.ExecuteCore: catch NonDeterministicOrchestrationException
            # -> FailOrchestration; the reason is the exception's message.
            self._fail(inst, result.nondeterminism, prefixed=False)
            return

        scheduled: list[dict[str, Any]] = []
        for action in result.new_actions:
            if action.kind == "timer":
                assert action.fire_at is not None
                scheduled.append(
                    event(EventType.TimerCreated, now, action.task_id, FireAt=iso(action.fire_at))
                )
                self._arm_timer(inst, action.task_id, action.fire_at)
            else:
                assert action.name is not None
                scheduled.append(
                    event(EventType.TaskScheduled, now, action.task_id, Name=action.name, Input=action.input)
                )
                self._run_activity(inst, action.task_id, action.name, action.input)
        if "customStatus" in state or error is None:
            inst.custom_status = state.get("customStatus")
        inst.history.extend(scheduled)
        inst.history.append(event(EventType.OrchestratorCompleted, now))

        # The orchestrator function's task completes once the shim has replayed every
        # action (ScheduleDurableTaskEvents awaits ReplayOOProcOrchestration first) or
        # the shim threw; DTFx acts on it only when no task is open.
        fault = result.shim_error or (error if result.shim_done else None)
        finished = fault is not None or (result.shim_done and bool(state.get("isDone")))
        if not finished or result.open_tasks:
            return
        if fault is not None:
            self._fail(inst, fault, prefixed=True, episode_closed=True)
        elif result.continue_as_new is not None:
            self._continue_as_new(inst, result.continue_as_new, result.carried_over)
        else:
            output = state.get("output")
            inst.history.append(
                event(
                    EventType.ExecutionCompleted,
                    now,
                    OrchestrationStatus="Completed",
                    Result=json.dumps(output),
                )
            )
            self._finish(inst, "Completed", output)

    def _fail(self, inst: Instance, reason: str, *, prefixed: bool, episode_closed: bool = False) -> None:
        """Fail the instance. `prefixed`: an exception from the orchestrator function,
        which TaskOrchestrationShim wraps as "Orchestrator function '<name>' failed: ..."."""
        now = self.clock.now()
        message = f"Orchestrator function '{inst.name}' failed: {reason}" if prefixed else reason
        if not episode_closed:
            inst.history.append(event(EventType.OrchestratorCompleted, now))
        inst.history.append(
            event(
                EventType.ExecutionCompleted,
                now,
                OrchestrationStatus="Failed",
                Result=message,
                FailureDetails={"ErrorType": "OrchestrationFailure", "ErrorMessage": reason},
            )
        )
        self._finish(inst, "Failed", message)

    def _finish(self, inst: Instance, status: str, output: Any) -> None:
        inst.status = status
        inst.output = output
        inst.updated = self.clock.now()
        self._cancel_timers(inst)
        self._drop_inbox(inst)
        self._changed.notify_all()

    def _continue_as_new(
        self, inst: Instance, action: dict[str, Any], carried_over: list[dict[str, Any]]
    ) -> None:
        now = self.clock.now()
        new_input = compact(action.get("input")) if action.get("input") is not None else None
        inst.history.append(
            event(EventType.ExecutionCompleted, now, OrchestrationStatus="ContinuedAsNew", Result=new_input)
        )
        self._cancel_timers(inst)
        inst.previous_history = inst.history
        inst.history = []
        inst.generation += 1
        inst.input = new_input
        inst.output = None
        inst.status = "ContinuedAsNew"
        # As the real extension does (azure-functions-durable-extension#2088): the
        # instance's createdTime becomes the new generation's start.
        inst.created = now
        m = self.metrics.instance(inst.instance_id)
        m.generations += 1
        m.history_len_per_generation.append(0)
        if carried_over:
            m.events_carried_over += len(carried_over)
            self.metrics.bump("events_carried_over", len(carried_over))
        # TaskOrchestrationDispatcher: the new execution's first work item is
        # ExecutionStarted plus the carried-over events; messages still queued
        # (external ones) reach the new execution in the next work item.
        if self._stopped:
            return
        first = [self._execution_started(inst, now)]
        first += [{**ev, "IsPlayed": False} for ev in carried_over]
        items = [InboxItem(ev, inst.generation) for ev in first]
        items[-1].ends_batch = True
        for _ in items:
            self.clock.acquire()
        inst.inbox[:0] = items
        self._schedule_episode(inst)

    def _arm_timer(self, inst: Instance, tid: int, fire_at: datetime) -> None:
        iid, gen = inst.instance_id, inst.generation

        def fire() -> None:
            self._post(
                iid, event(EventType.TimerFired, self.clock.now(), TimerId=tid, FireAt=iso(fire_at)), gen
            )

        inst.timers[tid] = self.clock.call_at(fire_at, fire)

    def _run_activity(self, inst: Instance, tid: int, name: str, input_json: str | None) -> None:
        iid, gen = inst.instance_id, inst.generation
        self.clock.acquire()

        def work() -> None:
            try:
                if not self._stopped:
                    ev = self._invoke_activity(name, input_json, tid)
                    if self.rerun_activities is not None and self.rerun_activities(name):
                        # At-least-once: a second execution, whose outcome is the one recorded.
                        self.metrics.bump("activities_rerun")
                        ev = self._invoke_activity(name, input_json, tid)
                    self._post(iid, ev, gen)
            finally:
                self.clock.release()

        try:
            self._pool.submit(work)
        except RuntimeError:  # pool shut down
            self.clock.release()

    def _invoke_activity(self, name: str, input_json: str | None, tid: int) -> dict[str, Any]:
        self.metrics.bump("activities_run")
        fn = self.activities[name]
        try:
            if input_json is None:
                value = None
            else:
                try:
                    value = fdf.df_loads(input_json)
                except json.JSONDecodeError:
                    value = input_json
            result = fn(value)
            if _is_awaitable(result):
                result = self.run_async(result)
            return event(
                EventType.TaskCompleted, self.clock.now(), TaskScheduledId=tid, Result=fdf.df_dumps(result)
            )
        except Exception as exc:  # noqa: BLE001 - activity failures go to the orchestrator
            self.metrics.bump("activities_failed")
            reason, details = task_failure(name, exc)
            return event(
                EventType.TaskFailed, self.clock.now(), TaskScheduledId=tid, Reason=reason, Details=details
            )


def _v2_actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The reply's action list (schema V2/V3 nest it once: `[[a, b, ...]]`)."""
    actions = state.get("actions") or []
    if len(actions) == 1 and isinstance(actions[0], list):
        return actions[0]
    return [a for a in actions if isinstance(a, dict)]


def _is_awaitable(obj: Any) -> bool:
    import inspect

    return inspect.isawaitable(obj)


def _action_name(atype: Any) -> str:
    try:
        return ActionType(atype).name
    except ValueError:
        return f"actionType {atype}"
