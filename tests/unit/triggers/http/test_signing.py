"""Request signatures (`WEBHOOK_SECRET`) as pure functions: the signed string, the worked
example of docs/reliability-and-security.md, what `verify` accepts and refuses. Over HTTP: tests/reliability/test_signing.py."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triggers.http.signing import MAX_SKEW_SECONDS, canonical_query, sign, string_to_sign, verify

SECRET = "whsec-test-3b9f0c"


README = Path(__file__).resolve().parents[4] / "docs" / "reliability-and-security.md"


PATH = "/api/sweeps/train-sweep-template"


def _hmac(secret: str, message: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_the_signed_string_is_timestamp_method_path_query_body():
    message = string_to_sign("1700000000", "post", PATH, {"runId": "r 1", "code": "k", "a": "b"}, b"{}")
    assert message == b"1700000000\nPOST\n/api/sweeps/train-sweep-template\na=b&runId=r%201\n{}"
    assert sign(SECRET, "1700000000", "POST", PATH, {}, b"{}") == _hmac(
        SECRET, b"1700000000\nPOST\n" + PATH.encode() + b"\n\n{}"
    )
    assert canonical_query({"code": "function key"}) == ""  # the function key is not signed


def test_the_documented_worked_example_is_what_the_code_computes():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Signed requests") :]
    secret = re.search(r"WEBHOOK_SECRET=(\S+)", section).group(1)
    timestamp = re.search(r"X-Signature-Timestamp: (\d+)", section).group(1)
    body = re.search(r"^body: (.+)$", section, re.M).group(1).encode()
    expected = re.search(r"X-Signature-256: (sha256=[0-9a-f]{64})", section).group(1)
    query = {"runId": "run-42", "code": "<function key>"}
    shown = re.search(r"```text\n(.*?)```", section, re.S).group(1).encode()
    assert shown.rstrip(b"\n") == string_to_sign(timestamp, "POST", PATH, query, body)
    assert sign(secret, timestamp, "POST", PATH, query, body) == expected


def _verify(headers: dict, *, body: bytes = b"body", now: float = 100_000, **target) -> str | None:
    method = target.get("method", "POST")
    path = target.get("path", PATH)
    query = target.get("query", {})
    return verify(SECRET, method, path, query, body, headers, now)


def _headers(ts: str = "100000", **target) -> dict:
    return {
        "X-Signature-256": sign(
            target.get("secret", SECRET),
            ts,
            target.get("method", "POST"),
            target.get("path", PATH),
            target.get("query", {}),
            target.get("body", b"body"),
        ),
        "X-Signature-Timestamp": ts,
    }


def test_verify_accepts_any_header_casing_and_surrounding_space():
    headers = {k.lower(): " " + v + " " for k, v in _headers().items()}
    assert _verify(headers) is None


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "Missing"),
        ({"X-Signature-256": ""}, "Missing"),
        (
            {"X-Signature-256": sign(SECRET, "100000", "POST", PATH, {}, b"body")},
            "Missing x-signature-timestamp",
        ),
        ({**_headers(), "X-Signature-256": "sha256=00"}, "does not match"),
        (_headers(secret="other-secret"), "does not match"),
        (
            {**_headers(), "X-Signature-256": _headers()["X-Signature-256"].removeprefix("sha256=")},
            "does not match",
        ),
        (_headers(ts="1000"), "more than"),
        (_headers(ts="nan"), "unix seconds"),
        (_headers(ts="1e5"), "unix seconds"),
        (_headers(ts="-100000"), "unix seconds"),
        # each part of the target is covered
        (_headers(method="GET"), "does not match"),
        (_headers(path="/api/sweeps/another-template"), "does not match"),
        (_headers(query={"runId": "other"}), "does not match"),
        (_headers(body=b"other body"), "does not match"),
    ],
)
def test_verify_rejects(headers, fragment):
    reason = _verify(headers)
    assert reason is not None and fragment in reason
    assert SECRET not in reason


def test_timestamp_window_is_five_minutes_both_ways():
    for skew, ok in (
        (0, True),
        (MAX_SKEW_SECONDS, True),
        (MAX_SKEW_SECONDS + 1, False),
        (-MAX_SKEW_SECONDS - 1, False),
    ):
        assert (_verify(_headers(ts=str(100_000 + skew))) is None) is ok


def test_a_signature_differing_only_in_its_last_digit_is_refused():
    """Behaviour, not source text: every byte of the digest is compared."""
    good = _headers()
    last = good["X-Signature-256"][-1]
    for digit in "0123456789abcdef".replace(last, ""):
        assert "does not match" in _verify({**good, "X-Signature-256": good["X-Signature-256"][:-1] + digit})
    assert "does not match" in _verify({**good, "X-Signature-256": good["X-Signature-256"] + "0"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=512), flip=st.integers(min_value=0, max_value=10_000))
def test_any_altered_body_fails(body, flip):
    headers = _headers(body=body)
    assert _verify(headers, body=body) is None
    altered = bytearray(body or b"\0")
    altered[flip % len(altered)] ^= 1 + flip % 255
    assert _verify(headers, body=bytes(altered)) is not None


def test_signatures_verify_and_reject():
    body = b'{"a": 1}'
    args = ("POST", "/api/sweeps", {})
    stamped = {"X-Signature-256": sign("k", "1000", *args, body), "X-Signature-Timestamp": "1000"}
    assert verify("k", *args, body, stamped, now=1100) is None
    assert "does not match" in verify("k", *args, body + b" ", stamped, now=1100)
    assert "Missing" in verify("k", *args, body, {}, now=1100)
    assert "more than" in verify("k", *args, body, stamped, now=2000)


def test_every_refusal_reason_in_full():
    """What the 401 says: which header, and what to do; never the secret."""
    only_timestamp = {"X-Signature-Timestamp": "100000"}
    assert _verify(only_timestamp) == (
        "Missing x-signature-256 header: sign the request with HMAC-SHA256 and WEBHOOK_SECRET."
    )
    assert _verify({"X-Signature-256": "sha256=00"}) == (
        "Missing x-signature-timestamp header: send the unix time in seconds and sign it."
    )
    assert (
        _verify(_headers(ts="\u0661\u0660\u0660\u0660\u0660\u0660"))
        == "x-signature-timestamp must be unix seconds (digits only)."
    )
    assert _verify(_headers(ts="1000")) == "x-signature-timestamp is more than 300 s from the server clock."
    assert _verify({**_headers(), "X-Signature-256": "sha256=00"}) == (
        "x-signature-256 does not match the request (method, path, query, body and timestamp)."
    )


def test_a_timestamp_of_more_than_twelve_digits_is_not_unix_seconds():
    assert _verify(_headers(ts="9" * 12)) == "x-signature-timestamp is more than 300 s from the server clock."
    assert _verify(_headers(ts="1" * 13)) == "x-signature-timestamp must be unix seconds (digits only)."


def test_a_signature_header_that_is_not_utf8_is_refused_not_a_crash():
    """A header decoded with surrogate escapes (undecodable bytes) cannot match, and must not raise."""
    assert "does not match" in _verify({**_headers(), "X-Signature-256": "sha256=\udcff"})


def test_query_keys_and_values_escape_everything_but_unreserved_characters():
    assert canonical_query({"a/b": "c/d e", "x~": "-_.~"}) == "a%2Fb=c%2Fd%20e&x~=-_.~"
    assert string_to_sign("1", "post", "/api/a b/~x", {}, b"") == b"1\nPOST\n/api/a%20b/~x\n\n"
    assert string_to_sign("1", "GET", "/api/a%2Fb", {}, b"") == b"1\nGET\n/api/a/b\n\n"


def test_the_run_id_of_an_unkeyed_signed_start_is_derived_from_its_signature():
    from triggers.http.signing import run_id_from_signature

    signature = "sha256=" + "ab" * 32
    assert run_id_from_signature({"X-Signature-256": f" {signature} "}) == "sig-" + "ab" * 16
    assert run_id_from_signature({"x-signature-256": "cd" * 32}) == "sig-" + "cd" * 16
    assert run_id_from_signature({}) == "sig-"
