"""`python -m devhost serve` driven as a client drives it: a separate process, its first stdout
line read for the URLs and keys, everything else over loopback HTTP, its console on stderr.

What it must do as the Azure Functions host does: function keys (Azure/azure-functions-host
`AuthenticationLevelHandler` / `SecretManager` / `AuthUtility`, see tests/devhost/durable/test_keys.py),
timer triggers on their NCRONTAB schedule (Azure/azure-webjobs-sdk-extensions `TimerListener`),
and a console close to Core Tools' (`[timestamp] Executed 'Functions.name' (..., Duration=Nms)`).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from compat import UTC, parse_utc
from contracts import watcher_instance_id
from tests.e2e.helpers import structured
from triggers.reconciler import GRACE

ROOT = Path(__file__).resolve().parents[2]
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z\] ")
SCHEDULE_INTERVAL = timedelta(minutes=10)  # RECONCILE_SCHEDULE's default, 0 */10 * * * *


class Served:
    """A running `devhost serve` and what it printed."""

    def __init__(self, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", "serve", *args],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        first = self.proc.stdout.readline()
        assert first, f"serve printed no first line; stderr: {self.stderr()}"
        self.info: dict[str, Any] = json.loads(first)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, predicate, timeout: float = 60.0, *, after: str | None = None) -> str:
        """The first console line that satisfies `predicate` (and comes after the line `after`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = list(self.lines)
            start = lines.index(after) + 1 if after is not None else 0
            for line in lines[start:]:
                if predicate(line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no such line within {timeout} s; console:\n{self.stderr()}")

    def url(self, path: str) -> str:
        return f"{self.info['api']}/{path}"

    def keyed(self, **kwargs: Any) -> dict[str, Any]:
        return {"params": {"code": self.info["functionKey"]}, "timeout": 30, **kwargs}

    def arm_job(self, name: str) -> dict[str, Any]:
        answer = requests.get(
            f"{self.info['arm']}{self.info['workspaceId']}/jobs/{name}",
            params={"api-version": "2024-10-01"},
            headers={"Authorization": f"Bearer {self.info['token']}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def stop(self) -> int:
        self.proc.terminate()
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        return code


@pytest.fixture(scope="module")
def served():
    serve = Served("--port", "0", "--virtual")
    yield serve
    assert serve.stop() == 0


def _stamped(line: str) -> datetime:
    match = STAMP.match(line)
    assert match, line
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)


def test_the_first_line_names_the_api_the_keys_and_the_emulators_token(served):
    info = served.info
    assert info["api"].startswith("http://127.0.0.1:") and info["api"].endswith("/api")
    assert len(info["functionKey"]) >= 32 and len(info["masterKey"]) >= 32
    assert info["functionKey"] != info["masterKey"]
    assert info["token"] and info["faults"] == info["arm"] + "/_emulator/faults"
    served.arm_job("train-sweep-template")  # the token opens the emulator's ARM API
    assert "Functions:" in served.wait_for_line(lambda line: line == "Functions:")


def test_a_missing_or_wrong_key_is_401_and_starts_nothing(served):
    body = structured()
    for kwargs in ({}, {"params": {"code": "wrong"}}, {"headers": {"x-functions-key": "wrong"}}):
        answer = requests.post(served.url("sweeps"), json=body, timeout=30, **kwargs)
        assert answer.status_code == 401, kwargs
        assert answer.text == ""
    assert requests.get(served.url("templates"), timeout=30).status_code == 401
    by_header = requests.get(
        served.url("templates"), headers={"x-functions-key": served.info["functionKey"]}, timeout=30
    )
    assert by_header.status_code == 200
    by_master = requests.get(served.url("templates"), params={"code": served.info["masterKey"]}, timeout=30)
    assert by_master.status_code == 200


def test_each_request_is_one_log_line_with_method_route_status_and_duration_and_no_key(served):
    requests.get(served.url("sweeps/ps-no-such-run"), **served.keyed())
    requests.get(served.url("templates"), timeout=30)
    found = served.wait_for_line(lambda line: "GET /api/sweeps/ps-no-such-run 404" in line)
    assert re.search(r"\(Functions\.sweep_status, Duration=\d+ms\)$", found), found
    unauthorized = served.wait_for_line(lambda line: "GET /api/templates 401" in line)
    assert STAMP.match(unauthorized)
    assert served.info["functionKey"] not in served.stderr()
    assert served.info["masterKey"] not in served.stderr()


def test_a_runs_status_changes_are_one_line_each_in_words(served):
    """One console line per change a user can see: the orchestration completing after the run's
    status already says Success (a Secret parameter's clean-up comes between) is not a second,
    identical line."""
    body = {**json.loads((ROOT / "examples" / "sample-request.json").read_text()), "runId": "serve-lines"}
    assert any(p["dataType"] == "Secret" for p in body["parameters"])
    started = requests.post(served.url("sweeps"), json=body, **served.keyed())
    assert started.status_code == 202, started.text
    instance_id = started.json()["id"]
    deadline = time.monotonic() + 60
    view: dict[str, Any] = {}
    while view.get("runtimeStatus") != "Completed":
        assert time.monotonic() < deadline, view
        view = requests.get(served.url(f"sweeps/{instance_id}"), **served.keyed()).json()
        time.sleep(0.05)
    served.wait_for_line(lambda line: f"GET /api/sweeps/{instance_id} 200" in line)  # logged after the change
    said = [
        line.split(f"Run {instance_id}: ", 1)[1] for line in served.lines if f"Run {instance_id}: " in line
    ]
    job = view["jobName"]
    trials = view["trials"]
    assert said[0].startswith("Starting: ")
    assert said[-1].startswith(
        f"Success: Azure ML job {job} is Completed; trials {trials['total']}/{trials['total']} done"
    )
    assert all(a != b for a, b in itertools.pairwise(said)), said
    assert "None" not in " ".join(said)


def test_an_unknown_template_is_404_and_nothing_starts(served):
    instances = f"{served.info['api'][: -len('/api')]}/runtime/webhooks/durabletask/instances"

    def runs() -> set[str]:
        """The runs' instance ids (their statuses move on meanwhile: the stack is shared; the
        sweep watcher is not a run, and the reconciler may start it again at any time)."""
        listed = requests.get(instances, params={"code": served.info["masterKey"]}, timeout=30).json()
        return {i["instanceId"] for i in listed if not i["instanceId"].startswith(watcher_instance_id(None))}

    before = runs()
    for path, body in (("sweeps", structured("no-such-template")), ("sweeps/no-such-template", {"lr": 0.1})):
        answer = requests.post(served.url(path), json=body, **served.keyed())
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "TemplateNotFound"
    assert runs() == before


def test_a_terminated_runs_job_is_cancelled_by_the_reconciler_within_its_schedule(served):
    """Polysync's terminatePostUri stops the orchestration, not its job; the reconciler, a timer
    trigger the local host runs on RECONCILE_SCHEDULE as the real host does, cancels the job at its
    first occurrence after the grace period."""
    started = requests.post(served.url("sweeps"), json=structured("train-sweep-long"), **served.keyed())
    assert started.status_code == 202, started.text
    payload = started.json()
    instance_id = payload["id"]
    deadline = time.monotonic() + 60
    view: dict[str, Any] = {}
    while not view.get("jobName") and time.monotonic() < deadline:
        view = requests.get(served.url(f"sweeps/{instance_id}"), **served.keyed()).json()
        time.sleep(0.05)
    job_name = view["jobName"]
    assert job_name, view
    terminated = requests.post(payload["terminatePostUri"].replace("{text}", "operator"), timeout=30)
    assert terminated.status_code == 202
    stopped = served.wait_for_line(
        lambda line: f"Run {instance_id}: Cancelled: the orchestration was terminated" in line
    )
    cancelled = served.wait_for_line(lambda line: f"cancelling orphaned sweep job {job_name}" in line)
    served.wait_for_line(
        lambda line: "Executed 'Functions.reconcile_orphans' (Succeeded" in line, after=cancelled
    )
    job = served.arm_job(job_name)
    assert job["properties"]["status"] in ("CancelRequested", "Canceled")
    assert job["properties"]["tags"]["polysync.reconciled"] == "orchestration-terminated"
    created = parse_utc(job["systemData"]["createdAt"])
    due = max(_stamped(stopped), created + GRACE)
    assert due <= _stamped(cancelled) <= due + SCHEDULE_INTERVAL


def test_quiet_prints_the_first_line_and_nothing_else():
    serve = Served("--port", "0", "--virtual", "--quiet")
    try:
        assert requests.get(serve.url("templates"), **serve.keyed()).status_code == 200
        time.sleep(0.3)
        assert serve.lines == []
    finally:
        assert serve.stop() == 0


def test_keys_and_settings_come_from_local_settings_json_as_core_tools_reads_it(tmp_path):
    (tmp_path / "local.settings.json").write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {
                    "DEVHOST_FUNCTION_KEY": "function-key-from-the-file",
                    "SWEEP_POLL_FLOOR_SECONDS": "5",
                    "SWEEP_STALLED_LIMIT_SECONDS": "600",
                    "AZUREML_WORKSPACE_ID": "/subscriptions/x/resourceGroups/y/providers/Microsoft.MachineLearningServices/workspaces/z",
                },
                "Host": {"LocalHttpPort": 0},
            }
        )
    )
    serve = Served(
        "--virtual",
        "--master-key",
        "master-from-the-option",
        cwd=tmp_path,
        env={"SWEEP_POLL_FLOOR_SECONDS": "7"},
    )
    try:
        assert serve.info["functionKey"] == "function-key-from-the-file"
        assert serve.info["masterKey"] == "master-from-the-option"
        assert serve.info["workspaceId"].endswith("/workspaces/foundry-dev")  # the emulator's, not the file's
        text = "\n".join(serve.lines)
        assert (
            "Skipping 'SWEEP_POLL_FLOOR_SECONDS' from local settings as it's already defined in current environment variables."
            in text
        )
        assert "Skipping AZUREML_WORKSPACE_ID: serve runs the emulators" in text
        assert (
            requests.get(
                serve.url("templates"), params={"code": "function-key-from-the-file"}, timeout=30
            ).status_code
            == 200
        )
    finally:
        assert serve.stop() == 0


def test_an_encrypted_local_settings_file_is_refused(tmp_path):
    (tmp_path / "local.settings.json").write_text('{"IsEncrypted": true, "Values": {"A": "b"}}')
    done = subprocess.run(
        [sys.executable, "-m", "devhost", "serve", "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "IsEncrypted is true" in done.stderr and done.stdout == ""


def test_a_taken_port_is_a_clear_message_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "devhost", "serve", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"port {port} is already in use" in done.stderr and "--port 0" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
