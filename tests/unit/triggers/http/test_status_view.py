"""The status answer for each Durable runtime status."""

from __future__ import annotations

from triggers.http.status_view import compose_status


def test_status_view_for_each_runtime_status():
    running = compose_status("i", "Running", {"status": "Running", "azureStatus": "Running"}, None)
    assert running["status"] == "Running" and running["outputs"] == {}
    done = compose_status("i", "Completed", {"status": "Running"}, {"status": "Success", "outputs": {"m": 1}})
    assert done["status"] == "Success" and done["outputs"] == {"m": 1}
    crashed = compose_status("i", "Failed", None, "Orchestrator function 'x' failed: kaput")
    assert crashed["status"] == "Failed" and "kaput" in crashed["error"]["message"]
    terminated = compose_status("i", "Terminated", {"status": "Running"}, "by operator")
    assert terminated["status"] == "Cancelled" and terminated["error"]["code"] == "Terminated"
    pending = compose_status("i", "Pending", None, None)
    assert pending["status"] == "Starting"
