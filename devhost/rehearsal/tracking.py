"""A minimal MLflow tracking server on loopback: the REST endpoints the real `mlflow` client calls
when a training script does `mlflow.start_run()`, `log_param(s)`, `log_metric(s)`, `set_tag(s)`
and `end_run()` inside an Azure ML job.

On Azure ML each trial is a job whose MLflow run already exists: the job gets
`MLFLOW_TRACKING_URI`, `MLFLOW_TRACKING_TOKEN`, `MLFLOW_RUN_ID` (the job name),
`MLFLOW_EXPERIMENT_ID` and `MLFLOW_EXPERIMENT_NAME` (azureml-mlflow reads exactly these in
`get_service_context_from_tracking_url_mlflow_env_vars`), and `mlflow.start_run()` resumes that
run (mlflow `tracking/fluent.py`: `MLFLOW_RUN_ID` -> `get_run` + `update_run`). This server plays
that workspace: runs are registered before their trial starts, the token is required as a
bearer token, and request/answer shapes follow MLflow's REST API (`/api/2.0/mlflow/...`,
errors `{"error_code", "message"}` with MLflow's codes and statuses).

Artifacts are not uploaded through here: each run's `artifact_uri` is a local `file://` folder,
which the client writes directly.
"""

from __future__ import annotations

import hmac
import json
import math
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/api/2.0/mlflow/"
# MLflow's own limits (mlflow/utils/validation.py), so a script that breaks them here breaks on Azure too.
MAX_PARAM_VALUE = 6000
MAX_KEY = 250
MAX_BATCH = {"metrics": 1000, "params": 100, "tags": 100}
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    timestamp: int
    step: int

    def as_json(self) -> dict[str, Any]:
        value: Any = self.value
        if math.isnan(value):
            value = "NaN"
        elif math.isinf(value):
            value = "Infinity" if value > 0 else "-Infinity"
        return {"key": self.key, "value": value, "timestamp": self.timestamp, "step": self.step}


@dataclass
class RunRecord:
    run_id: str
    run_name: str
    experiment_id: str
    artifact_uri: str
    status: str = "RUNNING"
    start_time: int = 0
    end_time: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[MetricPoint]] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "run_id": self.run_id,
            "run_uuid": self.run_id,
            "run_name": self.run_name,
            "experiment_id": self.experiment_id,
            "user_id": "rehearsal",
            "status": self.status,
            "start_time": self.start_time,
            "artifact_uri": self.artifact_uri,
            "lifecycle_stage": "active",
        }
        if self.end_time is not None:
            info["end_time"] = self.end_time
        return info

    def as_json(self) -> dict[str, Any]:
        latest = [
            max(points, key=lambda p: (p.step, p.timestamp, p.value)) for points in self.metrics.values()
        ]
        return {
            "info": self.info(),
            "data": {
                "metrics": [p.as_json() for p in latest],
                "params": [{"key": k, "value": v} for k, v in self.params.items()],
                "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
            },
            "inputs": {},
        }


class MlflowError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _invalid(message: str) -> MlflowError:
    return MlflowError(400, "INVALID_PARAMETER_VALUE", message)


def _now_ms() -> int:
    return int(time.time() * 1000)


MetricListener = Callable[[str, MetricPoint], None]


