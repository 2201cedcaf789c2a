"""The rehearsal's heavy libraries stay out of the app's and devhost's import paths: `make run`
and the Function App install only requirements.txt (see requirements-rehearsal.txt)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("optuna", "scipy", "matplotlib", "mlflow", "numpy", "sklearn", "pandas")


def _loaded_after(statement: str) -> list[str]:
    probe = f"import sys, json\n{statement}\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_importing_the_rehearsal_loads_no_heavy_library():
    assert _loaded_after("import devhost.rehearsal, devhost.rehearsal.__main__") == []


def test_the_app_and_the_local_stack_do_not_import_the_rehearsal():
    probe = (
        "import function_app, devhost.stack, devhost.__main__\nassert 'devhost.rehearsal' not in sys.modules"
    )
    assert _loaded_after(probe) == []
