"""HMAC-SHA256 request signatures for the start routes (`WEBHOOK_SECRET`).

Function keys are a shared secret sent in clear with every call; a signature
proves the caller also holds `WEBHOOK_SECRET` and that the body was not altered.
Header: `X-Signature-256: sha256=<hex of HMAC(secret, [timestamp + "." +] body)>`;
when `X-Signature-Timestamp` (unix seconds) is sent it is signed too and must be
within five minutes of now, which stops replays of captured requests.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping

SIGNATURE_HEADER = "x-signature-256"
TIMESTAMP_HEADER = "x-signature-timestamp"
MAX_SKEW_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: str | None = None) -> str:
    message = (timestamp.encode() + b"." + body) if timestamp else body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, headers: Mapping[str, str], now: float) -> str | None:
    """Return None when the request is authentic, else a reason safe to show."""
    lowered = {k.lower(): v for k, v in headers.items()}
    given = lowered.get(SIGNATURE_HEADER)
    if not given:
        return f"Missing {SIGNATURE_HEADER} header: sign the raw body with HMAC-SHA256 and WEBHOOK_SECRET."
    timestamp = lowered.get(TIMESTAMP_HEADER)
    if timestamp is not None:
        try:
            sent = float(timestamp)
        except ValueError:
            return f"{TIMESTAMP_HEADER} must be unix seconds."
        if not math.isfinite(sent) or abs(now - sent) > MAX_SKEW_SECONDS:
            return f"{TIMESTAMP_HEADER} is more than {MAX_SKEW_SECONDS} s from the server clock."
    expected = sign(secret, body, timestamp)
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        return f"{SIGNATURE_HEADER} does not match the body."
    return None
