"""DurableHost: plays the Azure Functions host + Durable extension for an unmodified DFApp.

One ThreadingHTTPServer serves the app's HTTP routes (`/api/...`), the Durable
client RPC API the Python SDK calls (`/durabletask/...`) and the standard
management webhooks (`/runtime/webhooks/durabletask/...`). All time comes from the
shared devhost clock.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import azure.functions as func

from devhost.clock import Clock, TimerHandle

from .cron import CronSchedule
from .engine import TERMINAL, Engine, InstanceExists, UnknownOrchestrator
from .functions import FunctionInfo, Route, close_client_session, compile_route, discover, run_async
from .history import parse_iso
from .keys import DURABLE_SYSTEM_KEY_NAME, HostKeys, Level, new_key, presented_key
from .metrics import HostMetrics
from .observer import FunctionRan, HostObserver, HttpServed
from .payloads import InvalidJson, stored_as_python_client, stored_from_body
from .timers import TimerState

log = logging.getLogger("devhost.durable")

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/durabletask"
ID_PLACEHOLDER = "INSTANCEID"


class DurableHost:
    def __init__(
        self,
        app: Any,
        *,
        clock: Clock,
        task_hub: str = "polysyncsweeps",
        host: str = "127.0.0.1",
        port: int = 0,
        activity_workers: int = 8,
        function_key: str | None = None,
        system_key: str | None = None,
        keys: HostKeys | None = None,
        observer: HostObserver | None = None,
        max_short_timer: timedelta = timedelta(days=6),
        long_timer_interval: timedelta = timedelta(days=3),
        route_prefix: str = "api",
        rerun_activities: bool | Collection[str] | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        self.task_hub = task_hub
        self.host = host
        self.port = port
        # Keys as the Functions host checks them (keys.py): `keys`, or a `default` host key
        # `function_key` (with a made-up master key and the extension's `system_key`). None:
        # nothing is checked (an in-process host for tests of the host itself).
        if keys is None and function_key:
            keys = HostKeys(
                master=new_key(),
                host={"default": function_key},
                system={DURABLE_SYSTEM_KEY_NAME: system_key or new_key()},
            )
        self.keys = keys
        self.observer = observer
        self.route_prefix = route_prefix.strip("/")
        self.metrics = HostMetrics()
        self.functions = discover(app)
        self._by_type: dict[str, list[FunctionInfo]] = {}
        for info in self.functions:
            self._by_type.setdefault(info.trigger_type, []).append(info)
        orchestrators = {f.name: f.fn for f in self._by_type.get("orchestrationTrigger", [])}
        activities = {
            f.name: _activity_caller(f, lambda: self._binding_json)
            for f in self._by_type.get("activityTrigger", [])
        }
        self.engine = Engine(
            clock=clock,
            orchestrators=orchestrators,
            activities=activities,
            run_async=run_async,
            metrics=self.metrics,
            activity_workers=activity_workers,
            max_short_timer=max_short_timer,
            long_timer_interval=long_timer_interval,
            rerun_activities=_rerun_predicate(rerun_activities),
            on_episode=observer.instance_touched if observer is not None else None,
        )
        self.routes: list[Route] = sorted(
            (compile_route(f) for f in self._by_type.get("httpTrigger", [])), key=lambda r: r.precedence
        )
        self._server: ThreadingHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._triggers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="df-triggers")
        self._timer_handles: dict[str, TimerHandle] = {}
        self._timer_states: dict[str, TimerState] = {}
        self._binding_json = ""
        self._stopped = False
        self.base_url = ""
        self.api_url = ""

    @property
    def function_key(self) -> str | None:
        """The `default` host key callers use (None when keys are not checked)."""
        return self.keys.default if self.keys is not None else None

    @property
    def system_key(self) -> str | None:
        """The Durable extension's system key, which the management URLs carry."""
        return self.keys.durable_system_key if self.keys is not None else None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> DurableHost:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        self.api_url = f"{self.base_url}/{self.route_prefix}" if self.route_prefix else self.base_url
        self._binding_json = json.dumps(self.client_binding())
        self._server_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="df-http", daemon=True
        )
        self._server_thread.start()
        self.clock.start()
        self.engine.start()
        log.info("durable host on %s (%d functions)", self.base_url, len(self.functions))
        return self

    def stop(self) -> None:
        for h in self._timer_handles.values():
            h.cancel()
        self._timer_handles.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.engine.stop()
        self._stopped = True
        self._triggers.shutdown(wait=True)
        close_client_session()

    def __enter__(self) -> DurableHost:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- in-process API ----------------------------------------------------------------------
    def start_orchestration(self, name: str, input: Any = None, instance_id: str | None = None) -> str:
        """Start as the Python client's `start_new` does (the input is stored JSON-encoded twice)."""
        input_json = None if input is None else stored_as_python_client(input)
        return self.engine.start_orchestration(name, input_json, instance_id)

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Raise as the Python client's `raise_event` does: the orchestrator receives the
        payload as a JSON string (what the real extension delivers for that client)."""
        outcome = self.engine.raise_event(instance_id, name, stored_as_python_client(data))
        if outcome == "missing":
            raise KeyError(instance_id)

    def get_status(
        self, instance_id: str, *, show_history: bool = False, show_input: bool = True
    ) -> dict | None:
        return self.engine.status(instance_id, show_history=show_history, show_input=show_input)

    def terminate(self, instance_id: str, reason: str) -> None:
        if self.engine.terminate(instance_id, reason) == "missing":
            raise KeyError(instance_id)

    def wait_for_completion(self, instance_id: str, timeout: float = 60.0) -> dict:
        return self.engine.wait(instance_id, timeout)

    def history(self, instance_id: str, *, previous_generation: bool = False) -> list[dict[str, Any]]:
        """Raw protocol history (what the orchestrator receives) of the current or previous generation."""
        return self.engine.history(instance_id, previous=previous_generation)

    def instances(self) -> list[str]:
        return self.engine.instance_ids()

    def deliver_event_grid(self, event: dict[str, Any], *, wait: bool = False) -> Future:
        """Invoke every Event Grid-triggered function with a func.EventGridEvent (in order, off the
        caller's thread). Exceptions are logged, never raised."""

        def work() -> None:
            for info in self._by_type.get("eventGridTrigger", []):
                self.metrics.bump("event_grid_runs")
                try:
                    info.call(_event_grid_event(event), self._binding_json if info.client_name else None)
                except Exception:
                    log.exception("event grid function %s failed", info.name)

        return self._run_held(work, wait)

    def fire_timer_trigger(
        self,
        function_name: str,
        *,
        wait: bool = False,
        past_due: bool = False,
        reason: str | None = None,
        occurrence: datetime | None = None,
    ) -> Future:
        """Invoke a timer function for an occurrence due now, with the `TimerInfo` the host's
        timer listener hands it (timers.py): the schedule status before this invocation."""
        info = next((f for f in self._by_type.get("timerTrigger", []) if f.name == function_name), None)
        if info is None:
            raise KeyError(function_name)
        state = self._timer_states.setdefault(function_name, TimerState(None))

        due = occurrence or self.clock.now()
        why = reason or f"Timer fired at {due.isoformat()}"  # as the host's TriggerParameterDescriptor says

        def work() -> None:
            self.metrics.bump("timer_runs")
            started = time.monotonic()
            succeeded = False
            try:
                timer = state.argument(due, past_due=past_due)
                info.call(timer, self._binding_json if info.client_name else None)
                succeeded = True
            except Exception:
                log.exception("timer function %s failed", function_name)
            finally:
                state.invoked(due, self.clock.now())
                if self.observer is not None:
                    elapsed = (time.monotonic() - started) * 1000
                    self.observer.function_ran(FunctionRan(function_name, why, succeeded, elapsed))

        return self._run_held(work, wait)

    def _run_held(self, work: Callable[[], None], wait: bool) -> Future:
        """Run trigger work off the caller's thread while holding the clock (so
        virtual time cannot jump past what the work schedules); skipped once the
        host has stopped."""
        self.clock.acquire()

        def held() -> None:
            try:
                if not self._stopped:
                    work()
            finally:
                self.clock.release()

        try:
            fut = self._triggers.submit(held)
        except RuntimeError:  # the pool is shut down: the work never runs
            self.clock.release()
            fut = Future()
            fut.set_result(None)
        if wait:
            fut.result()
        return fut

    def schedule_timer_triggers(self) -> None:
        """Run every timer trigger on its NCRONTAB schedule (on the clock)."""
        for info in self._by_type.get("timerTrigger", []):
            expr = _resolve_setting(str(info.trigger.get("schedule", "")))
            try:
                schedule = CronSchedule(expr)
            except ValueError:
                log.warning("timer %s: unsupported schedule %r; not scheduled", info.name, expr)
                continue
            self._timer_states[info.name] = TimerState(schedule)
            if info.trigger.get("runOnStartup"):
                self.fire_timer_trigger(info.name, reason="RunOnStartup")
            self._arm_cron(info.name, schedule)

    def _arm_cron(self, name: str, schedule: CronSchedule) -> None:
        when = schedule.next_after(self.clock.now())

        def tick() -> None:
            if name not in self._timer_handles:
                return
            self.fire_timer_trigger(name, occurrence=when)
            self._arm_cron(name, schedule)

        # background: a schedule fires as time passes, and never makes idle virtual time run on
        self._timer_handles[name] = self.clock.call_at(when, tick, background=True)

    # -- bindings ---------------------------------------------------------------------------
    def _code_suffix(self) -> str:
        return f"&code={quote(self.system_key)}" if self.system_key else ""

    def client_binding(self) -> dict[str, Any]:
        wh = self.base_url + WEBHOOK_PREFIX
        q = f"taskHub={quote(self.task_hub)}&connection=Storage{self._code_suffix()}"
        inst = f"{wh}/instances/{ID_PLACEHOLDER}"
        code_q = f"?code={quote(self.system_key)}" if self.system_key else ""
        return {
            "taskHubName": self.task_hub,
            "connectionName": "Storage",
            "creationUrls": {
                "createNewInstancePostUri": f"{wh}/orchestrators/{{functionName}}[/{{instanceId}}]{code_q}",
                "createAndWaitOnNewInstancePostUri": (
                    f"{wh}/orchestrators/{{functionName}}[/{{instanceId}}]"
                    f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}{self._code_suffix()}"
                ),
            },
            "managementUrls": {
                "id": ID_PLACEHOLDER,
                "statusQueryGetUri": f"{inst}?{q}",
                "sendEventPostUri": f"{inst}/raiseEvent/{{eventName}}?{q}",
                "terminatePostUri": f"{inst}/terminate?reason={{text}}&{q}",
                "rewindPostUri": f"{inst}/rewind?reason={{text}}&{q}",
                "purgeHistoryDeleteUri": f"{inst}?{q}",
                "restartPostUri": f"{inst}/restart?{q}",
                "suspendPostUri": f"{inst}/suspend?reason={{text}}&{q}",
                "resumePostUri": f"{inst}/resume?reason={{text}}&{q}",
            },
            "baseUrl": wh,
            "requiredQueryStringParameters": f"code={self.system_key}" if self.system_key else "",
            "rpcBaseUrl": f"{self.base_url}{RPC_PREFIX}/",
        }

    def management_payload(self, instance_id: str) -> dict[str, str]:
        urls = dict(self.client_binding()["managementUrls"])
        return {k: v.replace(ID_PLACEHOLDER, quote(instance_id, safe="")) for k, v in urls.items()}

    # -- HTTP dispatch (called by the handler threads) ---------------------------------------
    def handle_http(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Reply:
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            request = _ApiRequest(self.base_url + raw_path, query, headers, body)
            if path == RPC_PREFIX or path.startswith(RPC_PREFIX + "/"):
                return self._durable_api(method, path[len(RPC_PREFIX) :], request)
            if path == WEBHOOK_PREFIX or path.startswith(WEBHOOK_PREFIX + "/"):
                if not self._authorized(Level.SYSTEM, query, headers, key_name=DURABLE_SYSTEM_KEY_NAME):
                    return _Reply(401, b"")
                return self._durable_api(method, path[len(WEBHOOK_PREFIX) :], request)
            prefix = "/" + self.route_prefix if self.route_prefix else ""
            if path == prefix or path.startswith(prefix + "/"):
                return self._app_route(method, raw_path, path[len(prefix) :], query, headers, body)
            if path in ("/", "/admin/host/status"):
                return _json(200, {"state": "Running", "taskHub": self.task_hub})
            return _Reply(404, b"")
        except Exception:
            log.exception("durable host: %s %s failed", method, raw_path)
            return _Reply(500, b"")

    def _authorized(
        self,
        required: Level,
        query: dict[str, str],
        headers: dict[str, str],
        *,
        function_name: str | None = None,
        key_name: str | None = None,
    ) -> bool:
        """The host's key check (keys.py); everything passes when keys are not checked."""
        if self.keys is None:
            return True
        return self.keys.allows(
            required, presented_key(headers, query), function_name=function_name, key_name=key_name
        )

    def _app_route(
        self,
        method: str,
        raw_path: str,
        sub: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> _Reply:
        sub = unquote(sub.strip("/"))
        matched = [(r, p) for r in self.routes if (p := r.match(sub)) is not None]
        if not matched:
            return _Reply(404, b"")
        allowed = [(r, p) for r, p in matched if r.methods is None or method in r.methods]
        if not allowed:
            return _Reply(405, b"")
        route, params = allowed[0]
        info = route.info
        required = Level.of_route(route.auth_level)
        if not self._authorized(required, query, headers, function_name=info.name):
            return _Reply(401, b"", function=info.name)
        req = func.HttpRequest(
            method=method,
            url=self.base_url + raw_path,
            headers=headers,
            params=query,
            route_params=params,
            body=body,
        )
        self.metrics.bump("http_runs")
        try:
            result = info.call(req, self._binding_json if info.client_name else None)
        except Exception:
            log.exception("function %s failed", info.name)
            return _Reply(500, b"", function=info.name)
        reply = _from_function_result(result)
        reply.function = info.name
        return reply

    def _durable_api(self, method: str, sub: str, request: _ApiRequest) -> _Reply:
        """HttpApiHandler.HandleRequestAsync: the same handler serves the local RPC
        endpoint the Python client calls and the public runtime webhooks."""
        segs = [unquote(s) for s in sub.strip("/").split("/")] if sub.strip("/") else []
        if not segs:
            return _Reply(404, b"")
        head = segs[0]
        query = request.query
        if head == "orchestrators" and method == "POST" and len(segs) in (2, 3):
            return self._api_start(segs[1], segs[2] if len(segs) == 3 else None, request)
        if head == "instances":
            if len(segs) == 1:
                if method == "GET":
                    return _json(200, self._filtered_statuses(query))
                return _Reply(405, b"")
            iid = segs[1]
            if len(segs) == 2 and method == "GET":
                return self._api_status(iid, request)
            if len(segs) == 2 and method == "DELETE":
                if self.engine.purge(iid):
                    return _json(200, {"instancesDeleted": 1})
                return _Reply(404, b"")
            if len(segs) == 4 and segs[2] == "raiseEvent" and method == "POST":
                return self._api_raise(iid, segs[3], request)
            if len(segs) == 3 and segs[2] == "terminate" and method == "POST":
                # HandleTerminateInstanceRequestAsync: 404 / 410 / 202; the termination
                # itself happens when the instance processes the message.
                outcome = self.engine.terminate(iid, query.get("reason"))
                return _Reply({"accepted": 202, "gone": 410, "missing": 404}[outcome], b"")
            if len(segs) == 3 and segs[2] in ("suspend", "resume", "rewind", "restart"):
                return _json(501, {"message": f"{segs[2]} is not emulated by the devhost durable host"})
        if head == "entities":
            return _json(501, {"message": "entities are not emulated by the devhost durable host"})
        return _Reply(404, b"")

    def _api_start(self, name: str, instance_id: str | None, request: _ApiRequest) -> _Reply:
        """HandleStartOrchestratorRequestAsync: an empty body is no input; otherwise the
        body is one JSON value (400 "Invalid JSON content" if not)."""
        try:
            input_json = stored_from_body(request.body) if request.body.strip() else None
        except InvalidJson as exc:
            return _json(400, {"Message": str(exc)})
        try:
            iid = self.engine.start_orchestration(name, input_json, instance_id)
        except UnknownOrchestrator as exc:
            return _json(
                400,
                {
                    "Message": "One or more of the arguments submitted is incorrect",
                    "ExceptionMessage": str(exc),
                },
            )
        except InstanceExists as exc:
            return _json(409, {"Message": str(exc), "ExceptionMessage": str(exc)})
        payload = self.management_payload(iid)
        # CreateCheckStatusResponse: Location = statusQueryGetUri, Retry-After: 10
        return _json(202, payload, headers={"Location": payload["statusQueryGetUri"], "Retry-After": "10"})

    def _api_raise(self, iid: str, name: str, request: _ApiRequest) -> _Reply:
        """HandleRaiseEventRequestAsync: 404 unknown, 410 finished, then the body must be
        `application/json` and one JSON value, stored as that JSON (payloads.py)."""
        status = self.engine.status(iid, show_input=False)
        if status is None:
            return _Reply(404, b"")
        if status["runtimeStatus"] in TERMINAL:
            return _Reply(410, b"")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return _json(400, {"Message": "Only application/json request content is supported"})
        try:
            data_json = stored_from_body(request.body)
        except InvalidJson as exc:
            return _json(400, {"Message": str(exc)})
        outcome = self.engine.raise_event(iid, name, data_json)
        return _Reply({"accepted": 202, "gone": 410, "missing": 404}[outcome], b"")

    def _api_status(self, iid: str, request: _ApiRequest) -> _Reply:
        """HandleGetStatusRequestAsync: 202 with `Location` = the request URL and
        `Retry-After: 5` while running; 200 when finished (500 for Failed on request)."""
        query = request.query
        status = self.engine.status(
            iid,
            show_history=_flag(query, "showHistory", False),
            show_input=_flag(query, "showInput", True),
            show_output=_flag(query, "showHistoryOutput", False),
        )
        if status is None:
            return _Reply(404, b"")
        rs = status["runtimeStatus"]
        if rs in TERMINAL:
            code = (
                500 if rs == "Failed" and _flag(query, "returnInternalServerErrorOnFailure", False) else 200
            )
            return _json(code, status)
        return _json(202, status, headers={"Location": request.url, "Retry-After": "5"})

    def _filtered_statuses(self, query: dict[str, str]) -> list[dict[str, Any]]:
        out = self.engine.statuses()
        if query.get("runtimeStatus"):
            wanted = {s.strip() for s in query["runtimeStatus"].split(",")}
            out = [s for s in out if s["runtimeStatus"] in wanted]
        if query.get("instanceIdPrefix"):
            out = [s for s in out if s["instanceId"].startswith(query["instanceIdPrefix"])]
        if query.get("createdTimeFrom"):
            t = parse_iso(query["createdTimeFrom"])
            out = [s for s in out if parse_iso(s["createdTime"]) >= t]
        if query.get("createdTimeTo"):
            t = parse_iso(query["createdTimeTo"])
            out = [s for s in out if parse_iso(s["createdTime"]) <= t]
        return out


# -- helpers ------------------------------------------------------------------------------
class _ApiRequest:
    __slots__ = ("body", "headers", "query", "url")

    def __init__(self, url: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> None:
        self.url = url
        self.query = query
        self.headers = headers
        self.body = body


def _rerun_predicate(rerun: bool | Collection[str] | None) -> Callable[[str], bool] | None:
    """The at-least-once switch: every activity (True), the named ones, or none."""
    if not rerun:
        return None
    if rerun is True:
        return lambda _name: True
    names = {str(n) for n in rerun}
    return lambda name: name in names


class _Reply:
    __slots__ = ("body", "function", "headers", "status")

    def __init__(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, *, function: str | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.function = function  # the app function the request was routed to


def _json(status: int, obj: Any, headers: dict[str, str] | None = None) -> _Reply:
    h = {"Content-Type": "application/json; charset=utf-8"}
    h.update(headers or {})
    return _Reply(status, json.dumps(obj).encode(), h)


def _flag(query: dict[str, str], name: str, default: bool) -> bool:
    for k, v in query.items():
        if k.lower() == name.lower():
            return v.strip().lower() in ("true", "1", "yes", "")
    return default


def _from_function_result(result: Any) -> _Reply:
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items()}
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = f"{result.mimetype}; charset={result.charset}"
        return _Reply(result.status_code, result.get_body() or b"", headers)
    if result is None:
        return _Reply(204, b"")
    if isinstance(result, bytes):
        return _Reply(200, result, {"Content-Type": "application/octet-stream"})
    if isinstance(result, str):
        return _Reply(200, result.encode(), {"Content-Type": "text/plain; charset=utf-8"})
    return _json(200, result)


def _event_grid_event(ev: dict[str, Any]) -> Any:
    """The trigger's argument as the Python worker builds it from the delivered JSON:
    azure-functions' `EventGridEventInConverter.decode` (a `func.EventGridEvent`, or a
    `func.CloudEvent` for a CloudEvents 1.0 subscription)."""
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.meta import Datum

    return EventGridEventInConverter.decode(Datum(json.dumps(ev), "json"), trigger_metadata=None)


def _resolve_setting(expr: str) -> str:
    expr = expr.strip()
    if len(expr) > 2 and expr.startswith("%") and expr.endswith("%"):
        return os.environ.get(expr[1:-1], "")
    return expr


def _activity_caller(info: FunctionInfo, binding_json: Callable[[], str]):
    """How the worker calls an activity: its input under the trigger's name, plus the durable
    client binding's JSON when the activity declares one (the Functions host resolves input
    bindings whatever the trigger; the SDK's wrapper turns the JSON into a client)."""
    name = info.trigger_name
    fn = info.fn
    ctx = info.accepts_context
    client_name = info.client_name

    def call(value: Any) -> Any:
        kwargs = {name: value}
        if client_name:
            kwargs[client_name] = binding_json()
        if ctx:
            from .functions import InvocationContext

            kwargs["context"] = InvocationContext(info.name)
        return fn(**kwargs)

    return call


def _make_handler(host: DurableHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "devhost-durable/1.0"
        # Headers and body go out in two writes: with Nagle on, every keep-alive
        # answer waited ~40 ms for the client's delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s - " + format, self.address_string(), *args)

        def _handle(self) -> None:
            started = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            host.clock.acquire()
            try:
                reply = host.handle_http(self.command, self.path, headers, body)
            finally:
                host.clock.release()
            self.send_response(reply.status)
            for k, v in reply.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD" and reply.body:
                self.wfile.write(reply.body)
            if host.observer is not None and not self.path.startswith(RPC_PREFIX + "/"):
                served = HttpServed(
                    self.command,
                    urlsplit(self.path).path,
                    reply.status,
                    (time.monotonic() - started) * 1000,
                    reply.function,
                )
                host.observer.http_served(served)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    return Handler
