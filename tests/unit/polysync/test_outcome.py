from __future__ import annotations

from typing import Any

import pytest

from contracts import OutputParameter, StatusQuery
from foundry.job_status import STALLED, TERMINAL, JobStatus, rank
from foundry.jobs import JobView
from foundry.monitor import monitor_url
from foundry.workspace import Workspace
from polysync.failures import classify_failure as classify_job
from polysync.outcome import snapshot
from polysync.request.parsing import parse_structured_request
from polysync.status import to_polysync
from tests.unit.conftest import WS_ID

MAPPING = {
    "NotStarted": "Starting",
    "Starting": "Starting",
    "Provisioning": "Starting",
    "Preparing": "Starting",
    "Queued": "Starting",
    "Running": "Running",
    "Finalizing": "Running",
    "Completed": "Success",
    "Failed": "Failed",
    "Canceled": "Cancelled",
    "CancelRequested": "Unknown",
    "NotResponding": "Unknown",
    "Paused": "Unknown",
    "Unknown": "Unknown",
}


@pytest.mark.parametrize(("azure", "polysync"), MAPPING.items())
def test_status_mapping_table(azure: str, polysync: str) -> None:
    assert to_polysync(azure) == polysync
    assert to_polysync(azure.lower()) == polysync


def test_unmapped_values() -> None:
    assert to_polysync(None) == "Unknown" and to_polysync("Exploded") == "Unknown"
    assert set(MAPPING) == set(JobStatus)
    assert TERMINAL == {"Completed", "Failed", "Canceled"}
    assert STALLED == {"NotResponding", "Paused", "Unknown"}


def test_rank_order() -> None:
    order = [
        "NotStarted",
        "Starting",
        "Provisioning",
        "Preparing",
        "Queued",
        "Running",
        "Finalizing",
        "CancelRequested",
    ]
    ranks = [rank(s) for s in order]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert all(rank(t) > rank("CancelRequested") for t in TERMINAL)
    assert rank("running") == rank("Running") and rank("bogus") == -1


def classify_failure(job: Any, *, objective_metric: str | None) -> Any:
    return classify_job(JobView.from_rest(job), objective_metric=objective_metric)


def job(status: str, error: dict[str, Any] | None = None, **props: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"status": status, "jobType": "Sweep", **props}
    if error is not None:
        p["error"] = error
    return {"name": "sweep-1", "properties": p}


@pytest.mark.parametrize(
    ("error", "code", "hint_part"),
    [
        (
            {"code": "UserError", "message": "PrimaryMetricNotFound: metric accuracy was not logged"},
            "PrimaryMetricNotFound",
            "AI Foundry Objective Metric",
        ),
        ({"code": "NoTrialsCompleted", "message": "All trials failed."}, "NoTrialsCompleted", "Monitor URL"),
        (
            {"code": "UserError", "message": "Compute cpu-x not found in workspace"},
            "ComputeNotFound",
            "AI Foundry Compute Name",
        ),
        (
            {
                "code": "UserError",
                "message": "bad",
                "details": [{"code": "EnvironmentNotFound", "message": "Environment foo does not exist"}],
            },
            "EnvironmentNotFound",
            "AI Foundry Environment Name",
        ),
        (
            {"code": "AuthorizationFailed", "message": "forbidden"},
            "AuthorizationFailed",
            "AzureML Data Scientist",
        ),
        ({"code": "SystemError", "message": "something odd"}, "SystemError", "Monitor URL"),
    ],
)
def test_classify_failure(error: dict[str, Any], code: str, hint_part: str) -> None:
    f = classify_failure(job("Failed", error), objective_metric="accuracy")
    assert f.code == code
    assert hint_part in (f.hint or "")


def test_primary_metric_hint_names_metric() -> None:
    f = classify_failure(
        job("Failed", {"code": "PrimaryMetricNotFound", "message": "x"}), objective_metric="acc"
    )
    assert "'acc'" in (f.hint or "") and "mlflow.log_metric" in (f.hint or "")


def test_classify_from_properties_map_and_fallbacks() -> None:
    f = classify_failure(
        job("Failed", properties={"azureml.error": "No trials completed successfully"}), objective_metric=None
    )
    assert f.code == "NoTrialsCompleted"
    generic = classify_failure(job("Failed"), objective_metric=None)
    assert generic.code == "SweepFailed" and "Monitor URL" in (generic.hint or "")
    stalled = classify_failure(job("NotResponding"), objective_metric=None)
    assert stalled.code == "SweepStalled" and "NotResponding" in (stalled.hint or "")
    assert classify_failure(job("Canceled"), objective_metric=None).code == "Canceled"
    assert classify_failure({}, objective_metric=None).code  # never raises on junk


