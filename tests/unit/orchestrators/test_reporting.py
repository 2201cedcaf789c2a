"""What the orchestration shows Polysync: the output, the failure message, customStatus and its budget."""

from __future__ import annotations

import json

from contracts import JobSnapshot
from devhost.durable.payloads import custom_status_error
from orchestrators.polling import LoopState
from orchestrators.reporting import (
    CUSTOM_STATUS_BUDGET_BYTES,
    RESERVED_KEYS,
    SweepEnded,
    final_output,
    fit_custom_status,
    progress_status,
    success_status,
)
from polysync.status import PolysyncStatus

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


URL = "https://ml.azure.com/runs/tmpl-abc"


def snapshot(**over) -> JobSnapshot:
    fields = dict(
        azure_status="Completed", status="Success", job_name=JOB, monitor_url=URL, terminal=True, outputs={}
    )
    fields.update(over)
    return JobSnapshot(**fields)


def test_the_status_route_shows_every_field_while_the_run_goes():
    state = LoopState(
        azure_status="Running", monitor_url=URL, cancel_requested=True, generation=2, polls=7, started_at="s"
    )
    assert progress_status(JOB, state, "now") == {
        "status": "Running",
        "azureStatus": "Running",
        "jobName": JOB,
        "monitorUrl": URL,
        "updatedAt": "now",
        "cancelRequested": True,
        "generation": 2,
        "polls": 7,
        "startedAt": "s",
    }
    before = progress_status(JOB, LoopState(azure_status="Running"), "now", submitted=False)
    assert (before["status"], before["azureStatus"], before["jobName"]) == ("Starting", None, None)
    assert "unreachableSince" not in before and "note" not in before


def test_an_outage_shows_since_when_and_why_on_the_status_route():
    state = LoopState(unreachable_since="2026-01-01T00:00:00Z", unreachable_error="503 " + "x" * 300)
    status = progress_status(JOB, state, "now")
    assert status["unreachableSince"] == "2026-01-01T00:00:00Z"
    assert status["note"] == (
        f"Azure ML unreachable since 2026-01-01T00:00:00Z (503 {'x' * 196}); the run keeps waiting and retries."
    )
    bare = progress_status(JOB, LoopState(unreachable_since="t0"), "now")
    assert bare["note"] == "Azure ML unreachable since t0; the run keeps waiting and retries."


def test_the_success_output_in_full():
    state = LoopState(monitor_url="https://ml.azure.com/runs/from-state")
    snap = snapshot(monitor_url="", best_trial={"runId": "t_1"}, outputs={"model": "m", "jobName": "evil"})
    out = final_output(JOB, state, snap, "now")
    assert out == {
        "status": "Success",
        "azureStatus": "Completed",
        "jobName": JOB,
        "monitorUrl": "https://ml.azure.com/runs/from-state",
        "bestTrial": {"runId": "t_1"},
        "outputs": {"model": "m", "jobName": "evil"},
        "updatedAt": "now",
        "model": "m",
    }
    assert final_output(JOB, state, snapshot(), "now")["monitorUrl"] == URL
    status = success_status(out, LoopState(started_at="s"))
    assert status == {k: v for k, v in out.items() if k != "model"} | {"startedAt": "s"}


def test_every_reserved_name_is_kept_from_an_output_of_that_name():
    outputs = {key: "from-the-job" for key in RESERVED_KEYS}
    out = final_output(JOB, LoopState(), snapshot(outputs=outputs), "now")
    assert out["status"] == "Success" and out["jobName"] == JOB and out["updatedAt"] == "now"
    assert out["outputs"] == outputs
    assert "from-the-job" not in {v for k, v in out.items() if k != "outputs" and isinstance(v, str)}


def test_the_report_of_a_run_that_ended_before_submitting():
    ended = SweepEnded(
        PolysyncStatus.FAILED, {"code": "C", "message": "m.", "hint": None}, JOB, LoopState(), "now"
    )
    assert ended.report == {
        "status": "Failed",
        "azureStatus": None,
        "jobName": None,
        "monitorUrl": None,
        "bestTrial": None,
        "outputs": {},
        "error": {"code": "C", "message": "m.", "hint": None},
        "updatedAt": "now",
        "cancelRequested": False,
        "startedAt": None,
    }
    assert str(ended) == "Failed: m."
    assert ended.status == "Failed"


