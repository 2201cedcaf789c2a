"""What a rehearsal needs from a Sweep job, read from its REST `properties` (api-version
2024-10-01 names: `trial`, `objective`, `samplingAlgorithm`, `limits`, `earlyTermination`,
`searchSpace`, `inputs`, `outputs`), checked as a whole before any trial starts.

Rules beyond the field types, with their sources:
- `limits.maxTotalTrials` / `maxConcurrentTrials`: integers 1..1000; concurrency defaults to the
  total ("If not specified, max_total_trials number of jobs launch in parallel", how-to v2).
  A rehearsal needs a trial budget, so a missing `maxTotalTrials` is refused.
- `limits.timeout` / `trialTimeout`: ISO 8601 durations (SweepJobLimits in the REST spec).
- `earlyTermination.truncationPercentage`: 1..99 (how-to v2); Bayesian sampling takes no early
  termination policy (how-to v2, and the connector refuses the combination on submit too).
- `samplingAlgorithm.rule` Random|Sobol, `seed`, `logbase` (a positive number or "e") as in
  azure-ai-ml `RandomSamplingAlgorithm`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from .command import check_references
from .errors import SpecProblem, SweepSpecError
from .policy import EarlyTermination
from .space import E, SearchSpace, parse_search_space


def _pascal(options: tuple[str, ...]) -> BeforeValidator:
    """The service stores enums PascalCase and clients send any case (the SDK sends lower case)."""
    table = {o.lower(): o for o in options}
    return BeforeValidator(lambda v: table.get(v.lower(), v) if isinstance(v, str) else v)


class _Rest(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class Objective(_Rest):
    goal: Annotated[Literal["Maximize", "Minimize"], _pascal(("Maximize", "Minimize"))]
    primary_metric: Annotated[str, Field(min_length=1)]

    @property
    def maximize(self) -> bool:
        return self.goal == "Maximize"


class Sampling(_Rest):
    sampling_algorithm_type: Annotated[
        Literal["Random", "Grid", "Bayesian"], _pascal(("Random", "Grid", "Bayesian"))
    ]
    seed: int | None = None
    rule: Annotated[Literal["Random", "Sobol"], _pascal(("Random", "Sobol"))] | None = None
    logbase: str | float | None = None

    @property
    def log_base(self) -> float:
        if self.logbase is None or str(self.logbase).strip().lower() == "e":
            return E
        return float(self.logbase)


class Limits(_Rest):
    max_total_trials: Annotated[int, Field(ge=1, le=1000)]
    max_concurrent_trials: Annotated[int, Field(ge=1, le=1000)] | None = None
    timeout: timedelta | None = None
    trial_timeout: timedelta | None = None

    @property
    def concurrency(self) -> int:
        return self.max_concurrent_trials or self.max_total_trials


class Termination(_Rest):
    policy_type: Annotated[
        Literal["Bandit", "MedianStopping", "TruncationSelection"],
        _pascal(("Bandit", "MedianStopping", "TruncationSelection")),
    ]
    delay_evaluation: Annotated[int, Field(ge=0)] = 0
    evaluation_interval: Annotated[int, Field(ge=0)] = 0
    slack_factor: Annotated[float, Field(ge=0)] | None = None
    slack_amount: Annotated[float, Field(ge=0)] | None = None
    truncation_percentage: int | None = None

    def policy(self) -> EarlyTermination:
        return EarlyTermination(
            policy_type=self.policy_type,
            delay_evaluation=self.delay_evaluation,
            evaluation_interval=self.evaluation_interval,
            slack_factor=self.slack_factor or 0.0,
            slack_amount=self.slack_amount or 0.0,
            truncation_percentage=self.truncation_percentage or 0,
        )


class Trial(_Rest):
    command: Annotated[str, Field(min_length=1)]
    environment_variables: dict[str, str] | None = None


class _Job(_Rest):
    trial: Trial
    objective: Objective
    sampling_algorithm: Sampling
    limits: Limits
    early_termination: Termination | None = None
    experiment_name: str | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None


class SweepSpec:
    """The checked sweep. Build with `SweepSpec.from_job(job)`; raises `SweepSpecError`."""

    def __init__(self, job: _Job, space: SearchSpace) -> None:
        self.command = job.trial.command
        self.environment_variables = dict(job.trial.environment_variables or {})
        self.objective = job.objective
        self.sampling = job.sampling_algorithm
        self.limits = job.limits
        self.early_termination = job.early_termination.policy() if job.early_termination else None
        self.experiment_name = job.experiment_name or "Default"
        self.inputs: dict[str, Any] = dict(job.inputs or {})
        self.outputs: dict[str, Any] = {k: v or {} for k, v in (job.outputs or {}).items()}
        self.search_space = space

    @classmethod
    def from_job(cls, job: Mapping[str, Any]) -> SweepSpec:
        """`job` is a job resource (`{"properties": {...}}`) or its `properties`."""
        props = job.get("properties", job) if isinstance(job, Mapping) else None
        if not isinstance(props, Mapping):
            raise SweepSpecError([SpecProblem("properties", "the job has no properties object")])
        problems: list[SpecProblem] = []
        if str(props.get("jobType", "Sweep")).lower() != "sweep":
            problems.append(
                SpecProblem("jobType", f"is {props.get('jobType')!r}; only Sweep jobs are rehearsed")
            )
        parsed: _Job | None = None
        try:
            parsed = _Job.model_validate(props)
        except ValidationError as exc:
            problems.extend(_problems(exc))
        space: SearchSpace = {}
        try:
            space = parse_search_space(props.get("searchSpace"))
        except SweepSpecError as exc:
            problems.extend(exc.problems)
        if parsed is not None:
            raw_space = props.get("searchSpace")
            problems.extend(
                _cross_checks(parsed, set(raw_space) if isinstance(raw_space, Mapping) else set())
            )
        if problems:
            raise SweepSpecError(problems)
        assert parsed is not None
        return cls(parsed, space)

    @property
    def maximize(self) -> bool:
        return self.objective.maximize


def _problems(exc: ValidationError) -> list[SpecProblem]:
    out = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"] if not str(part).startswith("function-"))
        msg = "is required" if err["type"] == "missing" else err["msg"]
        hint = ""
        if field == "limits.maxTotalTrials" and err["type"] == "missing":
            hint = "a rehearsal needs a trial budget; set the 'AI Foundry Max Total Trials' attribute"
        out.append(SpecProblem(field, msg, hint))
    return out


def _cross_checks(job: _Job, space_names: set[str]) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    term = job.early_termination
    if term is not None:
        if job.sampling_algorithm.sampling_algorithm_type == "Bayesian":
            problems.append(
                SpecProblem(
                    "earlyTermination",
                    "Bayesian sampling does not support early termination policies",
                    "remove the policy or use Random or Grid sampling",
                )
            )
        if term.policy_type == "TruncationSelection" and not (
            term.truncation_percentage is not None and 1 <= term.truncation_percentage <= 99
        ):
            problems.append(
                SpecProblem("earlyTermination.truncationPercentage", "must be an integer between 1 and 99")
            )
    logbase = job.sampling_algorithm.logbase
    if logbase is not None and str(logbase).strip().lower() != "e":
        try:
            base = float(logbase)
        except ValueError:
            base = math.nan
        if not (base > 0 and base != 1 and math.isfinite(base)):
            problems.append(
                SpecProblem("samplingAlgorithm.logbase", "must be a positive number (not 1) or 'e'")
            )
    for name, value in (job.inputs or {}).items():
        if not isinstance(value, Mapping) or "jobInputType" not in value:
            problems.append(SpecProblem(f"inputs.{name}", "must be an object with jobInputType"))
    for key in ("timeout", "trial_timeout"):
        value = getattr(job.limits, key)
        if value is not None and value <= timedelta(0):
            problems.append(
                SpecProblem(f"limits.{to_camel(key)}", "must be a positive ISO 8601 duration, e.g. PT30M")
            )
    problems.extend(
        check_references(
            job.trial.command,
            search_space=space_names,
            inputs=set(job.inputs or {}),
            outputs=set(job.outputs or {}),
        )
    )
    return problems
