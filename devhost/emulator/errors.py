"""ARM-shaped errors."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An error answered as `{"error": {"code", "message", "target"?, "details", "additionalInfo"}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        inner_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details or []
        self.inner_code = inner_code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            err["target"] = self.target
        err["details"] = self.details
        err["additionalInfo"] = []
        if self.inner_code:
            # Azure ML's MFE adds a nested innerError next to the ARM fields.
            err["innerError"] = {"code": self.inner_code}
        return {"error": err}


def user_error(message: str, *, target: str | None = None, inner_code: str | None = None) -> ArmError:
    details = []
    if inner_code:
        details.append({"code": inner_code, "message": message, "target": target, "details": []})
    return ArmError(400, "UserError", message, target=target, details=details, inner_code=inner_code)
