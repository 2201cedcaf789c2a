"""What the orchestration shows Polysync, as pure functions of its state.

Polysync reads `customStatus` while a run is going and `output` when it ends,
and fills Output parameters from *top-level* names of the result, so a
successful run repeats each output at the top level. A run that did not succeed
ends by raising `SweepEnded`, whose message starts with the Polysync status.
"""

from __future__ import annotations

from typing import Any

from foundry.status import to_polysync
from orchestrators.polling import LoopState

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


def progress_status(
    data: dict[str, Any], state: LoopState, now: str, *, submitted: bool = True
) -> dict[str, Any]:
    return {
        "status": to_polysync(state.azure_status) if submitted else "Starting",
        "azureStatus": state.azure_status if submitted else None,
        "jobName": data["jobName"] if submitted else None,
        "monitorUrl": state.monitor_url,
        "updatedAt": now,
        "cancelRequested": state.cancel_requested,
        "generation": state.generation,
        "polls": state.polls,
        "startedAt": state.started_at,
    }


def final_output(data: dict[str, Any], state: LoopState, snap: dict[str, Any], now: str) -> dict[str, Any]:
    outputs = dict(snap.get("outputs") or {})
    result: dict[str, Any] = {
        "status": "Success",
        "azureStatus": snap.get("azureStatus", state.azure_status),
        "jobName": data["jobName"],
        "monitorUrl": snap.get("monitorUrl") or state.monitor_url,
        "bestTrial": snap.get("bestTrial"),
        "outputs": outputs,
        "updatedAt": now,
    }
    for name, value in outputs.items():
        if name not in RESERVED_KEYS:
            result[name] = value
    return result


def _message(status: str, error: dict[str, Any] | None, data: dict[str, Any], state: LoopState) -> str:
    if error and error.get("message"):
        text = str(error["message"])
    elif status == "Cancelled":
        text = f"The sweep job {data['jobName']} was cancelled."
        if state.cancel_reason:
            text += f" Reason: {state.cancel_reason}"
    else:
        text = f"The sweep job {data['jobName']} ended {state.azure_status}."
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
        status: str,
        error: dict[str, Any] | None,
        data: dict[str, Any],
        state: LoopState,
        now: str,
        *,
        snap: dict[str, Any] | None = None,
    ) -> None:
        snap = snap or {}
        submitted = state.monitor_url is not None
        self.status = status
        self.report: dict[str, Any] = {
            "status": status,
            "azureStatus": snap.get("azureStatus", state.azure_status) if submitted else None,
            "jobName": data["jobName"] if submitted else None,
            "monitorUrl": snap.get("monitorUrl") or state.monitor_url,
            "bestTrial": snap.get("bestTrial"),
            "outputs": snap.get("outputs") or {},
            "error": error,
            "updatedAt": now,
            "cancelRequested": state.cancel_requested,
            "startedAt": state.started_at,
        }
        super().__init__(_message(status, error, data, state))
