"""Shared fixtures of the unit tests: a workspace, a recorded-shape template, a loopback server."""

from __future__ import annotations

import copy
import json
import pathlib
from typing import Any

import pytest

from foundry.workspace import Workspace
from tests.unit.loopback import server  # noqa: F401 - a fixture, shared from here

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
WS_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml"
    "/providers/Microsoft.MachineLearningServices/workspaces/ws-foundry"
)
_TEMPLATE = json.loads((FIXTURES / "template_sweep.json").read_text())


@pytest.fixture
def workspace() -> Workspace:
    return Workspace.parse(WS_ID, tenant_id="11111111-2222-3333-4444-555555555555")


@pytest.fixture
def template() -> dict[str, Any]:
    return copy.deepcopy(_TEMPLATE)