class TrackingStore:
    """Experiments and runs of one rehearsal; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._experiments: dict[str, dict[str, Any]] = {}
        self._runs: dict[str, RunRecord] = {}

    # -- set up by the rehearsal -------------------------------------------------------
    def ensure_experiment(self, name: str, experiment_id: str | None = None) -> str:
        with self._lock:
            for exp in self._experiments.values():
                if exp["name"] == name:
                    return exp["experiment_id"]
            exp_id = experiment_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"experiment/{name}"))
            now = _now_ms()
            self._experiments[exp_id] = {
                "experiment_id": exp_id,
                "name": name,
                "artifact_location": "",
                "lifecycle_stage": "active",
                "creation_time": now,
                "last_update_time": now,
                "tags": [],
            }
            return exp_id

    def register_run(
        self, run_id: str, *, experiment_id: str, run_name: str, artifact_dir: Path
    ) -> RunRecord:
        with self._lock:
            run = RunRecord(
                run_id=run_id,
                run_name=run_name,
                experiment_id=experiment_id,
                artifact_uri=artifact_dir.resolve().as_uri(),
                start_time=_now_ms(),
            )
            self._runs[run_id] = run
            return run

    def close_run(self, run_id: str, status: str) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                run.status = status
                run.end_time = run.end_time or _now_ms()

    def metrics(self, run_id: str) -> dict[str, list[MetricPoint]]:
        with self._lock:
            run = self._runs.get(run_id)
            return {k: list(v) for k, v in run.metrics.items()} if run else {}

    def params(self, run_id: str) -> dict[str, str]:
        with self._lock:
            run = self._runs.get(run_id)
            return dict(run.params) if run else {}

    # -- REST operations -----------------------------------------------------------------
    def _run(self, body: dict[str, Any]) -> RunRecord:
        run_id = body.get("run_id") or body.get("run_uuid")
        if not isinstance(run_id, str) or not run_id:
            raise _invalid("Missing value for required parameter 'run_id'.")
        run = self._runs.get(run_id)
        if run is None:
            raise MlflowError(404, "RESOURCE_DOES_NOT_EXIST", f"Run with id={run_id} not found")
        return run

    def get_run(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"run": self._run(body).as_json()}

    def update_run(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            run = self._run(body)
            status = body.get("status")
            if status is not None:
                if status not in RUN_STATUSES:
                    raise _invalid(f"Invalid run status {status!r}.")
                run.status = status
            if body.get("end_time") is not None:
                run.end_time = int(body["end_time"])
            if body.get("run_name"):
                run.run_name = str(body["run_name"])
            return {"run_info": run.info()}

    def create_run(self, body: dict[str, Any], artifact_root: Path) -> dict[str, Any]:
        exp_id = str(body.get("experiment_id") or "")
        with self._lock:
            if exp_id not in self._experiments:
                raise MlflowError(404, "RESOURCE_DOES_NOT_EXIST", f"No Experiment with id={exp_id} exists")
        run_id = uuid.uuid4().hex
        run = self.register_run(
            run_id,
            experiment_id=exp_id,
            run_name=str(body.get("run_name") or run_id),
            artifact_dir=artifact_root / run_id,
        )
        with self._lock:
            if body.get("start_time") is not None:
                run.start_time = int(body["start_time"])
            for tag in body.get("tags") or []:
                run.tags[str(tag["key"])] = str(tag.get("value", ""))
            return {"run": run.as_json()}

    def _log_param(self, run: RunRecord, key: Any, value: Any) -> None:
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise _invalid(f"Invalid parameter name {key!r}.")
        value = "" if value is None else str(value)
        if len(value) > MAX_PARAM_VALUE:
            raise _invalid(
                f"Param value for '{key}' had length {len(value)}, which exceeded length limit of 6000"
            )
        old = run.params.get(key)
        if old is not None and old != value:
            raise _invalid(
                f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                f"value='{old}' for run ID='{run.run_id}'. Attempted logging new value '{value}'."
            )
        run.params[key] = value

    @staticmethod
    def _metric(raw: dict[str, Any]) -> MetricPoint:
        key = raw.get("key")
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise _invalid(f"Invalid metric name {key!r}.")
        value = raw.get("value")
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
            value = float(value.replace("Infinity", "inf"))
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _invalid(f"Got invalid value {value!r} for metric '{key}' (must be a number).")
        try:
            timestamp = int(raw.get("timestamp") or _now_ms())
            step = int(raw.get("step") or 0)
        except (TypeError, ValueError) as exc:
            raise _invalid(f"Invalid timestamp or step for metric '{key}'.") from exc
        return MetricPoint(key, float(value), timestamp, step)

    def log_metric(self, body: dict[str, Any]) -> tuple[dict[str, Any], str, list[MetricPoint]]:
        point = self._metric(body)
        with self._lock:
            run = self._run(body)
            run.metrics.setdefault(point.key, []).append(point)
            return {}, run.run_id, [point]

    def log_param(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._log_param(self._run(body), body.get("key"), body.get("value"))
            return {}

    def set_tag(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            run = self._run(body)
            key = body.get("key")
            if not isinstance(key, str) or not key:
                raise _invalid(f"Invalid tag name {key!r}.")
            run.tags[key] = str(body.get("value", ""))
            return {}

    def delete_tag(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            run = self._run(body)
            if run.tags.pop(str(body.get("key")), None) is None:
                raise MlflowError(
                    404, "RESOURCE_DOES_NOT_EXIST", f"No tag with name: {body.get('key')} in run"
                )
            return {}

    def log_batch(self, body: dict[str, Any]) -> tuple[dict[str, Any], str, list[MetricPoint]]:
        for kind, limit in MAX_BATCH.items():
            if len(body.get(kind) or []) > limit:
                raise _invalid(f"A batch logging request can contain at most {limit} {kind}.")
        points = [self._metric(m) for m in body.get("metrics") or []]
        with self._lock:
            run = self._run(body)
            for p in body.get("params") or []:
                self._log_param(run, p.get("key"), p.get("value"))
            for t in body.get("tags") or []:
                run.tags[str(t.get("key"))] = str(t.get("value", ""))
            for point in points:
                run.metrics.setdefault(point.key, []).append(point)
            return {}, run.run_id, points

    def log_inputs(self, body: dict[str, Any]) -> dict[str, Any]:
        """Dataset inputs (`mlflow.log_input`): accepted for an existing run, not kept."""
        with self._lock:
            self._run(body)
            return {}

    def metric_history(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            run = self._run(body)
            key = body.get("metric_key")
            return {"metrics": [p.as_json() for p in run.metrics.get(str(key), [])]}

    def get_experiment(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            exp = self._experiments.get(str(body.get("experiment_id")))
            if exp is None:
                raise MlflowError(
                    404,
                    "RESOURCE_DOES_NOT_EXIST",
                    f"No Experiment with id={body.get('experiment_id')} exists",
                )
            return {"experiment": dict(exp)}

    def get_experiment_by_name(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            for exp in self._experiments.values():
                if exp["name"] == body.get("experiment_name"):
                    return {"experiment": dict(exp)}
        raise MlflowError(
            404,
            "RESOURCE_DOES_NOT_EXIST",
            f"Could not find experiment with name '{body.get('experiment_name')}'",
        )

    def create_experiment(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise _invalid("Invalid experiment name: ''.")
        with self._lock:
            if any(exp["name"] == name for exp in self._experiments.values()):
                raise MlflowError(400, "RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists.")
        return {"experiment_id": self.ensure_experiment(name, uuid.uuid4().hex)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A trial stopped mid-request (early termination, cancel) drops its connection: that is
        the trial ending, not a server fault worth a traceback on the user's terminal."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class TrackingServer:
    """ThreadingHTTPServer on 127.0.0.1 (port chosen by the OS) serving one `TrackingStore`.

    `on_metric(run_id, point)` is called for every logged metric, on the request's thread,
    after it is stored: keep it short (the rehearsal only queues it)."""

    def __init__(
        self,
        store: TrackingStore,
        *,
        token: str,
        artifact_root: Path,
        on_metric: MetricListener | None = None,
    ) -> None:
        self.store = store
        self.token = token
        self.artifact_root = artifact_root
        self.on_metric = on_metric
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def uri(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> TrackingServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="rehearsal-mlflow", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    # -- request dispatch ------------------------------------------------------------------
    def handle(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        s = self.store
        route = (method, path)
        with_metrics = {
            ("POST", "runs/log-metric"): s.log_metric,
            ("POST", "runs/log-batch"): s.log_batch,
        }
        if route in with_metrics:
            answer, run_id, points = with_metrics[route](body)
            if self.on_metric is not None:
                for point in points:
                    self.on_metric(run_id, point)
            return answer
        plain: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
            ("GET", "runs/get"): s.get_run,
            ("POST", "runs/update"): s.update_run,
            ("POST", "runs/log-parameter"): s.log_param,
            ("POST", "runs/set-tag"): s.set_tag,
            ("POST", "runs/delete-tag"): s.delete_tag,
            ("POST", "runs/log-inputs"): s.log_inputs,
            ("GET", "metrics/get-history"): s.metric_history,
            ("GET", "experiments/get"): s.get_experiment,
            ("GET", "experiments/get-by-name"): s.get_experiment_by_name,
            ("POST", "experiments/create"): s.create_experiment,
            ("POST", "runs/create"): lambda b: s.create_run(b, self.artifact_root),
        }
        if route in plain:
            return plain[route](body)
        raise MlflowError(
            404,
            "ENDPOINT_NOT_FOUND",
            f"{method} /api/2.0/mlflow/{path} is not served by the rehearsal's tracking server (it serves "
            "run/experiment get, update, log-metric/parameter/batch, set/delete-tag and get-history)",
        )

    def authorized(self, header: str | None) -> bool:
        return hmac.compare_digest((header or "").encode(), f"Bearer {self.token}".encode())


def _handler_for(server: TrackingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # the answer goes out as two writes (headers, body): without this, Nagle's algorithm
            # and the client's delayed ACK add ~40 ms to every log_metric call
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer_text(self, text: str) -> None:
            data = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if method == "GET" and not parts.path.startswith(PREFIX):
                # the link MLflow prints at end_run ("View run at ...") lands here: say what this is
                self._answer_text(
                    "This is the MLflow tracking endpoint of a sweep rehearsal (no UI). "
                    "The rehearsal's report.md shows the trials and their metrics.\n"
                )
                return
            try:
                if not server.authorized(self.headers.get("Authorization")):
                    raise MlflowError(
                        401, "UNAUTHENTICATED", "Missing or invalid bearer token (MLFLOW_TRACKING_TOKEN)."
                    )
                if not parts.path.startswith(PREFIX):
                    raise MlflowError(404, "ENDPOINT_NOT_FOUND", f"No MLflow endpoint at {parts.path}")
                if method == "GET":
                    body: Any = {k: v[0] for k, v in parse_qs(parts.query).items()}
                else:
                    try:
                        body = json.loads(raw or b"{}")
                    except ValueError as exc:
                        raise MlflowError(400, "MALFORMED_REQUEST", f"Malformed JSON body: {exc}") from exc
                    if not isinstance(body, dict):
                        raise MlflowError(400, "MALFORMED_REQUEST", "The request body must be a JSON object.")
                self._answer(200, server.handle(method, parts.path[len(PREFIX) :], body))
            except MlflowError as exc:
                self._answer(exc.status, {"error_code": exc.code, "message": exc.message})
            except Exception as exc:  # noqa: BLE001 - a server bug answers 500, never kills the thread silently
                self._answer(
                    HTTPStatus.INTERNAL_SERVER_ERROR, {"error_code": "INTERNAL_ERROR", "message": repr(exc)}
                )

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

    return Handler
