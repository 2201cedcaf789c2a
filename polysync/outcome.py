"""What a poll reports: the Polysync view of one GET of the sweep job. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from foundry.job_status import STALLED, TERMINAL, canonical_status, classify_failure, to_polysync
from foundry.monitor import monitor_url
from foundry.workspace import Workspace
from polysync.request.models import DataType, Parameter

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


def _props(job: Any) -> dict[str, Any]:
    props = job.get("properties") if isinstance(job, dict) else None
    return props if isinstance(props, dict) else {}


def best_trial(job: dict[str, Any]) -> dict[str, Any] | None:
    """`properties.properties.best_child_run_id/score/best_metric_status`, when the service set them."""
    user = _props(job).get("properties")
    user = user if isinstance(user, dict) else {}
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


def job_outputs(job: dict[str, Any], request_outputs: Sequence[Parameter] | None) -> dict[str, Any]:
    """Output values by name. With no declared outputs (flat requests) every job output is echoed."""
    outputs = _props(job).get("outputs")
    outputs = outputs if isinstance(outputs, dict) else {}
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
    props = _props(job)
    azure = canonical_status(props.get("status")) or "Unknown"
    name = job.get("name") if isinstance(job, dict) and isinstance(job.get("name"), str) else ""
    snap = SweepSnapshot(
        azureStatus=azure,
        status=to_polysync(azure),
        jobName=name,
        monitorUrl=monitor_url(job, workspace, name),
        terminal=azure in TERMINAL,
    )
    if snap.terminal:
        snap.bestTrial = best_trial(job)
        snap.outputs = job_outputs(job, request_outputs)
        if azure != "Completed":
            snap.error = classify_failure(job, objective_metric=objective_metric).to_dict()
    elif azure in STALLED:
        snap.error = classify_failure(job, objective_metric=objective_metric).to_dict()
    return snap.to_dict()
