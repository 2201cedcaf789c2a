"""What the orchestration shows Polysync, as pure functions of its state.

Polysync reads `customStatus` while a run is going and `output` when it ends,
and fills Output parameters from *top-level* names of the result, so a
successful run repeats each output at the top level. A run that did not succeed
ends by raising `SweepEnded`, whose message starts with the Polysync status.
"""

from __future__ import annotations

import json
from typing import Any

from contracts import JobSnapshot
from orchestrators.polling import LoopState
from polysync.status import PolysyncStatus, to_polysync

RESERVED_KEYS = frozenset(
    {
        "status",
        "azureStatus",
        "jobName",
        "monitorUrl",
        "bestTrial",
        "outputs",
        "error",
        "updatedAt",
        "instanceId",
    }
)


def run_error(code: str, message: str, hint: str | None) -> dict[str, Any]:
    return {"code": code, "message": message, "hint": hint}


# customStatus is capped at 16 KB (UTF-16) by the Durable extension and an
# orchestration that sets more fails; keep well under it. The full result is the
# orchestration's output, which has no such cap.
CUSTOM_STATUS_BUDGET_BYTES = 8 * 1024
_TRIMMABLE = ("outputs", "bestTrial", "error")


def progress_status(job_name: str, state: LoopState, now: str, *, submitted: bool = True) -> dict[str, Any]:
    status: dict[str, Any] = {
        "status": to_polysync(state.azure_status) if submitted else PolysyncStatus.STARTING,
        "azureStatus": state.azure_status if submitted else None,
        "jobName": job_name if submitted else None,
        "monitorUrl": state.monitor_url,
        "updatedAt": now,
        "cancelRequested": state.cancel_requested,
        "generation": state.generation,
        "polls": state.polls,
        "startedAt": state.started_at,
    }
    if state.trials is not None:
        status["trials"] = state.trials
    if state.unreachable_since:
        status["unreachableSince"] = state.unreachable_since
        status["note"] = unreachable_note(state)
    return status


def unreachable_note(state: LoopState) -> str:
    note = f"Azure ML unreachable since {state.unreachable_since}"
    if state.unreachable_error:
        note += f" ({state.unreachable_error[:200]})"
    return note + "; the run keeps waiting and retries."


def _utf16_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-16-le"))


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[: limit - 1] + "…"
    if isinstance(value, dict):
        return {str(k)[:limit]: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    return value


def fit_custom_status(status: dict[str, Any], budget: int = CUSTOM_STATUS_BUDGET_BYTES) -> dict[str, Any]:
    """`status` cut down to `budget` bytes of UTF-16: long strings in outputs, best
    trial and error shortened first, then those fields dropped (the output keeps
    them), then every other long string shortened."""
    if _utf16_size(status) <= budget:
        return status
    fitted = dict(status)
    fitted["truncated"] = "customStatus is kept small; the orchestration output has the full result."
    for limit in (500, 100):
        for key in _TRIMMABLE:
            if key in fitted:
                fitted[key] = _shorten(fitted[key], limit)
        if _utf16_size(fitted) <= budget:
            return fitted
    for key in _TRIMMABLE:
        if key in fitted and key != "error":
            fitted[key] = None
    if _utf16_size(fitted) <= budget:
        return fitted
    for limit in (500, 100, 20):
        fitted = {k: _shorten(v, limit) for k, v in fitted.items()}
        if _utf16_size(fitted) <= budget:
            return fitted
    return {k: fitted.get(k) for k in ("status", "azureStatus", "jobName", "jobLeftRunning", "truncated")}


def final_output(job_name: str, state: LoopState, snap: JobSnapshot, now: str) -> dict[str, Any]:
    outputs = dict(snap.outputs)
    result: dict[str, Any] = {
        "status": PolysyncStatus.SUCCESS,
        "azureStatus": snap.azure_status,
        "jobName": job_name,
        "monitorUrl": snap.monitor_url or state.monitor_url,
        "bestTrial": snap.best_trial,
        "outputs": outputs,
        "updatedAt": now,
    }
    for name, value in outputs.items():
        if name not in RESERVED_KEYS:
            result[name] = value
    return result


def success_status(output: dict[str, Any], state: LoopState) -> dict[str, Any]:
    """customStatus of a successful run: the output without the top-level copies of
    each output parameter (Polysync reads those from the output itself)."""
    status = {key: value for key, value in output.items() if key in RESERVED_KEYS}
    status["startedAt"] = state.started_at
    if state.trials is not None:
        status["trials"] = state.trials
    return status


def _message(status: str, error: dict[str, Any] | None, job_name: str, state: LoopState) -> str:
    if error and error.get("message"):
        text = str(error["message"])
    elif status == PolysyncStatus.CANCELLED:
        text = f"The sweep job {job_name} was cancelled."
    else:
        text = f"The sweep job {job_name} ended {state.azure_status}."
    if status == PolysyncStatus.CANCELLED and state.cancel_reason:
        text += f" Reason: {state.cancel_reason}"
    parts = [f"{status}: {text}"]
    if error and error.get("hint"):
        parts.append(f"Hint: {error['hint']}")
    if state.monitor_url:
        parts.append(f"Monitor URL: {state.monitor_url}")
    return " ".join(parts)


class SweepEnded(Exception):
    """Raised to end the orchestration as Failed (Polysync: Failed or Cancelled)."""

    def __init__(
        self,
        status: PolysyncStatus,
        error: dict[str, Any] | None,
        job_name: str,
        state: LoopState,
        now: str,
        *,
        snap: JobSnapshot | None = None,
        left_running: bool = False,
    ) -> None:
        submitted = state.monitor_url is not None
        self.status = status
        self.report: dict[str, Any] = {
            "status": status,
            "azureStatus": (snap.azure_status if snap else state.azure_status) if submitted else None,
            "jobName": job_name if submitted else None,
            "monitorUrl": (snap.monitor_url if snap else None) or state.monitor_url,
            "bestTrial": snap.best_trial if snap else None,
            "outputs": (snap.outputs if snap else None) or {},
            "error": error,
            "updatedAt": now,
            "cancelRequested": state.cancel_requested,
            "startedAt": state.started_at,
        }
        if state.trials is not None:
            self.report["trials"] = state.trials
        if left_running:
            # The orphan reconciler reads this and leaves the job alone.
            self.report["jobLeftRunning"] = True
        super().__init__(_message(status, error, job_name, state))
