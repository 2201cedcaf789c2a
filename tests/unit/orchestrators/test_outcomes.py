"""An activity task's result, classified: what an activity failure reads as, transient and permanent answers."""

from __future__ import annotations

from devhost.durable.failures import task_failure
from orchestrators.outcomes import Outcome, failure_message


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
