"""`python -m devhost run REQUEST.json`: one request end to end, as Polysync would send it.

The whole stack starts, the request goes through the app's real HTTP start route (with the
function key), the run is followed through the status route (a line per change) and the final
result is printed as JSON on stdout.

Exit codes: 0 Success, 1 Failed (or the app could not start the run), 2 bad input (the request
file or an option; a 4xx from the start route), 3 Cancelled (Ctrl-C, SIGTERM or `--timeout`
included), 130 stopped waiting while the job may still run (only when you say so, or press Ctrl-C
twice) or interrupted before the run was started (nothing submitted).

A real workspace (`--workspace`) runs paid compute, and this process is the only thing tracking
its job: it waits as long as the sweep runs (no timeout unless given), Ctrl-C asks whether to
cancel the job, and a `--timeout` that runs out cancels the job and says so. With no terminal to
ask (a script, CI, nohup) Ctrl-C cancels, and so does SIGTERM anywhere: an interrupted process
that nobody can ask must not leave paid compute running. A signal that arrives while the start
request is on the wire waits for its answer, so the run it may have started is known and
cancelled too. Nothing here leaves a job running without saying where it is.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from devhost import cli_rehearsal
from devhost.cli_rehearsal import RehearsalOptionError
from devhost.console import FINISHED, run_line, status_view_of
from devhost.emulator.rehearsals import RehearsalSetup
from devhost.stack import LocalStack

EXIT = {"Success": 0, "Failed": 1, "Cancelled": 3}
EXIT_BAD_INPUT = 2
EXIT_STOPPED_WAITING = 130
EMULATOR_TIMEOUT = 120.0  # wall seconds: a virtual-time run takes a few


class BadRequestFile(ValueError):
    """The request file is not something the start routes take; the message says what is."""


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM while a run is followed; `asks` when a person may be asked."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def asks(self) -> bool:
        return self.signum == signal.SIGINT


class Signals:
    """SIGINT and SIGTERM become `Interrupted`, raised in the main thread. Between `hold()` and
    `release()` (or `settle()`) they wait: a start or cancel request on the wire gets its answer
    first, so the run it started is known and can be cancelled."""

    def __init__(self) -> None:
        self._holding = False
        self._pending: int | None = None
        self._raised: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._holding:
            self._pending = self._pending or signum
            return
        self._raised = signum
        raise Interrupted(signum)

    def check(self) -> None:
        """Raise again a signal whose `Interrupted` never reached this code. Python runs a signal
        handler in whatever the main thread is executing, a finalizer included (urllib3 closing a
        pooled socket when the garbage collector drops it); an exception raised there is printed
        as "Exception ignored" and dropped, and the Ctrl-C with it, leaving a paid job running
        with nobody asked. Every handler of the interrupt starts with `hold()`, which marks it
        taken; one still marked here was dropped."""
        raised, self._raised = self._raised, None
        if raised is not None:
            raise Interrupted(raised)

    def hold(self) -> None:
        self._holding = True
        self._raised = None  # the interrupt, if one was raised, is being handled

    def settle(self) -> int | None:
        """Stop holding; the signal that came meanwhile, if any, for the caller to act on."""
        self._holding = False
        pending, self._pending = self._pending, None
        return pending

    def release(self) -> None:
        """Stop holding; a signal that came meanwhile is raised now."""
        pending = self.settle()
        if pending is not None:
            raise Interrupted(pending)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("request", help="JSON file: structured body (externalId, ...), or {template, body}")
    parser.add_argument(
        "--workspace", help="ARM id of a real Azure ML workspace (uses your Azure credential)"
    )
    parser.add_argument("--real-clock", action="store_true", help="wall-clock time instead of virtual time")
    parser.add_argument("--no-events", action="store_true", help="do not deliver Event Grid events")
    parser.add_argument(
        "--timeout",
        type=float,
        help="wall seconds to wait before cancelling the run (default: 120 on the emulator in virtual time; "
        "none with --workspace, --real-clock or a rehearsal)",
    )
    cli_rehearsal.add_arguments(parser)


def start_path(request: Any) -> tuple[str, dict[str, Any]]:
    """A request file holds the structured body (`externalId`), or `{"template": ..., "body": {...}}`
    for Polysync's flat form."""
    if not isinstance(request, dict):
        raise BadRequestFile("expected a JSON object")
    if "externalId" in request:
        return "sweeps", request
    if isinstance(request.get("template"), str) and isinstance(request.get("body"), dict):
        return f"sweeps/{request['template']}", request["body"]
    raise BadRequestFile(
        "expected the structured body (with externalId, as examples/sample-request.json) or "
        '{"template": "<template job>", "body": {...}} (as examples/flat-request.json)'
    )


