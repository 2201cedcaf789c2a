"""What a poll reports: the Polysync view of one GET of the sweep job. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from foundry.job_status import JobStatus
from foundry.jobs import JobView
from foundry.monitor import monitor_url
from foundry.workspace import Workspace
from polysync.failures import classify_failure
from polysync.request.models import Parameter
from polysync.request.types import DataType
from polysync.status import to_polysync

MASK = "***"


@dataclass
class SweepSnapshot:
    azureStatus: str
    status: str
    jobName: str
    monitorUrl: str
    terminal: bool
    bestTrial: dict[str, Any] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.terminal and self.error is None:
            for key in ("bestTrial", "outputs", "error"):
                out.pop(key)
        return out


def best_trial(job: JobView) -> dict[str, Any] | None:
    """`properties.properties.best_child_run_id/score/best_metric_status`, when the service set them."""
    user = job.run_properties
    run_id = user.get("best_child_run_id")
    if not run_id:
        return None
    score: float | None
    try:
        score = float(user.get("score"))  # type: ignore[arg-type]
        if score != score or score in (float("inf"), float("-inf")):
            score = None
    except (TypeError, ValueError):
        score = None
    return {"runId": str(run_id), "score": score, "metricStatus": user.get("best_metric_status")}


def _output_value(out: Any) -> Any:
    if isinstance(out, dict):
        if out.get("uri") is not None:
            return out["uri"]
        if "value" in out:
            return out["value"]
        return None
    return out if isinstance(out, str | int | float | bool) or out is None else None


def job_outputs(job: JobView, request_outputs: Sequence[Parameter] | None) -> dict[str, Any]:
    """Output values by name. With no declared outputs (flat requests) every job output is echoed."""
    outputs = job.outputs
    if not request_outputs:
        return {k: _output_value(v) for k, v in outputs.items() if isinstance(k, str)}
    result: dict[str, Any] = {}
    for param in request_outputs:
        if param.data_type is DataType.SECRET:
            result[param.name] = MASK
        elif param.name in outputs:
            result[param.name] = _output_value(outputs[param.name])
        elif param.value is not None:
            result[param.name] = param.typed_value()  # Input&Output without a job output: echo the input
        else:
            result[param.name] = None
    return result


def snapshot(
    job: dict[str, Any],
    workspace: Workspace,
    request_outputs: Sequence[Parameter] | None,
    objective_metric: str | None,
) -> dict[str, Any]:
    """JSON-safe summary of a job GET: statuses, monitor URL, and on terminal states the
    best trial, outputs and (unless Completed) an actionable error."""
    view = JobView.from_rest(job)
    azure = view.status or JobStatus.UNKNOWN
    snap = SweepSnapshot(
        azureStatus=azure,
        status=to_polysync(azure),
        jobName=view.name,
        monitorUrl=monitor_url(workspace, view.name, view.studio_endpoint),
        terminal=azure.is_terminal,
    )
    if snap.terminal:
        snap.bestTrial = best_trial(view)
        snap.outputs = job_outputs(view, request_outputs)
        if azure is not JobStatus.COMPLETED:
            snap.error = classify_failure(view, objective_metric=objective_metric).to_dict()
    elif azure.is_stalled:
        snap.error = classify_failure(view, objective_metric=objective_metric).to_dict()
    return snap.to_dict()
