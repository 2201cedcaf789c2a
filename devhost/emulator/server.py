"""`WorkspaceEmulator`: one Azure ML workspace on 127.0.0.1 - the object tests and the
local stack hold. It wires the pieces together (catalog of computes/environments,
jobs and their lifecycle, trials, Event Grid delivery, routes, HTTP server, faults)
and offers the helpers the tests use. See docs/emulator.md.
"""

from __future__ import annotations

import collections
import copy
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devhost.clock import Clock

from .catalog import Catalog
from .events import EVENT_GRID_SCHEMA, SCHEMAS, iso, run_event
from .faults import FaultInjector, FaultPlan
from .http_server import EmulatorHandler, EmulatorHttpServer
from .jobs import TERMINAL, JobBook
from .rehearsals import Rehearsals, RehearsalSetup
from .routes import Router, classify
from .trials import TrialBook

log = logging.getLogger("devhost.emulator")

API_VERSION = "2024-10-01"  # the version the connector sends; every published version is accepted
PROVIDER = "Microsoft.MachineLearningServices"
DEFAULT_COMPUTES = ("cpu-cluster", "gpu-cluster")
DEFAULT_ENVIRONMENTS = {"sklearn-env": ["1", "2", "3"], "pytorch-env": ["1", "2"]}

_ANY_WS_ID_RE = re.compile(
    r"/subscriptions/[^/\"?&]+/resourceGroups/[^/\"?&]+/providers/Microsoft\.MachineLearningServices"
    r"/workspaces/[^/\"?&]+",
    re.IGNORECASE,
)
_STUDIO_WSID_RE = re.compile(r"wsid=/subscriptions/[^/\"?&]+/resourcegroups/[^/\"?&]+/workspaces/[^/\"?&]+")


