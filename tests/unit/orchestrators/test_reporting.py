"""What the orchestration shows Polysync: the output, the failure message, customStatus and its budget."""

from __future__ import annotations

import json

from contracts import JobSnapshot
from devhost.durable.payloads import custom_status_error
from orchestrators.polling import LoopState
from orchestrators.reporting import (
    CUSTOM_STATUS_BUDGET_BYTES,
    SweepEnded,
    final_output,
    fit_custom_status,
    progress_status,
)

JOB = "tmpl-abc"


def test_success_output_repeats_outputs_at_top_level_but_never_over_reserved_keys():
    snap = {
        "azureStatus": "Completed",
        "monitorUrl": "https://ml.azure.com/runs/tmpl-abc",
        "bestTrial": {"runId": "tmpl-abc_3", "score": 0.9},
        "outputs": {"model": "azureml://x", "status": "evil"},
    }
    out = final_output(JOB, LoopState(), JobSnapshot.from_dict(snap), "2026-01-01T00:00:00Z")
    assert out["status"] == "Success"
    assert out["model"] == "azureml://x"
    assert out["outputs"]["status"] == "evil"


def test_failure_message_starts_with_the_polysync_status_and_carries_hint_and_url():
    state = LoopState(azure_status="Failed", monitor_url="https://ml.azure.com/runs/tmpl-abc")
    ended = SweepEnded(
        "Failed", {"code": "X", "message": "boom.", "hint": "fix it."}, JOB, state, "2026-01-01T00:00:00Z"
    )
    assert str(ended) == "Failed: boom. Hint: fix it. Monitor URL: https://ml.azure.com/runs/tmpl-abc"
    assert ended.report["status"] == "Failed"
    cancelled = SweepEnded("Cancelled", None, JOB, LoopState(cancel_reason="operator"), "t")
    assert str(cancelled).startswith("Cancelled: The sweep job tmpl-abc was cancelled. Reason: operator")


def test_progress_status_hides_the_job_until_submitted():
    before = progress_status(JOB, LoopState(), "t", submitted=False)
    assert before["status"] == "Starting" and before["jobName"] is None
    after = progress_status(JOB, LoopState(azure_status="Queued"), "t")
    assert after["status"] == "Starting" and after["jobName"] == "tmpl-abc"


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
