"""How the sweep ends, as Azure ML reports it. Pure: trial records in, outcome out.

- The best trial is the one with the best *best* primary-metric value (azureml-train-core
  `HyperDriveRun.get_children_sorted_by_primary_metric` ranks children by their "best primary
  metric"; `get_best_run_by_primary_metric` includes failed and canceled children by default),
  ties going to the earlier trial. It goes into `properties.properties` as
  `best_child_run_id`, `score` and `best_metric_status`, the keys the service writes.
- No trial Completed (every one failed) -> Failed, NoTrialsCompleted, pointing at a failed
  trial's `user_logs/std_log.txt` (the product spec: "open ... a single trial's logs").
- Trials completed but none logged the objective metric -> Failed, PrimaryMetricNotFound, naming
  the metrics the trials did log (the product spec: "align the Objective Metric ... with the
  actual MLflow metric key").
- Cancelled, or `limits.timeout` reached -> Canceled ("Once this limit is reached the system
  will cancel the sweep job, including all its trials", how-to v2), best so far still recorded.

The error object has the shape the workspace emulator gives `properties.error`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .records import CANCELED, COMPLETED, FAILED, TrialRecord


@dataclass
class SweepOutcome:
    status: str  # Completed | Failed | Canceled
    best_trial: str | None
    best_score: float | None
    error: dict[str, Any] | None
    properties: dict[str, str]
    logged_metrics: list[str]
    cancel_reason: str | None = None
    trials: list[TrialRecord] = field(default_factory=list)
    run_dir: Path | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    report: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def job_update(self) -> dict[str, Any]:
        """What the sweep job resource takes from this outcome: `status`, the `properties.properties`
        entries to merge, and `error` (None when Completed)."""
        return {"status": self.status, "properties": dict(self.properties), "error": self.error}

    def as_dict(self, *, maximize: bool, redact: frozenset[str] = frozenset()) -> dict[str, Any]:
        return {
            "status": self.status,
            "bestTrial": self.best_trial,
            "bestScore": self.best_score,
            "properties": self.properties,
            "error": self.error,
            "cancelReason": self.cancel_reason,
            "loggedMetrics": self.logged_metrics,
            "runDir": str(self.run_dir) if self.run_dir else None,
            "outputs": self.outputs,
            "report": str(self.report) if self.report else None,
            "warnings": self.warnings,
            "trials": [t.as_dict(maximize=maximize, redact=redact) for t in self.trials],
        }


def _user_error(code: str, message: str, target: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": code, "message": message}
    if target:
        detail["target"] = target
    return {"code": "UserError", "message": message, "details": [detail]}


def best_trial(trials: Iterable[TrialRecord], maximize: bool) -> TrialRecord | None:
    scored = [t for t in trials if t.primary]
    if not scored:
        return None
    sign = 1 if maximize else -1
    return max(scored, key=lambda t: (sign * (t.best(maximize) or 0.0), -t.index))


def decide(
    trials: list[TrialRecord],
    *,
    maximize: bool,
    primary_metric: str,
    logged: Mapping[str, Iterable[str]],
    cancel_reason: str | None = None,
) -> SweepOutcome:
    """`logged` maps each trial name to the metric names it logged."""
    names = sorted({key for keys in logged.values() for key in keys})
    best = best_trial(trials, maximize)
    properties: dict[str, str] = {}
    best_score = best.best(maximize) if best else None
    if best is not None and best_score is not None:
        properties = {
            "best_child_run_id": best.name,
            "score": repr(float(best_score)),
            "best_metric_status": "Succeeded",
        }
    outcome = SweepOutcome(
        status=COMPLETED,
        best_trial=best.name if best else None,
        best_score=best_score,
        error=None,
        properties=properties,
        logged_metrics=names,
        cancel_reason=cancel_reason,
        trials=list(trials),
    )
    if cancel_reason is not None:
        outcome.status = CANCELED
        return outcome
    completed = [t for t in trials if t.status == COMPLETED]
    if not completed:
        failed = [t for t in trials if t.status == FAILED]
        canceled = [t for t in trials if t.status == CANCELED]
        first = (failed or canceled or [None])[0]
        where = ""
        if first is not None:
            how = f"exit code {first.exit_code}" if first.status == FAILED else first.stop_reason
            where = f" Open the log of trial {first.name} ({how}): {first.log_path}"
        msg = (
            f"No trials completed successfully: of {len(trials)} trials, {len(failed)} failed and "
            f"{len(canceled)} were canceled (NoTrialsCompleted).{where}"
        )
        outcome.status = FAILED
        outcome.error = _user_error("NoTrialsCompleted", msg)
        return outcome
    if best is None:
        msg = (
            f"Sweep job failed: the primary metric '{primary_metric}' was not logged by any trial "
            f"(PrimaryMetricNotFound). Metrics logged by the trials: {', '.join(names) or 'none'}."
        )
        outcome.status = FAILED
        outcome.error = _user_error("PrimaryMetricNotFound", msg, "objective.primaryMetric")
        return outcome
    return outcome
