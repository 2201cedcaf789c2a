"""Reading a request before acting on it: its signature (when `WEBHOOK_SECRET` is set),
checked before the body is even parsed, and its JSON body within the size limit."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from foundry.errors import FieldError, RequestValidationError
from foundry.names import validate_instance_id
from runtime import services
from triggers.http.responses import problem
from triggers.http.signing import verify

log = logging.getLogger("triggers.http")

MAX_BODY_BYTES = 1_000_000


class BodyTooLarge(RequestValidationError):
    """413 Payload Too Large: the body is over the limit (read, but not parsed)."""

    default_code = "BodyTooLarge"
    default_status = 413


def signature_problem(req: func.HttpRequest) -> func.HttpResponse | None:
    """None when signing is off or the request is signed and fresh; else the 401 to answer."""
    secret = services.settings().webhook_secret
    if not secret:
        return None
    path = urlsplit(req.url).path
    reason = verify(
        secret, req.method, path, dict(req.params), req.get_body() or b"", dict(req.headers), time.time()
    )
    if reason is None:
        return None
    log.warning("rejected %s %s: %s", req.method, path[:200], reason)
    return problem(
        401,
        "InvalidSignature",
        reason,
        "Sign timestamp, method, path, query and body with WEBHOOK_SECRET (docs/reliability-and-security.md, 'Signed requests').",
    )


def read_json(req: func.HttpRequest) -> Any:
    """The body as JSON ({} when empty); a 413 when too large, a 400 when not JSON."""
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge(
            [FieldError("body", f"The body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} bytes.")],
            message=f"The body is larger than {MAX_BODY_BYTES} bytes.",
        )
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise RequestValidationError(
            [FieldError("body", "The body is not valid JSON: send a JSON object.")]
        ) from None


def instance_id_of(req: func.HttpRequest) -> str:
    """The `{instanceId}` of the route, validated before it reaches the Durable API."""
    return validate_instance_id(req.route_params.get("instanceId", ""))
