"""Azure ML workspace emulator: the ARM REST surface for jobs (api-version 2024-10-01)
on 127.0.0.1, with job lifecycles, Event Grid events and faults driven by the shared
`devhost.clock` clock. See docs/emulator.md."""

from __future__ import annotations

import base64
import binascii
import collections
import copy
import hashlib
import itertools
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from devhost.clock import Clock, TimerHandle

from .errors import ArmError, user_error
from .faults import FaultInjector, FaultPlan
from .validation import (
    JOB_TYPES,
    compute_name,
    environment_known,
    normalize_sweep,
    validate_name,
    validate_sweep,
)

log = logging.getLogger(__name__)

API_VERSION = "2024-10-01"
PROVIDER = "Microsoft.MachineLearningServices"
JOB_RESOURCE_TYPE = "Microsoft.MachineLearningServices/workspaces/jobs"
TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
MUTABLE = ("description", "tags", "displayName", "properties", "isArchived")
READ_ONLY = ("status", "services", "error")
RUN_TYPES = {"Sweep": "hyperdrive", "Command": "azureml.scriptrun", "Pipeline": "azureml.PipelineRun"}
EVENT_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
EVENT_COMPLETED = "Microsoft.MachineLearningServices.RunCompleted"

DEFAULT_COMPUTES = ("cpu-cluster", "gpu-cluster")
DEFAULT_ENVIRONMENTS = {"sklearn-env": {"1", "2", "3"}, "pytorch-env": {"1", "2"}}
CURATED_ENVIRONMENTS = {
    "sklearn-1.5": {"*"},
    "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu": {"*"},
    "acpt-pytorch-2.2-cuda12.1": {"*"},
    "lightgbm-3.3": {"*"},
}

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
_ANY_WS_ID_RE = re.compile(
    r"/subscriptions/[^/\"?&]+/resourceGroups/[^/\"?&]+/providers/Microsoft\.MachineLearningServices"
    r"/workspaces/[^/\"?&]+",
    re.IGNORECASE,
)


_DEFAULT_OUTPUT_PREFIX = "azureml://datastores/workspaceblobstore/paths/azureml/"
_DEFAULT_OUTPUT_RE = re.compile(re.escape(_DEFAULT_OUTPUT_PREFIX) + r"[^/]+/[^/]+/?$")


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Knobs:
    duration: float = 300.0
    queue: float = 30.0
    metrics: tuple[str, ...] = ("accuracy", "loss")
    all_fail: bool = False
    forever: bool = False

    @classmethod
    def from_tags(cls, tags: Any) -> _Knobs:
        tags = tags if isinstance(tags, dict) else {}

        def num(key: str, default: float) -> float:
            try:
                return max(0.0, float(tags.get(key, default)))
            except (TypeError, ValueError):
                return default

        metrics = tags.get("emulator.loggedMetrics", "accuracy,loss")
        return cls(
            duration=num("emulator.durationSeconds", 300.0),
            queue=num("emulator.queueSeconds", 30.0),
            metrics=tuple(m.strip() for m in str(metrics).split(",") if m.strip()),
            all_fail=str(tags.get("emulator.trialOutcome", "ok")).strip().lower() == "allfail",
            forever=str(tags.get("emulator.runForever", "")).strip().lower() == "true",
        )


@dataclass
class _Job:
    name: str
    resource: dict
    seq: int
    submitted: bool
    definition: dict
    knobs: _Knobs = field(default_factory=_Knobs)
    timers: list[TimerHandle] = field(default_factory=list)
    cache: bytes | None = None

    def encoded(self) -> bytes:
        """JSON of the resource, cached until the next change (call with the store lock held)."""
        if self.cache is None:
            self.cache = json.dumps(self.resource).encode()
        return self.cache

    @property
    def status(self) -> str:
        return self.resource["properties"].get("status", "Unknown")


class _Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


def _comparable(props: dict) -> dict:
    return {k: v for k, v in props.items() if k not in MUTABLE and k not in READ_ONLY and v is not None}


