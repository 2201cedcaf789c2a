"""The request as the orchestration input carries it (`RunRequest.to_payload`), read without
pydantic: what a run needs of it while it waits (the outputs to report, the metric a hint
names) and when it ends (its Secret values' Key Vault identifiers)."""

from __future__ import annotations

from typing import Any

from contracts import OutputParameter, StatusQuery
from polysync.request.types import OUTPUT_DIRECTIONS, DataType

_OUTPUT_DIRECTIONS = {d.value for d in OUTPUT_DIRECTIONS}


def _parameters(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in payload.get("parameters") or [] if isinstance(p, dict)]


def status_query(job_name: str, payload: dict[str, Any]) -> StatusQuery:
    """`get_job_status`'s input: the Output and Input&Output parameters, and the objective metric."""
    outputs = tuple(
        OutputParameter(p["name"], p.get("dataType") == DataType.SECRET.value, p.get("value"))
        for p in _parameters(payload)
        if p.get("direction") in _OUTPUT_DIRECTIONS
    )
    return StatusQuery(job_name, outputs, (payload.get("attributes") or {}).get("objectiveMetric"))


def secret_references(payload: dict[str, Any]) -> list[str]:
    """The Key Vault identifiers of the run's Secret Inputs (erased when it ends)."""
    return [p["value"] for p in _parameters(payload) if p.get("keyVaultSecret")]
