"""A sweep's trial progress from its child runs, as the run-history data plane lists them.

Azure ML keeps a sweep's trials as child runs of the sweep's run; the azure-ai-ml SDK lists
them with `jobs.list(parent_job_name=...)`, which is `GET {api}/history/v1.0/.../runs/{id}/children`
on the workspace's data plane (`RunOperations.get_run_children`, model `PaginatedRunList` of
`Run`). A `Run` carries its `status` but no metric values (those live in the metrics
service, one call per trial): the best score comes from the sweep's own properties
(`best_child_run_id`, `score`), which the status GET already reads.

Pure: counts from the runs a listing returned, small enough for customStatus.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from foundry.job_status import JobStatus

# What Polysync operators ask of a running sweep: how many trials finished, run, failed.
_DONE = frozenset({JobStatus.COMPLETED})
_RUNNING = frozenset({JobStatus.RUNNING, JobStatus.FINALIZING})
_FAILED = frozenset({JobStatus.FAILED, JobStatus.NOT_RESPONDING})
_CANCELLED = frozenset({JobStatus.CANCELED, JobStatus.CANCEL_REQUESTED})


def _bucket(raw: Any) -> str:
    status = JobStatus.parse(raw) if isinstance(raw, str) else None
    if status in _DONE:
        return "done"
    if status in _RUNNING:
        return "running"
    if status in _FAILED:
        return "failed"
    if status in _CANCELLED:
        return "cancelled"
    return "queued"  # NotStarted, Queued, Preparing, Starting, Provisioning, Paused, unknown


COUNTS = ("total", "done", "running", "queued", "failed", "cancelled")


def count_trials(runs: Iterable[dict[str, Any]], *, complete: bool = True) -> dict[str, Any]:
    """Trials by what they are doing: `done`, `running`, `queued`, `failed`, `cancelled` and
    `total`; `complete` False when the listing stopped at its cap (the counts are a floor)."""
    counts: dict[str, Any] = dict.fromkeys(COUNTS, 0)
    seen: set[str] = set()
    for run in runs:
        if not isinstance(run, dict):
            continue
        run_id = run.get("runId")
        if isinstance(run_id, str):
            if run_id in seen:  # a page boundary that moved between pages: count each trial once
                continue
            seen.add(run_id)
        counts["total"] += 1
        counts[_bucket(run.get("status"))] += 1
    counts["partial"] = not complete
    return counts


def progress(counts: dict[str, Any], best_trial: dict[str, Any] | None, as_of: str) -> dict[str, Any]:
    """The customStatus `trials` entry: counts, the best trial the service named (id and
    score only), and when the counts were read."""
    summary: dict[str, Any] = {key: int(counts.get(key) or 0) for key in COUNTS}
    if counts.get("partial"):
        summary["partial"] = True
    best = None
    if isinstance(best_trial, dict) and best_trial.get("runId"):
        best = {"trial": str(best_trial["runId"])[:260], "score": best_trial.get("score")}
    summary["best"] = best
    summary["asOf"] = as_of
    return summary
