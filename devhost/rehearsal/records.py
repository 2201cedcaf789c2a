"""What the rehearsal knows about each trial and about the sweep so far. Plain data: the engine
fills it, the outcome, the report and (later) the emulator's child jobs read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .space import format_value

# Azure ML job statuses a trial goes through here.
NOT_STARTED, RUNNING, COMPLETED, FAILED, CANCELED = "NotStarted", "Running", "Completed", "Failed", "Canceled"
TRIAL_TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})
REDACTED = "***"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


@dataclass
class TrialRecord:
    name: str
    index: int
    params: dict[str, Any]
    work_dir: Path
    log_path: Path
    outputs: dict[str, Path]
    status: str = NOT_STARTED
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    primary: list[float] = field(default_factory=list)
    stop_reason: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    leftovers: list[int] = field(default_factory=list)

    def best(self, maximize: bool) -> float | None:
        if not self.primary:
            return None
        return max(self.primary) if maximize else min(self.primary)

    def shown_params(self, redact: frozenset[str]) -> dict[str, str]:
        """Parameter values as text, with redacted names (Secret parameters) masked."""
        return {k: REDACTED if k in redact else format_value(v) for k, v in self.params.items()}

    def as_dict(self, *, maximize: bool, redact: frozenset[str] = frozenset()) -> dict[str, Any]:
        return {
            "name": self.name,
            "index": self.index,
            "status": self.status,
            "params": self.shown_params(redact),
            "values": {k: REDACTED if k in redact else v for k, v in self.params.items()},
            "bestScore": self.best(maximize),
            "intervals": len(self.primary),
            "startedAt": _iso(self.started_at),
            "endedAt": _iso(self.ended_at),
            "exitCode": self.exit_code,
            "stopReason": self.stop_reason,
            "error": self.error,
            "warnings": list(self.warnings),
            "log": str(self.log_path),
            "workDir": str(self.work_dir),
            "outputs": {k: str(v) for k, v in self.outputs.items()},
        }


@dataclass(frozen=True)
class Progress:
    planned: int
    started: int
    running: int
    completed: int
    failed: int
    canceled: int
    best_trial: str | None
    best_score: float | None

    @property
    def done(self) -> int:
        return self.completed + self.failed + self.canceled

    def summary(self) -> str:
        best = f", best {self.best_score:.6g} ({self.best_trial})" if self.best_trial is not None else ""
        return (
            f"{self.done}/{self.planned} trials done ({self.completed} completed, {self.failed} failed, "
            f"{self.canceled} canceled), {self.running} running{best}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "started": self.started,
            "running": self.running,
            "done": self.done,
            "completed": self.completed,
            "failed": self.failed,
            "canceled": self.canceled,
            "bestTrial": self.best_trial,
            "bestScore": self.best_score,
        }
