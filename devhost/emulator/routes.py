"""Request routing: which resource a request addresses, its checks (token, api-version,
workspace) and the answer. HTTP framing lives in `http_server`; state in `jobs`,
`catalog` and `trials`.

Three surfaces share the port, as they share the credential on Azure:
- ARM (`/subscriptions/...`): workspace, jobs, computes, environments, job operation results;
- the regional data plane reached through the workspace's `discoveryUrl`: `/discovery`
  and run history (`/history/v1.0/...`);
- the emulator's own admin route `/_emulator/faults` (not Azure; never faulted, not counted).

Absolute links (`nextLink`, `Location`, `discoveryUrl`) are built from the request's own
`Host` and `X-Forwarded-Proto`, so a client behind a TLS front or proxy can follow them,
and keep the caller's `api-version`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from . import api_versions, runhistory
from .errors import ArmError
from .fault_config import FaultPlanError, plan_from_json, plan_to_json
from .jobs import encode_skip_token

if TYPE_CHECKING:
    from .server import WorkspaceEmulator

PROVIDER = "Microsoft.MachineLearningServices"
ADMIN_FAULTS_PATH = "/_emulator/faults"
DISCOVERY_PATH = "/discovery"
_WS_RE = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/microsoft\.machinelearningservices"
    r"/workspaces/([^/]+)(/.*)?$",
    re.IGNORECASE,
)
_OP_RE = re.compile(
    r"^/subscriptions/([^/]+)/providers/microsoft\.machinelearningservices/locations/([^/]+)"
    r"/mfeOperationResults/jobs:([^/]+)$",
    re.IGNORECASE,
)
_HISTORY_PREFIX = "/history/v1.0"


class Headers(dict):
    """Case-insensitive header lookup (keys stored lower case)."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass
