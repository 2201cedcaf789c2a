"""The host over real HTTP: app routes, the SDK client (RPC), management webhooks, triggers."""

from __future__ import annotations

import json
import time

import requests

from tests.devhost.durable import sample_app


def _wait_status(url, want, timeout=5.0, **kw):
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(url, timeout=5, **kw)
        if r.json().get("runtimeStatus") in want or time.monotonic() > deadline:
            return r
        time.sleep(0.01)


def test_http_starter_and_check_status_urls(auto_host):
    r = requests.post(f"{auto_host.api_url}/orchestrators/hello_orchestrator", json="Ann", timeout=5)
    assert r.status_code == 202
    body = r.json()
    iid = body["id"]
    assert r.headers["Location"] == body["statusQueryGetUri"]
    assert r.headers["Retry-After"] == "10"
    assert body["statusQueryGetUri"].startswith(
        f"{auto_host.base_url}/runtime/webhooks/durabletask/instances/{iid}"
    )
    auto_host.wait_for_completion(iid, 5)
    s = requests.get(body["statusQueryGetUri"], timeout=5)
    assert s.status_code == 200
    assert s.json()["runtimeStatus"] == "Completed" and s.json()["output"] == ["Hello Ann!", "Hello again!"]
    h = requests.get(body["statusQueryGetUri"] + "&showHistory=true", timeout=5).json()
    assert h["historyEvents"][0]["EventType"] == "OrchestratorStarted"


def test_http_starter_with_instance_id_and_send_event_uri(manual_host):
    r = requests.post(
        f"{manual_host.api_url}/orchestrators/approval_orchestrator/appr-1", json={"hours": 5}, timeout=5
    )
    assert r.status_code == 202 and r.json()["id"] == "appr-1"
    running = requests.get(r.json()["statusQueryGetUri"], timeout=5)
    assert running.status_code in (200, 202)
    send = r.json()["sendEventPostUri"].replace("{eventName}", "approval")
    assert requests.post(send, json={"by": "webhook"}, timeout=5).status_code == 202
    status = manual_host.wait_for_completion("appr-1", 5)
    assert status["output"]["outcome"] == "approved" and status["output"]["data"] == {"by": "webhook"}
    # the instance is gone now
    assert requests.post(send, json={}, timeout=5).status_code == 410


def test_raise_event_through_sdk_client_route(auto_host):
    iid = auto_host.start_orchestration("status_orchestrator")
    r = requests.post(f"{auto_host.api_url}/instances/{iid}/events/go", json={"n": 1}, timeout=5)
    assert r.status_code == 202
    assert auto_host.wait_for_completion(iid, 5)["output"] == '{"n": 1}'  # the client's json.dumps
    # SDK raise_event on a completed instance -> 410 -> the client raises
    r = requests.post(f"{auto_host.api_url}/instances/{iid}/events/go", json={"n": 2}, timeout=5)
    assert r.status_code == 409 and "is gone" in r.text
    r = requests.post(f"{auto_host.api_url}/instances/unknown/events/go", json=1, timeout=5)
    assert r.status_code == 409 and "No instance" in r.text


def test_sdk_client_get_status_and_terminate(auto_host):
    iid = auto_host.start_orchestration("status_orchestrator", {"a": 1})
    r = _wait_status(f"{auto_host.api_url}/instances/{iid}", {"Running"})
    assert r.status_code == 200 and r.json()["runtimeStatus"] == "Running"
    assert r.json()["input"] == '{"a": 1}'
    assert requests.get(f"{auto_host.api_url}/instances/unknown", timeout=5).status_code == 404
    assert requests.post(f"{auto_host.api_url}/instances/{iid}/terminate", timeout=5).status_code == 202
    status = auto_host.wait_for_completion(iid, 5)
    assert status["runtimeStatus"] == "Terminated" and status["output"] == "stopped by test"
    # terminating again: the client accepts 410
    assert requests.post(f"{auto_host.api_url}/instances/{iid}/terminate", timeout=5).status_code == 202


def test_rpc_status_codes(auto_host):
    rpc = f"{auto_host.base_url}/durabletask"
    assert requests.get(f"{rpc}/instances/nope", timeout=5).status_code == 404
    assert requests.post(f"{rpc}/instances/nope/raiseEvent/x", json="1", timeout=5).status_code == 404
    assert requests.post(f"{rpc}/instances/nope/terminate?reason=x", timeout=5).status_code == 404
    r = requests.post(f"{rpc}/orchestrators/no_such_orchestrator", timeout=5)
    assert r.status_code == 400 and "doesn't exist" in r.json()["ExceptionMessage"]
    r = requests.post(
        f"{rpc}/orchestrators/hello_orchestrator/rpc-1", json='"Zed"', timeout=5
    )  # double-encoded
    assert r.status_code == 202 and r.json()["id"] == "rpc-1"
    assert auto_host.wait_for_completion("rpc-1", 5)["output"][0] == "Hello Zed!"
    assert requests.get(f"{rpc}/instances/rpc-1", timeout=5).status_code == 200
    assert requests.post(f"{rpc}/instances/rpc-1/raiseEvent/x", json="1", timeout=5).status_code == 410
    assert requests.post(f"{rpc}/instances/rpc-1/terminate?reason=x", timeout=5).status_code == 410
    # running instance: 202, and a duplicate start is refused
    requests.post(f"{rpc}/orchestrators/status_orchestrator/rpc-2", timeout=5)
    assert requests.get(f"{rpc}/instances/rpc-2", timeout=5).status_code == 202
    assert requests.post(f"{rpc}/orchestrators/status_orchestrator/rpc-2", timeout=5).status_code == 409
    listed = requests.get(f"{rpc}/instances/?runtimeStatus=Completed", timeout=5).json()
    assert [s["instanceId"] for s in listed] == ["rpc-1"]
    assert requests.delete(f"{rpc}/instances/rpc-1", timeout=5).json() == {"instancesDeleted": 1}
    assert requests.get(f"{rpc}/instances/rpc-1", timeout=5).status_code == 404


