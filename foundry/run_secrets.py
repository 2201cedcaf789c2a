"""Secret parameters: where their values go, and the names that point to them.

A Secret Input never enters orchestration state, history, the job definition or
any answer. The start route writes its value to the workspace's Key Vault as a
secret scoped to the run; everything downstream (orchestration input, the sweep's
search space) carries only that secret's identifier. A training script reads the
value with its compute identity (docs/reliability-and-security.md, "Security").

The secret's name is derived from the instance id, the parameter and a keyed
digest of the value: the same request always lands on the same name (an
idempotent retry writes nothing new), a different value never overwrites the name
a running run points to, and without `INSTANCE_ID_KEY` the digest says nothing
about the value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
from urllib.parse import urlsplit

# Tags on each run secret: the reconciler only deletes secrets of its own task hub
# whose name starts with the instance id the tag names.
INSTANCE_TAG = "polysync-instance-id"
TASK_HUB_TAG = "polysync-task-hub"
PARAMETER_TAG = "polysync-parameter"
CONTENT_TYPE = "polysync-run-secret"
_NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
_DIGEST_LEN = 16
_SLUG_LEN = 48


def run_secret_name(instance_id: str, parameter: str, value: str, key: str) -> str:
    """`{instance id}-{parameter slug}-{HMAC(key, instance, parameter, value)[:16]}`, a valid
    Key Vault secret name (letters, digits, '-', at most 127)."""
    slug = re.sub(r"[^0-9a-zA-Z]+", "-", parameter).strip("-")[:_SLUG_LEN].strip("-") or "p"
    message = "\n".join((instance_id, parameter, value)).encode("utf-8")
    digest = hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()[:_DIGEST_LEN]
    name = f"{instance_id}-{slug}-{digest}"
    if not _NAME_RE.fullmatch(name):
        raise ValueError("derived Key Vault secret name is invalid")
    return name


def secret_reference(vault_url: str, name: str) -> str:
    """The versionless secret identifier a training script passes to KeyVaultSecretIdentifier."""
    return f"{vault_url.rstrip('/')}/secrets/{name}"


def is_secret_reference(value: Any) -> bool:
    """Does a search-space value look like a Key Vault secret identifier (never a value)?"""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    segments = parts.path.strip("/").split("/")
    return (
        parts.scheme == "https"
        and bool(parts.netloc)
        and len(segments) in (2, 3)
        and segments[0] == "secrets"
        and bool(_NAME_RE.fullmatch(segments[1]))
    )


def owned_by(name: str, instance_id: str) -> bool:
    """A run secret's name starts with its instance id: a copied tag cannot point the
    reconciler at another secret."""
    return name.startswith(instance_id + "-") and bool(_NAME_RE.fullmatch(name))


def reference_name(reference: str) -> str | None:
    """The secret name inside an identifier produced by `secret_reference`, else None."""
    if not is_secret_reference(reference):
        return None
    return urlsplit(reference).path.strip("/").split("/")[1]
