"""What a rehearsal refuses, said so the user can fix it: each problem names the field of
the sweep job (REST names, e.g. `limits.maxTotalTrials`) and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecProblem:
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" + (f" ({self.hint})" if self.hint else "")


class RehearsalError(Exception):
    """Base of every error the rehearsal raises on purpose."""


class SweepSpecError(RehearsalError, ValueError):
    """The sweep cannot be rehearsed as written. Raised before anything starts, listing every problem."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class MissingDependencyError(RehearsalError, ImportError):
    """A rehearsal extra (optuna, scipy, matplotlib) is not installed in this interpreter."""

    def __init__(self, module: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python package '{module}', which is not installed. "
            "Install the rehearsal requirements: pip install -r requirements-rehearsal.txt"
        )
        self.module = module


def problem(field: str, message: str, hint: str = "") -> SweepSpecError:
    return SweepSpecError([SpecProblem(field, message, hint)])