class WorkspaceEmulator:
    """One Azure ML workspace served over real HTTP on 127.0.0.1."""

    api_version = API_VERSION
    location = "westeurope"
    cancel_retry_after_seconds = 10
    # Run history's children listing: azure-ai-ml 1.35 reads only the first page of it
    # (`RunsOperations.get_child` ignores `nextLink`), so all of a sweep's trials fit in one.
    children_page_size = 1000

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
        event_schema: str = EVENT_GRID_SCHEMA,
        rehearsal: RehearsalSetup | None = None,
    ) -> None:
        if event_schema not in SCHEMAS:
            raise ValueError(f"event_schema must be one of {', '.join(SCHEMAS)}")
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
        self.event_schema = event_schema
        self.workspace_id = (
            f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
            f"/providers/{PROVIDER}/workspaces/{workspace_name}"
        )
        self.arm_endpoint = f"http://{host}:{port}" if port else ""
        self.created = clock.now() - timedelta(days=30)
        self.calls: collections.Counter = collections.Counter()
        # (kind, job name or "", HTTP status; 0 = connection dropped) -> count, for per-run figures
        self.calls_by_job: collections.Counter = collections.Counter()
        self.faults_injected: collections.Counter = collections.Counter()
        # (call kind, api-version) -> count of accepted requests: which versions clients send
        self.api_versions_seen: collections.Counter = collections.Counter()
        self._calls_lock = threading.Lock()
        self.catalog = Catalog(self.workspace_id, self.location, self.created)
        for name in DEFAULT_COMPUTES:
            self.catalog.add_compute(name)
        for name, versions in DEFAULT_ENVIRONMENTS.items():
            self.catalog.add_environment(name, versions)
        self.trials = TrialBook()
        self.book = JobBook(
            clock=clock,
            catalog=self.catalog,
            location=self.location,
            emit=self._emit,
            trials=self.trials,
            on_created=self._count_created,
        )
        # Sweeps run for real on this machine when their code maps to a local folder (rehearsals.py)
        self.rehearsals: Rehearsals | None = None
        if rehearsal is not None:
            self.rehearsals = self.book.rehearsals = Rehearsals(rehearsal, self.book)
        self.router = Router(self)
        self._event_sink = event_sink
        self._faults: FaultInjector | None = FaultInjector(faults) if faults else None
        self._server: EmulatorHttpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        if templates_dir is not None:
            self.load_templates(Path(templates_dir))

    # ------------------------------------------------------------------ setup
    @staticmethod
    def default_templates_dir() -> Path:
        return Path(__file__).resolve().parents[2] / "examples" / "workspace"

    def add_compute(self, name: str, compute_type: str = "AmlCompute") -> None:
        self.catalog.add_compute(name, compute_type)

    def add_environment(self, name: str, versions: list[str] | set[str]) -> None:
        self.catalog.add_environment(name, sorted(versions, key=lambda v: (len(str(v)), str(v))))

    def compute_id(self, name: str) -> str:
        return f"{self.workspace_id}/computes/{name}"

    def load_templates(self, directory: Path) -> None:
        """Load `computes.json`, `environments.json` and `jobs/*.json`; workspace ids inside
        the files (ARM ids and Studio `wsid`s) are rewritten to this workspace's."""
        read = self._read_seed
        computes = directory / "computes.json"
        if computes.exists():
            data = read(computes)
            for item in data.get("value", []) if isinstance(data, dict) else data:
                props = item.get("properties") or {}
                self.catalog.add_compute(
                    item["name"], props.get("computeType", "AmlCompute"), props.get("properties")
                )
        envs = directory / "environments.json"
        if envs.exists():
            data = read(envs)
            for item in data.get("value", []) if isinstance(data, dict) else data:
                self.add_environment(item["name"], item.get("versions", []))
        for path in sorted((directory / "jobs").glob("*.json")):
            self.add_job(read(path))

    def load_job(self, path: Path) -> str:
        """Seed one job file (a resource as `GET /jobs/{name}` returns it), workspace ids rewritten as
        `load_templates` does; returns the job's name. ValueError says what is wrong with the file."""
        try:
            job = self._read_seed(Path(path))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc
        if not isinstance(job, dict) or not isinstance(job.get("properties"), dict):
            raise ValueError(f"{path}: expected a job resource with 'properties'")
        job.setdefault("name", Path(path).stem)
        self.add_job(job)
        return str(job["name"])

    def _read_seed(self, path: Path) -> Any:
        parts = self.workspace_id.split("/")
        studio_wsid = f"wsid=/subscriptions/{parts[2]}/resourcegroups/{parts[4]}/workspaces/{parts[8]}"
        text = _ANY_WS_ID_RE.sub(lambda _m: self.workspace_id, path.read_text(encoding="utf-8"))
        return json.loads(_STUDIO_WSID_RE.sub(lambda _m: studio_wsid, text))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> WorkspaceEmulator:
        if self._server is not None:
            return self
        self.clock.start()
        self._stopped = False
        server = EmulatorHttpServer((self.host, self.port), EmulatorHandler)
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
        if self.rehearsals is not None:  # no trial process outlives the workspace
            self.rehearsals.stop_all(timeout=self.rehearsals.setup.kill_grace_seconds + 60)
        self._stopped = True
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.book.cancel_all_timers()

    def __enter__(self) -> WorkspaceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ knobs (settable)
    @property
    def cancel_seconds(self) -> float:
        return self.book.cancel_seconds

    @cancel_seconds.setter
    def cancel_seconds(self, value: float) -> None:
        self.book.cancel_seconds = value

    @property
    def queued_after_seconds(self) -> float:
        return self.book.queued_after_seconds

    @queued_after_seconds.setter
    def queued_after_seconds(self, value: float) -> None:
        self.book.queued_after_seconds = value

    # ------------------------------------------------------------------ faults
    def set_faults(self, faults: FaultPlan | None) -> None:
        self._faults = FaultInjector(faults) if faults else None

    @property
    def fault_plan(self) -> FaultPlan | None:
        injector = self._faults
        return injector.plan if injector else None

    def draw_fault(self, method: str, kind: str) -> str | None:
        injector = self._faults
        return injector.draw(method, kind, self.clock.now()) if injector else None

    def retry_after_seconds(self) -> int | None:
        """`Retry-After` of fault answers (429 and 503); None: no header."""
        plan = self.fault_plan
        return plan.retry_after_seconds if plan else 1

    def slow_seconds(self) -> float:
        plan = self.fault_plan
        return plan.slow_seconds if plan else 0.05

    # ------------------------------------------------------------------ counters
    def count(self, kind: str, fault: str | None) -> None:
        with self._calls_lock:
            self.calls[kind] += 1
            if fault:
                self.faults_injected[fault] += 1

    def _count_created(self) -> None:
        with self._calls_lock:
            self.calls["put_created"] += 1

    def count_job(self, kind: str, job: str, status: int) -> None:
        with self._calls_lock:
            self.calls_by_job[(kind, job, status)] += 1

    def note_api_version(self, kind: str, version: str) -> None:
        with self._calls_lock:
            self.api_versions_seen[(kind, version)] += 1

    def calls_for(self, name: str) -> collections.Counter:
        """Calls on one job: (kind, HTTP status) -> count."""
        with self._calls_lock:
            return collections.Counter(
                {(k, st): n for (k, job, st), n in self.calls_by_job.items() if job == name}
            )

    def reset_calls(self) -> None:
        with self._calls_lock:
            self.calls.clear()
            self.calls_by_job.clear()
            self.faults_injected.clear()
            self.api_versions_seen.clear()

    @staticmethod
    def classify(method: str, path: str) -> str:
        return classify(method, path).kind

    # ------------------------------------------------------------------ jobs
    def set_event_sink(self, sink: Callable[[dict], None] | None) -> None:
        self._event_sink = sink

    def add_job(self, job: dict) -> None:
        """Seed a job resource as-is (a template: it does not run)."""
        self.book.add_template(job)

    def job(self, name: str) -> dict | None:
        with self.book.lock:
            found = self.book.find(name)
            return json.loads(found.encoded()) if found else None

    def submitted(self, name: str) -> dict | None:
        """The body of the PUT that created job `name`, exactly as the client sent it (None for
        seeded jobs): what a test asserts a client must or must not send."""
        with self.book.lock:
            found = self.book.find(name)
            return copy.deepcopy(found.sent) if found and found.sent is not None else None

    def jobs(self) -> list[dict]:
        with self.book.lock:
            return [json.loads(j.encoded()) for j in self.book.all()]

    def transitions(self, name: str) -> list[tuple[datetime, str]]:
        """(virtual time, status) of each status change of job `name`, oldest first."""
        with self.book.lock:
            found = self.book.find(name)
            return list(found.transitions) if found else []

    def ended_at(self, name: str) -> datetime | None:
        """When job `name` reached Completed, Failed or Canceled (None while it has not)."""
        return next((when for when, status in self.transitions(name) if status in TERMINAL), None)

    def active_jobs(self) -> list[str]:
        with self.book.lock:
            return [j.name for j in self.book.all() if j.submitted and j.status not in TERMINAL]

    # ------------------------------------------------------------------ workspace resource
    def workspace_resource(self, base_url: str) -> dict[str, Any]:
        """`GET {workspace}` as the 2024-10 api-versions answer it, with the properties the SDK
        reads: `discoveryUrl` (how it finds run history) and `mlFlowTrackingUri`."""
        rg_id = f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
        suffix = self.workspace_name.replace("-", "")[:12]
        created = iso(self.created)
        return {
            "id": self.workspace_id,
            "name": self.workspace_name,
            "type": f"{PROVIDER}/workspaces",
            "location": self.location,
            "tags": {},
            "kind": "Default",
            "sku": {"name": "Basic", "tier": "Basic"},
            "identity": {
                "type": "SystemAssigned",
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, self.workspace_id)),
                "tenantId": self.tenant_id,
            },
            "properties": {
                "friendlyName": self.workspace_name,
                "description": "",
                "workspaceId": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.workspace_id)),
                "storageAccount": f"{rg_id}/providers/Microsoft.Storage/storageAccounts/st{suffix}",
                "keyVault": f"{rg_id}/providers/Microsoft.KeyVault/vaults/kv-{suffix}",
                "applicationInsights": f"{rg_id}/providers/Microsoft.Insights/components/appi-{suffix}",
                "containerRegistry": None,
                "discoveryUrl": f"{base_url}/discovery",
                "mlFlowTrackingUri": f"azureml://{self.location}.api.azureml.ms/mlflow/v1.0{self.workspace_id}",
                "hbiWorkspace": False,
                "provisioningState": "Succeeded",
                "publicNetworkAccess": "Enabled",
                "v1LegacyMode": False,
                "tenantId": self.tenant_id,
                "storageHnsEnabled": False,
                "enableDataIsolation": False,
                "systemDatastoresAuthMode": "accessKey",
                "managedNetwork": {"isolationMode": "Disabled"},
            },
            "systemData": {
                "createdAt": created,
                "createdBy": "emulator",
                "createdByType": "Application",
                "lastModifiedAt": created,
                "lastModifiedBy": "emulator",
                "lastModifiedByType": "Application",
            },
        }

    # ------------------------------------------------------------------ events
    def _emit(
        self,
        job_name: str,
        props: dict[str, Any],
        event_type: str,
        when: datetime,
        *,
        run_type: str | None = None,
    ) -> None:
        """Called with the job book's lock held: build now, deliver later on the clock."""
        if self._event_sink is None or self._stopped:
            return
        event = run_event(
            workspace_id=self.workspace_id,
            job_name=job_name,
            props=props,
            event_type=event_type,
            when=when,
            schema=self.event_schema,
            run_type=run_type,
        )
        self.book.at(when + timedelta(seconds=self.event_delay_seconds), lambda e=event: self._deliver(e))

    def _deliver(self, event: dict) -> None:
        sink = self._event_sink
        if sink is None or self._stopped:
            return
        try:
            sink(event)
        except Exception:
            log.exception("event sink failed for %s", event.get("subject"))
