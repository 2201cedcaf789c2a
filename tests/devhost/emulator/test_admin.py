"""The emulator's fault admin route (`/_emulator/faults`) and `FaultPlan` from JSON.

Not an Azure surface: an outage is rehearsed from outside the process by setting a plan
(issue 9, item 10). The route itself is never faulted and never counted, so a plan of
`rate: 1` can always be cleared.
"""

from __future__ import annotations

import dataclasses

import pytest
import requests

from devhost.emulator import FaultPlan
from devhost.emulator.fault_config import FaultPlanError, parse_faults_option, plan_from_json

from .conftest import Client, assert_arm_error, sweep_body


def admin(client: Client, method: str, json: object = None, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or client.emu.token}"}
    return requests.request(
        method, f"{client.emu.arm_endpoint}/_emulator/faults", json=json, headers=headers, timeout=5
    )


def test_set_get_and_clear_a_plan(client):
    assert admin(client, "GET").json() == {"plan": None}
    resp = admin(
        client,
        "PUT",
        {"rate": 1, "kinds": ["429"], "retry_after_seconds": 600, "methods": ["PUT", "list"]},
    )
    assert resp.status_code == 200, resp.text
    plan = resp.json()["plan"]
    assert plan["rate"] == 1.0 and plan["kinds"] == ["429"] and plan["methods"] == ["PUT", "list"]
    assert client.emu.fault_plan == FaultPlan(
        rate=1.0, kinds=("429",), retry_after_seconds=600, methods=frozenset({"PUT", "list"})
    )
    throttled = client.put("j", sweep_body())
    assert_arm_error(throttled, 429, "TooManyRequests")
    assert throttled.headers["Retry-After"] == "600"
    assert client.get("j").status_code == 404  # GET of a job is neither PUT nor list
    assert admin(client, "GET").json()["plan"]["retry_after_seconds"] == 600
    assert admin(client, "DELETE").json() == {"plan": None}
    assert client.put("j", sweep_body()).status_code == 201
    assert "admin" not in client.emu.calls


def test_the_admin_route_is_never_faulted(client):
    assert admin(client, "PUT", {"rate": 1, "kinds": ["drop"]}).status_code == 200
    with pytest.raises(requests.ConnectionError):
        client.get("x")
    assert admin(client, "DELETE").status_code == 200
    assert client.emu.faults_injected == {"drop": 1}


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        ({"rate": 2}, ["rate", "[0, 1]"]),
        ({"kinds": ["boom"]}, ["boom"]),
        ({"kinds": "503"}, ["kinds"]),
        ({"rat": 1}, ["unknown fault plan field(s) rat", "known fields: rate, seed, kinds"]),
        ([1, 2], ["JSON object"]),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(client, plan, words):
    err = assert_arm_error(admin(client, "PUT", plan), 400, "InvalidFaultPlan")
    for word in words:
        assert word in err["message"]
    assert client.emu.fault_plan is None


def test_the_admin_route_takes_the_emulators_token(client):
    assert_arm_error(admin(client, "PUT", {"rate": 1}, token="wrong"), 401, "InvalidAuthenticationToken")
    assert client.emu.fault_plan is None


def test_plans_are_built_from_the_dataclass_fields():
    """A field added to the plan's dataclass is accepted without the parser changing."""

    @dataclasses.dataclass
    class WindowedPlan(FaultPlan):
        window_seconds: float = 0.0

    plan = plan_from_json({"rate": 0.5, "window_seconds": "7200", "kinds": ["503"]}, WindowedPlan)
    assert isinstance(plan, WindowedPlan) and plan.window_seconds == 7200.0 and plan.kinds == ("503",)
    with pytest.raises(FaultPlanError, match="window_seconds"):
        plan_from_json({"window_seconds": 1})


def test_faults_option_takes_json_or_a_file(tmp_path):
    assert parse_faults_option('{"rate": 1, "kinds": ["500"]}').kinds == ("500",)
    path = tmp_path / "plan.json"
    path.write_text('{"rate": 0.25, "seed": 3}')
    assert parse_faults_option(f"@{path}") == FaultPlan(rate=0.25, seed=3)
    with pytest.raises(FaultPlanError, match="not valid JSON"):
        parse_faults_option("{rate: 1}")
    with pytest.raises(FaultPlanError, match="cannot read"):
        parse_faults_option(f"@{tmp_path / 'missing.json'}")
