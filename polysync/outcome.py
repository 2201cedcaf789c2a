"""What a poll reports: the Polysync view of one GET of the sweep job. Pure."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

from contracts import JobSnapshot, OutputParameter
from foundry.job_status import JobStatus
from foundry.jobs import JobView
from foundry.monitor import monitor_url
from foundry.workspace import Workspace
from polysync.failures import classify_failure
from polysync.status import to_polysync

MASK = "***"


def best_trial(job: JobView) -> dict[str, Any] | None:
    """`properties.properties.best_child_run_id/score/best_metric_status`, when the service set them."""
    user = job.run_properties
    run_id = user.get("best_child_run_id")
    if not run_id:
        return None
    score: float | None
    try:
        score = float(user.get("score"))  # type: ignore[arg-type]
        if not math.isfinite(score):
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


def job_outputs(job: JobView, declared: Sequence[OutputParameter]) -> dict[str, Any]:
    """Output values by name. With no declared outputs (flat requests) every job output is echoed."""
    outputs = job.outputs
    if not declared:
        return {k: _output_value(v) for k, v in outputs.items() if isinstance(k, str)}
    result: dict[str, Any] = {}
    for param in declared:
        if param.secret:
            result[param.name] = MASK
        elif param.name in outputs:
            result[param.name] = _output_value(outputs[param.name])
        else:
            result[param.name] = copy.deepcopy(param.echo)  # Input&Output without a job output: its input
    return result


def snapshot(
    job: dict[str, Any],
    workspace: Workspace,
    outputs: Sequence[OutputParameter],
    objective_metric: str | None,
) -> JobSnapshot:
    """What a job GET means to Polysync: statuses, monitor URL, and on terminal states the
    best trial, outputs and (unless Completed) an actionable error."""
    view = JobView.from_rest(job)
    return _snapshot(view, monitor_url(workspace, view.name, view.studio_endpoint), outputs, objective_metric)


def listed_snapshot(
    job: dict[str, Any],
    known_monitor_url: str | None,
    outputs: Sequence[OutputParameter],
    objective_metric: str | None,
) -> JobSnapshot:
    """`snapshot` of the part of a job the sweep watcher listed (foundry.watch.WatchedJob.ending),
    computed inside the orchestrator (pure, no settings): the monitor URL is the job's studio
    endpoint, else the one the run already reports."""
    view = JobView.from_rest(job)
    return _snapshot(view, view.studio_endpoint or known_monitor_url or "", outputs, objective_metric)


def _snapshot(
    view: JobView, url: str, outputs: Sequence[OutputParameter], objective_metric: str | None
) -> JobSnapshot:
    azure = view.status or JobStatus.UNKNOWN
    common = {
        "azure_status": azure.value,
        "status": to_polysync(azure).value,
        "job_name": view.name,
        "monitor_url": url,
        "terminal": azure.is_terminal,
    }
    if azure.is_terminal:
        failed = azure is not JobStatus.COMPLETED
        return JobSnapshot(
            **common,
            best_trial=best_trial(view),
            outputs=job_outputs(view, outputs),
            error=classify_failure(view, objective_metric=objective_metric).to_dict() if failed else None,
        )
    # A running sweep's best trial, should the service have named one already (no extra call):
    # trial progress (customStatus.trials) shows it.
    if azure.is_stalled:
        return JobSnapshot(
            **common,
            best_trial=best_trial(view),
            error=classify_failure(view, objective_metric=objective_metric).to_dict(),
        )
    return JobSnapshot(**common, best_trial=best_trial(view))