def test_failed_status_over_http(auto_host):
    r = requests.post(f"{auto_host.api_url}/orchestrators/failing_orchestrator", timeout=5)
    auto_host.wait_for_completion(r.json()["id"], 5)
    s = requests.get(r.json()["statusQueryGetUri"], timeout=5)
    assert s.status_code == 200 and s.json()["runtimeStatus"] == "Failed"
    assert "boom" in s.json()["output"]
    s = requests.get(r.json()["statusQueryGetUri"] + "&returnInternalServerErrorOnFailure=true", timeout=5)
    assert s.status_code == 500


def test_app_routes(auto_host):
    r = requests.get(f"{auto_host.api_url}/echo/42?x=1", timeout=5)
    assert r.status_code == 200 and r.headers["X-Echo"] == "1"
    assert r.json()["route"] == {"id": "42"} and r.json()["params"] == {"x": "1"}
    assert r.json()["url"] == f"{auto_host.api_url}/echo/42?x=1"
    r = requests.put(f"{auto_host.api_url}/echo/7/tail", data=b"payload", timeout=5)
    assert r.json() == {
        "method": "PUT",
        "route": {"id": "7", "tail": "tail"},
        "params": {},
        "body": "payload",
        "url": f"{auto_host.api_url}/echo/7/tail",
    }
    assert requests.post(f"{auto_host.api_url}/echo/7", timeout=5).status_code == 405
    assert requests.get(f"{auto_host.api_url}/nothing/here", timeout=5).status_code == 404
    assert requests.get(f"{auto_host.api_url}/sync-fail", timeout=5).status_code == 500


def test_function_keys(keyed_host):
    start = f"{keyed_host.api_url}/orchestrators/hello_orchestrator"
    assert requests.post(start, json="x", timeout=5).status_code == 401
    assert requests.post(start + "?code=wrong", json="x", timeout=5).status_code == 401
    assert requests.post(start, json="x", headers={"x-functions-key": "s3cret"}, timeout=5).status_code == 202
    r = requests.post(start + "?code=s3cret", json="x", timeout=5)
    assert r.status_code == 202
    status_uri = r.json()["statusQueryGetUri"]
    # management URLs carry the extension's system key, never the function key
    assert f"code={keyed_host.system_key}" in status_uri and "s3cret" not in status_uri
    keyed_host.wait_for_completion(r.json()["id"], 5)
    assert requests.get(status_uri, timeout=5).status_code == 200
    assert requests.get(status_uri.replace(keyed_host.system_key, "s3cret"), timeout=5).status_code == 401
    # anonymous routes need no key
    assert requests.get(f"{keyed_host.api_url}/echo/1", timeout=5).status_code == 200


def test_event_grid_delivery(manual_host):
    iid = manual_host.start_orchestration("approval_orchestrator", {"hours": 48})
    manual_host.clock.wait_quiet()
    manual_host.deliver_event_grid(
        {
            "id": "ev-1",
            "topic": "/subscriptions/x",
            "subject": "jobs/abc",
            "eventType": "Microsoft.MachineLearningServices.RunStatusChanged",
            "eventTime": "2026-01-05T09:00:00Z",
            "dataVersion": "2",
            "data": {"instanceId": iid},
        },
        wait=True,
    )
    status = manual_host.wait_for_completion(iid, 5)
    assert json.loads(status["output"]["data"]) == {
        "via": "eventgrid",
        "type": "Microsoft.MachineLearningServices.RunStatusChanged",
    }
    assert {
        "id": "ev-1",
        "type": "Microsoft.MachineLearningServices.RunStatusChanged",
        "subject": "jobs/abc",
    } in sample_app.EVENTS
    assert {"plain": "ev-1"} in sample_app.EVENTS
    # a failing function (unknown instance) is logged, not raised
    manual_host.deliver_event_grid(
        {"id": "ev-2", "eventType": "t", "data": {"instanceId": "nope"}}, wait=True
    )
    assert {"plain": "ev-2"} in sample_app.EVENTS


def test_timer_trigger(manual_host, monkeypatch):
    manual_host.fire_timer_trigger("tick_timer", wait=True)
    assert sample_app.EVENTS == [{"timer": False}]
    monkeypatch.setenv("SAMPLE_SCHEDULE", "0 */5 * * * *")
    manual_host.schedule_timer_triggers()
    manual_host.clock.advance(600)
    manual_host.clock.wait_quiet()
    assert sample_app.EVENTS.count({"timer": False}) == 3
