"""The composition root builds its services from app settings, once, on first use."""

from __future__ import annotations

import pytest

from runtime import services
from tests.unit.conftest import WS_ID
from tests.unit.loopback import Reply, Server

TOKEN = "tok-very-secret-123"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, server: Server):
    for name, value in {
        "AZUREML_WORKSPACE_ID": WS_ID,
        "AZUREML_ARM_ENDPOINT": server.url,
        "AZUREML_STATIC_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    services.reset()
    yield server
    services.reset()


def test_the_client_is_built_from_the_settings(environment: Server) -> None:
    client = services.client()
    environment.script = [Reply(200, {"name": "a", "properties": {"jobType": "Sweep"}})]
    assert client.get_job("a")["name"] == "a"
    assert environment.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert services.client() is client  # built once
