"""Helpers for end-to-end tests: everything goes through the app's HTTP routes
on the local Durable host, against the emulator over loopback."""

from __future__ import annotations

import time
from typing import Any

from devhost.stack import LocalStack

FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}


def structured(template: str = "train-sweep-template", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "externalId": template,
        "name": "e2e sweep",
        "attributes": {"AI Foundry Objective Metric": "accuracy", "AI Foundry Objective Goal": "Maximize"},
        "parameters": [
            {"name": "learning_rate", "value": "0.01", "dataType": "Float", "direction": "Input"},
            {"name": "model", "dataType": "String", "direction": "Output"},
        ],
    }
    body.update(overrides)
    return body


def start(stack: LocalStack, body: dict[str, Any], path: str = "sweeps") -> str:
    answer = stack.post(path, body)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def status(stack: LocalStack, instance_id: str) -> dict[str, Any]:
    answer = stack.get(f"sweeps/{instance_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def custom_status(stack: LocalStack, instance_id: str) -> dict[str, Any]:
    """The orchestration's customStatus straight from the Durable host ({} if none)."""
    status = stack.host.get_status(instance_id, show_input=False) or {}
    custom = status.get("customStatus")
    return custom if isinstance(custom, dict) else {}


def failure_message(stack: LocalStack, instance_id: str) -> str:
    """The orchestrator's own message inside the extension's failure output
    ("Orchestrator function 'x' failed: <message>")."""
    output = str(stack.host.get_status(instance_id)["output"])
    prefix = "Orchestrator function 'sweep_orchestrator' failed: "
    assert output.startswith(prefix), output
    return output[len(prefix) :]


def wait_for(read, predicate, timeout: float, what: str, interval: float = 0.02) -> dict[str, Any]:
    """Call `read()` until `predicate` holds for its answer; fail with the last one."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = read()
        if predicate(seen):
            return seen
        time.sleep(interval)
    raise AssertionError(f"condition not reached within {timeout} s; last {what}: {seen}")


def wait_until(stack: LocalStack, instance_id: str, predicate, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the status route until `predicate(view)` holds."""
    return wait_for(lambda: status(stack, instance_id), predicate, timeout, "view")


def wait_finished(stack: LocalStack, instance_id: str, timeout: float = 60.0) -> dict[str, Any]:
    return wait_until(stack, instance_id, lambda v: v.get("runtimeStatus") in FINISHED, timeout)
