"""The command line's side of a sweep rehearsal (`python -m devhost run|serve --code DIR`):
options, the requirements check, seeding the template, and the progress a user reads.

Nothing here imports `devhost.rehearsal` until a rehearsal is asked for, so `make run`
(requirements.txt only) never needs requirements-rehearsal.txt.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devhost.emulator.rehearsals import CodeMap, RehearsalSetup

if TYPE_CHECKING:
    from devhost.emulator import WorkspaceEmulator
    from devhost.rehearsal import RehearsalEvent

Say = Callable[[str], None]
_JOB_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}")  # Azure ML job names: never a path


class RehearsalOptionError(Exception):
    """A rehearsal option the command line cannot use; the message says what to do."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="DIR|ASSET=DIR",
        help="rehearse sweeps: run their trials for real with the training code in DIR (every sweep), or "
        "ASSET=DIR for sweeps whose trial.codeId names that code asset (repeatable; docs/rehearsal.md)",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        help="where each rehearsed sweep's trials, logs, outputs and report go (default: a new temp folder)",
    )
    parser.add_argument(
        "--template",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="seed a template job (a JSON job resource) into the emulated workspace (repeatable)",
    )


def setup_from_args(
    args: argparse.Namespace, listener: Callable[[str, RehearsalEvent], None]
) -> RehearsalSetup | None:
    """The emulator's rehearsal setup, or None without `--code`. Checks the rehearsal's
    requirements first: the message of a missing one says how to install it."""
    if not args.code:
        return None
    if getattr(args, "workspace", None):
        raise RehearsalOptionError(
            "--code rehearses sweeps in the emulated workspace; it cannot be used with --workspace"
        )
    from devhost.rehearsal.deps import install_hint, missing_distributions

    missing = missing_distributions()
    if missing:
        raise RehearsalOptionError(install_hint(missing))
    try:
        code = CodeMap.parse(args.code)
    except ValueError as exc:
        raise RehearsalOptionError(str(exc)) from exc
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="devhost-rehearsals-"))
    runs_dir = runs_dir.expanduser().resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    return RehearsalSetup(code=code, runs_dir=runs_dir, listener=listener)


def progress_listener(say: Say, *, name_sweeps: bool, announce_end: bool) -> Callable[[str, Any], None]:
    """Prints a rehearsal's progress as it goes: a line per trial start and end with trials
    done/running/failed and the best so far (`name_sweeps` prefixes the sweep's name, for a
    server running several), and with `announce_end` where the trials and the report are."""

    def listener(job: str, event: RehearsalEvent) -> None:
        from devhost.rehearsal import progress_lines

        prefix = f"{job}: " if name_sweeps else ""
        for line in progress_lines(event):
            say(prefix + line)
        if announce_end and event.kind == "sweep_ended" and event.outcome is not None:
            for line in outcome_lines(event.outcome):
                say(prefix + line)

    return listener


def outcome_lines(outcome: Any) -> list[str]:
    """Where a finished rehearsal left its trials and its report (`SweepOutcome`)."""
    best = f", best trial {outcome.best_trial} ({outcome.best_score:.6g})" if outcome.best_trial else ""
    lines = [f"rehearsal {outcome.status}{best}; trials, logs and outputs in {outcome.run_dir}"]
    lines.extend(f"warning: {warning}" for warning in outcome.warnings)
    if outcome.report:
        lines.append(f"report: {outcome.report}")
    return lines


def seed_templates(emulator: WorkspaceEmulator, files: list[Path], say: Say) -> None:
    for path in files:
        try:
            name = emulator.load_job(path)
        except ValueError as exc:
            raise RehearsalOptionError(f"--template {exc}") from exc
        say(f"template {name} from {path}")


def template_beside(emulator: WorkspaceEmulator, request_file: Path, template: str | None, say: Say) -> None:
    """A request's template that the workspace lacks is seeded from `TEMPLATE.json` next to the
    request file, when there is one (examples/rehearsal keeps its template there)."""
    if not template or not _JOB_NAME.fullmatch(template) or emulator.job(template) is not None:
        return
    candidate = request_file.resolve().parent / f"{template}.json"
    if candidate.is_file():
        seed_templates(emulator, [candidate], say)
