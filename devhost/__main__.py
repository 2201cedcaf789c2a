"""`python -m devhost run REQUEST.json` and `python -m devhost serve`.

`run` starts the whole stack, sends the request through the app's real HTTP
start route, follows the run through the status route printing a line per
change, and prints the final result as JSON. Exit codes: 0 Success, 1 Failed,
2 bad input, 3 Cancelled. Ctrl-C cancels the run through the app's cancel route.

`serve` starts the stack and keeps it up; its first stdout line is one JSON
object with `api`, `arm`, `workspaceId` and (with the emulator) `faults`, the
emulator's fault admin route, so scripts can find them. `--faults` starts it with
a fault plan (JSON or @file; docs/emulator.md, "Faults").

`--code DIR` (both) rehearses sweeps: the emulator runs their trials for real with
the training code in DIR, on the wall clock, and the progress of the trials is
printed as they go (docs/rehearsal.md). A request's template that the workspace
lacks is seeded from `TEMPLATE.json` next to the request file; `--template FILE`
seeds any other.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from devhost import cli_rehearsal
from devhost.cli_rehearsal import RehearsalOptionError
from devhost.emulator.fault_config import FaultPlanError, parse_faults_option
from devhost.emulator.rehearsals import TRIAL_RUN_TYPE
from devhost.emulator.routes import ADMIN_FAULTS_PATH
from devhost.stack import LocalStack

EXIT = {"Success": 0, "Failed": 1, "Cancelled": 3}
FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}


def _template(request: dict[str, Any]) -> str | None:
    name = request.get("externalId", request.get("template"))
    return name if isinstance(name, str) else None


def _start_path(request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A request file holds either the structured body (`externalId`), or
    `{"template": ..., "body": {...}}` for Polysync's flat form."""
    if "externalId" in request:
        return "sweeps", request
    if isinstance(request.get("template"), str) and isinstance(request.get("body"), dict):
        return f"sweeps/{request['template']}", request["body"]
    raise SystemExit("request file: expected a structured body with externalId, or {template, body}")


def _progress(stack: LocalStack, line: str) -> None:
    stamp = stack.clock.now().strftime("%Y-%m-%d %H:%M:%S")
    print(f"[{stamp}{' virtual' if stack.clock.virtual else ''}] {line}", file=sys.stderr, flush=True)


def _azure_ml_event(stack_box: list[LocalStack], event: dict[str, Any]) -> None:
    """Show the job's lifecycle as the emulated workspace reports it (a rehearsal's trials have
    their own progress lines, so their events are not repeated here)."""
    data = event.get("data") or {}
    if data.get("runType") == TRIAL_RUN_TYPE:
        return
    if stack_box and event.get("eventType", "").endswith("RunStatusChanged"):
        _progress(stack_box[0], f"Azure ML: {data.get('runId')} is {data.get('runStatus')}")


def _say_later(stack_box: list[LocalStack]) -> cli_rehearsal.Say:
    """Progress lines from threads that may start before the stack is returned."""

    def say(line: str) -> None:
        if stack_box:
            _progress(stack_box[0], line)
        else:
            print(line, file=sys.stderr, flush=True)

    return say


def run(args: argparse.Namespace) -> int:
    try:
        request = json.loads(Path(args.request).read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.request}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(request, dict):
        print(f"{args.request}: expected a JSON object", file=sys.stderr)
        return 2
    path, body = _start_path(request)
    stack_box: list[LocalStack] = []
    say = _say_later(stack_box)
    try:
        rehearsal = cli_rehearsal.setup_from_args(
            args, cli_rehearsal.progress_listener(say, name_sweeps=False, announce_end=False)
        )
    except RehearsalOptionError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    stack = LocalStack.start(
        # a rehearsal's trials take wall time: the run follows the wall clock, events arrive live
        virtual=not (args.real_clock or args.workspace or rehearsal),
        events=not args.no_events,
        workspace_id=args.workspace,
        on_event=lambda event: _azure_ml_event(stack_box, event),
        rehearsal=rehearsal,
    )
    stack_box.append(stack)
    try:
        _progress(stack, f"workspace {stack.env['AZUREML_WORKSPACE_ID']}")
        if stack.emulator is not None:
            cli_rehearsal.seed_templates(stack.emulator, args.template, say)
            cli_rehearsal.template_beside(stack.emulator, Path(args.request), _template(request), say)
        if rehearsal is not None:
            _progress(
                stack, f"rehearsing sweeps with {rehearsal.code.describe()}; runs in {rehearsal.runs_dir}"
            )
        answer = stack.post(path, body)
        if answer.status_code == 400:
            print(json.dumps(answer.json(), indent=2))
            return 2
        if answer.status_code != 202:
            print(f"start failed: HTTP {answer.status_code} {answer.text}", file=sys.stderr)
            return 1
        instance_id = answer.json()["id"]
        _progress(stack, f"started instance {instance_id}")
        timeout = args.timeout if args.timeout is not None else (None if rehearsal else 120.0)
        try:
            view = _follow(stack, instance_id, timeout)
        except KeyboardInterrupt:
            _progress(stack, "cancelling the run (Ctrl-C again stops at once)")
            stack.post(f"sweeps/{instance_id}/cancel")
            view = _follow(stack, instance_id, 120.0)
        print(json.dumps(view, indent=2))
        _rehearsal_summary(stack, view.get("jobName"))
        return EXIT.get(view.get("status"), 1)
    except RehearsalOptionError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        stack.stop()


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


