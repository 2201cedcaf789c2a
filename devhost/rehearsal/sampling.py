"""Which hyperparameters the next trial gets, per `samplingAlgorithm`.

- Grid: every combination of the choices exactly once (choice-only spaces, as Azure ML's
  "Grid sampling can only be used with choice hyperparameters"); the sweep ends when the grid
  is exhausted even if `maxTotalTrials` is larger.
- Random: each parameter drawn through its distribution's inverse CDF from a uniform point,
  `random.Random(seed)` for `rule: Random`, a scrambled Sobol sequence (scipy) for
  `rule: Sobol`; the same seed gives the same trials.
- Bayesian: Optuna's TPE sampler through its ask/tell interface (the objective stays with
  Azure ML's goal). Azure ML's Bayesian sampling supports only choice, uniform and quniform;
  quniform is modelled as the underlying uniform and quantized the Azure way.

Heavy libraries (scipy, optuna) are imported only when that sampler is built.
"""

from __future__ import annotations

import itertools
import random
import secrets
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import MissingDependencyError, SpecProblem, SweepSpecError
from .space import Choice, E, SearchSpace, Uniform


@dataclass
class Suggestion:
    params: dict[str, Any]
    handle: Any = field(default=None, repr=False)


class Sampler(Protocol):
    def suggest(self) -> Suggestion | None:
        """The next trial's hyperparameters, or None when the space is exhausted."""

    def tell(self, suggestion: Suggestion, score: float | None) -> None:
        """A trial ended; `score` is its best primary metric (None: failed or never logged it)."""


class GridSampler:
    def __init__(self, space: SearchSpace) -> None:
        not_choice = sorted(name for name, dist in space.items() if not isinstance(dist, Choice))
        if not_choice:
            raise SweepSpecError(
                [
                    SpecProblem(
                        "samplingAlgorithm.samplingAlgorithmType",
                        "Grid sampling needs choice-only search spaces; not choice: " + ", ".join(not_choice),
                        "use Random or Bayesian sampling, or make those parameters choices",
                    )
                ]
            )
        names = list(space)
        values = [space[n].values for n in names]  # type: ignore[union-attr]
        self.size = 1
        for v in values:
            self.size *= len(v)
        self._combos = (dict(zip(names, combo, strict=True)) for combo in itertools.product(*values))

    def suggest(self) -> Suggestion | None:
        combo = next(self._combos, None)
        return None if combo is None else Suggestion(combo)

    def tell(self, suggestion: Suggestion, score: float | None) -> None:
        pass


class RandomSampler:
    """`rule` Random (default) or Sobol. `seed` None draws one, kept in `self.seed` for the record."""

    def __init__(self, space: SearchSpace, *, seed: int | None, rule: str = "Random", log_base: float = E):
        self.space = space
        self.seed = secrets.randbits(31) if seed is None else seed
        self.rule = rule
        self.log_base = log_base
        self._rng = random.Random(self.seed)
        self._sobol = None
        if rule.lower() == "sobol":
            try:
                from scipy.stats import qmc
            except ImportError as exc:
                raise MissingDependencyError("scipy", "Sobol sampling") from exc
            self._sobol = qmc.Sobol(d=len(space), scramble=True, seed=self.seed)

    def _unit_point(self) -> list[float]:
        if self._sobol is None:
            return [self._rng.random() for _ in self.space]
        with warnings.catch_warnings():
            # scipy warns that Sobol's balance needs 2^m points; trials are drawn one at a time
            warnings.simplefilter("ignore", UserWarning)
            return [float(u) for u in self._sobol.random(1)[0]]

    def suggest(self) -> Suggestion:
        point = self._unit_point()
        params = {
            name: dist.from_unit(u, self.log_base)
            for (name, dist), u in zip(self.space.items(), point, strict=True)
        }
        return Suggestion(params)

    def tell(self, suggestion: Suggestion, score: float | None) -> None:
        pass


BAYESIAN_KINDS = ("choice", "uniform", "quniform")


class BayesianSampler:
    def __init__(self, space: SearchSpace, *, maximize: bool, seed: int | None = None) -> None:
        unsupported = sorted(name for name, dist in space.items() if dist.kind not in BAYESIAN_KINDS)
        if unsupported:
            raise SweepSpecError(
                [
                    SpecProblem(
                        "samplingAlgorithm.samplingAlgorithmType",
                        "Bayesian sampling supports only choice, uniform and quniform; not supported: "
                        + ", ".join(unsupported),
                        "use Random sampling, or change those distributions",
                    )
                ]
            )
        try:
            import optuna
        except ImportError as exc:
            raise MissingDependencyError("optuna", "Bayesian sampling") from exc
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self.space = space
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant_liar is marked experimental
            # constant_liar: trials still running count as pessimistic guesses, so concurrent
            # suggestions spread out instead of all landing on the same point.
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        self._study = optuna.create_study(direction="maximize" if maximize else "minimize", sampler=sampler)
        self._dists: dict[str, Any] = {}
        for name, dist in space.items():
            if isinstance(dist, Choice):
                self._dists[name] = optuna.distributions.CategoricalDistribution(
                    list(range(len(dist.values)))
                )
            else:
                assert isinstance(dist, Uniform)
                self._dists[name] = optuna.distributions.FloatDistribution(dist.low, dist.high)

    def suggest(self) -> Suggestion:
        trial = self._study.ask(self._dists)
        params: dict[str, Any] = {}
        for name, dist in self.space.items():
            raw = trial.params[name]
            if isinstance(dist, Choice):
                params[name] = dist.values[raw]
            else:
                assert isinstance(dist, Uniform)
                params[name] = float(round(raw / dist.q) * dist.q) if dist.q else raw
        return Suggestion(params, handle=trial)

    def tell(self, suggestion: Suggestion, score: float | None) -> None:
        states = self._optuna.trial.TrialState
        if score is None:
            self._study.tell(suggestion.handle, state=states.FAIL)
        else:
            self._study.tell(suggestion.handle, score)


def make_sampler(
    algorithm: str,
    space: SearchSpace,
    *,
    maximize: bool,
    seed: int | None = None,
    rule: str | None = None,
    log_base: float = E,
) -> GridSampler | RandomSampler | BayesianSampler:
    kind = algorithm.lower()
    if kind == "grid":
        return GridSampler(space)
    if kind == "random":
        return RandomSampler(space, seed=seed, rule=rule or "Random", log_base=log_base)
    if kind == "bayesian":
        return BayesianSampler(space, maximize=maximize, seed=seed)
    raise SweepSpecError(
        [
            SpecProblem(
                "samplingAlgorithm.samplingAlgorithmType",
                f"unknown algorithm {algorithm!r}",
                "Random, Grid or Bayesian",
            )
        ]
    )
