"""Are the rehearsal's own requirements installed in this interpreter?

A rehearsal needs packages that neither the Function App nor `make run` installs
(requirements-rehearsal.txt: optuna, scipy, matplotlib, mlflow-skinny, ...). The command
lines check before they start anything, so a user gets one message naming what is missing
and how to install it, instead of a trial log full of `ModuleNotFoundError`s or a report
that cannot be drawn. The check reads the requirements file itself, so a package added
there is checked without a change here.
"""

from __future__ import annotations

import re
import shlex
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements-rehearsal.txt"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def required_distributions(requirements: Path | None = None) -> list[str]:
    """Distribution names listed in the requirements file (comments, options and markers skipped)."""
    names = []
    for line in (requirements or REQUIREMENTS).read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        match = _NAME.match(text)
        if match:
            names.append(match.group(1))
    return names


def missing_distributions(requirements: Path | None = None) -> list[str]:
    missing = []
    for name in required_distributions(requirements):
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def install_hint(missing: list[str], requirements: Path | None = None) -> str:
    """What to tell a user whose interpreter lacks `missing`."""
    path = requirements or REQUIREMENTS
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    python = shlex.quote(sys.executable)
    return (
        f"A sweep rehearsal needs Python packages that are not installed in {sys.executable}: "
        f"{', '.join(missing)}.\n"
        "Install them into that environment (the Function App and `make run` do not need them):\n"
        f"    {python} -m pip install -r {shlex.quote(str(shown))}\n"
        "or, from the repository root, `make rehearsal-deps` (`make rehearse` also runs the example)."
    )
