"""Sealing of Secret parameter values while they sit in orchestration state.

Durable Functions writes orchestration input into history tables and echoes it
from the status endpoint; a Secret must never appear there in clear.  Values
are sealed with Fernet (authenticated encryption) on arrival and only unsealed
by the activity that builds the PUT body.  `SECRET_SEALING_KEY` may hold several
comma-separated keys: the first seals, all of them open (key rotation).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from foundry.errors import FoundryError

PREFIX = "sealed:v1:"
MASK = "***"


def _fernet(key: str) -> Fernet:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


class Sealer:
    """Seal/unseal strings with a key derived from a configured passphrase."""

    def __init__(self, key: str, previous_keys: Sequence[str] = ()) -> None:
        if not key:
            raise ValueError("SECRET_SEALING_KEY must not be empty")
        keys = [key, *[k for k in previous_keys if k]]
        self._fernet = MultiFernet([_fernet(k) for k in keys])

    def __repr__(self) -> str:
        return "Sealer(<keys hidden>)"

    @classmethod
    def from_settings(cls, settings: Any) -> Sealer | None:
        """The sealer for `settings.secret_sealing_key`, or None when it is unset."""
        raw = getattr(settings, "secret_sealing_key", None)
        keys = [k.strip() for k in (raw or "").split(",") if k.strip()]
        if not keys:
            return None
        return cls(keys[0], keys[1:])

    def seal(self, value: str) -> str:
        return PREFIX + self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def unseal(self, value: str) -> str:
        """Open a sealed value; a clear FoundryError (without the value) if it cannot be."""
        if not is_sealed(value):
            raise FoundryError(
                "A Secret parameter value is not in sealed form.",
                code="SecretNotSealed",
                hint="Start the run again; sealed values are produced by the start route.",
                status=500,
            )
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise FoundryError(
                "A Secret parameter could not be unsealed: SECRET_SEALING_KEY no longer matches the key "
                "it was sealed with.",
                code="SecretUnsealFailed",
                hint="Keep the old key after rotation: set SECRET_SEALING_KEY to 'new-key,old-key' until "
                "runs started before the rotation have finished, or start the run again.",
                status=500,
            ) from None


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in `text` by `***` (longest first)."""
    out = text
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out
