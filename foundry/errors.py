"""Error types shared by every layer.

One hierarchy so that HTTP routes, activities and the orchestrator can answer
with the same `{"code", "message", "hint"}` shape, and so callers can tell a
permanent failure (bad request, not found, forbidden) from one worth retrying
(throttled, transient) by type alone.  Messages never carry secret values or
tokens: they are written into orchestration history and HTTP answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


class FoundryError(Exception):
    """Base error: a stable `code`, a human `message` and an actionable `hint`."""

    default_code: ClassVar[str] = "FoundryError"
    default_status: ClassVar[int | None] = 500

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        hint: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code: str = code or self.default_code
        self.message: str = message
        self.hint: str | None = hint
        self.status: int | None = status if status is not None else self.default_status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


@dataclass
class FieldError:
    """One bad field of a request: a path such as `parameters[2].value` and the fix."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class RequestValidationError(FoundryError):
    """The request is wrong; lists every bad field at once so one round trip fixes all."""

    default_code = "InvalidRequest"
    default_status = 400

    def __init__(self, errors: list[FieldError], *, message: str | None = None, hint: str | None = None):
        self.errors: list[FieldError] = list(errors)
        if message is None:
            fields = ", ".join(e.field for e in self.errors[:10])
            more = f" (+{len(self.errors) - 10} more)" if len(self.errors) > 10 else ""
            message = f"The request has {len(self.errors)} invalid field(s): {fields}{more}."
        super().__init__(
            message, hint=hint or "Fix the fields listed in 'errors' and send the request again."
        )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["errors"] = [e.to_dict() for e in self.errors]
        return out


class TemplateError(FoundryError):
    """The template job cannot be turned into a sweep (not a Sweep, lacks trial/objective)."""

    default_code = "InvalidTemplate"
    default_status = 422


class AzureMLError(FoundryError):
    """An error answered by (or on the way to) the Azure ML control plane."""

    default_code = "AzureMLError"
    default_status = 502

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        hint: str | None = None,
        status: int | None = None,
        target: str | None = None,
        details: list[Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, hint=hint, status=status)
        self.target = target
        self.details: list[Any] = list(details or [])
        # Seconds the service asked to wait (`Retry-After` of a 429/5xx), when it said.
        self.retry_after: float | None = None


class NotFoundError(AzureMLError):
    default_code = "NotFound"
    default_status = 404


class AuthError(AzureMLError):
    default_code = "AuthorizationFailed"
    default_status = 403


class ConflictError(AzureMLError):
    default_code = "JobPropertyImmutable"
    default_status = 409


class ThrottledError(AzureMLError):
    default_code = "TooManyRequests"
    default_status = 429


class TransientError(AzureMLError):
    default_code = "ServiceUnavailable"
    default_status = 503


class BadRequestError(AzureMLError):
    default_code = "BadRequest"
    default_status = 400


def template_not_found(name: str, cause: NotFoundError | None = None) -> NotFoundError:
    """The answer when the External Id names no job of the workspace."""
    return NotFoundError(
        cause.message if cause is not None else f"Could not find job '{name}' in the workspace.",
        code="TemplateNotFound",
        hint=f"No job named '{name}' in the workspace. Set the Polysync job's External Id to the "
        "name of an existing Sweep job (GET /api/templates lists them).",
        status=404,
    )


class _ResponseLike(Protocol):
    status_code: int
    text: str
    headers: Mapping[str, str]


HINT_403 = (
    "The function app's managed identity lacks permission: grant it the 'AzureML Data Scientist' "
    "role on the workspace (or Contributor)."
)
HINT_401 = (
    "The token was rejected: check the managed identity (AZURE_CLIENT_ID) and that the token is for "
    "https://management.azure.com in the workspace's tenant."
)
_MAX_TEXT = 2000


def _codes(node: Any, depth: int = 0) -> list[str]:
    """Every `code` in an ARM error tree (details / innerError), outermost first."""
    if depth > 8 or not isinstance(node, dict):
        return []
    out: list[str] = []
    code = node.get("code")
    if isinstance(code, str):
        out.append(code)
    for key in ("innerError", "innererror", "inner_error"):
        out.extend(_codes(node.get(key), depth + 1))
    details = node.get("details")
    if isinstance(details, list):
        for d in details[:20]:
            out.extend(_codes(d, depth + 1))
    return out


def parse_arm_error(status: int, text: str) -> dict[str, Any]:
    """The ARM `error` object of a body, or a synthetic one for non-JSON bodies."""
    body: Any = None
    try:
        body = json.loads(text) if text else None
    except (ValueError, RecursionError):
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return err
    snippet = (text or "").strip()[:300]
    return {"code": f"Http{status}", "message": snippet or f"HTTP {status} with no body"}


def from_response(resp: _ResponseLike) -> AzureMLError:
    """Turn a non-success HTTP answer into the matching AzureMLError subclass."""
    status = int(resp.status_code)
    err = parse_arm_error(status, getattr(resp, "text", "") or "")
    code = str(err.get("code") or f"Http{status}")[:200]
    message = str(err.get("message") or f"HTTP {status}")[:_MAX_TEXT]
    target = err.get("target") if isinstance(err.get("target"), str) else None
    details = err.get("details") if isinstance(err.get("details"), list) else []
    additional = err.get("additionalInfo")
    if isinstance(additional, list) and additional:
        details = [*details, {"additionalInfo": additional}]
    kwargs: dict[str, Any] = {"code": code, "status": status, "target": target, "details": details}
    codes = [c.lower() for c in _codes(err)]
    if status == 404:
        return NotFoundError(message, hint="Check the name; it must exist in the workspace.", **kwargs)
    if status in (401, 403):
        return AuthError(message, hint=HINT_401 if status == 401 else HINT_403, **kwargs)
    if status == 429:
        return ThrottledError(message, hint="Azure ML is throttling requests; retry later.", **kwargs)
    if status >= 500:
        return TransientError(message, hint="Azure ML answered with a server error; retry later.", **kwargs)
    if status == 409 or "jobpropertyimmutable" in codes or "already exists" in message.lower():
        return ConflictError(
            message,
            hint="A job with this name already exists with a different definition; use a new name.",
            **kwargs,
        )
    return BadRequestError(message, hint="Azure ML rejected the request; see the message.", **kwargs)
