"""`python -m devhost.rehearsal JOB.json --code DIR`: rehearse one sweep job on this machine.

JOB.json is a Sweep job in the REST shape (a job resource as `GET /jobs/{name}` returns it, or
the body of its PUT). Progress goes to stderr, the outcome as JSON to stdout. Exit codes:
0 Completed, 1 Failed, 2 the sweep cannot be rehearsed as written, 3 Canceled.
Ctrl-C cancels: running trials are stopped (their whole process groups) and none start.
"""

from __future__ import annotations

import argparse
import copy
import json
import signal
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .engine import Rehearsal, RehearsalEvent, RehearsalOptions, progress_lines
from .errors import MissingDependencyError, SweepSpecError

UTC = timezone.utc  # datetime.UTC is 3.11+; the app supports 3.10

EXIT = {"Completed": 0, "Failed": 1, "Canceled": 3}


def _say(line: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def show(event: RehearsalEvent) -> None:
    for line in progress_lines(event):
        _say(line)


def _inputs(pairs: list[str]) -> dict[str, Path]:
    out = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--input takes NAME=PATH, got {pair!r}")
        out[name] = Path(path)
    return out


def _override_limits(job: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    job = copy.deepcopy(job)
    props = job.get("properties", job)
    limits = props.setdefault("limits", {"jobLimitsType": "Sweep"})
    if args.max_total_trials is not None:
        limits["maxTotalTrials"] = args.max_total_trials
    if args.max_concurrent_trials is not None:
        limits["maxConcurrentTrials"] = args.max_concurrent_trials
    return job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost.rehearsal", description=__doc__.split("\n\n")[0])
    parser.add_argument("job", help="Sweep job JSON (REST shape)")
    parser.add_argument(
        "--code", required=True, help="the training code's folder (what trial.codeId uploads)"
    )
    parser.add_argument(
        "--run-dir", help="where trials, logs, outputs and the report go (default: a new temp folder)"
    )
    parser.add_argument("--name", help="the sweep job's name (default: the job's name + a timestamp)")
    parser.add_argument(
        "--input", action="append", default=[], metavar="NAME=PATH", help="local copy of a uri input"
    )
    parser.add_argument("--max-total-trials", type=int, help="override limits.maxTotalTrials")
    parser.add_argument("--max-concurrent-trials", type=int, help="override limits.maxConcurrentTrials")
    parser.add_argument("--seed", type=int, help="sampler seed when the job sets none")
    args = parser.parse_args(argv)
    try:
        job = json.loads(Path(args.job).read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.job}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(job, dict):
        print(f"{args.job}: expected a JSON object (a Sweep job)", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    name = args.name or f"{job.get('name') or 'rehearsal'}-{stamp}"
    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix=f"rehearsal-{name}-"))
    try:
        rehearsal = Rehearsal(
            _override_limits(job, args),
            name=name,
            code_dir=Path(args.code),
            run_dir=run_dir,
            options=RehearsalOptions(input_paths=_inputs(args.input), seed=args.seed),
            on_event=show,
        )
    except SweepSpecError as exc:
        print("The sweep cannot be rehearsed as written:", file=sys.stderr)
        for p in exc.problems:
            print(f"  - {p}", file=sys.stderr)
        return 2
    except MissingDependencyError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    _say(f"rehearsing {name} in {run_dir} ({rehearsal.planned} trials planned)")
    previous = {
        sig: signal.signal(sig, lambda *_: rehearsal.cancel("Cancelled by the user (signal)"))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        outcome = rehearsal.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    summary = outcome.as_dict(maximize=rehearsal.spec.maximize, redact=rehearsal.options.redact)
    summary["trials"] = len(outcome.trials)
    print(json.dumps(summary, indent=2))
    if outcome.report:
        _say(f"report: {outcome.report}")
    return EXIT.get(outcome.status, 1)


if __name__ == "__main__":
    raise SystemExit(main())
