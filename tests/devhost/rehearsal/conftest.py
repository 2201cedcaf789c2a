"""Helpers for the rehearsal tests: a Sweep job in the REST shape and small trial scripts."""

from __future__ import annotations

import copy
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SWEEP_PROPERTIES: dict[str, Any] = {
    "jobType": "Sweep",
    "experimentName": "rehearsal-tests",
    "trial": {
        "command": "python train.py --lr ${{search_space.lr}}",
        "environmentId": "azureml:sklearn-env:3",
    },
    "objective": {"goal": "Maximize", "primaryMetric": "accuracy"},
    "samplingAlgorithm": {"samplingAlgorithmType": "Grid"},
    "limits": {
        "jobLimitsType": "Sweep",
        "maxTotalTrials": 2,
        "maxConcurrentTrials": 2,
        "trialTimeout": "PT2M",
    },
    "searchSpace": {"lr": ["choice", [[0.1, 0.2]]]},
}


def sweep_job(**changes: Any) -> dict[str, Any]:
    """A Sweep job resource; keyword arguments replace top-level properties (None removes one)."""
    props = copy.deepcopy(SWEEP_PROPERTIES)
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return {"name": "tmpl", "properties": props}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs real trial processes for more than a few seconds")


@pytest.fixture(autouse=True)
def _no_mlflow_telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # the trials get these from the rehearsal; the test process (which may import mlflow) too
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    yield


def write_code(folder: Path, **scripts: str) -> Path:
    """A code directory with the given scripts (dedented)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in scripts.items():
        (folder / name).write_text(textwrap.dedent(body))
    return folder


PYTHON = sys.executable
ENV_WITHOUT_MLFLOW = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