def _follow(stack: LocalStack, instance_id: str, timeout: float | None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout if timeout is not None else float("inf")
    last: tuple[Any, ...] = ()
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = stack.get(f"sweeps/{instance_id}").json()
        key = (view.get("status"), view.get("azureStatus"), view.get("jobName"))
        if key != last:
            last = key
            _progress(
                stack, f"{view.get('status')} (Azure ML: {view.get('azureStatus')}) job={view.get('jobName')}"
            )
        if view.get("runtimeStatus") in FINISHED:
            return view
        time.sleep(0.05 if stack.clock.virtual else 0.5)
    view["status"] = view.get("status") or "Failed"
    print(f"gave up waiting after {timeout} s (wall clock)", file=sys.stderr)
    return view


def serve(args: argparse.Namespace) -> int:
    try:
        faults = parse_faults_option(args.faults) if args.faults else None
    except FaultPlanError as exc:
        print(f"--faults: {exc}", file=sys.stderr)
        return 2
    stack_box: list[LocalStack] = []
    say = _say_later(stack_box)
    try:
        rehearsal = cli_rehearsal.setup_from_args(
            args, cli_rehearsal.progress_listener(say, name_sweeps=True, announce_end=True)
        )
    except RehearsalOptionError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    stack = LocalStack.start(
        faults=faults,
        virtual=args.virtual,
        events=not args.no_events,
        workspace_id=args.workspace,
        port=args.port,
        emulator_port=args.emulator_port,
        rehearsal=rehearsal,
    )
    stack_box.append(stack)
    info = {
        "api": stack.api,
        "arm": stack.env.get("AZUREML_ARM_ENDPOINT", "https://management.azure.com"),
        "workspaceId": stack.env["AZUREML_WORKSPACE_ID"],
    }
    if stack.emulator is not None:
        info["faults"] = stack.emulator.arm_endpoint + ADMIN_FAULTS_PATH
        try:
            cli_rehearsal.seed_templates(stack.emulator, args.template, say)
        except RehearsalOptionError as exc:
            print(str(exc), file=sys.stderr)
            stack.stop()
            return 2
    if rehearsal is not None:
        info["rehearsals"] = str(rehearsal.runs_dir)
    print(json.dumps(info), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run one request end to end and print the result")
    p_run.add_argument("request", help="JSON file: structured body, or {template, body}")
    p_run.add_argument("--workspace", help="ARM id of a real Azure ML workspace (uses your Azure credential)")
    p_run.add_argument("--real-clock", action="store_true", help="wall-clock time instead of virtual time")
    p_run.add_argument("--no-events", action="store_true", help="do not deliver Event Grid events")
    p_run.add_argument(
        "--timeout", type=float, help="wall seconds to wait (default 120; a rehearsal: until the run ends)"
    )
    cli_rehearsal.add_arguments(p_run)
    p_serve = sub.add_parser("serve", help="serve the app's HTTP API on loopback")
    p_serve.add_argument("--port", type=int, default=7071)
    p_serve.add_argument("--emulator-port", type=int, default=0)
    p_serve.add_argument("--workspace", help="ARM id of a real Azure ML workspace")
    p_serve.add_argument("--virtual", action="store_true", help="virtual clock (time jumps when idle)")
    p_serve.add_argument("--no-events", action="store_true")
    p_serve.add_argument(
        "--faults",
        help="emulator fault plan, JSON or @file (docs/emulator.md); change it later over the emulator's "
        "/_emulator/faults route",
    )
    cli_rehearsal.add_arguments(p_serve)
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
