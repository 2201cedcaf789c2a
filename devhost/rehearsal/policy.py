"""Early termination, as Azure ML documents it. Pure: histories in, verdict out.

Sources: the "Hyperparameter tuning a model (v2)" how-to (section "Specify early termination
policy") and the azureml-train-core class docs of BanditPolicy, MedianStoppingPolicy and
TruncationSelectionPolicy:

- An *interval* is one report of the primary metric: a trial's N-th logged value is interval N.
  The policy applies at interval N when N is a multiple of `evaluationInterval` and
  N >= `delayEvaluation` ("the policy applies every multiple of evaluation_interval that is
  greater than or equal to delay_evaluation"). The REST default `evaluationInterval` 0 is read
  as 1 (every report), the azureml-train-core default.
- Bandit: the trial is stopped when its best value up to N is outside the slack of the best
  value any trial reached by interval N: below best / (1 + slackFactor) (or best - slackAmount)
  when maximizing; above best * (1 + slackFactor) (or best + slackAmount) when minimizing.
- MedianStopping: stopped when its best value up to N is worse than the median of the running
  averages over intervals 1..N of every trial that reached N.
- TruncationSelection: stopped when its value at interval N ranks among the lowest
  `truncationPercentage` percent of the values every trial had at interval N ("when ranking a
  relatively young run, the policy uses the corresponding (and earlier) performance of older
  runs"); floor(count * percentage / 100) trials make that lowest group.

A trial is judged when it reports, against what all trials (running or finished) reported by
the same interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

PolicyType = Literal["Bandit", "MedianStopping", "TruncationSelection"]


@dataclass(frozen=True)
class EarlyTermination:
    policy_type: PolicyType
    delay_evaluation: int = 0
    evaluation_interval: int = 0
    slack_factor: float = 0.0
    slack_amount: float = 0.0
    truncation_percentage: int = 0

    def applies_at(self, interval: int) -> bool:
        every = max(self.evaluation_interval, 1)
        return interval >= 1 and interval >= self.delay_evaluation and interval % every == 0


@dataclass(frozen=True)
class Verdict:
    stop: bool
    reason: str = ""


KEEP = Verdict(False)


def _best(values: Sequence[float], maximize: bool) -> float:
    return max(values) if maximize else min(values)


def _worse(a: float, b: float, maximize: bool) -> bool:
    return a < b if maximize else a > b


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def decide(
    policy: EarlyTermination,
    *,
    maximize: bool,
    trial: str,
    histories: Mapping[str, Sequence[float]],
) -> Verdict:
    """Whether `trial`, which just reported its latest primary-metric value (the last element of
    `histories[trial]`), is stopped. `histories` holds every trial's values in report order."""
    own = histories.get(trial) or ()
    n = len(own)
    if not policy.applies_at(n):
        return KEEP
    peers = {name: values[:n] for name, values in histories.items() if len(values) >= n}
    own_best = _best(own[:n], maximize)
    if policy.policy_type == "Bandit":
        top = _best([_best(v, maximize) for v in peers.values()], maximize)
        if policy.slack_factor > 0:
            limit = top / (1 + policy.slack_factor) if maximize else top * (1 + policy.slack_factor)
            slack = f"slackFactor {policy.slack_factor}"
        else:
            limit = top - policy.slack_amount if maximize else top + policy.slack_amount
            slack = f"slackAmount {policy.slack_amount}"
        if _worse(own_best, limit, maximize):
            return Verdict(
                True,
                f"Bandit policy at interval {n}: best {_fmt(own_best)} is outside the {slack} of the best "
                f"trial's {_fmt(top)} (limit {_fmt(limit)})",
            )
        return KEEP
    if policy.policy_type == "MedianStopping":
        median = statistics.median(statistics.fmean(v) for v in peers.values())
        if _worse(own_best, median, maximize):
            return Verdict(
                True,
                f"MedianStopping policy at interval {n}: best {_fmt(own_best)} is worse than the median "
                f"{_fmt(median)} of the running averages of {len(peers)} trials",
            )
        return KEEP
    if policy.policy_type == "TruncationSelection":
        cut = math.floor(len(peers) * policy.truncation_percentage / 100)
        at_n = own[n - 1]
        worse_than_me = sum(1 for v in peers.values() if _worse(v[n - 1], at_n, maximize))
        if cut > 0 and worse_than_me < cut:
            return Verdict(
                True,
                f"TruncationSelection policy at interval {n}: {_fmt(at_n)} is in the lowest "
                f"{policy.truncation_percentage}% of {len(peers)} trials at that interval",
            )
        return KEEP
    raise ValueError(f"unknown early termination policy {policy.policy_type!r}")
