"""The status answer for `GET /api/sweeps/{instanceId}`, composed from the
orchestration's runtime status, customStatus and output. Pure, so the same view
serves the status and cancel routes and is tested without a host."""

from __future__ import annotations

from typing import Any

from contracts import timestamp
from polysync.status import PolysyncStatus
from triggers.instances import runtime_status as runtime_of

_FIELDS = ("status", "azureStatus", "jobName", "monitorUrl", "outputs", "bestTrial", "error", "trials")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "strftime"):
        return timestamp(value)
    return str(value)


def compose_status(
    instance_id: str,
    runtime_status: str | None,
    custom_status: Any,
    output: Any,
    created: Any = None,
    updated: Any = None,
) -> dict[str, Any]:
    custom = custom_status if isinstance(custom_status, dict) else {}
    view: dict[str, Any] = {name: custom.get(name) for name in _FIELDS}
    if runtime_status == "Completed" and isinstance(output, dict):
        view.update({name: output.get(name) for name in _FIELDS if name in output})
    elif runtime_status == "Failed":
        ended = (PolysyncStatus.FAILED, PolysyncStatus.CANCELLED)
        view["status"] = custom.get("status") if custom.get("status") in ended else PolysyncStatus.FAILED
        if not view.get("error"):
            view["error"] = {"code": "OrchestrationFailed", "message": str(output or ""), "hint": None}
    elif runtime_status in ("Terminated", "Canceled"):
        view["status"] = PolysyncStatus.CANCELLED
        view["error"] = {
            "code": "Terminated",
            "message": f"The orchestration was terminated: {output or 'no reason given'}.",
            "hint": "A terminated run's Azure ML job is cancelled by the orphan reconciler.",
        }
    elif not view.get("status"):
        view["status"] = PolysyncStatus.STARTING
    view["outputs"] = view.get("outputs") or {}
    return {
        "instanceId": instance_id,
        **view,
        "runtimeStatus": runtime_status,
        # The orchestration's own createdTime restarts with every continue-as-new
        # generation; the run's start travels in customStatus.
        "createdTime": custom.get("startedAt") or _iso(created),
        "lastUpdatedTime": _iso(updated),
    }


def status_view(instance_id: str, status: Any) -> dict[str, Any]:
    """The view of a `DurableOrchestrationStatus` the Durable client returned."""
    return compose_status(
        instance_id,
        runtime_of(status),
        status.custom_status,
        status.output,
        status.created_time,
        status.last_updated_time,
    )
