"""`python -m devhost.emulator [--port P] [--workspace-dir DIR] [--page-size N] [--faults JSON|@FILE]`

Serves one emulated Azure ML workspace on 127.0.0.1 (real clock) until interrupted; the
first stdout line is JSON with `arm`, `workspaceId`, `token` and the `faults` admin URL.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from devhost.clock import RealClock

from .fault_config import FaultPlanError, parse_faults_option
from .routes import ADMIN_FAULTS_PATH
from .server import WorkspaceEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--workspace-dir",
        type=Path,
        default=WorkspaceEmulator.default_templates_dir(),
        help="folder with jobs/*.json, computes.json, environments.json (default: examples/workspace)",
    )
    parser.add_argument("--empty", action="store_true", help="start with no seeded jobs")
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--token", default="emulator-token")
    parser.add_argument("--tenant-id", default=None)
    parser.add_argument(
        "--faults",
        default=None,
        help='fault plan as JSON or @file, e.g. \'{"rate": 1, "kinds": ["503"]}\' (see docs/emulator.md)',
    )
    args = parser.parse_args(argv)
    try:
        faults = parse_faults_option(args.faults) if args.faults else None
    except FaultPlanError as exc:
        parser.error(f"--faults: {exc}")

    clock = RealClock().start()
    emulator = WorkspaceEmulator(
        clock=clock,
        port=args.port,
        templates_dir=None if args.empty else args.workspace_dir,
        page_size=args.page_size,
        token=args.token,
        tenant_id=args.tenant_id,
        faults=faults,
    ).start()
    print(
        json.dumps(
            {
                "arm": emulator.arm_endpoint,
                "workspaceId": emulator.workspace_id,
                "token": emulator.token,
                "faults": emulator.arm_endpoint + ADMIN_FAULTS_PATH,
            }
        ),
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        clock.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
