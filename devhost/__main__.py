"""`python -m devhost run REQUEST.json` and `python -m devhost serve`.

`run` starts the whole stack, sends the request through the app's real HTTP
start route, follows the run through the status route printing a line per
change, and prints the final result as JSON. Exit codes: 0 Success, 1 Failed,
2 bad input, 3 Cancelled.

`serve` starts the stack and keeps it up; its first stdout line is one JSON
object with `api`, `arm`, `workspaceId` and (with the emulator) `faults`, the
emulator's fault admin route, so scripts can find them. `--faults` starts it with
a fault plan (JSON or @file; docs/emulator.md, "Faults").
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

from devhost.emulator.fault_config import FaultPlanError, parse_faults_option
from devhost.emulator.routes import ADMIN_FAULTS_PATH
from devhost.stack import LocalStack

EXIT = {"Success": 0, "Failed": 1, "Cancelled": 3}
FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}


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
    """Show the job's lifecycle as the emulated workspace reports it."""
    data = event.get("data") or {}
    if stack_box and event.get("eventType", "").endswith("RunStatusChanged"):
        _progress(stack_box[0], f"Azure ML: {data.get('runId')} is {data.get('runStatus')}")


def run(args: argparse.Namespace) -> int:
    try:
        request = json.loads(Path(args.request).read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.request}: {exc}", file=sys.stderr)
        return 2
    path, body = _start_path(request)
    stack_box: list[LocalStack] = []
    stack = LocalStack.start(
        virtual=not (args.real_clock or args.workspace),
        events=not args.no_events,
        workspace_id=args.workspace,
        on_event=lambda event: _azure_ml_event(stack_box, event),
    )
    stack_box.append(stack)
    try:
        _progress(stack, f"workspace {stack.env['AZUREML_WORKSPACE_ID']}")
        answer = stack.post(path, body)
        if answer.status_code == 400:
            print(json.dumps(answer.json(), indent=2))
            return 2
        if answer.status_code != 202:
            print(f"start failed: HTTP {answer.status_code} {answer.text}", file=sys.stderr)
            return 1
        instance_id = answer.json()["id"]
        _progress(stack, f"started instance {instance_id}")
        view = _follow(stack, instance_id, args.timeout)
        print(json.dumps(view, indent=2))
        return EXIT.get(view.get("status"), 1)
    finally:
        stack.stop()


def _follow(stack: LocalStack, instance_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
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
        time.sleep(0.05 if stack.clock.virtual else 2.0)
    view["status"] = view.get("status") or "Failed"
    print(f"gave up waiting after {timeout} s (wall clock)", file=sys.stderr)
    return view


def serve(args: argparse.Namespace) -> int:
    try:
        faults = parse_faults_option(args.faults) if args.faults else None
    except FaultPlanError as exc:
        print(f"--faults: {exc}", file=sys.stderr)
        return 2
    stack = LocalStack.start(
        faults=faults,
        virtual=args.virtual,
        events=not args.no_events,
        workspace_id=args.workspace,
        port=args.port,
        emulator_port=args.emulator_port,
    )
    info = {
        "api": stack.api,
        "arm": stack.env.get("AZUREML_ARM_ENDPOINT", "https://management.azure.com"),
        "workspaceId": stack.env["AZUREML_WORKSPACE_ID"],
    }
    if stack.emulator is not None:
        info["faults"] = stack.emulator.arm_endpoint + ADMIN_FAULTS_PATH
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
    p_run.add_argument("--timeout", type=float, default=120.0, help="wall seconds to wait (default 120)")
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
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
