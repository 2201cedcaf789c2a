"""Signed requests: with WEBHOOK_SECRET set, the start and cancel routes need the
function key AND `X-Signature-256` = HMAC-SHA256 over timestamp, method, path, query
(less `code`) and body, with `X-Signature-Timestamp` within 5 minutes. A missing,
stale or wrong signature is 401 and does nothing; a replay lands on the same run."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost.stack import LocalStack
from tests.e2e.helpers import structured
from triggers.http.signing import MAX_SKEW_SECONDS, canonical_query, sign, string_to_sign, verify

SECRET = "whsec-test-3b9f0c"
KEY = "function-key-123"
README = Path(__file__).resolve().parents[2] / "README.md"
PATH = "/api/sweeps/train-sweep-template"


def _hmac(secret: str, message: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- pure


def test_the_signed_string_is_timestamp_method_path_query_body():
    message = string_to_sign("1700000000", "post", PATH, {"runId": "r 1", "code": "k", "a": "b"}, b"{}")
    assert message == b"1700000000\nPOST\n/api/sweeps/train-sweep-template\na=b&runId=r%201\n{}"
    assert sign(SECRET, "1700000000", "POST", PATH, {}, b"{}") == _hmac(
        SECRET, b"1700000000\nPOST\n" + PATH.encode() + b"\n\n{}"
    )
    assert canonical_query({"code": "function key"}) == ""  # the function key is not signed


def test_the_readme_worked_example_is_what_the_code_computes():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("#### Signed requests") :]
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


# ---------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def stack():
    with LocalStack.start(
        virtual=True, events=True, function_key=KEY, settings={"WEBHOOK_SECRET": SECRET}
    ) as s:
        yield s


def signed_post(
    stack: LocalStack,
    path: str,
    body: dict | None,
    *,
    query: dict | None = None,
    key: bool = True,
    timestamp: str | None = None,
    secret: str = SECRET,
    send_query: dict | None = None,
    send_path: str | None = None,
) -> requests.Response:
    """Sign (path, query, body) and send (send_path, send_query, body): the two differ only
    when a test replays a captured signature onto another target."""
    raw = b"" if body is None else json.dumps(body).encode()
    ts = timestamp or str(int(time.time()))
    query = dict(query or {})
    headers = {
        "Content-Type": "application/json",
        "X-Signature-Timestamp": ts,
        "X-Signature-256": sign(secret, ts, "POST", "/api/" + path, query, raw),
    }
    sent = dict(query if send_query is None else send_query)
    if key:
        sent["code"] = KEY
    return requests.post(stack.url(send_path or path), params=sent, data=raw, headers=headers, timeout=30)


ROUTES = [("sweeps", lambda: structured()), ("sweeps/train-sweep-template", lambda: {"learning_rate": 0.02})]


@pytest.mark.parametrize(("path", "make"), ROUTES)
def test_unsigned_or_badly_signed_start_is_401_and_starts_nothing(stack, path, make):
    body = make()
    before = set(stack.host.instances())
    stale = str(int(time.time()) - MAX_SKEW_SECONDS - 60)
    raw = json.dumps(body).encode()
    plain = requests.post(stack.url(path), params={"code": KEY}, data=raw, timeout=30)
    answers = [
        plain,
        signed_post(stack, path, body, secret="wrong-secret"),
        signed_post(stack, path, body, timestamp=stale),
    ]
    for answer in answers:
        assert answer.status_code == 401, answer.text
        error = answer.json()["error"]
        assert error["code"] == "InvalidSignature" and error["message"]
        assert SECRET not in answer.text
    assert set(stack.host.instances()) == before
    assert not stack.emulator.active_jobs()


@pytest.mark.parametrize(("path", "make"), ROUTES)
def test_signed_start_also_needs_the_function_key(stack, path, make):
    before = set(stack.host.instances())
    assert signed_post(stack, path, make(), key=False).status_code == 401
    assert set(stack.host.instances()) == before


@pytest.mark.parametrize(("path", "make"), ROUTES)
def test_correctly_signed_start_runs_and_its_replay_is_the_same_run(stack, path, make):
    body = make()
    ts = str(int(time.time()))
    answer = signed_post(stack, path, body, timestamp=ts)
    assert answer.status_code == 202, answer.text
    instance_id = answer.json()["id"]
    replay = signed_post(stack, path, body, timestamp=ts)  # the same captured request, sent again
    assert replay.status_code == 202 and replay.json()["id"] == instance_id
    assert replay.headers.get("X-Polysync-Existing-Instance") == "true"
    assert stack.host.wait_for_completion(instance_id, timeout=60)["runtimeStatus"] == "Completed"


def test_signature_is_checked_before_the_body_is_parsed(stack):
    """An unsigned malformed body is 401 (not 400): nothing is disclosed about validation."""
    answer = requests.post(stack.url("sweeps"), params={"code": KEY}, data=b"{not json", timeout=30)
    assert answer.status_code == 401
    ts = str(int(time.time()))
    raw = b"{not json"
    signed = requests.post(
        stack.url("sweeps"),
        params={"code": KEY},
        data=raw,
        headers={
            "X-Signature-Timestamp": ts,
            "X-Signature-256": sign(SECRET, ts, "POST", "/api/sweeps", {}, raw),
        },
        timeout=30,
    )
    assert signed.status_code == 400


def test_cancel_needs_the_signature_too(stack):
    answer = signed_post(stack, "sweeps", structured("train-sweep-forever", runId="signed-cancel"))
    instance_id = answer.json()["id"]
    unsigned = requests.post(stack.url(f"sweeps/{instance_id}/cancel"), params={"code": KEY}, timeout=30)
    assert unsigned.status_code == 401
    assert stack.host.get_status(instance_id)["runtimeStatus"] in ("Pending", "Running")
    cancel = signed_post(stack, f"sweeps/{instance_id}/cancel", {"reason": "signed"})
    assert cancel.status_code == 202, cancel.text
    assert stack.host.wait_for_completion(instance_id, timeout=60)["runtimeStatus"] == "Failed"