class Request:
    method: str
    target: str
    headers: Headers
    body: bytes
    local_base: str
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        split = urlsplit(self.target)
        self.path = split.path
        self.query = dict(parse_qsl(split.query, keep_blank_values=True))

    @property
    def base_url(self) -> str:
        """scheme://host the caller used: `X-Forwarded-Proto` (first hop) and `Host`."""
        proto = (self.headers.get("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
        host = (self.headers.get("X-Forwarded-Host") or self.headers.get("Host") or "").split(",")[0].strip()
        if not host:
            return self.local_base
        return f"{proto if proto in ('http', 'https') else 'http'}://{host}"

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArmError(400, "InvalidRequestContent", f"The request content was invalid: {exc}") from exc


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """What a request addresses: `kind` names it in call counters and fault filters."""

    kind: str
    family: str | None = None  # api-version family; None: no api-version (data plane, admin)
    parts: tuple[str, ...] = ()
    job: str = ""
    ws: tuple[str, str, str] | None = None


def classify(method: str, path: str) -> Route:
    """Name the resource a request addresses (for counting and faults, before dispatch)."""
    if path == ADMIN_FAULTS_PATH:
        return Route("admin")
    if path == DISCOVERY_PATH:
        return Route("discovery")
    if path.startswith(_HISTORY_PREFIX + "/"):
        m = _WS_RE.match(path[len(_HISTORY_PREFIX) :])
        if m:
            parts = _parts(m.group(4))
            job = ""
            if len(parts) >= 2 and parts[0] == "runs":
                job = parts[1]
            elif len(parts) >= 4 and parts[0] == "experiments" and parts[2] == "runs":
                job = parts[3]
            return Route("runhistory", None, parts, job, (m.group(1), m.group(2), m.group(3)))
        return Route("other")
    m = _WS_RE.match(path)
    if m:
        parts = _parts(m.group(4))
        ws = (m.group(1), m.group(2), m.group(3))
        head = parts[0].lower() if parts else ""
        if not parts:
            return Route("workspace", "workspaces", parts, "", ws)
        if head == "jobs":
            if len(parts) == 1:
                return Route("list", "jobs", parts, "", ws)
            if len(parts) == 2:
                return Route({"GET": "get", "PUT": "put"}.get(method, "job"), "jobs", parts, parts[1], ws)
            if len(parts) == 3 and parts[2].lower() == "cancel":
                return Route("cancel", "jobs", parts, parts[1], ws)
        if head == "computes" and len(parts) <= 2:
            return Route("computes", "computes", parts, "", ws)
        if head == "environments" and len(parts) in (3, 4) and parts[2].lower() == "versions":
            return Route("environments", "environments", parts, "", ws)
        return Route("other", None, parts, "", ws)
    if _OP_RE.match(path):
        return Route("operation", "operations")
    return Route("other")


def _parts(rest: str | None) -> tuple[str, ...]:
    rest = (rest or "").strip("/")
    return tuple(unquote(p) for p in rest.split("/")) if rest else ()


def method_not_allowed(method: str) -> ArmError:
    return ArmError(
        405, "MethodNotAllowed", f"The HTTP method '{method}' is not supported for this resource."
    )


class Router:
    """Answers requests for one emulated workspace."""

    def __init__(self, emulator: WorkspaceEmulator) -> None:
        self.emu = emulator

    def dispatch(self, request: Request, route: Route) -> Response:
        try:
            if route.kind == "discovery":
                return self._discovery(request)
            self._check_auth(request.headers)
            if route.kind == "admin":
                return self._admin(request)
            if route.kind == "other":
                raise ArmError(404, "NotFound", f"No route matches '{request.path}'.")
            if route.family is not None:
                version = api_versions.check(
                    route.family, request.query.get("api-version"), location=self.emu.location
                )
                self.emu.note_api_version(route.kind, version)
            if route.kind == "operation":
                return self._operation(request)
            assert route.ws is not None
            self._check_workspace(*route.ws)
            handler: Callable[[Request, Route], Response] = getattr(self, f"_{route.kind}")
            return handler(request, route)
        except ArmError as err:
            return Response(err.status, err.body(), dict(err.headers))

    # ------------------------------------------------------------------ checks
    def _check_auth(self, headers: Headers) -> None:
        auth = headers.get("Authorization")
        www = 'Bearer authorization_uri="https://login.microsoftonline.com/common"'
        if not auth or not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or not a Bearer token.",
                headers={"WWW-Authenticate": www},
            )
        if auth[7:].strip() != self.emu.token:
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                headers={"WWW-Authenticate": www + ', error="invalid_token"'},
            )

    def _check_workspace(self, sub: str, rg: str, ws: str) -> None:
        emu = self.emu
        if sub.lower() != emu.subscription_id.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if rg.lower() != emu.resource_group.lower():
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        if ws.lower() != emu.workspace_name.lower():
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{PROVIDER}/workspaces/{ws}' under resource group '{rg}' was not found.",
                details=[{"code": "WorkspaceNotFound", "message": f"Workspace '{ws}' not found."}],
            )

    # ------------------------------------------------------------------ workspace, discovery
    def _workspace(self, request: Request, route: Route) -> Response:
        if request.method != "GET":
            raise method_not_allowed(request.method)
        return Response(200, self.emu.workspace_resource(request.base_url))

    def _discovery(self, request: Request) -> Response:
        if request.method != "GET":
            raise method_not_allowed(request.method)
        base = request.base_url
        services = ("api", "catalog", "experimentation", "gallery", "history", "hyperdrive", "labeling")
        doc = {name: base for name in services}
        doc.update({"modelmanagement": base, "pipelines": base, "studio": "https://ml.azure.com"})
        return Response(200, doc)

    # ------------------------------------------------------------------ jobs
    def _list(self, request: Request, route: Route) -> Response:
        if request.method != "GET":
            raise method_not_allowed(request.method)
        book = self.emu.book
        with book.lock:
            page, after = book.page(request.query, self.emu.page_size)
            payload = b'{"value": [' + b", ".join(j.encoded() for j in page) + b"]"
        if after is not None:
            params = [(k, v) for k, v in request.query.items() if k.lower() != "$skiptoken"]
            params.append(("$skipToken", encode_skip_token(after)))
            next_link = f"{request.base_url}{quote(request.path)}?{urlencode(params)}"
            payload += b', "nextLink": ' + json.dumps(next_link).encode()
        return Response(200, payload + b"}")

    def _get(self, request: Request, route: Route) -> Response:
        with self.emu.book.lock:
            return Response(200, self.emu.book.get(route.job).encoded())

    def _put(self, request: Request, route: Route) -> Response:
        with self.emu.book.lock:
            status, job = self.emu.book.put(route.job, request.body)
            body = job.encoded()
        headers = {}
        if status == 201:
            headers["Location"] = (
                f"{request.base_url}{quote(request.path)}?api-version={request.query['api-version']}"
            )
        return Response(status, body, headers)

    def _job(self, request: Request, route: Route) -> Response:
        raise method_not_allowed(request.method)

    def _cancel(self, request: Request, route: Route) -> Response:
        if request.method != "POST":
            raise method_not_allowed(request.method)
        op = self.emu.book.cancel(route.job)
        if op is None:
            return Response(200, None)
        return Response(202, None, self._operation_headers(request, op))

    def _operation_headers(self, request: Request, op: str) -> dict[str, str]:
        emu = self.emu
        location = (
            f"{request.base_url}/subscriptions/{emu.subscription_id}/providers/{PROVIDER}"
            f"/locations/{emu.location}/mfeOperationResults/jobs:{op}?api-version={request.query['api-version']}"
        )
        return {"Location": location, "Retry-After": str(emu.cancel_retry_after_seconds)}

    def _operation(self, request: Request) -> Response:
        if request.method != "GET":
            raise method_not_allowed(request.method)
        m = _OP_RE.match(request.path)
        assert m is not None
        if m.group(1).lower() != self.emu.subscription_id.lower():
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{m.group(1)}' could not be found."
            )
        op = unquote(m.group(3))
        if self.emu.book.operation_done(op):
            return Response(200, None)
        return Response(202, None, self._operation_headers(request, op))

    # ------------------------------------------------------------------ computes, environments
    def _computes(self, request: Request, route: Route) -> Response:
        catalog = self.emu.catalog
        with self.emu.book.lock:
            if len(route.parts) == 1:
                if request.method != "GET":
                    raise method_not_allowed(request.method)
                return Response(200, {"value": list(catalog.computes.values())})
            name = route.parts[1]
            if request.method == "GET":
                return Response(200, catalog.compute(name))
            if request.method == "PUT":
                status, resource = catalog.put_compute(name, request.json())
                return Response(status, resource)
        raise method_not_allowed(request.method)

    def _environments(self, request: Request, route: Route) -> Response:
        if request.method != "GET":
            raise method_not_allowed(request.method)
        catalog = self.emu.catalog
        name = route.parts[1]
        if len(route.parts) == 4:
            return Response(200, catalog.environment_version(name, route.parts[3]))
        versions = catalog.list_environment_versions(name)
        order = request.query.get("$orderBy", "createdtime desc").strip().lower()
        if order.endswith("asc"):
            versions.reverse()
        top = request.query.get("$top")
        if top and top.isdigit():
            versions = versions[: int(top)]
        return Response(200, {"value": versions})

    # ------------------------------------------------------------------ run history
    def _runhistory(self, request: Request, route: Route) -> Response:
        emu = self.emu
        parts = route.parts
        book = emu.book
        with book.lock:
            job = book.find(route.job)
            if job is None:
                trial = emu.trials.get(route.job)
                parent = book.find(trial.parent) if trial else None
                if trial and parent and request.method == "GET" and parts[-1] != "children":
                    return Response(
                        200, runhistory.trial_run(trial, parent, emu.workspace_id, emu.clock.now())
                    )
                raise ArmError(
                    404,
                    "UserError",
                    f"Run {route.job} was not found in workspace '{emu.workspace_name}'.",
                    inner_code="NotFoundError",
                )
            if (
                parts[0] == "experiments"
                and str(job.props.get("experimentName") or "Default").lower() != parts[1].lower()
            ):
                raise ArmError(
                    404,
                    "UserError",
                    f"Run {route.job} was not found in experiment '{parts[1]}'.",
                    inner_code="NotFoundError",
                )
            if parts[-1] == "children":
                if request.method != "GET":
                    raise method_not_allowed(request.method)
                now = emu.clock.now()
                runs = [
                    runhistory.trial_run(t, job, emu.workspace_id, now)
                    for t in sorted(emu.trials.children(job.name), key=lambda t: t.number)
                ]
                page = runhistory.children_page(
                    runs,
                    request.query,
                    page_size=emu.children_page_size,
                    next_url=f"{request.base_url}{quote(request.path)}",
                )
                return Response(200, page)
            if request.method == "GET":
                return Response(200, runhistory.job_run(job, emu.workspace_id))
            if request.method == "PATCH" and parts[0] == "experiments":
                body = request.json()
                if not isinstance(body, dict):
                    raise ArmError(400, "UserError", "The request body must be a JSON object (CreateRun).")
                book.modify(
                    job,
                    display_name=body.get("displayName"),
                    description=body.get("description"),
                    tags=body.get("tags"),
                    properties=body.get("properties"),
                    hidden=body.get("hidden"),
                )
                return Response(200, runhistory.job_run(job, emu.workspace_id))
        raise method_not_allowed(request.method)

    # ------------------------------------------------------------------ admin
    def _admin(self, request: Request) -> Response:
        emu = self.emu
        if request.method == "GET":
            pass
        elif request.method == "PUT":
            try:
                emu.set_faults(plan_from_json(request.json()))
            except FaultPlanError as exc:
                raise ArmError(400, "InvalidFaultPlan", str(exc)) from None
        elif request.method == "DELETE":
            emu.set_faults(None)
        else:
            raise method_not_allowed(request.method)
        plan = emu.fault_plan
        return Response(200, {"plan": plan_to_json(plan) if plan else None})
