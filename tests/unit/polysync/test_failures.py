"""Failure hints: a failed, cancelled or stalled sweep explained in words a Polysync user can act on."""

from __future__ import annotations

from typing import Any

import pytest

from foundry.jobs import JobView
from polysync.failures import COMPUTE_HINT
from polysync.failures import ENVIRONMENT_HINT as ENV_HINT
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


ROLE = "Grant the function app's managed identity the 'AzureML Data Scientist' role on the workspace."
MONITOR = "Open the Monitor URL in Azure ML studio to see the sweep's and its trials' logs."
TRIALS_HINT = (
    "Every trial failed: open the Monitor URL, pick one trial and inspect its logs (user_logs/std_log.txt)."
)


def metric_hint(metric: str | None) -> str:
    return (
        f"The objective metric '{metric}' does not match what the trial logs. Align the 'AI Foundry Objective "
        'Metric\' attribute with the exact key the training script logs (mlflow.log_metric("<name>", ...)).'
    )


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        # With no message from Azure the user still reads a sentence, never `message: null`.
        (
            "Failed",
            {"code": "PrimaryMetricNotFound"},
            (
                "PrimaryMetricNotFound",
                "The trials never logged the objective metric 'acc'.",
                metric_hint("acc"),
            ),
        ),
        (
            "Failed",
            {"code": "NoTrialsCompleted"},
            ("NoTrialsCompleted", "No trial of the sweep completed: every trial failed.", TRIALS_HINT),
        ),
        ("Failed", {"code": "AuthorizationFailed"}, ("AuthorizationFailed", "Access was denied.", ROLE)),
        (
            "Failed",
            {"code": "ComputeNotFound"},
            ("ComputeNotFound", "The compute target was not found.", COMPUTE_HINT),
        ),
        (
            "Failed",
            {"code": "EnvironmentNotFound"},
            ("EnvironmentNotFound", "The environment was not found.", ENV_HINT),
        ),
        ("Canceled", None, ("Canceled", "The sweep job was canceled.", None)),
        (
            "Paused",
            None,
            (
                "SweepStalled",
                "The sweep job stayed in status Paused for too long.",
                "Azure ML reports the job as Paused: check the compute cluster's health and quota, then open the "
                "Monitor URL; cancel and rerun if it does not recover.",
            ),
        ),
        ("Failed", None, ("SweepFailed", "The sweep job ended Failed.", MONITOR)),
        (None, None, ("SweepStalled", "The sweep job stayed in status Unknown for too long.", None)),
        # Azure's own code and message are kept where they say more than ours.
        ("Failed", {"code": "Forbidden", "message": "nope"}, ("Forbidden", "nope", ROLE)),
        ("Canceled", {"code": "UserCanceled", "message": "by alice"}, ("UserCanceled", "by alice", None)),
        ("Failed", {"code": "SystemError", "message": "disk"}, ("SystemError", "disk", MONITOR)),
    ],
)
def test_each_failure_reads_as_a_sentence_with_its_hint(
    status: str | None, error: dict[str, Any] | None, expected: tuple[str, str, str | None]
) -> None:
    f = classify_failure(job(status, error) if status else {"properties": {}}, objective_metric="acc")
    code, message, hint = expected
    assert (f.code, f.message) == (code, message)
    if hint is not None or status == "Canceled":
        assert f.hint == hint
    assert f.to_dict() == {"code": f.code, "message": f.message, "hint": f.hint}


@pytest.mark.parametrize(
    "message",
    [
        "Quota exceeded for compute cluster cpu-x: 0 of 4 cores free",  # mentions compute, nothing missing
        "The environment variable PATH was too long",
        "Job not found in history",  # missing, but neither compute nor environment
    ],
)
def test_errors_that_mention_compute_or_environment_without_missing_are_not_misread(message: str) -> None:
    f = classify_failure(job("Failed", {"code": "UserError", "message": message}), objective_metric="acc")
    assert (f.code, f.message, f.hint) == ("UserError", message, MONITOR)


@pytest.mark.parametrize(
    ("phrase", "code"),
    [
        ("compute cpu-x does not exist", "ComputeNotFound"),
        ("compute cpu-x could not be found", "ComputeNotFound"),
        ("compute cpu-x: ComputeNotFound", "ComputeNotFound"),
        ("environment env:1 does not exist", "EnvironmentNotFound"),
        ("the primary metric acc was not found", "PrimaryMetricNotFound"),
        ("no trials finished", "NoTrialsCompleted"),
        ("all trials failed", "NoTrialsCompleted"),
        ("request unauthorized", "UserError"),
    ],
)
def test_each_wording_the_service_uses_is_recognised(phrase: str, code: str) -> None:
    f = classify_failure(job("Failed", {"code": "UserError", "message": phrase}), objective_metric="acc")
    assert f.code == code and f.message == phrase
    if code == "UserError":
        assert f.hint == ROLE


