"""Small helpers for JSON HTTP answers, so every route speaks the same shape."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from foundry.errors import FoundryError
from runtime.secrets import SettingError


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str),
        status_code=status,
        mimetype="application/json",
        headers=headers or {},
    )


def error_response(error: FoundryError, status: int | None = None) -> func.HttpResponse:
    return json_response(status or error.status or 500, {"error": error.to_dict()})


def problem(status: int, code: str, message: str, hint: str | None = None) -> func.HttpResponse:
    return json_response(status, {"error": {"code": code, "message": message, "hint": hint}})


def setting_problem(error: SettingError) -> func.HttpResponse:
    """A 500 naming the app setting to fix, instead of the host's bare 500: the caller cannot fix
    it, but whoever reads the answer learns what the operator must do. Never the setting's value."""
    body = {
        "error": {"code": error.code, "message": str(error), "hint": _SETTING_HINT, "setting": error.setting}
    }
    return json_response(500, body)


_SETTING_HINT = "An app setting of the function app needs fixing (docs/deploy.md); nothing was started."


def not_found(instance_id: str) -> func.HttpResponse:
    return problem(404, "InstanceNotFound", f"No sweep run with instance id '{instance_id}'.")
