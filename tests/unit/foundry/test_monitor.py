"""The studio URL a Polysync user opens: the service's endpoint, else one built from the workspace."""

from __future__ import annotations

from typing import Any

from foundry.jobs import JobView
from foundry.monitor import monitor_url
from foundry.workspace import Workspace
from tests.unit.conftest import WS_ID


def test_monitor_url(workspace: Workspace, template: dict[str, Any]) -> None:
    studio = template["properties"]["services"]["Studio"]["endpoint"]
    assert monitor_url(workspace, "x", JobView.from_rest(template).studio_endpoint) == studio
    assert monitor_url(workspace, "run-1") == (
        f"https://ml.azure.com/runs/run-1?wsid={WS_ID}&tid=11111111-2222-3333-4444-555555555555"
    )
    bare = Workspace.parse(WS_ID)
    assert (
        monitor_url(bare, "r", JobView.from_rest({"properties": {"services": None}}).studio_endpoint)
        == f"https://ml.azure.com/runs/r?wsid={WS_ID}"
    )
