"""`python -m devhost run` as `make run` uses it: exit codes and the printed result."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(request_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devhost", "run", str(request_file), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sample_request_runs_to_success_with_monitor_url_best_trial_and_outputs():
    done = _run(ROOT / "examples" / "sample-request.json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "Success"
    assert result["monitorUrl"].startswith("https://ml.azure.com/runs/")
    assert result["bestTrial"]["runId"]
    assert result["outputs"]["model"].startswith("azureml://")
    assert "Running" in done.stderr or "Success" in done.stderr  # progress lines
    # customStatus' trial progress, as the status route shows it, in the progress lines and the result
    trials = result["trials"]
    assert trials["done"] == trials["total"] > 0
    assert f"trials {trials['total']}/{trials['total']} done, 0 running" in done.stderr


def test_flat_request_without_events_still_succeeds():
    done = _run(ROOT / "examples" / "flat-request.json", "--no-events")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "Success"


def test_bad_input_exits_2_and_lists_the_fields(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "externalId": "train-sweep-template",
                "parameters": [{"name": "x", "value": "abc", "dataType": "Int"}],
            }
        )
    )
    done = _run(bad)
    assert done.returncode == 2, done.stderr
    errors = json.loads(done.stdout)["error"]["errors"]
    assert any(e["field"].startswith("parameters[0]") for e in errors)


def test_failed_run_exits_1(tmp_path):
    failing = json.loads((ROOT / "examples" / "sample-request.json").read_text())
    failing["attributes"]["AI Foundry Objective Metric"] = "not_logged"
    failing.pop("runId")
    path = tmp_path / "failing.json"
    path.write_text(json.dumps(failing))
    done = _run(path)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["status"] == "Failed"


def test_serve_takes_a_fault_plan_and_names_its_admin_route(tmp_path):
    """`devhost serve --faults @plan.json` starts the emulator with that plan; the first line
    names the admin route where it can be changed at runtime."""
    import os

    import requests

    plan = tmp_path / "plan.json"
    plan.write_text('{"rate": 1, "kinds": ["429"], "retry_after_seconds": 300, "methods": ["GET"]}')
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost", "serve", "--port", "0", "--virtual", "--faults", f"@{plan}"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        assert info["faults"] == info["arm"] + "/_emulator/faults"
        auth = {"Authorization": "Bearer emulator-token"}
        current = requests.get(info["faults"], headers=auth, timeout=5).json()["plan"]
        assert current["retry_after_seconds"] == 300 and current["methods"] == ["GET"]
        throttled = requests.get(
            f"{info['arm']}{info['workspaceId']}/jobs/x",
            params={"api-version": "2024-10-01"},
            headers=auth,
            timeout=5,
        )
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "300"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_refuses_a_bad_fault_plan():
    done = subprocess.run(
        [sys.executable, "-m", "devhost", "serve", "--port", "0", "--faults", '{"rate": 5}'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--faults: invalid fault plan: FaultPlan.rate must be within [0, 1]" in done.stderr


def test_a_request_file_of_neither_shape_exits_2_saying_what_it_expects(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "no externalId here"}))
    done = _run(bad)
    assert done.returncode == 2, done.stderr
    assert "expected the structured body (with externalId" in done.stderr


def test_an_unknown_template_exits_2_with_the_404(tmp_path):
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"externalId": "no-such-template", "parameters": []}))
    done = _run(unknown)
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["error"]["code"] == "TemplateNotFound"


def test_progress_lines_read_naturally():
    done = _run(ROOT / "examples" / "sample-request.json")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    started = next(i for i, line in enumerate(lines) if "started instance ps-" in line)
    assert all("started instance" in line or "workspace" in line for line in lines[:started]), lines
    # the run's first line is its state when the start answered: still submitting, or (on a busy
    # box, the submit having raced ahead) its job already named
    first = next(line for line in lines[started + 1 :] if re.search(r"\] (Starting|Running|Success): ", line))
    assert re.search(
        r"\] Starting: (submitting the sweep job|Azure ML job train-sweep-template-[0-9a-f]{16} (submitted|is \w+))$",
        first,
    ), lines
    assert re.search(r"Running: Azure ML job train-sweep-template-[0-9a-f]{16} is Running", done.stderr)
    assert "None" not in done.stderr


def test_a_timeout_cancels_the_run_and_says_so(tmp_path):
    long = json.loads((ROOT / "examples" / "sample-request.json").read_text())
    long.update(externalId="train-sweep-long", runId="cli-timeout")
    path = tmp_path / "long.json"
    path.write_text(json.dumps(long))
    done = _run(path, "--timeout", "0.2")
    assert done.returncode == 3, done.stderr
    assert "gave up waiting after 0.2 s (--timeout): cancelling the run and its job" in done.stderr
    assert json.loads(done.stdout)["status"] == "Cancelled"
