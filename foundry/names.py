"""Names that end up in ARM URLs, and the deterministic names derived from runs.

Every name taken from a request passes through here before it can enter a URL,
so nothing a caller sends can change an ARM path (`../x`, `%2F`, query strings).
Derived names are deterministic so that retries and duplicate deliveries land on
the same durable instance and the same Azure ML job (idempotency).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from typing import Any

from foundry.errors import FieldError, FoundryError, RequestValidationError

JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")
INSTANCE_ID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,99}$")
INSTANCE_PREFIX = "ps-"
_HASH_LEN = 16


def _check(value: Any, field: str, pattern: re.Pattern[str], max_len: int, what: str) -> str:
    if value is None or value == "":
        raise RequestValidationError([FieldError(field, f"{field} is required: give {_a(what)}.")])
    if not isinstance(value, str):
        raise RequestValidationError(
            [FieldError(field, f"{field} must be text ({_a(what)}), not {json_type(value)}.")]
        )
    if len(value) > max_len:
        raise RequestValidationError(
            [FieldError(field, f"{field} is {len(value)} characters long; the limit is {max_len}.")]
        )
    if not pattern.fullmatch(value):
        raise RequestValidationError(
            [
                FieldError(
                    field,
                    f"{field} must start with a letter or digit and contain only letters, digits, "
                    f"'-' and '_' ({what}).",
                )
            ]
        )
    return value


def _a(what: str) -> str:
    return f"{'an' if what[:1].lower() in 'aeiou' else 'a'} {what}"


def json_type(value: Any) -> str:
    """How a JSON reader would name the type of `value` (for "must be text, not a number")."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text" if isinstance(value, str) else "null"


def validate_job_name(value: Any, field: str = "name") -> str:
    """Return `value` if it is a valid Azure ML job name, else raise naming `field`."""
    return _check(value, field, JOB_NAME_RE, 255, "Azure ML job name")


def validate_instance_id(value: Any, field: str = "instanceId") -> str:
    """Return `value` if it is a safe durable instance id (same charset, max 100)."""
    return _check(value, field, INSTANCE_ID_RE, 100, "run instance id")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def job_name_for(instance_id: str, template: str) -> str:
    """The Azure ML job name for a run: `{template}-{hash(instance_id)}`.

    The hash comes from the instance id alone, so two instances never collide even
    with the same template, and a retried submit targets the same job. The format
    (characters outside `[a-zA-Z0-9-_]` -> `-`, cut at 200, `-`/`_` trimmed, `sweep` if
    nothing is left, then `-` and 16 hex digits of SHA-256) must never change: a run
    retried across a deploy would get another job name and start a second sweep.
    The prefix starts with an ASCII letter or digit (the trim leaves nothing else),
    so the name is a valid job name.
    """
    prefix = re.sub(r"[^a-zA-Z0-9\-_]", "-", template or "")[:200].strip("-_") or "sweep"
    return f"{prefix}-{_digest(instance_id)[:_HASH_LEN]}"


def is_job_of_instance(job_name: str, instance_id: str) -> bool:
    """Whether `job_name` is the job `job_name_for` gives `instance_id` (whatever the
    template): its name ends with the instance's hash. A sweep's trial (`{job}_{k}`) is not."""
    return job_name.endswith("-" + _digest(instance_id)[:_HASH_LEN])


def instance_id_for(run_id: str | None, template: str, key: str | None) -> str:
    """The durable instance id: a keyed hash of template and `runId` (idempotency key), or fresh.

    Same runId and template -> same instance id, so Polysync retrying a start does not
    start a second sweep. The hash is keyed with `INSTANCE_ID_KEY` (generated at deploy)
    so nobody outside the app can compute a run's id from its runId and cancel or read it.
    Without a runId every start is new (a random id).
    """
    if not run_id:
        return INSTANCE_PREFIX + uuid.uuid4().hex
    if not key:
        raise FoundryError(
            "INSTANCE_ID_KEY is not set, so run ids cannot be derived from runId safely.",
            code="SettingMissing",
            hint="Set the INSTANCE_ID_KEY app setting to a long random value (the deployment generates one).",
            status=500,
        )
    message = f"{template}\n{run_id}".encode()
    return INSTANCE_PREFIX + hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()[:40]
