"""Azure ML status -> Polysync status (facts.md)."""

from __future__ import annotations

import pytest

from foundry.job_status import JobStatus
from polysync.status import to_polysync

MAPPING = {
    "NotStarted": "Starting",
    "Starting": "Starting",
    "Provisioning": "Starting",
    "Preparing": "Starting",
    "Queued": "Starting",
    "Running": "Running",
    "Finalizing": "Running",
    "Completed": "Success",
    "Failed": "Failed",
    "Canceled": "Cancelled",
    "CancelRequested": "Unknown",
    "NotResponding": "Unknown",
    "Paused": "Unknown",
    "Unknown": "Unknown",
}


@pytest.mark.parametrize(("azure", "polysync"), MAPPING.items())
def test_status_mapping_table(azure: str, polysync: str) -> None:
    assert to_polysync(azure) == polysync
    assert to_polysync(azure.lower()) == polysync


def test_unmapped_values() -> None:
    assert to_polysync(None) == "Unknown" and to_polysync("Exploded") == "Unknown"
    assert set(MAPPING) == set(JobStatus)
