"""Signed webhooks: with WEBHOOK_SECRET set, both start routes need the function
key AND `X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` (optionally
over `<timestamp>.<body>` with `X-Signature-Timestamp` within 5 minutes). A
missing or wrong signature is 401 and starts nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.signing import MAX_SKEW_SECONDS, sign, verify
from devhost.stack import LocalStack
from tests.e2e.helpers import structured

SECRET = "whsec-test-3b9f0c"
KEY = "function-key-123"


def _hmac(secret: str, message: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- pure


def test_sign_is_hmac_sha256_of_the_raw_body_or_timestamp_dot_body():
    assert sign(SECRET, b"{}") == _hmac(SECRET, b"{}")
    assert sign(SECRET, b"{}", "1700000000") == _hmac(SECRET, b"1700000000.{}")


def test_verify_accepts_any_header_casing_and_surrounding_space():
    body = b'{"x": 1}'
    assert verify(SECRET, body, {"x-signature-256": " " + sign(SECRET, body) + " "}, now=0) is None
    assert verify(SECRET, body, {"X-SIGNATURE-256": sign(SECRET, body)}, now=0) is None


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "Missing"),
        ({"X-Signature-256": ""}, "Missing"),
        ({"X-Signature-256": "sha256=00"}, "does not match"),
        ({"X-Signature-256": _hmac("other-secret", b"body")}, "does not match"),
        ({"X-Signature-256": _hmac(SECRET, b"body").removeprefix("sha256=")}, "does not match"),
        (
            {"X-Signature-256": "sha1=" + hmac.new(SECRET.encode(), b"body", "sha1").hexdigest()},
            "does not match",
        ),
        # a timestamp outside the window, even correctly signed
        ({"X-Signature-256": sign(SECRET, b"body", "1000"), "X-Signature-Timestamp": "1000"}, "more than"),
        ({"X-Signature-256": sign(SECRET, b"body", "nan"), "X-Signature-Timestamp": "nan"}, "more than"),
        ({"X-Signature-256": sign(SECRET, b"body", "inf"), "X-Signature-Timestamp": "inf"}, "more than"),
        ({"X-Signature-256": sign(SECRET, b"body", "soon"), "X-Signature-Timestamp": "soon"}, "unix seconds"),
        # signed without the timestamp, timestamp added afterwards: the signature covers it
        ({"X-Signature-256": sign(SECRET, b"body"), "X-Signature-Timestamp": "100000"}, "does not match"),
    ],
)
def test_verify_rejects(headers, fragment):
    reason = verify(SECRET, b"body", headers, now=100_000)
    assert reason is not None and fragment in reason
    assert SECRET not in reason


def test_timestamp_window_is_five_minutes_both_ways():
    for skew, ok in (
        (0, True),
        (MAX_SKEW_SECONDS, True),
        (MAX_SKEW_SECONDS + 1, False),
        (-MAX_SKEW_SECONDS - 1, False),
    ):
        ts = str(100_000 + skew)
        headers = {"X-Signature-256": sign(SECRET, b"b", ts), "X-Signature-Timestamp": ts}
        assert (verify(SECRET, b"b", headers, now=100_000) is None) is ok


def test_compare_is_constant_time():
    import inspect

    import app.signing

    assert "compare_digest" in inspect.getsource(app.signing.verify)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=512), flip=st.integers(min_value=0, max_value=10_000))
def test_any_altered_body_fails(body, flip):
    headers = {"X-Signature-256": sign(SECRET, body)}
    assert verify(SECRET, body, headers, now=0) is None
    altered = bytearray(body or b"\0")
    altered[flip % len(altered)] ^= 1 + flip % 255
    assert verify(SECRET, bytes(altered), headers, now=0) is not None


# ---------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def stack():
    with LocalStack.start(
        virtual=True, events=True, function_key=KEY, settings={"WEBHOOK_SECRET": SECRET}
    ) as s:
        yield s


def _post(stack: LocalStack, path: str, body: dict, headers: dict, *, key: bool = True) -> requests.Response:
    raw = json.dumps(body).encode()
    url = stack.url(path) + (f"?code={KEY}" if key else "")
    return requests.post(url, data=raw, headers={"Content-Type": "application/json", **headers}, timeout=30)


def _signed(body: dict, *, timestamp: str | None = None, secret: str = SECRET) -> dict[str, str]:
    headers = {"X-Signature-256": sign(secret, json.dumps(body).encode(), timestamp)}
    if timestamp is not None:
        headers["X-Signature-Timestamp"] = timestamp
    return headers


ROUTES = [("sweeps", lambda: structured()), ("sweeps/train-sweep-template", lambda: {"learning_rate": 0.02})]


@pytest.mark.parametrize(("path", "make"), ROUTES)
def test_unsigned_or_badly_signed_start_is_401_and_starts_nothing(stack, path, make):
    body = make()
    before = set(stack.host.instances())
    stale = str(int(time.time()) - MAX_SKEW_SECONDS - 60)
    for headers in (
        {},
        {"X-Signature-256": "sha256=" + "0" * 64},
        _signed(body, secret="wrong-secret"),
        _signed({**body, "tampered": True}),
        _signed(body, timestamp=stale),
    ):
        answer = _post(stack, path, body, headers)
        assert answer.status_code == 401, (headers, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "InvalidSignature" and error["message"]
        assert SECRET not in answer.text
    assert set(stack.host.instances()) == before
    assert not stack.emulator.active_jobs()


@pytest.mark.parametrize(("path", "make"), ROUTES)
def test_signed_start_also_needs_the_function_key(stack, path, make):
    body = make()
    before = set(stack.host.instances())
    assert _post(stack, path, body, _signed(body), key=False).status_code == 401
    assert set(stack.host.instances()) == before


@pytest.mark.parametrize(("path", "make"), ROUTES)
def test_correctly_signed_start_runs(stack, path, make):
    body = make()
    answer = _post(stack, path, body, _signed(body, timestamp=str(int(time.time()))))
    assert answer.status_code == 202, answer.text
    instance_id = answer.json()["id"]
    plain = _post(stack, path, {**body, "runId": "plain"} if path == "sweeps" else body, {})
    assert plain.status_code == 401
    view = requests.get(stack.url(f"sweeps/{instance_id}") + f"?code={KEY}", timeout=30).json()
    assert view["runtimeStatus"] in ("Pending", "Running", "Completed")
    assert stack.host.wait_for_completion(instance_id, timeout=60)["runtimeStatus"] == "Completed"


def test_signature_is_checked_before_the_body_is_parsed(stack):
    """An unsigned malformed body is 401 (not 400): nothing is disclosed about validation."""
    answer = requests.post(stack.url("sweeps") + f"?code={KEY}", data=b"{not json", timeout=30)
    assert answer.status_code == 401
    raw = b"{not json"
    signed = requests.post(
        stack.url("sweeps") + f"?code={KEY}",
        data=raw,
        headers={"X-Signature-256": sign(SECRET, raw)},
        timeout=30,
    )
    assert signed.status_code == 400