def run(args: argparse.Namespace) -> int:
    try:
        request = json.loads(Path(args.request).read_text())
        start = start_path(request)
    except (OSError, ValueError) as exc:
        print(f"{args.request}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    stack_box: list[LocalStack] = []
    say = _say_later(stack_box)
    try:
        rehearsal = cli_rehearsal.setup_from_args(
            args, cli_rehearsal.progress_listener(say, name_sweeps=False, announce_end=False)
        )
    except RehearsalOptionError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    signals = Signals().install()
    try:
        return _run_on_stack(args, request, start, rehearsal, stack_box, signals)
    except Interrupted:
        print("interrupted before the run was started: nothing was submitted", file=sys.stderr)
        return EXIT_STOPPED_WAITING
    finally:
        signals.restore()


def _run_on_stack(
    args: argparse.Namespace,
    request: dict[str, Any],
    start: tuple[str, dict[str, Any]],
    rehearsal: RehearsalSetup | None,
    stack_box: list[LocalStack],
    signals: Signals,
) -> int:
    path, body = start
    say = _say_later(stack_box)
    real_time = bool(args.real_clock or args.workspace or rehearsal)
    progress = RunProgress(stack_box)
    stack = LocalStack.start(
        # a rehearsal's trials take wall time: the run follows the wall clock, events arrive live
        virtual=not real_time,
        events=not args.no_events,
        workspace_id=args.workspace,
        rehearsal=rehearsal,
        timers=True,
        observer=progress,
    )
    stack_box.append(stack)
    try:
        _progress(stack, f"workspace {stack.env['AZUREML_WORKSPACE_ID']}")
        if stack.emulator is not None:
            cli_rehearsal.seed_templates(stack.emulator, args.template, say)
            template = request.get("externalId", request.get("template"))
            cli_rehearsal.template_beside(
                stack.emulator, Path(args.request), template if isinstance(template, str) else None, say
            )
        if rehearsal is not None:
            _progress(
                stack, f"rehearsing sweeps with {rehearsal.code.describe()}; runs in {rehearsal.runs_dir}"
            )
        signals.hold()  # from the start request until the run is followed: its instance id is needed
        answer = stack.post(path, body)
        if 400 <= answer.status_code < 500:
            print(json.dumps(answer.json(), indent=2))
            return EXIT_BAD_INPUT
        if answer.status_code != 202:
            print(f"start failed: HTTP {answer.status_code} {answer.text}", file=sys.stderr)
            return 1
        instance_id = answer.json()["id"]
        _progress(stack, f"started instance {instance_id}")
        timeout = args.timeout if args.timeout is not None else (None if real_time else EMULATOR_TIMEOUT)
        paid = bool(args.workspace)
        if paid:
            _progress(stack, _waiting_line(timeout))
        progress.follow(instance_id)
        view, code = _wait(stack, instance_id, timeout, paid=paid, signals=signals)
        print(json.dumps(view, indent=2))
        try:
            _rehearsal_summary(stack, view.get("jobName"))
        except Interrupted:
            pass  # the run is over; only the rehearsal's summary is skipped
        return code if code is not None else EXIT.get(view.get("status"), 1)
    except RehearsalOptionError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        stack.stop()


# -- waiting --------------------------------------------------------------------------------------
def _waiting_line(timeout: float | None) -> str:
    limit = (
        f"up to {timeout:g} s (--timeout), then cancels it"
        if timeout is not None
        else "as long as the sweep runs (no --timeout)"
    )
    interrupt = (
        "Ctrl-C asks whether to cancel the job"
        if sys.stdin.isatty()
        else "Ctrl-C or SIGTERM cancels the job (no terminal to ask)"
    )
    return f"a real workspace: waiting {limit}; {interrupt}"


def _wait(
    stack: LocalStack,
    instance_id: str,
    timeout: float | None,
    *,
    paid: bool,
    signals: Signals,
) -> tuple[dict, int | None]:
    """Follow the run to its end. Returns its view, and an exit code when it is not the run's own.
    A signal held while the run was being started is acted on here."""
    seen: dict[str, Any] = {}
    try:
        signals.release()
        return _follow(stack, instance_id, timeout, seen, signals), None
    except TimeoutError:
        _progress(stack, f"gave up waiting after {timeout:g} s (--timeout): cancelling the run and its job")
        return _cancel(stack, instance_id, seen, paid=paid, signals=signals)
    except KeyboardInterrupt as exc:
        again = _refresh(stack, instance_id, seen, signals)  # the job may be newer than the last poll
        asks = paid and not again and (exc.asks if isinstance(exc, Interrupted) else True)
        if asks and not _ask_to_cancel(seen):
            return _left_running(stack, seen, "you chose to leave it running")
        why = "SIGTERM" if isinstance(exc, Interrupted) and not exc.asks else "Ctrl-C"
        _progress(stack, f"{why}: cancelling the run and its job (Ctrl-C again stops waiting)")
        return _cancel(stack, instance_id, seen, paid=paid, signals=signals)


def _cancel(
    stack: LocalStack, instance_id: str, seen: dict[str, Any], *, paid: bool, signals: Signals
) -> tuple[dict, int | None]:
    """Cancel through the app's cancel route (which cancels the Azure ML job once it exists) and
    follow the run until it has ended. `seen`: the run's last view, updated from the answer."""
    signals.hold()
    answer = stack.post(f"sweeps/{instance_id}/cancel", {"reason": "cancelled from devhost run"})
    if answer.headers.get("Content-Type", "").startswith("application/json"):
        seen.update({k: v for k, v in answer.json().items() if v is not None})
    try:
        signals.release()
        return _follow(stack, instance_id, None if paid else EMULATOR_TIMEOUT, seen, signals), None
    except (KeyboardInterrupt, TimeoutError):
        _refresh(stack, instance_id, seen, signals)
        return _left_running(stack, seen, "stopped waiting for the cancel to finish; it was sent to Azure ML")


def _refresh(stack: LocalStack, instance_id: str, seen: dict[str, Any], signals: Signals) -> bool:
    """The run's view as of now, for a question or a last word (the last poll may be stale).
    True when another signal came meanwhile (Ctrl-C pressed twice: cancel without asking).
    Only a nicety: when the app cannot answer, the last view stands, and the interrupt goes on to
    the cancel (or the last word) instead of escaping with the job left running unnamed."""
    signals.hold()
    answer: requests.Response | None = None
    try:
        answer = stack.get(f"sweeps/{instance_id}")
    except requests.RequestException as exc:
        _progress(
            stack, f"could not refresh the run's status ({type(exc).__name__}); going on with the last one"
        )
    finally:
        again = signals.settle() is not None
    if answer is not None and answer.status_code == 200:
        seen.clear()
        seen.update(answer.json())
    return again


def _left_running(stack: LocalStack, seen: dict[str, Any], why: str) -> tuple[dict, int]:
    job, url = seen.get("jobName"), seen.get("monitorUrl")
    if job:
        where = f"Azure ML job {job} may still be running ({why}): {url or 'see Azure ML studio'}"
    else:
        where = f"no Azure ML job was seen yet ({why}); check the workspace's jobs tagged polysync.instanceId"
    _progress(stack, where)
    return seen, EXIT_STOPPED_WAITING


def _ask_to_cancel(seen: dict[str, Any]) -> bool:
    """Ask on the terminal; without one (or on a second Ctrl-C / end of input) the answer is yes.
    The question goes to stderr: stdout carries only the result's JSON."""
    if not sys.stdin.isatty():
        return True
    job = seen.get("jobName")
    what = f"Azure ML job {job}" if job else "the sweep job (its submission may be on the way)"
    print(
        f"\nCancel {what}? It keeps running (and costing) otherwise. [Y/n] ",
        end="",
        file=sys.stderr,
        flush=True,
    )
    try:
        reply = sys.stdin.readline()
    except KeyboardInterrupt:
        return True
    return reply.strip().lower() not in ("n", "no")


def _follow(
    stack: LocalStack, instance_id: str, timeout: float | None, seen: dict[str, Any], signals: Signals
) -> dict[str, Any]:
    """Poll the status route until the run has ended; TimeoutError past `timeout` wall seconds.
    `seen` keeps the last view (for whoever handles an interrupt). The progress lines come from
    RunProgress, which sees every change as the host makes it. Each poll first raises a signal a
    finalizer swallowed (`Signals.check`)."""
    deadline = time.monotonic() + timeout if timeout is not None else float("inf")
    while True:
        signals.check()
        view = stack.get(f"sweeps/{instance_id}").json()
        seen.clear()
        seen.update(view)
        if view.get("runtimeStatus") in FINISHED:
            return view
        if time.monotonic() >= deadline:
            raise TimeoutError
        time.sleep(0.05 if stack.clock.virtual else 0.5)


class RunProgress:
    """A line per change of the run's status, as the host makes it (devhost.durable.observer).
    Changes made while the start request is answered wait until `follow`, so the run's lines
    come after the line that names it."""

    def __init__(self, stack_box: list[LocalStack]) -> None:
        self._stack_box = stack_box
        self._lock = threading.Lock()
        self._following: str | None = None
        self._last: dict[str, str] = {}
        self._said: dict[str, str] = {}

    def http_served(self, served: Any) -> None:
        return None

    def function_ran(self, ran: Any) -> None:
        return None

    def follow(self, instance_id: str) -> None:
        with self._lock:
            self._following = instance_id
        self._say(instance_id)

    def instance_touched(self, instance_id: str) -> None:
        if not self._stack_box:
            return
        view = status_view_of(self._stack_box[0], instance_id)
        if view is None:
            return
        with self._lock:
            self._last[instance_id] = run_line(view)
        self._say(instance_id)

    def _say(self, instance_id: str) -> None:
        with self._lock:
            line = self._last.get(instance_id)
            if instance_id != self._following or line is None or self._said.get(instance_id) == line:
                return
            self._said[instance_id] = line
            _progress(self._stack_box[0], line)


# -- output ---------------------------------------------------------------------------------------
def _progress(stack: LocalStack, line: str) -> None:
    stamp = stack.clock.now().strftime("%Y-%m-%d %H:%M:%S")
    print(f"[{stamp}{' virtual' if stack.clock.virtual else ''}] {line}", file=sys.stderr, flush=True)


def _say_later(stack_box: list[LocalStack]) -> cli_rehearsal.Say:
    """Progress lines from threads that may start before the stack is returned."""

    def say(line: str) -> None:
        if stack_box:
            _progress(stack_box[0], line)
        else:
            print(line, file=sys.stderr, flush=True)

    return say


def _rehearsal_summary(stack: LocalStack, job_name: Any) -> None:
    """After the result: where the rehearsed sweep's trials, outputs and report are."""
    rehearsals = stack.emulator.rehearsals if stack.emulator is not None else None
    sweep = rehearsals.get(job_name) if rehearsals is not None and isinstance(job_name, str) else None
    if sweep is None:
        return
    sweep.settled.wait(30)
    if sweep.outcome is not None:
        for line in cli_rehearsal.outcome_lines(sweep.outcome):
            _progress(stack, line)
