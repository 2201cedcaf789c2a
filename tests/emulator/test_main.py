from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_seed_workspace():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost.emulator", "--port", "0", "--page-size", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"arm", "workspaceId", "token"}
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
