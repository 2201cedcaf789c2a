"""Why a sweep did not succeed, in words a Polysync user can act on.

The jobs API (2024-10-01) has no error object on a job; the service's error, when there is
one (`properties.error`, which the emulator supplies), and the error-like entries of the
run properties are read, and the hint names the Polysync attribute to fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from foundry.job_status import JobStatus
from foundry.jobs import JobView

HINT_ROLE = "Grant the function app's managed identity the 'AzureML Data Scientist' role on the workspace."
HINT_MONITOR = "Open the Monitor URL in Azure ML studio to see the sweep's and its trials' logs."


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    hint: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _error_texts(job: JobView) -> tuple[str | None, str | None, str]:
    """(code, message, all error text lower-cased) from `properties.error` and the run properties."""
    code: str | None = None
    message: str | None = None
    texts: list[str] = []
    stack: list[tuple[Any, int]] = [(job.error, 0)]
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
    for key, value in job.run_properties.items():
        if isinstance(key, str) and "error" in key.lower() and isinstance(value, str):
            texts.append(value)
            message = message or value
    return code, message, " ".join(texts).lower()


def _mentions_missing(text: str, thing: str) -> bool:
    if thing not in text:
        return False
    return any(
        w in text
        for w in ("not found", "notfound", "could not be found", "not exist")  # "does not exist" too
    )


COMPUTE_HINT = (
    "Set the 'AI Foundry Compute Name' attribute to a compute of the workspace (Azure ML studio, "
    "Compute), or fix the template's compute."
)
ENVIRONMENT_HINT = (
    "Set the 'AI Foundry Environment Name' attribute to an existing environment ('name:version' or "
    "'name@latest'), or fix the template's environment."
)


def rejection(code: str, message: str, target: str | None) -> Failure | None:
    """Why Azure ML refused to create the sweep (a 400 to its PUT), naming the attribute to change
    when the refusal is about the compute or the environment; None otherwise."""
    text = f"{target or ''} {code} {message}".lower()
    # `ComputeNotFound` and `EnvironmentNotFound` codes read as "compute ... notfound"
    if "computeid" in text or _mentions_missing(text, "compute"):
        return Failure("ComputeNotFound", message, COMPUTE_HINT)
    if "environmentid" in text or _mentions_missing(text, "environment"):
        return Failure("EnvironmentNotFound", message, ENVIRONMENT_HINT)
    return None


def classify_failure(job: JobView, *, objective_metric: str | None) -> Failure:
    """An actionable Failure for a failed, cancelled or stalled sweep job."""
    status = job.status or JobStatus.UNKNOWN
    code, message, text = _error_texts(job)
    metric = objective_metric or job.section("objective").get("primaryMetric")

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
        return Failure("ComputeNotFound", message or "The compute target was not found.", COMPUTE_HINT)
    if _mentions_missing(text, "environment"):
        return Failure("EnvironmentNotFound", message or "The environment was not found.", ENVIRONMENT_HINT)
    if status is JobStatus.CANCELED:
        return Failure(code or "Canceled", message or "The sweep job was canceled.", None)
    if status.is_stalled:
        return Failure(
            "SweepStalled",
            message or f"The sweep job stayed in status {status} for too long.",
            f"Azure ML reports the job as {status}: check the compute cluster's health and quota, "
            "then open the Monitor URL; cancel and rerun if it does not recover.",
        )
    return Failure(code or "SweepFailed", message or f"The sweep job ended {status}.", HINT_MONITOR)
