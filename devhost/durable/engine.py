"""The orchestration engine: histories, episodes, activities, timers, events.

It plays the Durable extension's side of the out-of-process protocol: each
"episode" appends `OrchestratorStarted` plus the new events to the instance's
history, calls the SDK's orchestrator handle with the context JSON, reads the
cumulative action list from the reply and schedules whatever is new.

Task ids: the SDK numbers tasks with one counter in the order it meets them.
Leaf actions that take an id (activities, timers, ...) get ids in the order they
appear in the cumulative action list; the hidden retry timer / re-scheduled
attempt of `call_activity_with_retry` take an id while the SDK processes the
TaskFailed / TimerFired of that retry. So the engine delivers such a retry event
as the *last* event of its episode: then every new leaf of the episode was
yielded before it, and the hidden id comes after them (mirrors the SDK exactly).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.functions import _durable_functions as fdf

from devhost.clock import Clock, TimerHandle

from .history import (
    ID_ACTIONS,
    SUPPORTED_ACTIONS,
    ActionType,
    EventType,
    event,
    flatten_actions,
    iso,
    parse_iso,
    readable_history,
    timespan,
)
from .metrics import HostMetrics, InstanceMetrics

log = logging.getLogger("devhost.durable")

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}
RUNNING_LIKE = {"Pending", "Running", "ContinuedAsNew", "Suspended"}


def status_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RetryState:
    name: str
    input: str | None
    first_ms: float
    max_attempts: int
    backoff: float = 1.0
    max_interval_ms: float | None = None
    attempts: int = 1

    def delay(self) -> timedelta:
        """Delay after the failure of attempt `attempts` (DTFx RetryInterceptor)."""
        ms = self.first_ms * (self.backoff ** (self.attempts - 1))
        if self.max_interval_ms is not None:
            ms = min(ms, self.max_interval_ms)
        return timedelta(milliseconds=ms)


@dataclass
class TaskRef:
    kind: str  # activity | retry_attempt | timer | retry_timer
    retry: RetryState | None = None
    handle: TimerHandle | None = None
    fire_at: datetime | None = None
    done: bool = False
    cancelled: bool = False


@dataclass
class InboxItem:
    event: dict[str, Any]
    generation: int | None  # None: an external event (goes to whatever generation is current)


@dataclass
class Instance:
    instance_id: str
    name: str
    input: str | None  # JSON text
    created: datetime
    updated: datetime
    status: str = "Pending"
    output: Any = None
    custom_status: Any = None
    history: list[dict[str, Any]] = field(default_factory=list)
    previous_history: list[dict[str, Any]] | None = None
    inbox: list[InboxItem] = field(default_factory=list)
    generation: int = 1
    next_id: int = 0
    leaf_ids: list[int | None] = field(default_factory=list)  # task id per leaf action (None: no id)
    leaf_types: list[int] = field(default_factory=list)
    tasks: dict[int, TaskRef] = field(default_factory=dict)
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
    ) -> None:
        self.clock = clock
        self.orchestrators = orchestrators
        self.activities = activities
        self.run_async = run_async
        self.metrics = metrics
        self.max_short_timer = max_short_timer
        self.long_timer_interval = long_timer_interval
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
                for _ in inst.inbox:
                    self.clock.release()
                inst.inbox.clear()
        self._ready.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._pool.shutdown(wait=False)  # queued work still runs, to release the clock

    # -- public operations (thread safe) -----------------------------------------
    def start_orchestration(self, name: str, input_json: str | None, instance_id: str | None) -> str:
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
                for _ in old.inbox:
                    self.clock.release()
            inst = Instance(instance_id=iid, name=name, input=input_json, created=now, updated=now)
            self._instances[iid] = inst
            self.metrics.instances[iid] = InstanceMetrics()
            started = event(
                EventType.ExecutionStarted,
                now,
                Name=name,
                Input=input_json,
                Version="",
                OrchestrationInstance={"InstanceId": iid, "ExecutionId": uuid.uuid4().hex},
                ParentInstance=None,
            )
            self._post_locked(inst, started, inst.generation)
        return iid

    def raise_event(self, instance_id: str, name: str, data_json: str | None) -> str:
        """Returns "accepted", "gone" (terminal) or "missing"."""
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
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is None:
                return "missing"
            if inst.terminal:
                return "gone"
            now = self.clock.now()
            self._cancel_timers(inst)
            for _ in inst.inbox:
                self.clock.release()
            inst.inbox.clear()
            inst.history.append(event(EventType.ExecutionTerminated, now, Input=reason))
            inst.status = "Terminated"
            inst.output = reason
            inst.updated = now
            self._changed.notify_all()
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
            "input": _loads_or_text(inst.input) if show_input else None,
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

    def _post_locked(self, inst: Instance, ev: dict[str, Any], generation: int | None) -> None:
        """Queue an event for the instance's next episode (holds the clock until consumed)."""
        if self._stopped:
            return
        self.clock.acquire()
        inst.inbox.append(InboxItem(ev, generation))
        if inst.instance_id not in self._queued:
            self._queued.add(inst.instance_id)
            self._ready.put(inst.instance_id)

    def _post(self, instance_id: str, ev: dict[str, Any], generation: int | None) -> None:
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is None or inst.terminal or (generation is not None and generation != inst.generation):
                return
            self._post_locked(inst, ev, generation)

    def _cancel_timers(self, inst: Instance) -> None:
        for ref in inst.tasks.values():
            if ref.handle is not None:
                ref.handle.cancel()

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

    def _is_retry_trigger(self, inst: Instance, ev: dict[str, Any]) -> bool:
        et = ev["EventType"]
        if et == EventType.TaskFailed:
            ref = inst.tasks.get(ev.get("TaskScheduledId"))
            return ref is not None and ref.kind == "retry_attempt"
        if et == EventType.TimerFired:
            ref = inst.tasks.get(ev.get("TimerId"))
            return ref is not None and ref.kind == "retry_timer"
        return False

    def _episode(self, iid: str) -> None:
        with self._lock:
            inst = self._instances.get(iid)
            if inst is None:
                return
            if inst.terminal:
                for _ in inst.inbox:
                    self.clock.release()
                inst.inbox.clear()
                return
            batch: list[InboxItem] = []
            rest: list[InboxItem] = []
            take = True
            for item in inst.inbox:
                if item.generation is not None and item.generation != inst.generation:
                    self.clock.release()  # stale (previous generation)
                    continue
                if take:
                    batch.append(item)
                    if self._is_retry_trigger(inst, item.event):
                        take = False
                else:
                    rest.append(item)
            inst.inbox = rest
            if rest and iid not in self._queued:
                self._queued.add(iid)
                self._ready.put(iid)
            if not batch:
                return
            try:
                self._episode_locked(inst, batch)
            finally:
                for _ in batch:
                    self.clock.release()
                inst.updated = self.clock.now()
                self._changed.notify_all()

    def _episode_locked(self, inst: Instance, batch: list[InboxItem]) -> None:
        now = self.clock.now()
        for ev in inst.history:
            ev["IsPlayed"] = True
        had_history = bool(inst.history)
        inst.history.append(event(EventType.OrchestratorStarted, now))
        for item in batch:
            inst.history.append(item.event)
        if inst.status in ("Pending", "ContinuedAsNew"):
            inst.status = "Running"
        generation = inst.generation
        context = {
            "history": inst.history,
            "input": inst.input,
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
            return  # terminated (or restarted) while the orchestrator ran
        self._apply(inst, state or {}, error, batch)
        hist_len = len(inst.history)
        if len(m.history_len_per_generation) < inst.generation:
            m.history_len_per_generation.extend([0] * (inst.generation - len(m.history_len_per_generation)))
        idx = (inst.generation - 1) if inst.status != "ContinuedAsNew" else (inst.generation - 2)
        if 0 <= idx < len(m.history_len_per_generation):
            m.history_len_per_generation[idx] = max(m.history_len_per_generation[idx], hist_len)

    def _apply(
        self, inst: Instance, state: dict[str, Any], error: str | None, batch: list[InboxItem]
    ) -> None:
        now = self.clock.now()
        if "customStatus" in state or error is None:
            inst.custom_status = state.get("customStatus")
        leaves = flatten_actions(state.get("actions") or [])
        scheduled: list[dict[str, Any]] = []

        if error is None:
            bad = [a for a in leaves if a.get("actionType") not in SUPPORTED_ACTIONS]
            if bad:
                names = sorted({_action_name(a.get("actionType")) for a in bad})
                error = (
                    f"devhost durable host does not support {', '.join(names)} "
                    "(entities, sub-orchestrations and durable HTTP are not emulated)"
                )

        if error is None:
            for index, action in enumerate(leaves[: len(inst.leaf_types)]):
                if action.get("actionType") != inst.leaf_types[index]:
                    was, now = _action_name(inst.leaf_types[index]), _action_name(action.get("actionType"))
                    error = f"Non-deterministic workflow detected: action #{index} was {was} and is now {now}"

                    break

        continue_as_new: dict[str, Any] | None = None
        if error is None:
            # 1. new leaves, in order (ids follow the SDK's counter)
            for index, action in enumerate(leaves):
                atype = action.get("actionType")
                if atype == ActionType.ContinueAsNew:
                    continue_as_new = action
                    continue
                if index < len(inst.leaf_ids):
                    continue
                inst.leaf_types.append(atype)
                if atype not in ID_ACTIONS:
                    inst.leaf_ids.append(None)
                    continue
                tid = inst.next_id
                inst.next_id += 1
                inst.leaf_ids.append(tid)
                if atype == ActionType.CreateTimer:
                    fire_at = parse_iso(action["fireAt"])
                    ref = TaskRef("timer", fire_at=fire_at)
                    inst.tasks[tid] = ref
                    scheduled.append(event(EventType.TimerCreated, now, tid, FireAt=action["fireAt"]))
                    if not action.get("isCanceled"):
                        self._arm_timer(inst, tid, ref)
                    else:
                        ref.cancelled = True
                else:
                    retry = None
                    kind = "activity"
                    if atype == ActionType.CallActivityWithRetry:
                        opts = action.get("retryOptions") or {}
                        retry = RetryState(
                            name=action["functionName"],
                            input=action.get("input"),
                            first_ms=float(opts.get("firstRetryIntervalInMilliseconds", 1000)),
                            max_attempts=int(opts.get("maxNumberOfAttempts", 1)),
                            backoff=float(opts.get("backoffCoefficient", 1.0)),
                            max_interval_ms=(
                                float(opts["maxRetryIntervalInMilliseconds"])
                                if opts.get("maxRetryIntervalInMilliseconds")
                                else None
                            ),
                        )
                        kind = "retry_attempt"
                    inst.tasks[tid] = TaskRef(kind, retry=retry)
                    scheduled.append(
                        event(
                            EventType.TaskScheduled,
                            now,
                            tid,
                            Name=action["functionName"],
                            Input=action.get("input"),
                        )
                    )
                    self._run_activity(inst, tid, action["functionName"], action.get("input"))
            # 2. cancellations flip on earlier timer actions (the list is cumulative)
            for index, action in enumerate(leaves):
                if action.get("actionType") == ActionType.CreateTimer and action.get("isCanceled"):
                    tid = inst.leaf_ids[index] if index < len(inst.leaf_ids) else None
                    ref = inst.tasks.get(tid) if tid is not None else None
                    if ref is not None and not ref.cancelled:
                        ref.cancelled = True
                        if ref.handle is not None:
                            ref.handle.cancel()
            # 3. the hidden retry timer / re-scheduled attempt (batch's last event)
            last = batch[-1].event if batch else None
            if last is not None and self._is_retry_trigger(inst, last) and not state.get("isDone"):
                if last["EventType"] == EventType.TaskFailed:
                    ref = inst.tasks[last["TaskScheduledId"]]
                    rs = ref.retry
                    assert rs is not None
                    tid = inst.next_id
                    inst.next_id += 1
                    fire_at = now + rs.delay()
                    tref = TaskRef("retry_timer", retry=rs, fire_at=fire_at)
                    inst.tasks[tid] = tref
                    scheduled.append(event(EventType.TimerCreated, now, tid, FireAt=iso(fire_at)))
                    self._arm_timer(inst, tid, tref)
                else:
                    ref = inst.tasks[last["TimerId"]]
                    rs = ref.retry
                    assert rs is not None
                    if rs.attempts < rs.max_attempts:
                        rs.attempts += 1
                        tid = inst.next_id
                        inst.next_id += 1
                        inst.tasks[tid] = TaskRef("retry_attempt", retry=rs)
                        scheduled.append(
                            event(EventType.TaskScheduled, now, tid, Name=rs.name, Input=rs.input)
                        )
                        self._run_activity(inst, tid, rs.name, rs.input)

        inst.history.extend(scheduled)
        inst.history.append(event(EventType.OrchestratorCompleted, now))

        if error is not None:
            message = f"Orchestrator function '{inst.name}' failed: {error}"
            inst.history.append(
                event(
                    EventType.ExecutionCompleted,
                    now,
                    OrchestrationStatus="Failed",
                    Result=message,
                    FailureDetails={"ErrorType": "OrchestrationFailure", "ErrorMessage": error},
                )
            )
            self._finish(inst, "Failed", message)
            return
        if not state.get("isDone"):
            return
        if continue_as_new is not None:
            self._continue_as_new(inst, continue_as_new, batch, leaves)
            return
        pending = [t for t in inst.tasks.values() if t.kind == "timer" and not t.done and not t.cancelled]
        if pending:
            # DTFx does not complete an orchestration while an uncancelled durable timer is pending.
            return
        output = state.get("output")
        inst.history.append(
            event(
                EventType.ExecutionCompleted, now, OrchestrationStatus="Completed", Result=json.dumps(output)
            )
        )
        self._finish(inst, "Completed", output)

    def _finish(self, inst: Instance, status: str, output: Any) -> None:
        inst.status = status
        inst.output = output
        inst.updated = self.clock.now()
        self._cancel_timers(inst)
        for _ in inst.inbox:
            self.clock.release()
        inst.inbox.clear()
        self._changed.notify_all()

    def _continue_as_new(
        self, inst: Instance, action: dict[str, Any], batch: list[InboxItem], leaves: list[dict[str, Any]]
    ) -> None:
        now = self.clock.now()
        # Unconsumed EventRaised of this batch, plus everything that arrived while the
        # episode ran (still in the inbox), are lost: the Python SDK cannot carry them over.
        waits = Counter(
            a.get("externalEventName")
            for a in leaves
            if a.get("actionType") == ActionType.WaitForExternalEvent
        )
        raised = Counter(ev.get("Name") for ev in inst.history if ev["EventType"] == EventType.EventRaised)
        in_batch = Counter(
            it.event.get("Name") for it in batch if it.event["EventType"] == EventType.EventRaised
        )
        dropped = sum(min(n, max(0, raised[name] - waits[name])) for name, n in in_batch.items())
        for item in inst.inbox:
            if item.event["EventType"] == EventType.EventRaised:
                dropped += 1
            self.clock.release()
        inst.inbox.clear()
        if dropped:
            log.info("instance %s: %d event(s) dropped by continue_as_new", inst.instance_id, dropped)
            self.metrics.bump("events_dropped_continue_as_new", dropped)
            self.metrics.instance(inst.instance_id).events_dropped_continue_as_new += dropped
        inst.history.append(
            event(
                EventType.ExecutionCompleted,
                now,
                OrchestrationStatus="ContinuedAsNew",
                Result=action.get("input"),
            )
        )
        self._cancel_timers(inst)
        inst.previous_history = inst.history
        inst.history = []
        inst.generation += 1
        inst.next_id = 0
        inst.leaf_ids = []
        inst.leaf_types = []
        inst.tasks = {}
        inst.input = action.get("input")
        inst.output = None
        inst.status = "ContinuedAsNew"
        # As the real extension does (azure-functions-durable-extension#2088): the
        # instance's createdTime becomes the new generation's start.
        inst.created = now
        m = self.metrics.instance(inst.instance_id)
        m.generations += 1
        m.history_len_per_generation.append(0)
        started = event(
            EventType.ExecutionStarted,
            now,
            Name=inst.name,
            Input=inst.input,
            Version="",
            OrchestrationInstance={"InstanceId": inst.instance_id, "ExecutionId": uuid.uuid4().hex},
            ParentInstance=None,
        )
        self._post_locked(inst, started, inst.generation)

    def _arm_timer(self, inst: Instance, tid: int, ref: TaskRef) -> None:
        iid, gen, fire_at = inst.instance_id, inst.generation, ref.fire_at
        assert fire_at is not None

        def fire() -> None:
            with self._lock:
                cur = self._instances.get(iid)
                if cur is None or cur.generation != gen or ref.cancelled or ref.done:
                    return
                ref.done = True
                self._post(
                    iid, event(EventType.TimerFired, self.clock.now(), TimerId=tid, FireAt=iso(fire_at)), gen
                )

        ref.handle = self.clock.call_at(fire_at, fire)

    def _run_activity(self, inst: Instance, tid: int, name: str, input_json: str | None) -> None:
        iid, gen = inst.instance_id, inst.generation
        self.clock.acquire()

        def work() -> None:
            try:
                if not self._stopped:
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
        fn = self.activities.get(name)
        try:
            if fn is None:
                raise LookupError(
                    f"The function '{name}' doesn't exist, is disabled, or is not an activity function."
                )
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
            details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            return event(
                EventType.TaskFailed, self.clock.now(), TaskScheduledId=tid, Reason=str(exc), Details=details
            )


def _is_awaitable(obj: Any) -> bool:
    import inspect

    return inspect.isawaitable(obj)


def _loads_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _action_name(atype: Any) -> str:
    try:
        return ActionType(atype).name
    except ValueError:
        return f"actionType {atype}"