def test_nested_inner_error_codes_are_read() -> None:
    """Azure ML nests its specific code under `innerError` (and `details`), below a generic one."""
    error = {"code": "UserError", "innerError": {"code": "Sub", "innerError": {"code": "ComputeNotFound"}}}
    f = classify_failure(job("Failed", error), objective_metric="acc")
    assert (f.code, f.message, f.hint) == (
        "ComputeNotFound",
        "The compute target was not found.",
        COMPUTE_HINT,
    )
    generic = classify_failure(
        job("Failed", {"innerError": {"code": "Throttled", "message": "slow"}}), objective_metric=None
    )
    assert (generic.code, generic.message) == (
        "Throttled",
        "slow",
    )


def test_the_outer_code_and_message_win_over_nested_ones() -> None:
    error = {
        "code": "UserError",
        "message": "outer",
        "details": [{"code": "Detail", "message": "inner"}],
        "innerError": {"code": "Inner", "message": "deeper"},
    }
    f = classify_failure(job("Failed", error), objective_metric=None)
    assert (f.code, f.message) == ("UserError", "outer")


def test_nesting_deeper_than_six_levels_is_not_read() -> None:
    deep: dict[str, Any] = {"code": "ComputeNotFound"}
    for _ in range(7):
        deep = {"innerError": deep}
    assert classify_failure(job("Failed", deep), objective_metric=None).code == "SweepFailed"
    shallow: dict[str, Any] = {"code": "ComputeNotFound"}
    for _ in range(6):
        shallow = {"innerError": shallow}
    assert classify_failure(job("Failed", shallow), objective_metric=None).code == "ComputeNotFound"


def test_only_the_first_twenty_details_are_read() -> None:
    details = [{"code": "Other"}] * 20 + [{"code": "ComputeNotFound"}]
    f = classify_failure(job("Failed", {"details": details}), objective_metric=None)
    assert f.code == "Other"


def test_run_property_errors_give_the_message_and_other_properties_do_not() -> None:
    props = {"azureml.runError": "Compute cpu-x not found", "note": "environment does not exist", "errors": 3}
    f = classify_failure(job("Failed", properties=props), objective_metric=None)
    assert (f.code, f.message, f.hint) == ("ComputeNotFound", "Compute cpu-x not found", COMPUTE_HINT)


def test_the_metric_named_in_the_hint_falls_back_to_the_jobs_objective() -> None:
    f = classify_failure(
        job("Failed", {"code": "PrimaryMetricNotFound"}, objective={"primaryMetric": "loss"}),
        objective_metric=None,
    )
    assert f.message == "The trials never logged the objective metric 'loss'." and "'loss'" in (f.hint or "")


def test_a_junk_detail_does_not_hide_the_others() -> None:
    error = {"code": "UserError", "details": [{"code": "ComputeNotFound"}, "junk", None]}
    assert classify_failure(job("Failed", error), objective_metric=None).code == "ComputeNotFound"


def test_nested_details_are_read_six_levels_deep_and_no_deeper() -> None:
    def nested(levels: int) -> dict[str, Any]:
        node: dict[str, Any] = {"code": "ComputeNotFound"}
        for _ in range(levels):
            node = {"details": [node]}
        return node

    assert classify_failure(job("Failed", nested(6)), objective_metric=None).code == "ComputeNotFound"
    assert classify_failure(job("Failed", nested(4)), objective_metric=None).code == "ComputeNotFound"
    assert classify_failure(job("Failed", nested(7)), objective_metric=None).code == "SweepFailed"


def test_a_denial_without_a_code_is_authorization_failed() -> None:
    f = classify_failure(
        job("Failed", properties={"azureml.error": "Forbidden: no access"}), objective_metric=None
    )
    assert (f.code, f.message, f.hint) == ("AuthorizationFailed", "Forbidden: no access", ROLE)


@pytest.mark.parametrize(
    ("code", "message", "target", "expected"),
    [
        ("UserError", "Invalid value.", "computeId", ("ComputeNotFound", COMPUTE_HINT)),
        ("ComputeNotFound", "gone", None, ("ComputeNotFound", COMPUTE_HINT)),
        ("UserError", "Compute gpu-x does not exist.", None, ("ComputeNotFound", COMPUTE_HINT)),
        ("UserError", "Invalid value.", "trial.environmentId", ("EnvironmentNotFound", ENV_HINT)),
        ("EnvironmentNotFound", "gone", None, ("EnvironmentNotFound", ENV_HINT)),
        ("UserError", "Environment env:3 could not be found.", None, ("EnvironmentNotFound", ENV_HINT)),
        ("UserError", "Quota exceeded on the compute.", None, None),
        ("UserError", "Bad searchSpace.", "searchSpace", None),
    ],
)
def test_azure_mls_refusal_of_a_sweep_names_the_attribute_to_change(
    code: str, message: str, target: str | None, expected: tuple[str, str] | None
) -> None:
    """What the start route answers when Azure ML refuses the PUT (a 400): the compute or the
    environment attribute to fix, with Azure ML's own message; other refusals stay as they are."""
    from polysync.failures import rejection

    why = rejection(code, message, target)
    if expected is None:
        assert why is None
    else:
        assert why is not None and (why.code, why.message, why.hint) == (expected[0], message, expected[1])
