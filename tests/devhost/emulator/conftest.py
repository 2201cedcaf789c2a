from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devhost.clock import VirtualClock
from devhost.emulator import API_VERSION, WorkspaceEmulator

SWEEP_BODY: dict[str, Any] = {
    "properties": {
        "jobType": "Sweep",
        "displayName": "polysync run",
        "experimentName": "polysync-sweeps",
        "computeId": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-polysync-dev"
        "/providers/Microsoft.MachineLearningServices/workspaces/foundry-dev/computes/cpu-cluster",
        "trial": {
            "command": "python train.py --lr ${{search_space.learning_rate}} "
            "--bs ${{search_space.batch_size}}",
            "environmentId": "azureml:sklearn-env:3",
        },
        "objective": {"goal": "Maximize", "primaryMetric": "accuracy"},
        "samplingAlgorithm": {"samplingAlgorithmType": "Random"},
        "limits": {"jobLimitsType": "Sweep", "maxTotalTrials": 10, "maxConcurrentTrials": 2},
        "searchSpace": {
            "learning_rate": ["uniform", [0.001, 0.1]],
            "batch_size": ["choice", [[16, 32, 64]]],
        },
        "outputs": {"model": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}},
        "tags": {"polysync.run": "r1"},
    }
}


def sweep_body(**tags: str) -> dict[str, Any]:
    body = copy.deepcopy(SWEEP_BODY)
    body["properties"]["tags"].update(tags)
    return body


class Client:
    """Thin requests wrapper that speaks to one emulator workspace."""

    def __init__(self, emu: WorkspaceEmulator, token: str | None = None) -> None:
        self.emu = emu
        self.base = emu.arm_endpoint + emu.workspace_id
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token or emu.token}"

    def _params(self, params: dict | None) -> dict:
        return {"api-version": API_VERSION, **(params or {})}

    def get(self, name: str, **kw: Any) -> requests.Response:
        return self.session.get(f"{self.base}/jobs/{name}", params=self._params(kw.pop("params", None)), **kw)

    def put(self, name: str, body: Any, **kw: Any) -> requests.Response:
        return self.session.put(
            f"{self.base}/jobs/{name}", params=self._params(kw.pop("params", None)), json=body, **kw
        )

    def cancel(self, name: str) -> requests.Response:
        return self.session.post(f"{self.base}/jobs/{name}/cancel", params=self._params(None))

    def list(self, **params: str) -> requests.Response:
        return self.session.get(f"{self.base}/jobs", params=self._params(params))

    def list_all(self, **params: str) -> list[dict]:
        resp = self.list(**params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        items = list(page["value"])
        while page.get("nextLink"):
            resp = self.session.get(page["nextLink"])
            assert resp.status_code == 200, resp.text
            page = resp.json()
            items.extend(page["value"])
        return items


def assert_arm_error(resp: requests.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["details"], list)
    assert resp.headers["x-ms-request-id"]
    return err


@pytest.fixture
def vclock() -> Iterator[VirtualClock]:
    clock = VirtualClock(auto=False).start()
    yield clock
    clock.stop()


@pytest.fixture
def make_emu(vclock: VirtualClock) -> Iterator[Any]:
    started: list[WorkspaceEmulator] = []

    def make(**kwargs: Any) -> WorkspaceEmulator:
        kwargs.setdefault("clock", vclock)
        emu = WorkspaceEmulator(**kwargs).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emu(make_emu: Any) -> WorkspaceEmulator:
    return make_emu()


@pytest.fixture
def client(emu: WorkspaceEmulator) -> Client:
    return Client(emu)