def test_the_report_of_a_submitted_run_takes_the_last_snapshot():
    state = LoopState(azure_status="Running", monitor_url=URL, cancel_requested=True, started_at="s")
    snap = snapshot(azure_status="Failed", best_trial={"runId": "t_2"}, outputs={"m": 1}, monitor_url="")
    ended = SweepEnded(PolysyncStatus.FAILED, None, JOB, state, "now", snap=snap, left_running=True)
    assert ended.report == {
        "status": "Failed",
        "azureStatus": "Failed",
        "jobName": JOB,
        "monitorUrl": URL,
        "bestTrial": {"runId": "t_2"},
        "outputs": {"m": 1},
        "error": None,
        "updatedAt": "now",
        "cancelRequested": True,
        "startedAt": "s",
        "jobLeftRunning": True,
    }
    assert str(ended) == f"Failed: The sweep job {JOB} ended Running. Monitor URL: {URL}"
    no_snap = SweepEnded(PolysyncStatus.FAILED, None, JOB, state, "now")
    assert (no_snap.report["azureStatus"], no_snap.report["monitorUrl"]) == ("Running", URL)
    assert "jobLeftRunning" not in no_snap.report
    other_url = SweepEnded(
        PolysyncStatus.FAILED, None, JOB, state, "now", snap=snapshot(monitor_url="https://x")
    )
    assert other_url.report["monitorUrl"] == "https://x"


def test_the_failure_message_polysync_shows():
    failed = LoopState(azure_status="Failed", cancel_reason="not shown for a failure")
    assert (
        str(SweepEnded(PolysyncStatus.FAILED, None, JOB, failed, "t"))
        == f"Failed: The sweep job {JOB} ended Failed."
    )
    cancelled = LoopState(azure_status="Canceled", cancel_reason="operator asked")
    error = {"code": "Canceled", "message": "Canceled by the user.", "hint": ""}
    assert str(SweepEnded(PolysyncStatus.CANCELLED, error, JOB, cancelled, "t")) == (
        "Cancelled: Canceled by the user. Reason: operator asked"
    )
    assert str(SweepEnded(PolysyncStatus.CANCELLED, {"message": ""}, JOB, LoopState(), "t")) == (
        f"Cancelled: The sweep job {JOB} was cancelled."
    )


def _size(value) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-16-le"))


NOTE = "customStatus is kept small; the orchestration output has the full result."


def test_custom_status_cuts_the_result_fields_first_at_500_characters():
    status = {"status": "Success", "jobName": "j" * 600, "outputs": {"a": "x" * 1000}, "error": None}
    fitted = fit_custom_status(status, budget=_size(status) - 300)
    assert fitted["outputs"] == {"a": "x" * 499 + "…"}
    assert fitted["jobName"] == "j" * 600 and fitted["truncated"] == NOTE and fitted["error"] is None
    assert status["outputs"] == {"a": "x" * 1000}  # the output keeps the full result


def test_custom_status_then_cuts_them_at_100_characters():
    status = {"status": "Success", "bestTrial": {"k" * 150: ["y" * 600]}, "error": {"message": "e" * 600}}
    fitted = fit_custom_status(status, budget=_size(status) - 1500)
    assert fitted["bestTrial"] == {"k" * 100: ["y" * 99 + "…"]}
    assert fitted["error"] == {"message": "e" * 99 + "…"}


def test_custom_status_then_drops_outputs_and_best_trial_but_keeps_the_error():
    status = {
        "status": "Failed",
        "outputs": {f"o{i}": i for i in range(300)},
        "bestTrial": {"n": 1},
        "error": "e",
    }
    fitted = fit_custom_status(status, budget=400)
    assert fitted == {"status": "Failed", "outputs": None, "bestTrial": None, "error": "e", "truncated": NOTE}


def test_custom_status_last_cuts_every_long_string_then_keeps_only_the_essentials():
    status = {"status": "Failed", "jobName": "j", "note": "n" * 3000, "error": None}
    for budget, limit in ((1400, 500), (500, 100), (300, 20)):
        fitted = fit_custom_status(status, budget=budget)
        assert fitted["note"] == "n" * (limit - 1) + "…" and fitted["jobName"] == "j", budget
        assert fitted["truncated"] == (NOTE if limit > len(NOTE) else NOTE[: limit - 1] + "…")
        assert _size(fitted) <= budget
    tiny = fit_custom_status({**status, "jobLeftRunning": True, "polls": 3}, budget=150)
    assert tiny == {
        "status": "Failed",
        "azureStatus": None,
        "jobName": "j",
        "jobLeftRunning": True,
        "truncated": NOTE[:19] + "…",
    }


def test_a_string_of_exactly_the_limit_is_kept_whole():
    status = {"status": "Success", "outputs": {"a": "x" * 500, "b": "y" * 1500}}
    fitted = fit_custom_status(status, budget=_size(status) - 500)
    assert fitted["outputs"] == {"a": "x" * 500, "b": "y" * 499 + "…"}


def test_a_run_error_is_code_message_and_hint():
    from orchestrators.reporting import run_error

    assert run_error("SweepStalled", "stuck.", None) == {
        "code": "SweepStalled",
        "message": "stuck.",
        "hint": None,
    }
