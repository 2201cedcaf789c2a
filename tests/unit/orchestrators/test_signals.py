"""Event payloads, activity outcomes and the customStatus budget, as pure functions."""

from __future__ import annotations

import json

from contracts import CancelSignal
from devhost.durable.failures import task_failure
from devhost.durable.payloads import custom_status_error
from orchestrators.outcomes import Outcome, failure_message
from orchestrators.reporting import CUSTOM_STATUS_BUDGET_BYTES, fit_custom_status
from orchestrators.signals import decode_payload


def test_event_payloads_are_read_as_dicts_or_json_strings():
    data = {"jobName": "j", "runStatus": "Completed"}
    assert decode_payload(data) == data  # a sendEventPostUri caller's object
    assert decode_payload(json.dumps(data)) == data  # the Python client's raise_event on Azure
    assert decode_payload(json.dumps(json.dumps(data))) == data
    for junk in (None, 3, "not json", json.dumps([1, 2]), json.dumps("text")):
        assert decode_payload(junk) == {}
    assert cancel_reason(json.dumps({"reason": "stop it"})) == "stop it"
    assert cancel_reason({"reason": "x" * 900}) == "x" * 500
    assert cancel_reason("null") is None


def cancel_reason(raw):
    """The reason a run reads from a `cancel` event's payload, as delivered."""
    return CancelSignal.from_dict(decode_payload(raw)).reason


def _failed_task(exc: BaseException):
    reason, details = task_failure("fetch_template", exc)

    class Task:
        result = Exception(f"{reason} \n {details}")  # what the SDK hands the orchestrator

    return Task()


def test_an_activity_failure_reads_as_its_message_not_the_serialized_exception():
    outcome = Outcome.of(_failed_task(ValueError("AZUREML_WORKSPACE_ID must be a workspace ARM id")))
    assert not outcome.ok and not outcome.transient
    assert outcome.error["code"] == "ActivityFailed"
    assert outcome.error["message"] == (
        "ValueError: AZUREML_WORKSPACE_ID must be a workspace ARM id (in activity fetch_template)"
    )
    assert "$type" not in outcome.error["message"]
    assert failure_message(Exception("plain")) == "plain"


def test_transient_and_permanent_answers():
    class Task:
        result = {"ok": False, "transient": True, "retryAfter": 600, "error": {"code": "TooManyRequests"}}

    transient = Outcome.of(Task())
    assert transient.transient and transient.retry_after == 600.0
    Task.result = {"ok": False, "error": {"code": "NotFound"}}
    permanent = Outcome.of(Task())
    assert not permanent.transient and permanent.error == {"code": "NotFound"}


def test_custom_status_is_kept_well_under_the_extensions_16_kb():
    huge = {f"metric_{i}": "v" * 400 for i in range(200)}
    status = {
        "status": "Success",
        "azureStatus": "Completed",
        "jobName": "job-1",
        "monitorUrl": "https://ml.azure.com/runs/job-1",
        "outputs": huge,
        "bestTrial": {"runId": "t", "metrics": huge},
        "error": None,
        "startedAt": "2026-01-05T09:00:00Z",
    }
    assert custom_status_error(status) is not None  # as it is, the real host would fail the run
    fitted = fit_custom_status(status)
    size = len(json.dumps(fitted, separators=(",", ":"), ensure_ascii=False).encode("utf-16-le"))
    assert size <= CUSTOM_STATUS_BUDGET_BYTES
    assert custom_status_error(fitted) is None
    assert {fitted[k] for k in ("status", "jobName", "monitorUrl")} == {
        "Success",
        "job-1",
        "https://ml.azure.com/runs/job-1",
    }
    assert "truncated" in fitted
    small = {"status": "Running", "jobName": "j"}
    assert fit_custom_status(small) is small
