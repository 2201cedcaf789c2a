"""`python -m devhost run --workspace <ARM id>`: a run on a workspace that bills, followed by a
process that is the only thing tracking its job. Here the "real" workspace is the emulator on
loopback reached exactly as Azure is (its ARM endpoint and a bearer token in the app settings,
real clock, no Event Grid), and the CLI runs as a user runs it: a subprocess, signalled as a
terminal or a supervisor signals it, its answers typed on a pseudo-terminal.

What is judged is the job in the workspace after the CLI is done: Canceled when the run was
cancelled, still running (and named, with its monitor URL) only when the user said to leave it.
The emulator's cancel follows Azure ML's (CancelRequested, then Canceled a few seconds later:
tests/devhost/emulator/test_lifecycle.py names the REST spec it follows).
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.clock import RealClock
from devhost.emulator import FaultPlan, WorkspaceEmulator

ROOT = Path(__file__).resolve().parents[2]
EXIT_CANCELLED, EXIT_STOPPED_WAITING = 3, 130


@pytest.fixture
def workspace() -> Iterator[WorkspaceEmulator]:
    clock = RealClock().start()
    emulator = WorkspaceEmulator(clock=clock, templates_dir=WorkspaceEmulator.default_templates_dir()).start()
    emulator.cancel_seconds = 1.0  # Azure ML takes seconds; the test need not wait for more
    try:
        yield emulator
    finally:
        emulator.stop()
        clock.stop()


def _request(tmp_path: Path, run_id: str) -> Path:
    """A 48-hour sweep (queued for 10 minutes first): it is still going when the CLI is stopped."""
    body = {
        "externalId": "train-sweep-long",
        "runId": run_id,
        "attributes": {"AI Foundry Objective Metric": "accuracy", "AI Foundry Objective Goal": "Maximize"},
        "parameters": [
            {"name": "learning_rate", "value": "0.01", "dataType": "Float", "direction": "Input"},
            {"name": "model", "dataType": "String", "direction": "Output"},
        ],
    }
    path = tmp_path / f"{run_id}.json"
    path.write_text(json.dumps(body))
    return path


class Cli:
    """`devhost run --workspace` as a subprocess; its stderr collected as it comes (a prompt has
    no newline), stdin a pseudo-terminal when `terminal`."""

    def __init__(self, workspace: WorkspaceEmulator, request: Path, *extra: str, terminal: bool) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            # how the app reaches a workspace: its ARM endpoint and a token (the emulator's)
            "AZUREML_ARM_ENDPOINT": workspace.arm_endpoint,
            "AZUREML_STATIC_TOKEN": workspace.token,
            # the poll floor as an app setting, so a cancel is seen in a second, not in 15
            "SWEEP_POLL_FLOOR_SECONDS": "1",
            "SWEEP_POLL_CAP_SECONDS": "2",
        }
        self._master: int | None = None
        stdin: int = subprocess.DEVNULL
        if terminal:
            self._master, stdin = pty.openpty()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devhost",
                "run",
                str(request),
                "--workspace",
                workspace.workspace_id,
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if terminal:
            os.close(stdin)
        self._err = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := os.read(self.proc.stderr.fileno(), 4096):
            with self._lock:
                self._err.extend(chunk)

    @property
    def err(self) -> str:
        with self._lock:
            return self._err.decode(errors="replace")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.err:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never came (exit {self.proc.poll()}); stderr:\n{self.err}")
            time.sleep(0.02)

    def type(self, text: str) -> None:
        assert self._master is not None
        os.write(self._master, text.encode())

    def finish(self, timeout: float = 90.0) -> tuple[int, dict]:
        """Its exit code and the result JSON on stdout, once it has exited (stderr read to the end)."""
        assert self.proc.stdout is not None
        try:
            self.proc.wait(timeout=timeout)  # its stdout is one small JSON document: no pipe fills up
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout} s; stderr:\n{self.err}") from None
        out = self.proc.stdout.read()
        self._reader.join(timeout=10)
        return self.proc.returncode, json.loads(out)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._master is not None:
            os.close(self._master)


@pytest.fixture
def cli(workspace: WorkspaceEmulator) -> Iterator[list[Cli]]:
    started: list[Cli] = []
    yield started
    for one in started:
        one.close()


def _start(cli: list[Cli], workspace: WorkspaceEmulator, request: Path, *extra: str, terminal: bool) -> Cli:
    one = Cli(workspace, request, *extra, terminal=terminal)
    cli.append(one)
    return one


def _job_of(workspace: WorkspaceEmulator, view: dict) -> str:
    job = view["jobName"]
    assert job and job.startswith("train-sweep-long-"), view
    return job


def _status(workspace: WorkspaceEmulator, job: str) -> str:
    return workspace.job(job)["properties"]["status"]


def test_without_a_timeout_it_says_it_waits_as_long_as_the_sweep_runs_and_how_to_stop(
    workspace, cli, tmp_path
):
    run = _start(cli, workspace, _request(tmp_path, "ws-waits"), terminal=False)
    run.wait_for(
        "a real workspace: waiting as long as the sweep runs (no --timeout); Ctrl-C or SIGTERM cancels"
    )
    run.wait_for(" submitted")
    run.proc.send_signal(signal.SIGTERM)
    code, view = run.finish()
    assert code == EXIT_CANCELLED and view["status"] == "Cancelled", run.err
    assert _status(workspace, _job_of(workspace, view)) == "Canceled"


def test_a_timeout_cancels_the_job_and_says_so(workspace, cli, tmp_path):
    run = _start(cli, workspace, _request(tmp_path, "ws-timeout"), "--timeout", "3", terminal=False)
    run.wait_for("a real workspace: waiting up to 3 s (--timeout), then cancels it")
    code, view = run.finish()
    assert code == EXIT_CANCELLED, run.err
    assert "gave up waiting after 3 s (--timeout): cancelling the run and its job" in run.err
    assert view["status"] == "Cancelled"
    assert _status(workspace, _job_of(workspace, view)) == "Canceled"
    assert not workspace.active_jobs()


def test_ctrl_c_without_a_terminal_cancels_the_job(workspace, cli, tmp_path):
    run = _start(cli, workspace, _request(tmp_path, "ws-no-tty"), terminal=False)
    run.wait_for(" submitted")
    run.proc.send_signal(signal.SIGINT)
    code, view = run.finish()
    assert code == EXIT_CANCELLED, run.err
    assert "Ctrl-C: cancelling the run and its job" in run.err
    assert "[Y/n]" not in run.err  # nobody to ask
    assert _status(workspace, _job_of(workspace, view)) == "Canceled"


def test_ctrl_c_on_a_terminal_asks_and_yes_cancels_the_job(workspace, cli, tmp_path):
    run = _start(cli, workspace, _request(tmp_path, "ws-yes"), terminal=True)
    run.wait_for("Ctrl-C asks whether to cancel the job")
    run.wait_for(" submitted")
    run.proc.send_signal(signal.SIGINT)
    run.wait_for("? It keeps running (and costing) otherwise. [Y/n] ")
    assert workspace.active_jobs()  # nothing is cancelled before the answer
    run.type("\n")
    code, view = run.finish()
    assert code == EXIT_CANCELLED and view["status"] == "Cancelled", run.err
    assert _status(workspace, _job_of(workspace, view)) == "Canceled"


def test_ctrl_c_on_a_terminal_leaves_the_job_only_when_told_and_says_where_it_is(workspace, cli, tmp_path):
    run = _start(cli, workspace, _request(tmp_path, "ws-no"), terminal=True)
    run.wait_for(" submitted")
    run.proc.send_signal(signal.SIGINT)
    run.wait_for("[Y/n] ")
    run.type("n\n")
    code, view = run.finish()
    job = _job_of(workspace, view)
    assert code == EXIT_STOPPED_WAITING, run.err
    assert (
        f"Azure ML job {job} may still be running (you chose to leave it running): {view['monitorUrl']}"
        in run.err
    )
    assert workspace.active_jobs() == [job]


def test_sigterm_on_a_terminal_cancels_without_asking(workspace, cli, tmp_path):
    run = _start(cli, workspace, _request(tmp_path, "ws-term"), terminal=True)
    run.wait_for(" submitted")
    run.proc.send_signal(signal.SIGTERM)
    code, view = run.finish()
    assert code == EXIT_CANCELLED, run.err
    assert "SIGTERM: cancelling the run and its job" in run.err and "[Y/n]" not in run.err
    assert _status(workspace, _job_of(workspace, view)) == "Canceled"


def test_a_signal_while_the_start_request_is_on_the_wire_still_cancels_what_it_started(
    workspace, cli, tmp_path
):
    """The start route reads the template before answering; a slow workspace keeps that read on
    the wire while SIGTERM arrives. The start's answer is awaited, and the run it started (with
    its job, once submitted) is cancelled rather than left behind."""
    workspace.set_faults(FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=2.0, methods=frozenset({"get"})))
    gets = workspace.calls["get"]
    run = _start(cli, workspace, _request(tmp_path, "ws-early"), terminal=False)
    deadline = time.monotonic() + 60
    while workspace.calls["get"] == gets:  # the start route's template read has reached the workspace
        assert time.monotonic() < deadline and run.proc.poll() is None, run.err
        time.sleep(0.01)
    run.proc.send_signal(signal.SIGTERM)
    workspace.set_faults(None)
    code, view = run.finish()
    assert code == EXIT_CANCELLED and view["status"] == "Cancelled", run.err
    assert "started instance" in run.err
    assert not workspace.active_jobs()
