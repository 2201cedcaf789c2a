from __future__ import annotations

import time
from collections import Counter

import pytest
import requests

from devhost.emulator import FaultPlan

from .conftest import Client, assert_arm_error, sweep_body


def only(kind: str, **kw) -> FaultPlan:
    return FaultPlan(rate=1.0, seed=1, kinds=(kind,), **kw)


def test_429_with_retry_after(make_emu):
    emu = make_emu(faults=only("429", retry_after_seconds=7))
    client = Client(emu)
    resp = client.put("j", sweep_body())
    assert_arm_error(resp, 429, "TooManyRequests")
    assert resp.headers["Retry-After"] == "7"
    assert resp.headers["x-ms-ratelimit-remaining-subscription-writes"] == "0"
    assert emu.job("j") is None
    assert emu.calls["put"] == 1 and emu.calls["put_created"] == 0
    assert emu.faults_injected == Counter({"429": 1})


@pytest.mark.parametrize("kind, code", [("500", "InternalServerError"), ("503", "ServiceUnavailable")])
def test_server_errors_apply_nothing(make_emu, kind, code):
    emu = make_emu(faults=only(kind))
    client = Client(emu)
    assert_arm_error(client.put("j", sweep_body()), int(kind), code)
    assert_arm_error(client.get("j"), int(kind), code)
    emu.set_faults(None)
    assert client.get("j").status_code == 404
    assert emu.faults_injected[kind] == 2


def test_drop_closes_without_answer_and_applies_nothing(make_emu):
    emu = make_emu(faults=only("drop"))
    client = Client(emu)
    with pytest.raises(requests.ConnectionError):
        client.put("j", sweep_body())
    assert emu.job("j") is None
    with pytest.raises(requests.ConnectionError):
        client.get("j")
    assert emu.calls["put"] == 1 and emu.calls["get"] == 1
    assert emu.faults_injected["drop"] == 2


def test_drop_after_apply_applies_put_and_cancel(vclock, make_emu):
    emu = make_emu(faults=only("drop_after_apply"))
    client = Client(emu)
    with pytest.raises(requests.ConnectionError):
        client.put("j", sweep_body())
    assert emu.job("j")["properties"]["status"] == "NotStarted"
    assert emu.calls["put_created"] == 1
    with pytest.raises(requests.ConnectionError):
        client.cancel("j")
    assert emu.job("j")["properties"]["status"] == "CancelRequested"
    emu.set_faults(None)
    # the retried PUT is idempotent
    resp = client.put("j", sweep_body())
    assert resp.status_code == 200
    assert emu.calls["put_created"] == 1
    assert emu.faults_injected["drop_after_apply"] == 2


def test_slow_answers_normally_after_delay(make_emu):
    emu = make_emu(faults=only("slow", slow_seconds=0.2))
    client = Client(emu)
    start = time.monotonic()
    assert client.put("j", sweep_body()).status_code == 201
    assert time.monotonic() - start >= 0.2
    assert emu.faults_injected["slow"] == 1


def _outcomes(emu, n: int) -> list[str]:
    client = Client(emu)
    out = []
    for i in range(n):
        try:
            resp = client.put(f"j{i}", sweep_body()) if i % 2 else client.get(f"j{i - 1}")
            out.append(str(resp.status_code))
        except requests.ConnectionError:
            out.append("conn")
            client.session = requests.Session()
            client.session.headers["Authorization"] = f"Bearer {emu.token}"
    return out


def test_seeded_plan_is_deterministic_and_hits_every_kind(make_emu):
    plan = FaultPlan(rate=0.5, seed=7, slow_seconds=0.001)
    a, b = make_emu(faults=plan), make_emu(faults=plan)
    assert _outcomes(a, 120) == _outcomes(b, 120)
    assert a.faults_injected == b.faults_injected
    assert set(a.faults_injected) == {"429", "500", "503", "drop", "slow", "drop_after_apply"}
    assert sum(a.calls[k] for k in ("get", "put")) == 120
    assert 30 < sum(a.faults_injected.values()) < 90
    a.reset_calls()
    assert not a.calls and not a.faults_injected


def test_methods_filter(make_emu):
    emu = make_emu(faults=FaultPlan(rate=1.0, kinds=("503",), methods=frozenset({"PUT"})))
    client = Client(emu)
    assert client.put("j", sweep_body()).status_code == 503
    assert client.get("j").status_code == 404
    emu.set_faults(FaultPlan(rate=1.0, kinds=("503",), methods=frozenset({"list"})))
    assert client.get("j").status_code == 404
    assert client.list().status_code == 503


def test_fault_plan_validation():
    with pytest.raises(ValueError):
        FaultPlan(kinds=("boom",))
    with pytest.raises(ValueError):
        FaultPlan(rate=2)


def test_an_outage_window_in_virtual_time_with_long_retry_after(vclock, make_emu):
    """An outage as ARM throttling shows it: every call answers 429 (or 503) with
    `Retry-After` in seconds (Azure Resource Manager "request limits and throttling";
    RFC 9110 §10.2.3), only between `active_from` and `active_until` on the
    emulator's clock; before and after, answers are normal."""
    from datetime import timedelta

    start = vclock.now()
    plan = FaultPlan(
        rate=1.0,
        kinds=("503",),
        retry_after_seconds=600,
        active_from=start + timedelta(minutes=10),
        active_until=start + timedelta(minutes=130),
    )
    emu = make_emu(faults=plan)
    client = Client(emu)
    assert client.get("nothing").status_code == 404  # before the window
    vclock.advance(15 * 60)
    inside = client.get("nothing")
    assert_arm_error(inside, 503, "ServiceUnavailable")
    assert inside.headers["Retry-After"] == "600"
    vclock.advance(2 * 3600)
    assert client.get("nothing").status_code == 404  # after it
    assert emu.faults_injected == Counter({"503": 1})


def test_fault_plan_rejects_a_malformed_window():
    from datetime import datetime, timezone

    naive = datetime(2026, 1, 5, 9)
    with pytest.raises(ValueError, match="aware"):
        FaultPlan(active_from=naive)
    aware = naive.replace(tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="after"):
        FaultPlan(active_from=aware, active_until=aware)


def test_a_503_without_retry_after(make_emu):
    """retry_after_seconds=None: the 503 carries no Retry-After (a client must back off on its own)."""
    emu = make_emu(faults=only("503", retry_after_seconds=None))
    answer = Client(emu).get("j")
    assert_arm_error(answer, 503, "ServiceUnavailable")
    assert "Retry-After" not in answer.headers