def test_monitor_url(workspace: Workspace, template: dict[str, Any]) -> None:
    studio = template["properties"]["services"]["Studio"]["endpoint"]
    assert monitor_url(workspace, "x", JobView.from_rest(template).studio_endpoint) == studio
    assert monitor_url(workspace, "run-1") == (
        f"https://ml.azure.com/runs/run-1?wsid={WS_ID}&tid=11111111-2222-3333-4444-555555555555"
    )
    bare = Workspace.parse(WS_ID)
    assert (
        monitor_url(bare, "r", JobView.from_rest({"properties": {"services": None}}).studio_endpoint)
        == f"https://ml.azure.com/runs/r?wsid={WS_ID}"
    )


def declared_outputs() -> tuple[OutputParameter, ...]:
    return StatusQuery.for_request("j", outputs_request().to_payload()).outputs


def outputs_request() -> Any:
    return parse_structured_request(
        {
            "externalId": "t",
            "parameters": [
                {"name": "model", "direction": "Output"},
                {"name": "metrics_report", "direction": "Output"},
                {"name": "batch_size", "value": 8, "dataType": "Int", "direction": "Input&Output"},
                {"name": "api_key", "direction": "Output", "dataType": "Secret"},
                {"name": "threshold", "direction": "Output", "dataType": "Float"},
                {"name": "missing", "direction": "Output"},
            ],
        }
    )


def test_snapshot_completed(template: dict[str, Any], workspace: Workspace) -> None:
    template["properties"]["outputs"]["threshold"] = {"jobOutputType": "literal", "value": "0.7"}
    template["properties"]["outputs"]["api_key"] = {"jobOutputType": "literal", "value": "leak-me"}
    snap = snapshot(template, workspace, declared_outputs(), "accuracy").to_dict()
    assert snap["azureStatus"] == "Completed" and snap["status"] == "Success" and snap["terminal"] is True
    assert snap["jobName"] == "train-sweep-template"
    assert snap["monitorUrl"].startswith("https://ml.azure.com/runs/train-sweep-template")
    assert snap["bestTrial"] == {
        "runId": "train-sweep-template_3",
        "score": 0.9132,
        "metricStatus": "Succeeded",
    }
    assert snap["outputs"] == {
        "model": "azureml://datastores/workspaceblobstore/paths/azureml/train-sweep-template/model/",
        "metrics_report": "azureml://datastores/reports/paths/churn/metrics.json",
        "batch_size": 8,
        "api_key": "***",
        "threshold": "0.7",
        "missing": None,
    }
    assert "leak-me" not in str(snap)
    assert snap["error"] is None


def test_snapshot_flat_request_echoes_all_outputs(template: dict[str, Any], workspace: Workspace) -> None:
    snap = snapshot(template, workspace, (), None).to_dict()
    assert set(snap["outputs"]) == {"model", "default", "metrics_report"}


def test_snapshot_running_and_failed(workspace: Workspace) -> None:
    running = snapshot(job("Running"), workspace, (), "acc").to_dict()
    assert running == {
        "azureStatus": "Running",
        "status": "Running",
        "jobName": "sweep-1",
        "monitorUrl": running["monitorUrl"],
        "terminal": False,
    }
    failed = snapshot(
        job("Failed", {"code": "PrimaryMetricNotFound", "message": "m"}), workspace, (), "acc"
    ).to_dict()
    assert failed["status"] == "Failed" and failed["bestTrial"] is None
    assert failed["error"]["code"] == "PrimaryMetricNotFound"
    canceled = snapshot(job("canceled"), workspace, (), None).to_dict()
    assert canceled["status"] == "Cancelled" and canceled["terminal"]
    stalled = snapshot(job("Paused"), workspace, (), None).to_dict()
    assert stalled["terminal"] is False and stalled["error"]["code"] == "SweepStalled"


def test_snapshot_tolerates_bad_best_score(workspace: Workspace) -> None:
    snap = snapshot(
        job("Completed", properties={"best_child_run_id": "r_1", "score": "NaN"}), workspace, (), None
    ).to_dict()
    assert snap["bestTrial"] == {"runId": "r_1", "score": None, "metricStatus": None}


def test_classify_emulator_shaped_errors() -> None:
    msg = (
        "Sweep job failed: the primary metric 'acc' was not logged by any trial (PrimaryMetricNotFound). "
        "Metrics logged by the trials: accuracy, loss."
    )
    err = {
        "code": "UserError",
        "message": msg,
        "details": [{"code": "PrimaryMetricNotFound", "message": msg, "target": "objective.primaryMetric"}],
    }
    f = classify_failure(job("Failed", err), objective_metric="acc")
    assert f.code == "PrimaryMetricNotFound" and f.message == msg
    msg2 = "No trials completed successfully: all child runs of the sweep failed (NoTrialsCompleted)."
    err2 = {"code": "UserError", "message": msg2, "details": [{"code": "NoTrialsCompleted", "message": msg2}]}
    assert classify_failure(job("Failed", err2), objective_metric="acc").code == "NoTrialsCompleted"
