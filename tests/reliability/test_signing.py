"""Signed requests over HTTP (the pure scheme: tests/unit/triggers/http/test_signing.py): with WEBHOOK_SECRET set, the start and cancel routes need the
function key AND `X-Signature-256` = HMAC-SHA256 over timestamp, method, path, query
(less `code`) and body, with `X-Signature-Timestamp` within 5 minutes. A missing,
stale or wrong signature is 401 and does nothing; a replay lands on the same run."""

from __future__ import annotations

import json
import time

import pytest
import requests

from devhost.stack import LocalStack
from tests.e2e.helpers import structured
from triggers.http.signing import MAX_SKEW_SECONDS, sign

SECRET = "whsec-test-3b9f0c"
KEY = "function-key-123"
PATH = "/api/sweeps/train-sweep-template"


# ---------------------------------------------------------------- pure


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
