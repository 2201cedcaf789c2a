from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[3]


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "devhost.emulator", "--port", "0", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_serves_seed_workspace():
    proc = _start("--page-size", "2")
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"arm", "workspaceId", "token", "faults"}
        resp = requests.get(
            f"{info['arm']}{info['workspaceId']}/jobs",
            params={"api-version": "2024-10-01", "jobType": "Sweep"},
            headers={"Authorization": f"Bearer {info['token']}"},
            timeout=5,
        )
        assert resp.status_code == 200
        assert len(resp.json()["value"]) == 2 and "nextLink" in resp.json()
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_cli_starts_with_a_fault_plan_and_clears_it_over_the_admin_route():
    proc = _start("--faults", '{"rate": 1, "kinds": ["503"], "methods": ["list"]}')
    try:
        info = json.loads(proc.stdout.readline())
        auth = {"Authorization": f"Bearer {info['token']}"}
        url = f"{info['arm']}{info['workspaceId']}/jobs"
        params = {"api-version": "2024-10-01"}
        assert requests.get(url, params=params, headers=auth, timeout=5).status_code == 503
        cleared = requests.delete(info["faults"], headers=auth, timeout=5)
        assert cleared.json() == {"plan": None}
        assert requests.get(url, params=params, headers=auth, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_cli_refuses_a_bad_fault_plan_naming_the_field():
    proc = _start("--faults", '{"rate": 1, "kind": ["503"]}')
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "--faults: unknown fault plan field(s) kind; known fields:" in err
