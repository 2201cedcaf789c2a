"""The sweep's search space, read from the REST wire form, with Azure ML's meaning for each
distribution.

Sources (named in the tests too):
- wire form: azure-ai-ml `entities/_job/sweep/search_space.py` (`_to_rest_object` /
  `_from_rest_object`): `["choice", [[v1, v2]]]`, `["randint", [upper]]`, `[kind, [a, b]]`,
  `[kind, [a, b, q]]`;
- meaning and argument rules: azureml-train-core `hyperdrive/parameter_expressions.py` and the
  "Hyperparameter tuning a model (v2)" how-to: `randint(upper)` is an integer in [0, upper);
  `loguniform(min, max)` is `exp(uniform(min, max))`, so its bounds are the *logarithms* of the
  range ([e^min, e^max]); the q-variants are `round(x / q) * q`; `lognormal` is
  `exp(normal(mu, sigma))`; `q` must be integral; `uniform`/`quniform` need min < max,
  `loguniform`/`qloguniform` min <= max; `sigma` >= 0.

Every distribution maps a point `u` of the unit interval to a value (its inverse CDF), so
random, Sobol and any other unit-cube sampler share one definition of the semantics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from .errors import SpecProblem, SweepSpecError

# Azure's log distributions are natural-log based unless samplingAlgorithm.logbase says otherwise.
E = math.e
# Keeps inverse CDFs of unbounded distributions finite at u = 0 or 1.
_EDGE = 1e-12


def _quantize(x: float, q: float) -> float:
    return float(round(x / q) * q)


def _clamp_unit(u: float) -> float:
    return min(max(u, _EDGE), 1.0 - _EDGE)


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]
    kind: str = "choice"

    def from_unit(self, u: float, log_base: float = E) -> Any:
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]


@dataclass(frozen=True)
class Randint:
    upper: int
    kind: str = "randint"

    def from_unit(self, u: float, log_base: float = E) -> int:
        return min(int(u * self.upper), self.upper - 1)


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float
    q: float | None = None
    log: bool = False
    kind: str = "uniform"

    def from_unit(self, u: float, log_base: float = E) -> float:
        x = self.low + u * (self.high - self.low)
        if self.log:
            x = log_base**x
        return _quantize(x, self.q) if self.q else x


@dataclass(frozen=True)
class Normal:
    mu: float
    sigma: float
    q: float | None = None
    log: bool = False
    kind: str = "normal"

    def from_unit(self, u: float, log_base: float = E) -> float:
        x = self.mu if self.sigma == 0 else NormalDist(self.mu, self.sigma).inv_cdf(_clamp_unit(u))
        if self.log:
            x = log_base**x
        return _quantize(x, self.q) if self.q else x


Distribution = Choice | Randint | Uniform | Normal
SearchSpace = dict[str, Distribution]

# wire name -> (number of numeric arguments, quantized, log)
_NUMERIC: dict[str, tuple[int, bool, bool]] = {
    "uniform": (2, False, False),
    "quniform": (3, True, False),
    "loguniform": (2, False, True),
    "qloguniform": (3, True, True),
    "normal": (2, False, False),
    "qnormal": (3, True, False),
    "lognormal": (2, False, True),
    "qlognormal": (3, True, True),
}
KINDS = ("choice", "randint", *_NUMERIC)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def parse_distribution(name: str, entry: Any) -> Distribution:
    """One `searchSpace` entry in wire form -> its distribution; SweepSpecError naming the field."""
    field = f"searchSpace.{name}"

    def bad(message: str, hint: str = "") -> SweepSpecError:
        return SweepSpecError([SpecProblem(field, message, hint)])

    if isinstance(entry, dict):
        raise bad(
            "is in the logical form {type, ...}; the REST API takes the wire form",
            'write it as ["choice", [[v1, v2]]], ["uniform", [min, max]], ...',
        )
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
        raise bad('must be a [type, [arguments]] list, e.g. ["uniform", [0.01, 0.1]]')
    kind, args = entry[0].lower(), entry[1]
    if kind not in KINDS:
        raise bad(f"unknown distribution {entry[0]!r}", f"use one of {', '.join(KINDS)}")
    if not isinstance(args, list):
        raise bad(f"the arguments of {kind} must be a list")
    if kind == "choice":
        if len(args) != 1 or not isinstance(args[0], list) or not args[0]:
            raise bad('choice takes one non-empty list: ["choice", [[v1, v2, ...]]]')
        if any(isinstance(v, dict | list) for v in args[0]):
            raise bad(
                "nested search spaces (choice of objects or lists) cannot be rehearsed",
                "use plain numbers, strings or booleans as choice values",
            )
        return Choice(tuple(args[0]))
    if kind == "randint":
        upper = args[0] if len(args) == 1 else None
        if not (isinstance(upper, int) and not isinstance(upper, bool) and upper > 0):
            raise bad('randint takes one positive integer: ["randint", [upper]] (values 0 .. upper-1)')
        return Randint(upper)
    count, quantized, log = _NUMERIC[kind]
    if len(args) != count or not all(_is_number(a) for a in args):
        names = "min, max" if "uniform" in kind else "mu, sigma"
        raise bad(f"{kind} takes {count} numbers: [{names}{', q' if quantized else ''}]")
    q = None
    if quantized:
        q = float(args[2])
        if not q.is_integer() or q <= 0:
            raise bad(f"{kind} needs a positive integral q, got {args[2]!r}")
    a, b = float(args[0]), float(args[1])
    if "uniform" in kind:
        if log and a > b:
            raise bad(f"{kind} needs min <= max (they are logarithms of the range), got {a} > {b}")
        if not log and a >= b:
            raise bad(f"{kind} needs min < max, got {a} >= {b}")
        return Uniform(a, b, q=q, log=log, kind=kind)
    if b < 0:
        raise bad(f"{kind} needs sigma >= 0, got {b}")
    return Normal(a, b, q=q, log=log, kind=kind)


def parse_search_space(raw: Any) -> SearchSpace:
    """`properties.searchSpace` -> {name: distribution}, sorted by name so sampling order never
    depends on how a client ordered the JSON object. Lists every bad entry at once."""
    if not isinstance(raw, Mapping) or not raw:
        raise SweepSpecError([SpecProblem("searchSpace", "must be a non-empty object of distributions")])
    space: SearchSpace = {}
    problems: list[SpecProblem] = []
    for name in sorted(raw):
        try:
            space[name] = parse_distribution(name, raw[name])
        except SweepSpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SweepSpecError(problems)
    return space


def format_value(value: Any) -> str:
    """The text a value takes in the trial command (Python's own rendering: HyperDrive is Python,
    so a float stays `32.0` and a boolean `True`, which is what scripts must parse on Azure too)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)
