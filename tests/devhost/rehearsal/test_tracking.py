"""The loopback MLflow tracking server, judged by the real `mlflow` client (mlflow-skinny) in a
trial-like process that gets the environment Azure ML gives a job: MLFLOW_TRACKING_URI,
MLFLOW_TRACKING_TOKEN, MLFLOW_RUN_ID, MLFLOW_EXPERIMENT_ID/NAME (the variables azureml-mlflow's
`get_service_context_from_tracking_url_mlflow_env_vars` reads). mlflow `tracking/fluent.py`
resumes the run named by MLFLOW_RUN_ID; param immutability and value limits are MLflow's own
(`mlflow/utils/validation.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import requests

from devhost.rehearsal.tracking import TrackingServer, TrackingStore

from .conftest import ENV_WITHOUT_MLFLOW

pytestmark = pytest.mark.slow  # each case starts a Python that imports mlflow (~1-2 s)

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import mlflow
    from mlflow.exceptions import MlflowException

    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"batch": 32, "opt": "adam"})
        for step in range(3):
            mlflow.log_metric("accuracy", 0.5 + step / 10, step=step)
        mlflow.log_metrics({"loss": 0.25, "f1": float("nan")}, step=3)
        mlflow.set_tag("stage", "rehearsal")
        try:
            mlflow.log_param("lr", 0.2)
            changed = "accepted"
        except MlflowException as exc:
            changed = str(exc)
        open("artifact.txt", "w").write("hello")
        mlflow.log_artifact("artifact.txt")
        history = [m.value for m in mlflow.MlflowClient().get_metric_history(run.info.run_id, "accuracy")]
        print(json.dumps({"run_id": run.info.run_id, "changed": changed, "history": history}))
    """
)


@pytest.fixture
def server(tmp_path):
    store = TrackingStore()
    seen: list[tuple[str, str, float]] = []
    srv = TrackingServer(
        store,
        token="s3cret",
        artifact_root=tmp_path / "art",
        on_metric=lambda r, p: seen.append((r, p.key, p.value)),
    ).start()
    exp = store.ensure_experiment("rehearsal-tests")
    store.register_run(
        "sweep_0", experiment_id=exp, run_name="sweep_0", artifact_dir=tmp_path / "art" / "sweep_0"
    )
    srv.seen = seen  # type: ignore[attr-defined]
    srv.experiment_id = exp  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def _run(server, tmp_path, token="s3cret", script=SCRIPT):
    env = dict(
        ENV_WITHOUT_MLFLOW,
        MLFLOW_TRACKING_URI=server.uri,
        MLFLOW_TRACKING_TOKEN=token,
        MLFLOW_RUN_ID="sweep_0",
        MLFLOW_EXPERIMENT_ID=server.experiment_id,
        MLFLOW_EXPERIMENT_NAME="rehearsal-tests",
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
    )
    (tmp_path / "t.py").write_text(script)
    return subprocess.run(
        [sys.executable, "t.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_training_script_logs_through_the_real_client(server, tmp_path):
    done = _run(server, tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[0])
    assert out["run_id"] == "sweep_0"  # the job's run was resumed, not a new one created
    assert out["history"] == [0.5, 0.6, 0.7]
    assert "Changing param values is not allowed" in out["changed"]
    store = server.store
    assert store.params("sweep_0") == {"lr": "0.1", "batch": "32", "opt": "adam"}
    metrics = store.metrics("sweep_0")
    assert [(p.step, p.value) for p in metrics["accuracy"]] == [(0, 0.5), (1, 0.6), (2, 0.7)]
    assert metrics["loss"][0].value == 0.25 and metrics["f1"][0].value != metrics["f1"][0].value  # NaN kept
    run = store._runs["sweep_0"]
    assert run.status == "FINISHED" and run.tags["stage"] == "rehearsal"
    assert (tmp_path / "art" / "sweep_0" / "artifact.txt").read_text() == "hello"
    # every metric reached the listener, batch entries included, in order
    assert [k for _, k, _ in server.seen] == ["accuracy", "accuracy", "accuracy", "loss", "f1"]


def test_the_token_is_required(server, tmp_path):
    done = _run(server, tmp_path, token="wrong", script="import mlflow\nmlflow.log_metric('accuracy', 1.0)\n")
    assert done.returncode != 0
    assert "401" in done.stderr or "UNAUTHENTICATED" in done.stderr
    assert server.store.metrics("sweep_0") == {}
    answer = requests.get(f"{server.uri}/api/2.0/mlflow/runs/get", params={"run_id": "sweep_0"}, timeout=5)
    assert answer.status_code == 401 and answer.json()["error_code"] == "UNAUTHENTICATED"


def test_errors_have_mlflow_shapes(server):
    auth = {"Authorization": "Bearer s3cret"}
    missing = requests.get(
        f"{server.uri}/api/2.0/mlflow/runs/get", params={"run_id": "nope"}, headers=auth, timeout=5
    )
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    bad = requests.post(
        f"{server.uri}/api/2.0/mlflow/runs/log-metric",
        json={"run_id": "sweep_0", "key": "accuracy", "value": "high"},
        headers=auth,
        timeout=5,
    )
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    unknown = requests.post(
        f"{server.uri}/api/2.0/mlflow/registered-models/create", json={}, headers=auth, timeout=5
    )
    assert unknown.status_code == 404 and "not served by the rehearsal" in unknown.json()["message"]
    assert "no UI" in requests.get(server.uri + "/", timeout=5).text
