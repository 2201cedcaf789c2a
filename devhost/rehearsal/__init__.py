"""Sweep rehearsal: run an Azure ML sweep job's trials for real on this machine, with the user's
own training code, before paying for cloud compute. See docs/rehearsal.md.

Importing this package loads no heavy library: optuna (Bayesian), scipy (Sobol) and matplotlib
(the report) are imported when used, and mlflow only ever runs inside the trials. They come
from requirements-rehearsal.txt.
"""

from .engine import Rehearsal, RehearsalEvent, RehearsalOptions, progress_lines
from .errors import MissingDependencyError, RehearsalError, SpecProblem, SweepSpecError
from .outcome import SweepOutcome
from .records import Progress, TrialRecord
from .spec import SweepSpec

__all__ = [
    "MissingDependencyError",
    "Progress",
    "Rehearsal",
    "RehearsalError",
    "RehearsalEvent",
    "RehearsalOptions",
    "SpecProblem",
    "SweepOutcome",
    "SweepSpec",
    "SweepSpecError",
    "TrialRecord",
    "progress_lines",
]
