from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from foundry.errors import (
    AuthError,
    BadRequestError,
    ConflictError,
    FieldError,
    FoundryError,
    NotFoundError,
    RequestValidationError,
    TemplateError,
    ThrottledError,
    TransientError,
    from_response,
)


@dataclass
class Resp:
    status_code: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)


def arm(code: str, message: str, **extra: object) -> str:
    return json.dumps({"error": {"code": code, "message": message, **extra}})


def test_foundry_error_to_dict_and_defaults() -> None:
    err = FoundryError("boom", code="X", hint="do y")
    assert err.to_dict() == {"code": "X", "message": "boom", "hint": "do y"}
    assert err.status == 500
    assert TemplateError("t").status == 422
    assert TemplateError("t").code == "InvalidTemplate"


def test_request_validation_error_lists_fields() -> None:
    err = RequestValidationError([FieldError("a", "fix a"), FieldError("parameters[2].value", "fix b")])
    d = err.to_dict()
    assert err.status == 400 and d["code"] == "InvalidRequest"
    assert d["errors"] == [
        {"field": "a", "message": "fix a"},
        {"field": "parameters[2].value", "message": "fix b"},
    ]
    assert "parameters[2].value" in d["message"]


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (404, arm("ResourceNotFound", "Job x not found"), NotFoundError, "ResourceNotFound"),
        (401, arm("InvalidAuthenticationToken", "expired"), AuthError, "InvalidAuthenticationToken"),
        (403, arm("AuthorizationFailed", "no access"), AuthError, "AuthorizationFailed"),
        (429, arm("TooManyRequests", "slow down"), ThrottledError, "TooManyRequests"),
        (503, "<html>Service Unavailable</html>", TransientError, "Http503"),
        (500, "", TransientError, "Http500"),
        (409, arm("Conflict", "busy"), ConflictError, "Conflict"),
        (400, arm("BadArgument", "bad compute"), BadRequestError, "BadArgument"),
    ],
)
def test_from_response_classes(status: int, body: str, cls: type, code: str) -> None:
    err = from_response(Resp(status, body))
    assert type(err) is cls
    assert err.code == code
    assert err.status == status


def test_from_response_job_property_immutable_is_conflict() -> None:
    body = arm(
        "UserError",
        "A job with this name already exists and its definition cannot be changed.",
        target="properties",
        details=[{"code": "JobPropertyImmutable", "message": "trial cannot be changed"}],
        additionalInfo=[{"type": "ComponentName", "info": {"value": "managementfrontend"}}],
    )
    err = from_response(Resp(400, body))
    assert isinstance(err, ConflictError)
    assert err.code == "UserError" and err.target == "properties"
    assert err.details[0]["code"] == "JobPropertyImmutable"
    assert any("additionalInfo" in d for d in err.details)


def test_inner_code_alone_makes_conflict() -> None:
    body = arm(
        "UserError", "invalid", details=[{"code": "Other", "innerError": {"code": "JobPropertyImmutable"}}]
    )
    assert isinstance(from_response(Resp(400, body)), ConflictError)


def test_auth_hints_name_role_and_identity() -> None:
    assert "AzureML Data Scientist" in (from_response(Resp(403, arm("AuthorizationFailed", "no"))).hint or "")
    hint401 = from_response(Resp(401, "")).hint or ""
    assert "token" in hint401.lower() and "AZURE_CLIENT_ID" in hint401


def test_from_response_tolerates_garbage() -> None:
    for text in ["not json", "[1,2]", '{"error": "flat string"}', "[" * 5000, ""]:
        err = from_response(Resp(400, text))
        assert isinstance(err, BadRequestError)
        assert err.message
