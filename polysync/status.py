"""What Polysync is told a run's status is, from the Azure ML job's (facts.md mapping)."""

from __future__ import annotations

from typing import Any

from compat import StrEnum
from foundry.job_status import JobStatus


class PolysyncStatus(StrEnum):
    """The statuses Polysync understands for a run."""

    STARTING = "Starting"
    RUNNING = "Running"
    SUCCESS = "Success"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    UNKNOWN = "Unknown"


_MAPPING: dict[JobStatus, PolysyncStatus] = {
    JobStatus.NOT_STARTED: PolysyncStatus.STARTING,
    JobStatus.STARTING: PolysyncStatus.STARTING,
    JobStatus.PROVISIONING: PolysyncStatus.STARTING,
    JobStatus.PREPARING: PolysyncStatus.STARTING,
    JobStatus.QUEUED: PolysyncStatus.STARTING,
    JobStatus.RUNNING: PolysyncStatus.RUNNING,
    JobStatus.FINALIZING: PolysyncStatus.RUNNING,
    JobStatus.COMPLETED: PolysyncStatus.SUCCESS,
    JobStatus.FAILED: PolysyncStatus.FAILED,
    JobStatus.CANCELED: PolysyncStatus.CANCELLED,
}


def to_polysync(azure_status: Any) -> PolysyncStatus:
    """The Polysync status of an Azure ML status (any casing); anything unmapped is Unknown."""
    return _MAPPING.get(JobStatus.parse(azure_status), PolysyncStatus.UNKNOWN)  # type: ignore[arg-type]
