"""What the Durable client says about an orchestration instance, read in one place: its
runtime status (the SDK hands an enum, a string or nothing, depending on the call) and
which runtime statuses mean it is over."""

from __future__ import annotations

from typing import Any

# Runtime statuses of an instance that will never act again (DTFx OrchestrationStatus).
FINISHED = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


def runtime_status(status: Any) -> str | None:
    """The `runtimeStatus` of a `DurableOrchestrationStatus` as text; None when there is none."""
    value = getattr(status, "runtime_status", None)
    return getattr(value, "value", value)
