"""Search space wire form and Azure ML's meaning of each distribution.

Sources: azure-ai-ml `entities/_job/sweep/search_space.py` (wire form of each distribution),
azureml-train-core `hyperdrive/parameter_expressions.py` (argument rules and meaning: randint in
[0, upper), loguniform = exp(uniform(min, max)) constrained to [e^min, e^max], q-variants
round(x / q) * q, q integral, sigma >= 0) and the "Hyperparameter tuning a model (v2)" how-to.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devhost.rehearsal.errors import SweepSpecError
from devhost.rehearsal.space import (
    Choice,
    Normal,
    Randint,
    Uniform,
    format_value,
    parse_distribution,
    parse_search_space,
)

unit = st.floats(min_value=0.0, max_value=1.0)


def test_every_wire_form_parses_to_its_distribution():
    space = parse_search_space(
        {
            "c": ["choice", [[16, 32, "x"]]],
            "r": ["randint", [5]],
            "u": ["uniform", [0.1, 0.2]],
            "qu": ["quniform", [1, 100, 5]],
            "lu": ["loguniform", [-4, -1]],
            "qlu": ["qloguniform", [0, 5, 2]],
            "n": ["normal", [10, 3]],
            "qn": ["qnormal", [10, 3, 2]],
            "ln": ["lognormal", [0, 1]],
            "qln": ["qlognormal", [0, 1, 1]],
        }
    )
    assert list(space) == sorted(space)  # sampling order never depends on JSON order
    assert space["c"] == Choice((16, 32, "x"))
    assert space["r"] == Randint(5)
    assert space["u"] == Uniform(0.1, 0.2, kind="uniform")
    assert space["qu"] == Uniform(1, 100, q=5, kind="quniform")
    assert space["lu"] == Uniform(-4, -1, log=True, kind="loguniform")
    assert space["qln"] == Normal(0, 1, q=1, log=True, kind="qlognormal")


@given(u=unit, lo=st.floats(-8, 2), width=st.floats(0.01, 6))
def test_loguniform_bounds_are_logarithms_of_the_range(u, lo, width):
    dist = parse_distribution("x", ["loguniform", [lo, lo + width]])
    value = dist.from_unit(u)
    assert math.exp(lo) * (1 - 1e-9) <= value <= math.exp(lo + width) * (1 + 1e-9)


@given(u=unit, upper=st.integers(1, 1000))
def test_randint_is_an_integer_below_upper(u, upper):
    value = parse_distribution("x", ["randint", [upper]]).from_unit(u)
    assert isinstance(value, int) and 0 <= value < upper


@given(u=unit, q=st.integers(1, 10))
def test_quantized_values_are_multiples_of_q(u, q):
    for entry in (["quniform", [0, 50, q]], ["qnormal", [20, 5, q]], ["qlognormal", [1, 0.5, q]]):
        value = parse_distribution("x", entry).from_unit(u)
        assert isinstance(value, float)  # round(x / q) * q: a float, as on Azure
        assert value / q == pytest.approx(round(value / q))


@given(u=st.floats(min_value=1e-9, max_value=1 - 1e-9))
def test_lognormal_is_positive_and_normal_is_centred(u):
    assert parse_distribution("x", ["lognormal", [0, 1]]).from_unit(u) > 0
    assert parse_distribution("x", ["normal", [10, 3]]).from_unit(0.5) == pytest.approx(10)


@given(u=unit)
def test_choice_picks_one_of_its_values(u):
    assert parse_distribution("x", ["choice", [["a", "b", "c"]]]).from_unit(u) in ("a", "b", "c")


def test_log_base_changes_the_log_distributions():
    dist = parse_distribution("x", ["loguniform", [1, 3]])
    assert dist.from_unit(0.5, log_base=10) == pytest.approx(100)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"type": "choice", "values": [1]}, "logical form"),
        (["choice", [1, 2]], "one non-empty list"),
        (["choice", [[]]], "one non-empty list"),
        (["choice", [[{"a": ["uniform", [0, 1]]}]]], "nested search spaces"),
        (["randint", [0]], "positive integer"),
        (["randint", [2.5]], "positive integer"),
        (["uniform", [0.2, 0.1]], "min < max"),
        (["uniform", [0.1, 0.1]], "min < max"),
        (["quniform", [1, 10, 0.5]], "integral q"),
        (["loguniform", [2, 1]], "min <= max"),
        (["normal", [0, -1]], "sigma >= 0"),
        (["normal", [0, True]], "takes 2 numbers"),
        (["uniform", [0, 1, 2]], "takes 2 numbers"),
        (["beta", [1, 2]], "unknown distribution"),
    ],
)
def test_bad_entries_are_refused_naming_the_field(entry, says):
    with pytest.raises(SweepSpecError) as err:
        parse_distribution("lr", entry)
    assert err.value.problems[0].field == "searchSpace.lr"
    assert says in str(err.value)


def test_every_bad_entry_is_listed_at_once():
    with pytest.raises(SweepSpecError) as err:
        parse_search_space({"a": ["uniform", [2, 1]], "b": ["randint", [-1]], "ok": ["choice", [[1]]]})
    assert [p.field for p in err.value.problems] == ["searchSpace.a", "searchSpace.b"]


def test_loguniform_allows_equal_bounds_as_azure_does():
    assert parse_distribution("x", ["loguniform", [1, 1]]).from_unit(0.3) == pytest.approx(math.e)


def test_values_are_rendered_as_python_renders_them():
    assert [format_value(v) for v in (32.0, 0.1, 3, True, "adam")] == ["32.0", "0.1", "3", "True", "adam"]
