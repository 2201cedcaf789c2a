"""Sampling per `samplingAlgorithm`.

Sources: the "Hyperparameter tuning a model (v2)" how-to ("Grid sampling can only be used with
choice hyperparameters" and does "a simple grid search over all possible values"; Sobol "to
reproduce your results using seed"; "Bayesian sampling only supports choice, uniform, and
quniform distributions") and azure-ai-ml `RandomSamplingAlgorithm(rule, seed, logbase)`.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devhost.rehearsal.errors import SweepSpecError
from devhost.rehearsal.sampling import BayesianSampler, GridSampler, RandomSampler, make_sampler
from devhost.rehearsal.space import parse_search_space

MIXED = {
    "a": ["choice", [[1, 2, 3]]],
    "b": ["uniform", [0, 1]],
    "c": ["loguniform", [-5, -1]],
    "d": ["qnormal", [10, 2, 1]],
    "e": ["randint", [7]],
}


def _drain(sampler, limit=10_000):
    out = []
    while (s := sampler.suggest()) is not None and len(out) < limit:
        out.append(s.params)
    return out


@settings(max_examples=40)
@given(
    st.dictionaries(
        st.sampled_from("pqrst"),
        st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True),
        min_size=1,
        max_size=4,
    )
)
def test_grid_enumerates_every_combination_exactly_once(choices):
    space = parse_search_space({name: ["choice", [values]] for name, values in choices.items()})
    sampler = GridSampler(space)
    seen = [tuple(sorted(p.items())) for p in _drain(sampler)]
    expected = {
        tuple(sorted(zip(choices, combo, strict=True))) for combo in itertools.product(*choices.values())
    }
    assert len(seen) == len(set(seen)) == sampler.size
    assert set(seen) == expected


def test_grid_names_every_parameter_that_is_not_a_choice():
    with pytest.raises(SweepSpecError) as err:
        make_sampler("Grid", parse_search_space(MIXED), maximize=True)
    assert "not choice: b, c, d, e" in str(err.value)
    assert err.value.problems[0].field == "samplingAlgorithm.samplingAlgorithmType"


@pytest.mark.parametrize("rule", ["Random", "Sobol"])
def test_random_with_a_seed_is_reproducible(rule):
    space = parse_search_space(MIXED)
    first = [RandomSampler(space, seed=42, rule=rule).suggest().params for _ in range(1)]
    a = RandomSampler(space, seed=42, rule=rule)
    b = RandomSampler(space, seed=42, rule=rule)
    c = RandomSampler(space, seed=43, rule=rule)
    draws_a = [a.suggest().params for _ in range(20)]
    assert draws_a == [b.suggest().params for _ in range(20)]
    assert draws_a != [c.suggest().params for _ in range(20)]
    assert draws_a[0] == first[0]
    assert len({tuple(sorted(p.items())) for p in draws_a}) > 1


def test_random_without_a_seed_records_the_one_it_drew():
    space = parse_search_space(MIXED)
    sampler = RandomSampler(space, seed=None)
    replay = RandomSampler(space, seed=sampler.seed)
    assert [sampler.suggest().params for _ in range(5)] == [replay.suggest().params for _ in range(5)]


def test_sobol_covers_the_unit_interval_more_evenly_than_its_size_suggests():
    space = parse_search_space({"x": ["uniform", [0, 1]]})
    sampler = RandomSampler(space, seed=1, rule="Sobol")
    xs = sorted(sampler.suggest().params["x"] for _ in range(16))
    # 16 Sobol points fall one per sixteenth of [0, 1]
    assert [int(x * 16) for x in xs] == list(range(16))


def test_bayesian_refuses_distributions_azure_does_not_support():
    with pytest.raises(SweepSpecError) as err:
        BayesianSampler(parse_search_space(MIXED), maximize=True)
    assert "not supported: c, d, e" in str(err.value)


def test_bayesian_suggests_inside_the_space_and_learns_from_scores():
    space = parse_search_space(
        {"x": ["uniform", [0, 10]], "q": ["quniform", [0, 100, 10]], "k": ["choice", [["a", "b"]]]}
    )
    sampler = BayesianSampler(space, maximize=False, seed=3)
    scores = []
    for _ in range(30):
        s = sampler.suggest()
        p = s.params
        assert 0 <= p["x"] <= 10 and p["q"] % 10 == 0 and p["k"] in ("a", "b")
        score = (p["x"] - 7) ** 2 + (0 if p["k"] == "b" else 5)
        scores.append(score)
        sampler.tell(s, score)
    # TPE after its random start-up trials does better than its start-up trials did
    assert min(scores[10:]) < min(scores[:10])
    failed = sampler.suggest()
    sampler.tell(failed, None)  # a failed trial is told as failed, not as a score
