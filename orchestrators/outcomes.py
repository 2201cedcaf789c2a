"""An activity task's result, classified: ok, transient (Azure ML unreachable),
permanent, or failed (the activity raised).

A failed activity reaches the orchestrator as the SDK builds it from the
extension's TaskFailed event: `Exception(f"{Reason} \\n {Details}")`, Reason
`Activity function 'x' failed:  RuntimeError: ...` and Details the serialized
.NET exception (azure-functions-durable-extension TaskActivityShim.cs;
azure-functions-durable-python TaskOrchestrationExecutor.set_task_value). Users
see `failure_message`, never that JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestrators.reporting import run_error

_REASON = re.compile(r"Activity function '(?P<name>[^']*)' failed:\s*(?P<message>.*)", re.S)
_MAX_MESSAGE = 1000


def failure_message(exc: BaseException) -> str:
    """A readable message from an activity failure (the reason, without the serialized exception)."""
    reason = str(exc).split(" \n ", 1)[0].strip()
    match = _REASON.match(reason)
    if match:
        reason = f"{match.group('message').strip()} (in activity {match.group('name')})"
    return (reason or type(exc).__name__)[:_MAX_MESSAGE]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    transient: bool
    value: dict[str, Any]
    error: dict[str, Any] | None = None
    retry_after: float | None = None

    @classmethod
    def of(cls, task: Any) -> Outcome:
        result = task.result
        if isinstance(result, BaseException):
            error = run_error(
                "ActivityFailed",
                failure_message(result),
                "The connector's activity raised instead of answering: most often a missing or malformed "
                "app setting (see the message); otherwise see the function app's logs for this instance.",
            )
            return cls(ok=False, transient=False, value={}, error=error)
        if not isinstance(result, dict):
            error = run_error("ActivityFailed", f"The activity returned {type(result).__name__}.", None)
            return cls(ok=False, transient=False, value={}, error=error)
        if result.get("ok"):
            return cls(ok=True, transient=False, value=result)
        retry_after = result.get("retryAfter")
        return cls(
            ok=False,
            transient=bool(result.get("transient")),
            value=result,
            error=result.get("error"),
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
        )