class WorkspaceEmulator:
    """One Azure ML workspace (jobs only) served over real HTTP on 127.0.0.1."""

    api_version = API_VERSION
    location = "westeurope"
    queued_after_seconds = 2.0
    cancel_seconds = 5.0
    cancel_retry_after_seconds = 10

    def __init__(
        self,
        *,
        clock: Clock,
        subscription_id: str = "00000000-0000-0000-0000-000000000000",
        resource_group: str = "rg-polysync-dev",
        workspace_name: str = "foundry-dev",
        tenant_id: str | None = None,
        templates_dir: Path | None = None,
        page_size: int = 20,
        token: str = "emulator-token",  # noqa: S107 - the emulator's fixed test token
        faults: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        event_sink: Callable[[dict], None] | None = None,
        event_delay_seconds: float = 1.0,
    ) -> None:
        self.clock = clock
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.workspace_name = workspace_name
        self.tenant_id = tenant_id
        self.page_size = page_size
        self.token = token
        self.host = host
        self.port = port
        self.event_delay_seconds = event_delay_seconds
        self.workspace_id = (
            f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
            f"/providers/{PROVIDER}/workspaces/{workspace_name}"
        )
        self.arm_endpoint = f"http://{host}:{port}" if port else ""
        self.calls: collections.Counter = collections.Counter()
        # (kind, job name or "", HTTP status; 0 = connection dropped) -> count, for per-run figures
        self.calls_by_job: collections.Counter = collections.Counter()
        self.faults_injected: collections.Counter = collections.Counter()
        self.computes: dict[str, dict] = {}
        self.environments: dict[str, set[str]] = {k: set(v) for k, v in DEFAULT_ENVIRONMENTS.items()}
        self.curated_environments: dict[str, set[str]] = {k: set(v) for k, v in CURATED_ENVIRONMENTS.items()}
        for name in DEFAULT_COMPUTES:
            self.add_compute(name)
        self._lock = threading.RLock()
        self._calls_lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._seq = itertools.count(1)
        self._operations: dict[str, str] = {}
        self._timers: list[TimerHandle] = []
        self._event_sink = event_sink
        self._faults: FaultInjector | None = FaultInjector(faults) if faults else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        if templates_dir is not None:
            self.load_templates(Path(templates_dir))

    # ------------------------------------------------------------------ setup
    @staticmethod
    def default_templates_dir() -> Path:
        return Path(__file__).resolve().parents[2] / "examples" / "workspace"

    def add_compute(self, name: str, compute_type: str = "AmlCompute") -> None:
        self.computes[name.lower()] = {
            "id": f"{self.workspace_id}/computes/{name}",
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/computes",
            "properties": {"computeType": compute_type},
        }

    def add_environment(self, name: str, versions: list[str] | set[str]) -> None:
        self.environments.setdefault(name, set()).update(str(v) for v in versions)

    def compute_id(self, name: str) -> str:
        return f"{self.workspace_id}/computes/{name}"

    def load_templates(self, directory: Path) -> None:
        """Load `computes.json`, `environments.json` and `jobs/*.json`; workspace ids inside
        the files are rewritten to this workspace's id."""

        def read(path: Path) -> Any:
            text = _ANY_WS_ID_RE.sub(lambda _m: self.workspace_id, path.read_text(encoding="utf-8"))
            return json.loads(text)

        computes = directory / "computes.json"
        if computes.exists():
            data = read(computes)
            for item in data.get("value", []) if isinstance(data, dict) else data:
                ctype = (item.get("properties") or {}).get("computeType", "AmlCompute")
                self.add_compute(item["name"], ctype)
        envs = directory / "environments.json"
        if envs.exists():
            data = read(envs)
            for item in data.get("value", []) if isinstance(data, dict) else data:
                self.add_environment(item["name"], item.get("versions", []))
        for path in sorted((directory / "jobs").glob("*.json")):
            self.add_job(read(path))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> WorkspaceEmulator:
        if self._server is not None:
            return self
        self.clock.start()
        self._stopped = False
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self.arm_endpoint = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="workspace-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            for handle in self._timers:
                handle.cancel()
            self._timers.clear()

    def __enter__(self) -> WorkspaceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ public helpers
    def reset_calls(self) -> None:
        with self._calls_lock:
            self.calls.clear()
            self.calls_by_job.clear()
            self.faults_injected.clear()

    def set_faults(self, faults: FaultPlan | None) -> None:
        self._faults = FaultInjector(faults) if faults else None

    def set_event_sink(self, sink: Callable[[dict], None] | None) -> None:
        self._event_sink = sink

    def add_job(self, job: dict) -> None:
        """Seed a job resource as-is (a template: it does not run)."""
        job = copy.deepcopy(job)
        name = job.get("name")
        if not isinstance(name, str) or not isinstance(job.get("properties"), dict):
            raise ValueError("a seeded job needs a name and properties")
        job.setdefault("id", f"{self.workspace_id}/jobs/{name}")
        job.setdefault("type", JOB_RESOURCE_TYPE)
        props = job["properties"]
        props.setdefault("status", "Completed")
        with self._lock:
            old = self._jobs.pop(name, None)
            if old is not None:
                self._cancel_timers(old)
            self._jobs[name] = _Job(
                name=name,
                resource=job,
                seq=next(self._seq),
                submitted=False,
                definition=_comparable(self._with_defaults(copy.deepcopy(props))),
            )

    def job(self, name: str) -> dict | None:
        with self._lock:
            j = self._jobs.get(name)
            return copy.deepcopy(j.resource) if j else None

    def jobs(self) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(j.resource) for j in sorted(self._jobs.values(), key=lambda j: -j.seq)]

    def active_jobs(self) -> list[str]:
        with self._lock:
            return [j.name for j in self._jobs.values() if j.submitted and j.status not in TERMINAL]

    # ------------------------------------------------------------------ request plumbing
    def _count(self, kind: str, fault: str | None) -> None:
        with self._calls_lock:
            self.calls[kind] += 1
            if fault:
                self.faults_injected[fault] += 1

    def _count_job(self, kind: str, path: str, status: int) -> None:
        m = _WS_RE.match(path)
        parts = (m.group(4) or "").strip("/").split("/") if m else []
        name = unquote(parts[1]) if len(parts) >= 2 and parts[0].lower() == "jobs" else ""
        with self._calls_lock:
            self.calls_by_job[(kind, name, status)] += 1

    def calls_for(self, name: str) -> collections.Counter:
        """Calls on one job: (kind, HTTP status) -> count."""
        with self._calls_lock:
            return collections.Counter(
                {(k, st): n for (k, job, st), n in self.calls_by_job.items() if job == name}
            )

    def _draw_fault(self, method: str, kind: str) -> str | None:
        injector = self._faults
        return injector.draw(method, kind) if injector else None

    @staticmethod
    def classify(method: str, path: str) -> str:
        m = _WS_RE.match(path)
        if m:
            rest = (m.group(4) or "").rstrip("/")
            parts = rest.split("/")[1:] if rest else []
            if parts and parts[0].lower() == "jobs":
                if len(parts) == 1 and method == "GET":
                    return "list"
                if len(parts) == 2 and method == "GET":
                    return "get"
                if len(parts) == 2 and method == "PUT":
                    return "put"
                if len(parts) == 3 and parts[2].lower() == "cancel" and method == "POST":
                    return "cancel"
        if _OP_RE.match(path) and method == "GET":
            return "operation"
        return "other"

    def _check_auth(self, headers: Any) -> None:
        auth = headers.get("Authorization")
        www = {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common"'}
        if not auth or not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or not a Bearer token.",
                headers=www,
            )
        if auth[7:].strip() != self.token:
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                headers={**www, "WWW-Authenticate": www["WWW-Authenticate"] + ', error="invalid_token"'},
            )

    def _check_api_version(self, query: dict[str, str]) -> None:
        version = query.get("api-version")
        if not version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if version != API_VERSION:
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid or unsupported by this emulator. "
                f"The supported version is '{API_VERSION}'.",
            )

    def _not_found_route(self, path: str) -> ArmError:
        return ArmError(404, "NotFound", f"No route matches '{path}'.")

    def dispatch(self, method: str, raw_path: str, headers: Any, body: bytes) -> _Response:
        split = urlsplit(raw_path)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            self._check_auth(headers)
            self._check_api_version(query)
            m = _WS_RE.match(path)
            if m is None:
                op = _OP_RE.match(path)
                if op and method == "GET":
                    return self._operation_result(op.group(1), unquote(op.group(3)))
                raise self._not_found_route(path)
            sub, rg, ws, rest = m.group(1), m.group(2), m.group(3), (m.group(4) or "")
            self._check_workspace(sub, rg, ws)
            parts = [unquote(p) for p in rest.strip("/").split("/")] if rest.strip("/") else []
            if not parts or parts[0].lower() != "jobs":
                raise self._not_found_route(path)
            if len(parts) == 1:
                if method != "GET":
                    raise _method_not_allowed(method)
                return self._list(path, query)
            name = parts[1]
            if len(parts) == 2:
                if method == "GET":
                    return self._get(name)
                if method == "PUT":
                    return self._put(name, body)
                raise _method_not_allowed(method)
            if len(parts) == 3 and parts[2].lower() == "cancel":
                if method != "POST":
                    raise _method_not_allowed(method)
                return self._cancel(name)
            raise self._not_found_route(path)
        except ArmError as err:
            return _Response(err.status, err.body(), dict(err.headers))

    def _check_workspace(self, sub: str, rg: str, ws: str) -> None:
        if sub.lower() != self.subscription_id.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if rg.lower() != self.resource_group.lower():
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        if ws.lower() != self.workspace_name.lower():
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{PROVIDER}/workspaces/{ws}' under resource group '{rg}' was not found.",
                details=[{"code": "WorkspaceNotFound", "message": f"Workspace '{ws}' not found."}],
            )

    # ------------------------------------------------------------------ GET / list
    def _job_not_found(self, name: str) -> ArmError:
        return ArmError(
            404,
            "UserError",
            f"Could not find job '{name}' in workspace '{self.workspace_name}'.",
            details=[{"code": "NotFoundError", "message": f"Job '{name}' not found."}],
            inner_code="NotFoundError",
        )

    def _get(self, name: str) -> _Response:
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                raise self._job_not_found(name)
            return _Response(200, job.encoded())

    def _list(self, path: str, query: dict[str, str]) -> _Response:
        job_type = query.get("jobType")
        view = query.get("listViewType", "ActiveOnly")
        views = {"activeonly": "ActiveOnly", "archivedonly": "ArchivedOnly", "all": "All"}
        if view.lower() not in views:
            raise user_error(
                f"Invalid listViewType '{view}'; expected ActiveOnly, ArchivedOnly or All.",
                target="listViewType",
            )
        view = views[view.lower()]
        tag_filter = _kv_filter(query.get("tag"))
        prop_filter = _kv_filter(query.get("properties"))
        after = None
        token = query.get("$skipToken") or query.get("$skiptoken")
        if token:
            after = _decode_token(token)
        with self._lock:
            selected = []
            for job in sorted(self._jobs.values(), key=lambda j: -j.seq):
                if after is not None and job.seq >= after:
                    continue
                props = job.resource["properties"]
                if job_type and str(props.get("jobType", "")).lower() != job_type.lower():
                    continue
                archived = bool(props.get("isArchived", False))
                if (view == "ActiveOnly" and archived) or (view == "ArchivedOnly" and not archived):
                    continue
                if tag_filter and not _kv_match(props.get("tags"), tag_filter):
                    continue
                if prop_filter and not _kv_match(props.get("properties"), prop_filter):
                    continue
                selected.append(job)
                if len(selected) > self.page_size:
                    break
            page = selected[: self.page_size]
            next_link = None
            if len(selected) > self.page_size:
                params = [(k, v) for k, v in query.items() if k.lower() != "$skiptoken"]
                params.append(("$skipToken", _encode_token(page[-1].seq)))
                next_link = f"{self.arm_endpoint}{quote(path)}?{urlencode(params)}"
            payload = b'{"value": [' + b", ".join(j.encoded() for j in page) + b"]"
        if next_link:
            payload += b', "nextLink": ' + json.dumps(next_link).encode()
        return _Response(200, payload + b"}")

    # ------------------------------------------------------------------ PUT
    @staticmethod
    def _with_defaults(props: dict) -> dict:
        props.setdefault("experimentName", "Default")
        props.setdefault("isArchived", False)
        if props.get("tags") is None:
            props["tags"] = {}
        if props.get("properties") is None:
            props["properties"] = {}
        return props

    def _validate_refs(self, props: dict) -> None:
        compute = props.get("computeId")
        if compute is not None:
            if not isinstance(compute, str) or compute_name(compute).lower() not in self.computes:
                raise user_error(
                    f"Compute '{compute}' was not found in workspace '{self.workspace_name}'. "
                    f"Known computes: {', '.join(sorted(c['name'] for c in self.computes.values()))}.",
                    target="properties.computeId",
                    inner_code="ComputeNotFound",
                )
        env_holder, target = (props.get("trial"), "properties.trial.environmentId")
        if props.get("jobType") != "Sweep":
            env_holder, target = props, "properties.environmentId"
        env = env_holder.get("environmentId") if isinstance(env_holder, dict) else None
        if env is not None and not environment_known(str(env), self.environments, self.curated_environments):
            raise user_error(
                f"Environment '{env}' was not found: it must name an existing environment version "
                "(azureml:NAME:VERSION, azureml:NAME@latest, an ARM id or an azureml registry id).",
                target=target,
                inner_code="EnvironmentNotFound",
            )

    def _put(self, name: str, raw: bytes) -> _Response:
        validate_name(name)
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArmError(400, "InvalidRequestContent", f"The request content was invalid: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise user_error("The request body must be an object with 'properties'.", target="properties")
        props = copy.deepcopy(body["properties"])
        job_type = props.get("jobType")
        if not isinstance(job_type, str) or job_type.lower() not in JOB_TYPES:
            raise user_error(
                f"properties.jobType is required and must be one of {sorted(JOB_TYPES.values())}, "
                f"got {job_type!r}.",
                target="properties.jobType",
                inner_code="RequiredField" if job_type is None else "InvalidValue",
            )
        props["jobType"] = job_type = JOB_TYPES[job_type.lower()]
        if job_type == "Sweep":
            validate_sweep(props)
            normalize_sweep(props)
        elif job_type == "Command":
            for key in ("command", "environmentId"):
                if not isinstance(props.get(key), str) or not props[key]:
                    raise user_error(
                        f"Command job {key} is required.",
                        target=f"properties.{key}",
                        inner_code="RequiredField",
                    )
        self._validate_refs(props)
        self._with_defaults(props)
        with self._lock:
            existing = self._jobs.get(name)
            if existing is not None:
                return self._reput(existing, props)
            return self._create(name, props)

    def _reput(self, job: _Job, props: dict) -> _Response:
        if _comparable(props) != job.definition:
            changed = sorted(
                k
                for k in set(_comparable(props)) | set(job.definition)
                if _comparable(props).get(k) != job.definition.get(k)
            )
            raise user_error(
                f"A job with this name already exists. If you are trying to modify an existing job, only "
                f"description, tags, displayName, properties and isArchived can be changed; other properties "
                f"cannot be changed (changed: {', '.join(changed)}).",
                target="properties",
                inner_code="JobPropertyImmutable",
            )
        current = job.resource["properties"]
        changed = False
        for key in MUTABLE:
            if key in props:
                if current.get(key) != props[key]:
                    current[key] = copy.deepcopy(props[key])
                    changed = True
            elif key in current:
                del current[key]
                changed = True
        if changed:
            job.cache = None
            sd = job.resource.setdefault("systemData", {})
            sd["lastModifiedAt"] = _iso(self.clock.now())
            sd["lastModifiedBy"] = "emulator"
            sd["lastModifiedByType"] = "Application"
        return _Response(200, job.encoded())

    def studio_url(self, name: str) -> str:
        url = f"https://ml.azure.com/runs/{name}?wsid={self.workspace_id}"
        return f"{url}&tid={self.tenant_id}" if self.tenant_id else url

    def _create(self, name: str, props: dict) -> _Response:
        now = self.clock.now()
        definition = _comparable(props)
        props["status"] = "NotStarted"
        services = props.get("services") if isinstance(props.get("services"), dict) else {}
        services["Studio"] = {"jobServiceType": "Studio", "endpoint": self.studio_url(name)}
        services["Tracking"] = {
            "jobServiceType": "Tracking",
            "endpoint": f"azureml://{self.location}.api.azureml.ms/mlflow/v1.0{self.workspace_id}?",
        }
        props["services"] = services
        resource = {
            "id": f"{self.workspace_id}/jobs/{name}",
            "name": name,
            "type": JOB_RESOURCE_TYPE,
            "properties": props,
            "systemData": {
                "createdAt": _iso(now),
                "createdBy": "emulator",
                "createdByType": "Application",
                "lastModifiedAt": _iso(now),
                "lastModifiedBy": "emulator",
                "lastModifiedByType": "Application",
            },
        }
        job = _Job(
            name=name,
            resource=resource,
            seq=next(self._seq),
            submitted=True,
            definition=definition,
            knobs=_Knobs.from_tags(props.get("tags")),
        )
        self._jobs[name] = job
        with self._calls_lock:
            self.calls["put_created"] += 1
        self._schedule_lifecycle(job, now)
        return _Response(201, _encode(resource))

    # ------------------------------------------------------------------ lifecycle
    def _at(self, when: datetime, fn: Callable[[], None]) -> TimerHandle:
        handle = self.clock.call_at(when, fn)
        self._timers.append(handle)
        if len(self._timers) > 4096:
            now = self.clock.now()
            self._timers = [h for h in self._timers if not h.cancelled and h.when >= now]
        return handle

    def _schedule_lifecycle(self, job: _Job, t0: datetime) -> None:
        k = job.knobs
        queued = t0 + timedelta(seconds=min(self.queued_after_seconds, k.queue))
        running = t0 + timedelta(seconds=k.queue)
        steps: list[tuple[datetime, str]] = [(queued, "Queued"), (running, "Running")]
        if not k.forever:
            end = max(t0 + timedelta(seconds=k.duration), running)
            lead = min(10.0, (end - running).total_seconds() * 0.1)
            steps.append((end - timedelta(seconds=lead), "Finalizing"))
            steps.append((end, "_finish"))
        for when, status in steps:
            job.timers.append(self._at(when, lambda s=status, n=job.name, j=job: self._step(j, n, s)))

    def _cancel_timers(self, job: _Job) -> None:
        for handle in job.timers:
            handle.cancel()
        job.timers.clear()

    def _step(self, job: _Job, name: str, status: str) -> None:
        with self._lock:
            if self._jobs.get(name) is not job or job.status in TERMINAL or job.status == "CancelRequested":
                return
            if status == "_finish":
                self._finish(job)
            else:
                self._set_status(job, status)

    def _set_status(self, job: _Job, status: str) -> None:
        now = self.clock.now()
        job.resource["properties"]["status"] = status
        job.cache = None
        job.resource.setdefault("systemData", {})["lastModifiedAt"] = _iso(now)
        self._emit(job, EVENT_STATUS_CHANGED, now)
        if status == "Completed":
            self._emit(job, EVENT_COMPLETED, now)

    def _finish(self, job: _Job) -> None:
        props = job.resource["properties"]
        k = job.knobs
        objective = props.get("objective") if isinstance(props.get("objective"), dict) else None
        metric = objective.get("primaryMetric") if objective else None
        if k.all_fail:
            msg = (
                "No trials completed successfully: all child runs of the sweep failed (NoTrialsCompleted). "
                "Open a trial's logs for details."
            )
            props["error"] = {
                "code": "UserError",
                "message": msg,
                "details": [{"code": "NoTrialsCompleted", "message": msg}],
            }
            self._set_status(job, "Failed")
            return
        if metric is not None and metric not in k.metrics:
            msg = (
                f"Sweep job failed: the primary metric '{metric}' was not logged by any trial "
                f"(PrimaryMetricNotFound). Metrics logged by the trials: {', '.join(k.metrics) or 'none'}."
            )
            props["error"] = {
                "code": "UserError",
                "message": msg,
                "details": [
                    {"code": "PrimaryMetricNotFound", "message": msg, "target": "objective.primaryMetric"}
                ],
            }
            self._set_status(job, "Failed")
            return
        if props.get("jobType") == "Sweep":
            props.setdefault("properties", {}).update(self._best_trial(job.name, props))
        outputs = props.get("outputs")
        if isinstance(outputs, dict):
            for out_name, out in outputs.items():
                if isinstance(out, dict) and (
                    not out.get("uri") or _DEFAULT_OUTPUT_RE.match(str(out["uri"]))
                ):
                    # unset, or another job's default path (copied from a template): this job's default
                    out["uri"] = f"{_DEFAULT_OUTPUT_PREFIX}{job.name}/{out_name}/"
        self._set_status(job, "Completed")

    @staticmethod
    def _best_trial(name: str, props: dict) -> dict[str, str]:
        space = json.dumps(props.get("searchSpace"), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(space.encode()).digest()
        x = int.from_bytes(digest[:8], "big") / 2**64
        limits = props.get("limits") if isinstance(props.get("limits"), dict) else {}
        trials = limits.get("maxTotalTrials") or 10
        goal = (props.get("objective") or {}).get("goal", "Maximize")
        score = 0.05 + 0.45 * x if goal == "Minimize" else 0.5 + 0.49 * x
        return {
            "best_child_run_id": f"{name}_{int.from_bytes(digest[8:12], 'big') % int(trials)}",
            "score": f"{score:.6f}",
            "best_metric_status": "Succeeded",
        }

    # ------------------------------------------------------------------ cancel
    def _cancel(self, name: str) -> _Response:
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                raise self._job_not_found(name)
            if job.status in TERMINAL:
                return _Response(200, None)
            if job.status != "CancelRequested":
                self._cancel_timers(job)
                self._set_status(job, "CancelRequested")
                when = self.clock.now() + timedelta(seconds=self.cancel_seconds)
                job.timers.append(self._at(when, lambda j=job, n=name: self._cancelled(j, n)))
            op = uuid.uuid4().hex
            self._operations[op] = name
        return _Response(202, None, self._operation_headers(op))

    def _operation_headers(self, op: str) -> dict[str, str]:
        location = (
            f"{self.arm_endpoint}/subscriptions/{self.subscription_id}/providers/{PROVIDER}"
            f"/locations/{self.location}/mfeOperationResults/jobs:{op}?api-version={API_VERSION}"
        )
        return {"Location": location, "Retry-After": str(self.cancel_retry_after_seconds)}

    def _cancelled(self, job: _Job, name: str) -> None:
        with self._lock:
            if self._jobs.get(name) is job and job.status == "CancelRequested":
                self._set_status(job, "Canceled")

    def _operation_result(self, sub: str, op: str) -> _Response:
        if sub.lower() != self.subscription_id.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        with self._lock:
            name = self._operations.get(op)
            job = self._jobs.get(name) if name else None
            if job is None:
                raise ArmError(404, "NotFound", f"Operation '{op}' was not found.")
            if job.status in TERMINAL:
                return _Response(200, None)
        return _Response(202, None, self._operation_headers(op))

    # ------------------------------------------------------------------ events
    def _emit(self, job: _Job, event_type: str, when: datetime) -> None:
        if not job.submitted or self._event_sink is None or self._stopped:
            return
        props = job.resource["properties"]
        experiment = str(props.get("experimentName") or "Default")
        experiment_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.workspace_id}/experiments/{experiment}"))
        data: dict[str, Any] = {
            "experimentId": experiment_id,
            "experimentName": experiment,
            "runId": job.name,
            "runType": RUN_TYPES.get(props.get("jobType"), f"azureml.{str(props.get('jobType')).lower()}"),
            "runTags": copy.deepcopy(props.get("tags") or {}),
            "runProperties": copy.deepcopy(props.get("properties") or {}),
        }
        if event_type == EVENT_STATUS_CHANGED:
            data["runStatus"] = props.get("status")
        event = {
            "id": str(uuid.uuid4()),
            "topic": self.workspace_id,
            "subject": f"experiments/{experiment_id}/runs/{job.name}",
            "eventType": event_type,
            "eventTime": _iso(when),
            "data": data,
            "dataVersion": "2",
            "metadataVersion": "1",
        }
        self._at(when + timedelta(seconds=self.event_delay_seconds), lambda e=event: self._deliver(e))

    def _deliver(self, event: dict) -> None:
        sink = self._event_sink
        if sink is None or self._stopped:
            return
        try:
            sink(event)
        except Exception:
            log.exception("event sink failed for %s", event.get("subject"))


def _encode(body: Any) -> bytes:
    """Serialize while the store lock is held (a snapshot without a deep copy)."""
    return json.dumps(body).encode()


def _method_not_allowed(method: str) -> ArmError:
    return ArmError(
        405, "MethodNotAllowed", f"The HTTP method '{method}' is not supported for this resource."
    )


def _kv_filter(raw: str | None) -> tuple[str, str | None] | None:
    if not raw:
        return None
    key, sep, value = raw.partition("=")
    return (key, value if sep else None)


def _kv_match(mapping: Any, flt: tuple[str, str | None]) -> bool:
    if not isinstance(mapping, dict) or flt[0] not in mapping:
        return False
    return flt[1] is None or str(mapping[flt[0]]) == flt[1]


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": seq}).encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["s"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ArmError(400, "InvalidSkipToken", "The $skipToken is invalid.") from exc


# ---------------------------------------------------------------------- HTTP server
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    emulator: WorkspaceEmulator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Headers(dict):
    """Case-insensitive header lookup (keys stored lower case)."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    _ratelimit = itertools.count()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    _date_cache: tuple[int, str] = (0, "")

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        if _Handler._date_cache[0] != now:
            _Handler._date_cache = (now, super().date_time_string(now))
        return _Handler._date_cache[1]

    def parse_request(self) -> bool:
        """A lean replacement of the stdlib parser (its email-based header parsing costs
        more than the rest of a request); HTTP/1.0 and 1.1 only."""
        self.command = None
        self.request_version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.send_error(400, f"Bad request line {requestline!r}")
            return False
        self.command, self.path, self.request_version = words
        headers = _Headers()
        for _ in range(101):
            line = self.rfile.readline(65537)
            if len(line) > 65536:
                self.send_error(431, "Header line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            key, _sep, value = line.decode("iso-8859-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        conn = headers.get("connection", "").lower()
        if conn == "close":
            self.close_connection = True
        elif self.request_version == "HTTP/1.1" or conn == "keep-alive":
            self.close_connection = False
        if headers.get("expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        emu.clock.acquire()
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            path = urlsplit(self.path).path
            kind = emu.classify(method, path)
            fault = emu._draw_fault(method, kind)
            if fault == "drop_after_apply" and kind not in ("put", "cancel"):
                fault_effect = "drop"
            else:
                fault_effect = fault
            emu._count(kind, fault)
            if fault_effect in ("429", "500", "503"):
                emu._count_job(kind, path, int(fault_effect))
                self._send(_fault_response(fault_effect, emu), method)
                return
            if fault_effect == "drop":
                emu._count_job(kind, path, 0)
                self.close_connection = True
                return
            if fault_effect == "slow":
                time.sleep(emu._faults.plan.slow_seconds if emu._faults else 0.05)
            response = emu.dispatch(method, self.path, self.headers, body)
            emu._count_job(kind, path, 0 if fault_effect == "drop_after_apply" else response.status)
            if fault_effect == "drop_after_apply":
                self.close_connection = True
                return
            self._send(response, method)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("emulator failed handling %s %s", method, self.path)
            err = ArmError(500, "InternalServerError", "The emulator failed to handle the request.")
            try:
                self._send(_Response(500, err.body()), method)
            except OSError:
                self.close_connection = True
        finally:
            emu.clock.release()

    def _send(self, response: _Response, method: str) -> None:
        body = response.body
        payload = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(response.status)
        request_id = str(uuid.uuid4())
        self.send_header("x-ms-request-id", request_id)
        self.send_header("x-ms-correlation-request-id", request_id)
        remaining = 0 if response.status == 429 else None
        if method == "GET":
            value = remaining if remaining is not None else 11999 - next(self._ratelimit) % 1000
            self.send_header("x-ms-ratelimit-remaining-subscription-reads", str(value))
        else:
            value = remaining if remaining is not None else 1199 - next(self._ratelimit) % 100
            self.send_header("x-ms-ratelimit-remaining-subscription-writes", str(value))
        for key, val in response.headers.items():
            self.send_header(key, val)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)


def _fault_response(kind: str, emu: WorkspaceEmulator) -> _Response:
    if kind == "429":
        retry = emu._faults.plan.retry_after_seconds if emu._faults else 1
        err = ArmError(
            429,
            "TooManyRequests",
            f"The request is being throttled. Please retry after {retry} seconds.",
            headers={"Retry-After": str(retry)},
        )
    elif kind == "500":
        err = ArmError(500, "InternalServerError", "Encountered an internal server error. Please retry.")
    else:
        err = ArmError(
            503,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please retry.",
            headers={"Retry-After": "1"},
        )
    return _Response(err.status, err.body(), dict(err.headers))
