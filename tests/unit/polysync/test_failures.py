"""Failure hints: a failed, cancelled or stalled sweep explained in words a Polysync user can act on."""

from __future__ import annotations

from typing import Any

import pytest

from foundry.jobs import JobView
from polysync.failures import classify_failure as classify_job


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
