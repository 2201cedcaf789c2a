"""An Azure ML job's status as a value: what it is, whether it is over, how far along.

Like Databricks' `RunState` or Data Factory's `PipelineRunStatus` in the Airflow providers:
one type answers "terminal?", "stalled?" and "later than?", so no module keeps its own
set of status strings. Members are strings (StrEnum), so they compare equal to the
JSON text the service sends and the orchestration state stores.
"""

from __future__ import annotations

from typing import Any

from compat import StrEnum


class JobStatus(StrEnum):
    """`JobStatus` of the Azure ML jobs API (2024-10-01), in the service's PascalCase."""

    NOT_STARTED = "NotStarted"
    STARTING = "Starting"
    PROVISIONING = "Provisioning"
    PREPARING = "Preparing"
    QUEUED = "Queued"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    CANCEL_REQUESTED = "CancelRequested"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"
    NOT_RESPONDING = "NotResponding"
    PAUSED = "Paused"
    UNKNOWN = "Unknown"

    @classmethod
    def parse(cls, value: Any) -> JobStatus | None:
        """The status for any casing (`running`, and the British `Cancelled`), None if unknown."""
        if not isinstance(value, str):
            return None
        return _BY_LOWER.get(value.strip().lower())

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_stalled(self) -> bool:
        return self in STALLED

    @property
    def rank(self) -> int:
        """Order of progress (higher = later), to ignore out-of-order events. Stalled states
        sit beside Running: a later real status always wins."""
        return _RANK[self]


_BY_LOWER = {s.value.lower(): s for s in JobStatus} | {"cancelled": JobStatus.CANCELED}

TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})
# The SDK calls these terminal; we keep polling them, bounded by SWEEP_STALLED_LIMIT_SECONDS.
STALLED = frozenset({JobStatus.NOT_RESPONDING, JobStatus.PAUSED, JobStatus.UNKNOWN})

_RANK = {
    JobStatus.NOT_STARTED: 0,
    JobStatus.STARTING: 1,
    JobStatus.PROVISIONING: 2,
    JobStatus.PREPARING: 3,
    JobStatus.QUEUED: 4,
    JobStatus.RUNNING: 5,
    JobStatus.NOT_RESPONDING: 5,
    JobStatus.PAUSED: 5,
    JobStatus.UNKNOWN: 5,
    JobStatus.FINALIZING: 6,
    JobStatus.CANCEL_REQUESTED: 7,
    JobStatus.COMPLETED: 8,
    JobStatus.FAILED: 8,
    JobStatus.CANCELED: 8,
}


def rank(value: Any) -> int:
    """The rank of a status given as text (any casing); -1 for anything that is not one."""
    status = JobStatus.parse(value)
    return -1 if status is None else status.rank
