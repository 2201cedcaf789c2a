"""The pure parts of the durable layer: poll policy, loop state, reporting,
the status view and request signatures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import JobSnapshot
from orchestrators.polling import LoopState, PollPolicy, next_interval
from orchestrators.reporting import SweepEnded, final_output, progress_status
from triggers.http.signing import sign, verify
from triggers.http.status_view import compose_status

POLICY = PollPolicy()


def test_backoff_doubles_from_floor_to_cap_and_resets_on_change():
    seq, current = [], 0.0
    for _ in range(6):
        current = next_interval(current, POLICY, events_seen=False, status_changed=False)
        seq.append(current)
    assert seq == [15, 30, 60, 120, 120, 120]
    assert next_interval(120, POLICY, events_seen=False, status_changed=True) == 15


def test_events_switch_to_the_slow_safety_poll():
    assert next_interval(120, POLICY, events_seen=True, status_changed=False) == 3600
    assert next_interval(3600, POLICY, events_seen=True, status_changed=False) == 7200
    assert next_interval(28800, POLICY, events_seen=True, status_changed=False) == 28800


@given(
    current=st.floats(min_value=0, max_value=1e6),
    events=st.booleans(),
    changed=st.booleans(),
)
def test_interval_always_within_the_regime_bounds(current, events, changed):
    value = next_interval(current, POLICY, events_seen=events, status_changed=changed)
    low, high = (POLICY.event_floor, POLICY.event_cap) if events else (POLICY.floor, POLICY.cap)
    assert low <= value <= high


def test_policy_rejects_timers_the_extension_cannot_cancel():
    with pytest.raises(ValueError, match="SWEEP_EVENT_POLL_CAP_SECONDS"):
        PollPolicy(event_cap=7 * 24 * 3600)
    with pytest.raises(ValueError, match="SWEEP_POLL_FLOOR_SECONDS"):
        PollPolicy(floor=200, cap=100)


def test_loop_state_round_trips_through_continue_as_new_input():
    state = LoopState(azure_status="Running", interval=60, events_seen=True, generation=3, polls=41)
    assert LoopState.from_dict(state.to_dict()) == state
    assert PollPolicy.from_dict(POLICY.to_dict()) == POLICY


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


def test_status_view_for_each_runtime_status():
    running = compose_status("i", "Running", {"status": "Running", "azureStatus": "Running"}, None)
    assert running["status"] == "Running" and running["outputs"] == {}
    done = compose_status("i", "Completed", {"status": "Running"}, {"status": "Success", "outputs": {"m": 1}})
    assert done["status"] == "Success" and done["outputs"] == {"m": 1}
    crashed = compose_status("i", "Failed", None, "Orchestrator function 'x' failed: kaput")
    assert crashed["status"] == "Failed" and "kaput" in crashed["error"]["message"]
    terminated = compose_status("i", "Terminated", {"status": "Running"}, "by operator")
    assert terminated["status"] == "Cancelled" and terminated["error"]["code"] == "Terminated"
    pending = compose_status("i", "Pending", None, None)
    assert pending["status"] == "Starting"


def test_signatures_verify_and_reject():
    body = b'{"a": 1}'
    args = ("POST", "/api/sweeps", {})
    stamped = {"X-Signature-256": sign("k", "1000", *args, body), "X-Signature-Timestamp": "1000"}
    assert verify("k", *args, body, stamped, now=1100) is None
    assert "does not match" in verify("k", *args, body + b" ", stamped, now=1100)
    assert "Missing" in verify("k", *args, body, {}, now=1100)
    assert "more than" in verify("k", *args, body, stamped, now=2000)
