"""`python -m devhost serve`: the app's HTTP API on loopback, as a client sees it on Azure.

Function keys are enforced (a `default` function key and the master key, from `--key` /
`--master-key`, local.settings.json or made up); timer triggers (the orphan reconciler) run on
their schedules. The first stdout line is one JSON object scripts read: `api`, `arm`,
`workspaceId`, the keys (`functionKey`, `masterKey`) and, with the emulator, its bearer `token`
and `faults` admin route. Then, on stderr, the functions and one line per request, timer
invocation and run status change (`--quiet`: none of it). Exit codes: 0 after Ctrl-C or
SIGTERM, 2 for bad options, a local.settings.json it cannot use, or a port in use.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from devhost import cli_rehearsal
from devhost.cli_rehearsal import RehearsalOptionError
from devhost.console import Console, status_view_of
from devhost.durable.keys import HostKeys
from devhost.emulator.fault_config import FaultPlanError, parse_faults_option
from devhost.emulator.routes import ADMIN_FAULTS_PATH
from devhost.local_settings import (
    FUNCTION_KEY_SETTING,
    MASTER_KEY_SETTING,
    LocalSettings,
    LocalSettingsError,
    read_local_settings,
)
from devhost.stack import LocalStack

DEFAULT_PORT = 7071
LOCAL_SETTINGS = Path("local.settings.json")
# What the stack sets itself when it runs the emulators: a local.settings.json value would
# point the app at another workspace or vault than the one serving it.
EMULATOR_SETTINGS = (
    "AZUREML_WORKSPACE_ID",
    "AZUREML_ARM_ENDPOINT",
    "AZUREML_STATIC_TOKEN",
    "RUN_SECRETS_VAULT_URL",
    "RUN_SECRETS_VAULT_STATIC_TOKEN",
    "RUN_SECRETS_VAULT_CA_BUNDLE",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        help=f"port of the API (default: local.settings.json Host.LocalHttpPort, else {DEFAULT_PORT}; 0: any free port)",
    )
    parser.add_argument("--emulator-port", type=int, default=0)
    parser.add_argument("--workspace", help="ARM id of a real Azure ML workspace")
    parser.add_argument("--virtual", action="store_true", help="virtual clock (time jumps when idle)")
    parser.add_argument("--no-events", action="store_true")
    parser.add_argument(
        "--faults",
        help="emulator fault plan, JSON or @file (docs/emulator.md); change it later over the emulator's "
        "/_emulator/faults route",
    )
    parser.add_argument(
        "--key", help=f"the function key callers send (default: {FUNCTION_KEY_SETTING}, else made up)"
    )
    parser.add_argument("--master-key", help=f"the master key (default: {MASTER_KEY_SETTING}, else made up)")
    parser.add_argument(
        "--settings",
        type=Path,
        help="app settings file read as Core Tools reads it (default: ./local.settings.json when present)",
    )
    parser.add_argument("--quiet", action="store_true", help="print the first JSON line and errors only")
    cli_rehearsal.add_arguments(parser)


def serve(args: argparse.Namespace) -> int:
    try:
        faults = parse_faults_option(args.faults) if args.faults else None
    except FaultPlanError as exc:
        print(f"--faults: {exc}", file=sys.stderr)
        return 2
    try:
        local = _local_settings(args.settings)
    except LocalSettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    console = None if args.quiet else Console(_clock_placeholder())
    settings = _app_settings(local, emulated=not args.workspace, say=_note if not args.quiet else None)
    keys = HostKeys.generate(
        function_key=args.key or (local.keys.get(FUNCTION_KEY_SETTING) if local else None),
        master_key=args.master_key or (local.keys.get(MASTER_KEY_SETTING) if local else None),
    )
    port = (
        args.port
        if args.port is not None
        else (local.port if local and local.port is not None else DEFAULT_PORT)
    )
    stack_box: list[LocalStack] = []
    say = _say_later(stack_box, console)
    try:
        rehearsal = cli_rehearsal.setup_from_args(
            args, cli_rehearsal.progress_listener(say, name_sweeps=True, announce_end=True)
        )
    except RehearsalOptionError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        stack = LocalStack.start(
            faults=faults,
            virtual=args.virtual,
            events=not args.no_events,
            workspace_id=args.workspace,
            port=port,
            emulator_port=args.emulator_port,
            rehearsal=rehearsal,
            settings=settings,
            keys=keys,
            timers=True,
            observer=console,
        )
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(_port_taken(port, args.emulator_port), file=sys.stderr)
        return 2
    stack_box.append(stack)
    if console is not None:
        console.clock = stack.clock
        console.view_of = lambda instance_id: status_view_of(stack, instance_id)
        console.show_app_warnings()
    try:
        if stack.emulator is not None:
            cli_rehearsal.seed_templates(stack.emulator, args.template, say)
    except RehearsalOptionError as exc:
        print(str(exc), file=sys.stderr)
        stack.stop()
        return 2
    print(json.dumps(_first_line(stack, rehearsal)), flush=True)
    if console is not None:
        _list_functions(stack)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        if console is not None:
            console.close()
    return 0


def _local_settings(given: Path | None) -> LocalSettings | None:
    path = given if given is not None else (LOCAL_SETTINGS if LOCAL_SETTINGS.is_file() else None)
    if path is None:
        return None
    if not path.is_file():
        raise LocalSettingsError(f"--settings: {path} does not exist")
    return read_local_settings(path, os.environ)


def _app_settings(local: LocalSettings | None, *, emulated: bool, say: Any) -> dict[str, str]:
    if local is None:
        return {}
    if say is not None:
        say(f"app settings from {local.path}")
        for note in local.notes:
            say(note)
    settings = dict(local.app_settings)
    if emulated:
        ignored = [name for name in EMULATOR_SETTINGS if name in settings]
        for name in ignored:
            del settings[name]
        if ignored and say is not None:
            say(
                f"Skipping {', '.join(ignored)}: serve runs the emulators (pass --workspace for a real workspace)"
            )
    return settings


def _note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _port_taken(port: int, emulator_port: int) -> str:
    which = f"port {port}" if not emulator_port else f"port {port} or {emulator_port}"
    return (
        f"devhost serve: {which} is already in use (another `devhost serve`, `make serve` or `func start`?). "
        "Stop it, or pass --port N (--port 0 takes any free port)."
    )


def _first_line(stack: LocalStack, rehearsal: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "api": stack.api,
        "arm": stack.env.get("AZUREML_ARM_ENDPOINT", "https://management.azure.com"),
        "workspaceId": stack.env["AZUREML_WORKSPACE_ID"],
        **stack.keys.printable(),
    }
    if stack.emulator is not None:
        info["token"] = stack.emulator.token
        info["faults"] = stack.emulator.arm_endpoint + ADMIN_FAULTS_PATH
    if rehearsal is not None:
        info["rehearsals"] = str(rehearsal.runs_dir)
    return info


def _list_functions(stack: LocalStack) -> None:
    """Core Tools' "Functions:" block: each HTTP route with its methods, then the other triggers."""
    lines = ["", "Functions:", ""]
    for route in sorted(stack.host.routes, key=lambda r: r.info.name):
        methods = ",".join(sorted(route.methods)) if route.methods else "ALL"
        lines.append(f"        {route.info.name}: [{methods}] {stack.api}/{route.template}")
    lines.append("")
    for info in sorted(stack.host.functions, key=lambda f: f.name):
        if info.trigger_type == "timerTrigger":
            schedule = os.environ.get(str(info.trigger.get("schedule", "")).strip("%"), "")
            lines.append(f"        {info.name}: timerTrigger ({schedule or info.trigger.get('schedule')})")
        elif info.trigger_type != "httpTrigger":
            lines.append(f"        {info.name}: {info.trigger_type}")
    lines += ["", "Send the function key as ?code= or x-functions-key (README: Call the API locally).", ""]
    print("\n".join(lines), file=sys.stderr, flush=True)


def _say_later(stack_box: list[LocalStack], console: Console | None) -> cli_rehearsal.Say:
    """Progress lines (rehearsals) from threads that may start before the stack is returned."""

    def say(line: str) -> None:
        if console is not None and stack_box:
            console.say(line)
        elif console is not None:
            print(line, file=sys.stderr, flush=True)

    return say


def _clock_placeholder() -> Any:
    """The console's clock until the stack's exists (nothing is logged before it does)."""
    from devhost.clock import RealClock

    return RealClock()
