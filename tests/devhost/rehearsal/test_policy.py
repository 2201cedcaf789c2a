"""Early termination rules.

Sources: "Hyperparameter tuning a model (v2)" how-to, section "Specify early termination policy"
(Bandit: "any training jobs whose best metric at interval 10 is less than 0.66
(0.8/(1+slack_factor)) will be terminated"; MedianStopping: "stopped at interval 5 if its best
primary metric is worse than the median of the running averages over intervals 1:5 across all
training jobs"; TruncationSelection: "terminates at interval 5 if its performance at interval 5
is in the lowest 20% of performance of all jobs at interval 5"; "the policy applies every
multiple of evaluation_interval that is greater than or equal to delay_evaluation") and the
azureml-train-core BanditPolicy / MedianStoppingPolicy / TruncationSelectionPolicy remarks.
"""

from __future__ import annotations

import pytest

from devhost.rehearsal.policy import EarlyTermination, decide


def _bandit(**kw):
    return EarlyTermination("Bandit", **kw)


def test_bandit_documented_example_slack_factor():
    """Best job 0.8 at interval 10, slack_factor 0.2: below 0.8 / 1.2 = 0.666 is terminated."""
    policy = _bandit(slack_factor=0.2, evaluation_interval=10)
    best = [0.8] * 10
    assert decide(policy, maximize=True, trial="t", histories={"best": best, "t": [0.65] * 10}).stop
    assert not decide(policy, maximize=True, trial="t", histories={"best": best, "t": [0.67] * 10}).stop


def test_bandit_slack_amount_and_minimize():
    policy = _bandit(slack_amount=0.1)
    assert decide(policy, maximize=True, trial="t", histories={"a": [0.9], "t": [0.79]}).stop
    assert not decide(policy, maximize=True, trial="t", histories={"a": [0.9], "t": [0.81]}).stop
    # minimizing a loss: the limit is above the best
    assert decide(policy, maximize=False, trial="t", histories={"a": [0.2], "t": [0.31]}).stop
    assert not decide(policy, maximize=False, trial="t", histories={"a": [0.2], "t": [0.29]}).stop
    factor = _bandit(slack_factor=0.5)
    assert decide(factor, maximize=False, trial="t", histories={"a": [0.2], "t": [0.31]}).stop
    assert not decide(factor, maximize=False, trial="t", histories={"a": [0.2], "t": [0.29]}).stop


def test_bandit_uses_the_trials_best_so_far_and_peers_at_the_same_interval():
    policy = _bandit(slack_factor=0.1)
    # t's latest value is bad but its best so far (0.85) is within 0.9/1.1 = 0.818
    assert not decide(policy, maximize=True, trial="t", histories={"a": [0.9, 0.9], "t": [0.85, 0.3]}).stop
    # a peer's later values (beyond t's interval) are not used: at interval 1 the best is 0.5
    assert not decide(policy, maximize=True, trial="t", histories={"a": [0.5, 0.99], "t": [0.5]}).stop


@pytest.mark.parametrize(
    ("delay", "interval", "applies"),
    [(5, 1, [5, 6, 7]), (0, 2, [2, 4, 6]), (3, 2, [4, 6]), (0, 0, [1, 2, 3, 4, 5, 6, 7])],
)
def test_delay_and_interval_decide_when_the_policy_applies(delay, interval, applies):
    policy = _bandit(slack_amount=0.0, delay_evaluation=delay, evaluation_interval=interval)
    assert [n for n in range(1, 8) if policy.applies_at(n)] == applies
    for n in range(1, 8):
        histories = {"best": [1.0] * n, "t": [0.0] * n}
        assert decide(policy, maximize=True, trial="t", histories=histories).stop == (n in applies)


def test_median_stopping_compares_best_with_the_median_of_running_averages():
    policy = EarlyTermination("MedianStopping", delay_evaluation=2, evaluation_interval=1)
    histories = {"a": [0.5, 0.7], "b": [0.6, 0.8], "c": [0.2, 0.3], "t": [0.4, 0.55]}
    # running averages at interval 2: a .6, b .7, c .25, t .475 -> median .5375; t's best .55 is not worse
    assert not decide(policy, maximize=True, trial="t", histories=histories).stop
    histories["t"] = [0.4, 0.5]
    verdict = decide(policy, maximize=True, trial="t", histories=histories)
    assert verdict.stop and "median" in verdict.reason
    assert not decide(policy, maximize=True, trial="t", histories={"t": [0.4]}).stop  # before the delay


def test_truncation_selection_cuts_the_lowest_percentage_at_the_interval():
    policy = EarlyTermination("TruncationSelection", truncation_percentage=20)
    peers = {f"p{i}": [0.5 + i / 100, 0.9] for i in range(9)}
    # 10 trials at interval 1: floor(10 * 20%) = 2 lowest are cut
    assert decide(policy, maximize=True, trial="t", histories={**peers, "t": [0.1]}).stop
    assert not decide(policy, maximize=True, trial="t", histories={**peers, "t": [0.53]}).stop
    # the value at the interval counts, compared with the peers' values at that same interval
    assert decide(policy, maximize=True, trial="t", histories={**peers, "t": [0.6, 0.1]}).stop
    # minimizing: the highest values are the lowest performers
    assert decide(policy, maximize=False, trial="t", histories={**peers, "t": [0.99]}).stop
    # too few trials for 20% to be one trial: nothing is cut
    assert not decide(policy, maximize=True, trial="t", histories={"a": [0.9], "t": [0.1]}).stop
