"""HMAC-SHA256 request signatures (`WEBHOOK_SECRET`) over everything that acts.

Function keys are a shared secret sent in clear with every call; a signature
proves the caller also holds `WEBHOOK_SECRET` and that neither the body nor the
target (method, path, query) was altered, and its timestamp bounds replays to
five minutes. The signed string (scheme v1), as bytes:

    {timestamp}\n{METHOD}\n{path}\n{canonical query}\n{raw body}

- timestamp: `X-Signature-Timestamp`, unix seconds (digits), within 300 s of the server clock;
- METHOD: upper case;
- path: the URL path as the app receives it, percent-decoded then re-encoded with
  everything but `A-Z a-z 0-9 - _ . ~ /` escaped (`/api/sweeps/train-sweep-template`);
- canonical query: every query parameter except `code` (the function key, itself a
  credential), as `key=value` with the same escaping, sorted, joined with `&`
  (empty when there are none);
- raw body: the exact bytes sent (empty for none).

Header: `X-Signature-256: sha256=<lower-case hex of HMAC-SHA256(WEBHOOK_SECRET, signed string)>`.
docs/reliability-and-security.md "Signed requests" has a worked example that tests/unit/triggers/http/test_signing.py recomputes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote, unquote

SIGNATURE_HEADER = "x-signature-256"
TIMESTAMP_HEADER = "x-signature-timestamp"
MAX_SKEW_SECONDS = 300
UNSIGNED_QUERY_KEYS = frozenset({"code"})
_SAFE = "-_.~"


def canonical_path(path: str) -> str:
    # quote() never escapes letters, digits and `-_.~`; its default `safe` adds `/`.
    return quote(unquote(path))


def canonical_query(params: Mapping[str, str]) -> str:
    pairs = sorted(
        (quote(str(k), safe=_SAFE), quote(str(v), safe=_SAFE))
        for k, v in params.items()
        if k not in UNSIGNED_QUERY_KEYS
    )
    return "&".join(f"{k}={v}" for k, v in pairs)


def string_to_sign(timestamp: str, method: str, path: str, query: Mapping[str, str], body: bytes) -> bytes:
    head = "\n".join((timestamp, method.upper(), canonical_path(path), canonical_query(query)))
    return head.encode("utf-8") + b"\n" + body


def sign(secret: str, timestamp: str, method: str, path: str, query: Mapping[str, str], body: bytes) -> str:
    digest = hmac.new(
        secret.encode("utf-8"), string_to_sign(timestamp, method, path, query, body), hashlib.sha256
    )
    return "sha256=" + digest.hexdigest()


def verify(
    secret: str,
    method: str,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    headers: Mapping[str, str],
    now: float,
) -> str | None:
    """None when the request is authentic and fresh, else a reason safe to show."""
    lowered = {k.lower(): v for k, v in headers.items()}
    given = (lowered.get(SIGNATURE_HEADER) or "").strip()
    if not given:
        return f"Missing {SIGNATURE_HEADER} header: sign the request with HMAC-SHA256 and WEBHOOK_SECRET."
    timestamp = (lowered.get(TIMESTAMP_HEADER) or "").strip()
    if not timestamp:
        return f"Missing {TIMESTAMP_HEADER} header: send the unix time in seconds and sign it."
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return f"{TIMESTAMP_HEADER} must be unix seconds (digits only)."
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return f"{TIMESTAMP_HEADER} is more than {MAX_SKEW_SECONDS} s from the server clock."
    expected = sign(secret, timestamp, method, path, query, body)
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        return f"{SIGNATURE_HEADER} does not match the request (method, path, query, body and timestamp)."
    return None


def run_id_from_signature(headers: Mapping[str, str]) -> str:
    """The runId of a signed start that gave none: derived from its (verified) signature,
    so a replay of the same signed request lands on the same run."""
    lowered = {k.lower(): v for k, v in headers.items()}
    digest = (lowered.get(SIGNATURE_HEADER) or "").strip().removeprefix("sha256=")
    return "sig-" + digest[:32]
