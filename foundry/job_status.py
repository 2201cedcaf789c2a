"""Azure ML job status -> Polysync status, ordering, and failure classification.

Pure functions: the orchestrator decides *when* to poll, this module decides
what a status means and what a user should do about a failure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ALL_STATUSES = (
    "NotStarted",
    "Starting",
    "Provisioning",
    "Preparing",
    "Queued",
    "Running",
    "Finalizing",
    "CancelRequested",
    "Completed",
    "Failed",
    "Canceled",
    "NotResponding",
    "Paused",
    "Unknown",
)
_CANONICAL = {s.lower(): s for s in ALL_STATUSES}
_CANONICAL["cancelled"] = "Canceled"

POLYSYNC_STATUS: dict[str, str] = {
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
}
TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
# The SDK calls these terminal; we keep polling them, bounded by SWEEP_STALLED_LIMIT_SECONDS.
STALLED = frozenset({"NotResponding", "Paused", "Unknown"})

_RANK = {
    "NotStarted": 0,
    "Starting": 1,
    "Provisioning": 2,
    "Preparing": 3,
    "Queued": 4,
    "Running": 5,
    "Finalizing": 6,
    "CancelRequested": 7,
    "Completed": 8,
    "Failed": 8,
    "Canceled": 8,
}
_STALLED_RANK = 5  # stalled states sit beside Running: a later real status always wins


def canonical_status(value: Any) -> str | None:
    """PascalCase Azure ML status for any casing (`running` -> `Running`), None if unknown."""
    if not isinstance(value, str):
        return None
    return _CANONICAL.get(value.strip().lower())


def to_polysync(azure_status: str | None) -> str:
    """Polysync status per facts.md; anything unmapped is `Unknown`."""
    return POLYSYNC_STATUS.get(canonical_status(azure_status) or "", "Unknown")


def rank(azure_status: str | None) -> int:
    """Order of progress, to ignore out-of-order events (higher = later). Unknown values: -1."""
    status = canonical_status(azure_status)
    if status is None:
        return -1
    if status in STALLED:
        return _STALLED_RANK
    return _RANK[status]


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    hint: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


HINT_ROLE = "Grant the function app's managed identity the 'AzureML Data Scientist' role on the workspace."
HINT_MONITOR = "Open the Monitor URL in Azure ML studio to see the sweep's and its trials' logs."


def _error_texts(job: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """(code, message, all error text lower-cased) from `properties.error` and `properties.properties`."""
    props = job.get("properties") if isinstance(job, dict) else None
    props = props if isinstance(props, dict) else {}
    code: str | None = None
    message: str | None = None
    texts: list[str] = []
    err = props.get("error")
    stack: list[tuple[Any, int]] = [(err, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict) or depth > 6:
            continue
        c, m = node.get("code"), node.get("message")
        if isinstance(c, str):
            code = code or c
            texts.append(c)
        if isinstance(m, str):
            message = message or m
            texts.append(m)
        details = node.get("details")
        if isinstance(details, list):
            stack.extend((d, depth + 1) for d in details[:20])
        inner = node.get("innerError")
        if isinstance(inner, dict):
            stack.append((inner, depth + 1))
    user_props = props.get("properties")
    if isinstance(user_props, dict):
        for key, value in user_props.items():
            if isinstance(key, str) and "error" in key.lower() and isinstance(value, str):
                texts.append(value)
                message = message or value
    return code, message, " ".join(texts).lower()


def _mentions_missing(text: str, thing: str) -> bool:
    if thing not in text:
        return False
    return any(
        w in text for w in ("not found", "notfound", "does not exist", "could not be found", "not exist")
    )


def classify_failure(job: dict[str, Any], *, objective_metric: str | None) -> Failure:
    """An actionable Failure for a failed, cancelled or stalled sweep job."""
    props = job.get("properties") if isinstance(job, dict) else None
    props = props if isinstance(props, dict) else {}
    status = canonical_status(props.get("status")) or "Unknown"
    code, message, text = _error_texts(job)
    metric = objective_metric or (
        (props.get("objective") or {}).get("primaryMetric")
        if isinstance(props.get("objective"), dict)
        else None
    )

    if "primarymetricnotfound" in text or ("primary metric" in text and "not found" in text):
        return Failure(
            "PrimaryMetricNotFound",
            message or f"The trials never logged the objective metric '{metric}'.",
            f"The objective metric '{metric}' does not match what the trial logs. Align the "
            "'AI Foundry Objective Metric' attribute with the exact key the training script logs "
            '(mlflow.log_metric("<name>", ...)).',
        )
    if "notrialscompleted" in text or "no trials" in text or "all trials failed" in text:
        return Failure(
            "NoTrialsCompleted",
            message or "No trial of the sweep completed: every trial failed.",
            "Every trial failed: open the Monitor URL, pick one trial and inspect its logs "
            "(user_logs/std_log.txt).",
        )
    if "authorization" in text or "forbidden" in text or "unauthorized" in text:
        return Failure(code or "AuthorizationFailed", message or "Access was denied.", HINT_ROLE)
    if _mentions_missing(text, "compute"):
        return Failure(
            "ComputeNotFound",
            message or "The compute target was not found.",
            "Set the 'AI Foundry Compute Name' attribute to an existing compute cluster in the workspace.",
        )
    if _mentions_missing(text, "environment"):
        return Failure(
            "EnvironmentNotFound",
            message or "The environment was not found.",
            "Set the 'AI Foundry Environment Name' attribute to an existing environment "
            "('name:version' or 'name@latest').",
        )
    if status == "Canceled":
        return Failure(code or "Canceled", message or "The sweep job was canceled.", None)
    if status in STALLED:
        return Failure(
            "SweepStalled",
            message or f"The sweep job stayed in status {status} for too long.",
            f"Azure ML reports the job as {status}: check the compute cluster's health and quota, "
            "then open the Monitor URL; cancel and rerun if it does not recover.",
        )
    return Failure(code or "SweepFailed", message or f"The sweep job ended {status}.", HINT_MONITOR)


def failure_for_error(error: Any, *, template: str | None = None) -> Failure:
    """A Failure for an exception raised while talking to Azure ML (template GET, PUT ...)."""
    from foundry.errors import AuthError, FoundryError, NotFoundError  # local: keep module pure

    if isinstance(error, NotFoundError) and template is not None:
        return Failure(
            "TemplateNotFound",
            f"No job named '{template}' in the workspace.",
            "Set the Polysync job's External Id to the name of an existing Sweep job.",
        )
    if isinstance(error, AuthError):
        return Failure(error.code, error.message, error.hint or HINT_ROLE)
    if isinstance(error, FoundryError):
        return Failure(error.code, error.message, error.hint)
    return Failure("InternalError", type(error).__name__, HINT_MONITOR)
