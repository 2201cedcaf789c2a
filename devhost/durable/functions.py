"""Function discovery (`app.get_functions()`) and invocation helpers."""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# -- the one asyncio loop ------------------------------------------------------------
# The SDK's DurableOrchestrationClient keeps a module-level aiohttp session, bound to
# the loop it was created on; every async function therefore runs on one process-wide
# loop thread, shared by all DurableHost instances.
_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def shared_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            t = threading.Thread(target=loop.run_forever, name="df-asyncio", daemon=True)
            t.start()
            _loop = loop
        return _loop


def run_async(coro: Any, timeout: float | None = None) -> Any:
    """Run a coroutine on the shared loop and wait for its result (never call from the loop)."""
    loop = shared_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("run_async called from the shared loop itself")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def close_client_session() -> None:
    """Close the SDK's module-level aiohttp session (connections to a stopped host)."""
    try:
        from azure.durable_functions.models.utils import http_utils
    except ImportError:  # pragma: no cover
        return
    if getattr(http_utils, "_client_session", None) is None:
        return
    try:
        run_async(http_utils._close_session(), timeout=5)
    except Exception:  # noqa: BLE001, S110 - best effort
        pass


class InvocationContext:
    """Minimal stand-in for `azure.functions.Context` (for functions declaring `context`)."""

    def __init__(self, function_name: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_directory = ""
        self.trace_context = None
        self.retry_context = None
        self.thread_local_storage = threading.local()


@dataclass
class FunctionInfo:
    name: str
    fn: Callable[..., Any]
    trigger_type: str
    trigger_name: str
    trigger: dict[str, Any]
    client_name: str | None = None
    bindings: list[dict[str, Any]] = field(default_factory=list)
    accepts_context: bool = False

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    def call(self, trigger_value: Any, client_json: str | None) -> Any:
        """Call with keyword arguments like the Python worker; coroutines run on the shared loop."""
        kwargs: dict[str, Any] = {self.trigger_name: trigger_value}
        if self.client_name:
            kwargs[self.client_name] = client_json
        if self.accepts_context and "context" not in kwargs:
            kwargs["context"] = InvocationContext(self.name)
        result = self.fn(**kwargs)
        if inspect.isawaitable(result):
            result = run_async(result)
        return result


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


_functions_cache: dict[int, tuple[Any, list[Any]]] = {}
_cache_lock = threading.Lock()


def app_functions(app: Any) -> list[Any]:
    """`app.get_functions()`, once per app: the SDK refuses a second call (it records the
    names it has seen and then reports every function as a duplicate)."""
    with _cache_lock:
        hit = _functions_cache.get(id(app))
        if hit is not None and hit[0] is app:
            return hit[1]
        try:
            functions = app.get_functions()
        except ValueError as exc:
            if "unique" not in str(exc) or not getattr(app, "functions_bindings", None):
                raise
            # someone else indexed this app already: build the same Function objects directly
            functions = [fb.build(app.auth_level) for fb in app._function_builders]
        _functions_cache[id(app)] = (app, functions)
        return functions


def discover(app: Any) -> list[FunctionInfo]:
    out: list[FunctionInfo] = []
    for f in app_functions(app):
        bindings = [{k: _value(v) for k, v in b.get_dict_repr().items()} for b in f.get_bindings()]
        trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
        if trigger is None:
            continue
        client = next((b for b in bindings if b.get("type") == "durableClient"), None)
        fn = f.get_user_function()
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        out.append(
            FunctionInfo(
                name=f.get_function_name(),
                fn=fn,
                trigger_type=trigger["type"],
                trigger_name=trigger["name"],
                trigger=trigger,
                client_name=client["name"] if client else None,
                bindings=bindings,
                accepts_context="context" in params and trigger["name"] != "context",
            )
        )
    return out


# -- HTTP route templates ------------------------------------------------------------------
_PARAM = re.compile(r"\{([^}]+)\}")


@dataclass
class Route:
    info: FunctionInfo
    template: str
    regex: re.Pattern[str]
    names: dict[str, str]  # regex group -> route param name
    methods: set[str] | None
    auth_level: str
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(path)
        if m is None:
            return None
        return {self.names[g]: v for g, v in m.groupdict().items() if v is not None}


def compile_route(info: FunctionInfo) -> Route:
    template = (info.trigger.get("route") or info.name).strip("/")
    parts: list[str] = []
    names: dict[str, str] = {}
    precedence: list[int] = []
    for i, seg in enumerate(template.split("/") if template else []):
        sep = "/" if i else ""
        m = _PARAM.fullmatch(seg)
        if m is None:
            # literal segment, possibly with embedded params ("file.{ext}")
            pieces = []
            last = 0
            for pm in _PARAM.finditer(seg):
                pieces.append(re.escape(seg[last : pm.start()]))
                group = f"p{len(names)}"
                pname = pm.group(1).split(":")[0].split("=")[0].rstrip("?").lstrip("*")
                names[group] = pname
                pieces.append(f"(?P<{group}>[^/]+?)")
                last = pm.end()
            pieces.append(re.escape(seg[last:]))
            parts.append(sep + "".join(pieces))
            precedence.append(1 if last else 0)
            continue
        spec = m.group(1)
        catch_all = spec.startswith("*")
        spec = spec.lstrip("*")
        name_part = spec.split(":")[0].split("=")[0]
        optional = name_part.endswith("?") or spec.endswith("?") or "=" in spec
        pname = name_part.rstrip("?")
        group = f"p{len(names)}"
        names[group] = pname
        if catch_all:
            parts.append(f"(?:{re.escape(sep)}(?P<{group}>.*))?")
            precedence.append(4)
        elif optional:
            parts.append(f"(?:{re.escape(sep)}(?P<{group}>[^/]+))?")
            precedence.append(3)
        else:
            constrained = ":" in spec
            parts.append(f"{re.escape(sep)}(?P<{group}>[^/]+)")
            precedence.append(1 if constrained else 2)
    regex = re.compile("".join(parts), re.IGNORECASE)
    methods = info.trigger.get("methods")
    method_set = {str(_value(x)).upper() for x in methods} if methods else None
    auth = str(info.trigger.get("authLevel") or "function").lower()
    return Route(info, template, regex, names, method_set, auth, tuple(precedence))
