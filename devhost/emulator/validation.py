"""PUT-body validation, modelled on what the Azure ML service rejects (same rules in every api-version
the emulator accepts)."""

from __future__ import annotations

import re
from numbers import Real
from typing import Any

from .errors import user_error

JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")

JOB_TYPES = {
    "sweep": "Sweep",
    "command": "Command",
    "pipeline": "Pipeline",
    "automl": "AutoML",
    "spark": "Spark",
    "finetuning": "FineTuning",
}
GOALS = {"maximize": "Maximize", "minimize": "Minimize"}
SAMPLING = {"random": "Random", "grid": "Grid", "bayesian": "Bayesian"}

# distribution -> number of numeric arguments (choice/randint handled apart)
_NUMERIC_ARGS = {
    "uniform": 2,
    "loguniform": 2,
    "quniform": 3,
    "qloguniform": 3,
    "normal": 2,
    "lognormal": 2,
    "qnormal": 3,
    "qlognormal": 3,
}


def validate_name(name: str) -> None:
    if not JOB_NAME_RE.match(name):
        raise user_error(
            f"Invalid job name '{name}': it must start with a letter or digit, contain only letters, "
            "digits, '-' and '_', and be at most 255 characters long.",
            target="name",
            inner_code="InvalidJobName",
        )


def validate_command(props: dict) -> None:
    for key in ("command", "environmentId"):
        if not isinstance(props.get(key), str) or not props[key]:
            raise user_error(
                f"Command job {key} is required.", target=f"properties.{key}", inner_code="RequiredField"
            )


def _is_num(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def validate_search_space(space: Any) -> None:
    if not isinstance(space, dict) or not space:
        raise user_error(
            "Sweep job searchSpace must be a non-empty object of parameter distributions.",
            target="properties.searchSpace",
            inner_code="InvalidSearchSpace",
        )
    for param, dist in space.items():
        target = f"properties.searchSpace.{param}"
        if isinstance(dist, dict):
            raise user_error(
                f"Unsupported search space format for parameter '{param}': expected the list form "
                '["choice", [[v1, v2]]], ["uniform", [min, max]], ... but got an object '
                f"with keys {sorted(dist)}.",
                target=target,
                inner_code="InvalidSearchSpace",
            )
        if not (isinstance(dist, list) and len(dist) == 2 and isinstance(dist[0], str)):
            raise user_error(
                f"Invalid search space for parameter '{param}': expected [type, [arguments]].",
                target=target,
                inner_code="InvalidSearchSpace",
            )
        kind, args = dist[0].lower(), dist[1]
        ok = isinstance(args, list)
        if ok and kind == "choice":
            ok = len(args) == 1 and isinstance(args[0], list) and len(args[0]) > 0
        elif ok and kind == "randint":
            ok = len(args) == 1 and isinstance(args[0], int) and not isinstance(args[0], bool) and args[0] > 0
        elif ok and kind in _NUMERIC_ARGS:
            ok = len(args) == _NUMERIC_ARGS[kind] and all(_is_num(a) for a in args)
            if ok and kind in {"uniform", "loguniform", "quniform", "qloguniform"}:
                ok = args[0] <= args[1]
        elif ok:
            raise user_error(
                f"Unknown search space distribution '{dist[0]}' for parameter '{param}'.",
                target=target,
                inner_code="InvalidSearchSpace",
            )
        if not ok:
            raise user_error(
                f"Invalid arguments {args!r} for '{dist[0]}' distribution of parameter '{param}'.",
                target=target,
                inner_code="InvalidSearchSpace",
            )


def _require_dict(props: dict, key: str, what: str) -> dict:
    val = props.get(key)
    if not isinstance(val, dict):
        raise user_error(f"{what} is required.", target=f"properties.{key}", inner_code="RequiredField")
    return val


def validate_sweep(props: dict) -> None:
    trial = _require_dict(props, "trial", "Sweep job trial")
    if not isinstance(trial.get("command"), str) or not trial["command"].strip():
        raise user_error(
            "Sweep job trial.command is required.",
            target="properties.trial.command",
            inner_code="RequiredField",
        )
    if not isinstance(trial.get("environmentId"), str) or not trial["environmentId"]:
        raise user_error(
            "Sweep job trial.environmentId is required.",
            target="properties.trial.environmentId",
            inner_code="RequiredField",
        )
    objective = _require_dict(props, "objective", "Sweep job objective")
    if not isinstance(objective.get("primaryMetric"), str) or not objective["primaryMetric"]:
        raise user_error(
            "objective.primaryMetric is required.",
            target="properties.objective.primaryMetric",
            inner_code="RequiredField",
        )
    if str(objective.get("goal", "")).lower() not in GOALS:
        raise user_error(
            f"objective.goal must be Maximize or Minimize, got {objective.get('goal')!r}.",
            target="properties.objective.goal",
            inner_code="InvalidValue",
        )
    sampling = _require_dict(props, "samplingAlgorithm", "Sweep job samplingAlgorithm")
    if str(sampling.get("samplingAlgorithmType", "")).lower() not in SAMPLING:
        raise user_error(
            "samplingAlgorithm.samplingAlgorithmType must be Random, Grid or Bayesian, "
            f"got {sampling.get('samplingAlgorithmType')!r}.",
            target="properties.samplingAlgorithm.samplingAlgorithmType",
            inner_code="InvalidValue",
        )
    validate_search_space(props.get("searchSpace"))
    limits = props.get("limits")
    if limits is not None:
        if not isinstance(limits, dict):
            raise user_error(
                "limits must be an object.", target="properties.limits", inner_code="InvalidValue"
            )
        for key in ("maxTotalTrials", "maxConcurrentTrials"):
            val = limits.get(key)
            if val is not None and (not isinstance(val, int) or isinstance(val, bool) or val < 1):
                raise user_error(
                    f"limits.{key} must be a positive integer, got {val!r}.",
                    target=f"properties.limits.{key}",
                    inner_code="InvalidValue",
                )


def normalize_sweep(props: dict) -> None:
    """Send-side PascalCase for enums the SDK may send lower case."""
    objective = props.get("objective")
    if isinstance(objective, dict) and str(objective.get("goal", "")).lower() in GOALS:
        objective["goal"] = GOALS[objective["goal"].lower()]
    sampling = props.get("samplingAlgorithm")
    if isinstance(sampling, dict):
        t = str(sampling.get("samplingAlgorithmType", "")).lower()
        if t in SAMPLING:
            sampling["samplingAlgorithmType"] = SAMPLING[t]
