from __future__ import annotations

from typing import Any

from contracts import OutputParameter
from foundry.workspace import Workspace
from polysync.outcome import snapshot
from polysync.request.parsing import parse_structured_request
from polysync.request.payload import status_query


def job(status: str, error: dict[str, Any] | None = None, **props: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"status": status, "jobType": "Sweep", **props}
    if error is not None:
        p["error"] = error
    return {"name": "sweep-1", "properties": p}


def declared_outputs() -> tuple[OutputParameter, ...]:
    return status_query("j", outputs_request().to_payload()).outputs


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


def test_a_running_sweep_that_names_its_best_trial_reports_it(workspace: Workspace) -> None:
    props = {"best_child_run_id": "sweep-1_3", "score": "0.91", "best_metric_status": "Succeeded"}
    running = snapshot(job("Running", properties=props), workspace, (), None).to_dict()
    assert running["bestTrial"] == {"runId": "sweep-1_3", "score": 0.91, "metricStatus": "Succeeded"}
    assert "outputs" not in running and "error" not in running  # those wait for the end
    stalled = snapshot(job("Paused", properties=props), workspace, (), None).to_dict()
    assert stalled["bestTrial"] == running["bestTrial"]  # a stalled sweep shows it beside its error
    assert stalled["error"]["code"] == "SweepStalled"


def test_snapshot_tolerates_bad_best_score(workspace: Workspace) -> None:
    snap = snapshot(
        job("Completed", properties={"best_child_run_id": "r_1", "score": "NaN"}), workspace, (), None
    ).to_dict()
    assert snap["bestTrial"] == {"runId": "r_1", "score": None, "metricStatus": None}


def test_the_best_trial_score_is_a_number_or_null(workspace: Workspace) -> None:
    for score, shown in (
        ("0.93", 0.93),
        (None, None),
        ("high", None),
        ("inf", None),
        ("-inf", None),
        ("nan", None),
    ):
        props = {"best_child_run_id": "r_1", "best_metric_status": "Succeeded"}
        if score is not None:
            props["score"] = score
        snap = snapshot(job("Completed", properties=props), workspace, (), None).to_dict()
        assert snap["bestTrial"] == {"runId": "r_1", "score": shown, "metricStatus": "Succeeded"}, score
    assert snapshot(job("Completed", properties={"score": "1"}), workspace, (), None).best_trial is None


def test_every_job_output_is_reported_by_its_value_when_no_outputs_are_declared(workspace: Workspace) -> None:
    outputs = {
        "model": {"uri": "azureml://m", "value": "ignored"},
        "threshold": {"jobOutputType": "literal", "value": "0.7"},
        "folder": {"jobOutputType": "uri_folder"},
        "plain": "text",
        "count": 3,
        "listed": [1, 2],
    }
    snap = snapshot(job("Completed", outputs=outputs), workspace, (), None)
    assert snap.outputs == {
        "model": "azureml://m",
        "threshold": "0.7",
        "folder": None,
        "plain": "text",
        "count": 3,
        "listed": None,
    }


def test_the_monitor_url_is_the_services_studio_link_when_it_gave_one(workspace: Workspace) -> None:
    studio = "https://ml.azure.com/runs/sweep-1?wsid=/x&tid=t"
    snap = snapshot(job("Running", services={"Studio": {"endpoint": studio}}), workspace, (), None)
    assert snap.monitor_url == studio
    built = snapshot(job("Running"), workspace, (), None)
    assert built.monitor_url.startswith("https://ml.azure.com/runs/sweep-1?wsid=")


def test_the_failure_hint_names_the_runs_objective_metric(workspace: Workspace) -> None:
    for status in ("Failed", "NotResponding"):
        error = {"code": "PrimaryMetricNotFound"}
        snap = snapshot(job(status, error, objective={"primaryMetric": "templ"}), workspace, (), "f1_score")
        assert "'f1_score'" in snap.error["hint"] and "templ" not in snap.error["hint"], status
