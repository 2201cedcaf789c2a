"""Azure ML's search-space forms: the REST wire list and the logical (YAML) form."""

from __future__ import annotations

from typing import Any

import pytest

from foundry.search_space import to_logical as searchspace_to_logical
from foundry.search_space import to_wire as searchspace_to_wire

WIRE_LOGICAL = [
    (["choice", [[16, 32]]], {"type": "choice", "values": [16, 32]}),
    (["uniform", [0.1, 0.5]], {"type": "uniform", "min_value": 0.1, "max_value": 0.5}),
    (["loguniform", [-6.9, -2.3]], {"type": "loguniform", "min_value": -6.9, "max_value": -2.3}),
    (["quniform", [1, 10, 1]], {"type": "quniform", "min_value": 1, "max_value": 10, "q": 1}),
    (["normal", [0, 1]], {"type": "normal", "mu": 0, "sigma": 1}),
    (["qlognormal", [0, 1, 2]], {"type": "qlognormal", "mu": 0, "sigma": 1, "q": 2}),
    (["randint", [5]], {"type": "randint", "upper": 5}),
    (["qloguniform", [0, 5, 1]], {"type": "qloguniform", "min_value": 0, "max_value": 5, "q": 1}),
    (["lognormal", [0, 1]], {"type": "lognormal", "mu": 0, "sigma": 1}),
    (["qnormal", [0, 1, 2]], {"type": "qnormal", "mu": 0, "sigma": 1, "q": 2}),
]


@pytest.mark.parametrize(("wire", "logical"), WIRE_LOGICAL)
def test_searchspace_forms_roundtrip(wire: list[Any], logical: dict[str, Any]) -> None:
    assert searchspace_to_logical(wire) == logical
    assert searchspace_to_logical(logical) == logical
    assert searchspace_to_wire(logical) == wire
    assert searchspace_to_wire(wire) == wire


@pytest.mark.parametrize(
    "bad", [["choice", [1, 2]], ["bogus", [1]], ["uniform", [1]], {"type": "uniform"}, 3]
)
def test_searchspace_bad_forms(bad: Any) -> None:
    with pytest.raises(ValueError):
        searchspace_to_logical(bad)


def test_every_search_space_type_the_service_knows_is_in_the_round_trip_table() -> None:
    from foundry.search_space import SEARCH_SPACE_ARGS

    assert {logical["type"] for _, logical in WIRE_LOGICAL} == set(SEARCH_SPACE_ARGS)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"type": "gaussian", "mu": 0}, "unknown search space type 'gaussian'"),
        ({"values": [1]}, "unknown search space type ''"),
        ({"type": "quniform", "min_value": 0}, "search space quniform lacks max_value, q"),
        (["choice", [1, 2]], 'choice must be ["choice", [[v1, v2, ...]]]'),
        (["choice", [[1], [2]]], 'choice must be ["choice", [[v1, v2, ...]]]'),
        (["gaussian", [0, 1]], "unknown search space type 'gaussian'"),
        (["uniform", [1]], "uniform takes 2 arguments"),
        (["uniform", [1, 2, 3]], "uniform takes 2 arguments"),
        (
            ["uniform", [1, 2], 3],
            "a search space entry must be a [type, [args]] list or a {type: ...} object",
        ),
        ([1, [2]], "a search space entry must be a [type, [args]] list or a {type: ...} object"),
        (["uniform", 2], "a search space entry must be a [type, [args]] list or a {type: ...} object"),
        ("uniform", "a search space entry must be a [type, [args]] list or a {type: ...} object"),
    ],
)
def test_a_bad_entry_is_a_value_error_saying_what_is_wrong(bad: Any, message: str) -> None:
    """ValueError (never KeyError): the templates route shows such an entry as JSON instead of a 500."""
    with pytest.raises(ValueError) as exc:
        searchspace_to_logical(bad)
    assert str(exc.value) == message


def test_types_are_read_in_any_casing() -> None:
    assert searchspace_to_logical({"type": "Uniform", "min_value": 0, "max_value": 1})["type"] == "uniform"
    assert searchspace_to_wire(["Choice", [[1]]]) == ["choice", [[1]]]
    assert searchspace_to_wire(["QUniform", [1, 5, 1]]) == ["quniform", [1, 5, 1]]


def test_conversions_copy_so_the_template_is_never_changed() -> None:
    wire = ["choice", [[[1, 2]]]]
    logical = searchspace_to_logical(wire)
    logical["values"][0].append(3)
    assert wire == ["choice", [[[1, 2]]]]
    entry = {"type": "uniform", "min_value": [[0]], "max_value": 1}
    searchspace_to_logical(entry)["min_value"][0].append(9)
    assert entry["min_value"] == [[0]]
    ranged = ["uniform", [[0], 1]]
    searchspace_to_logical(ranged)["min_value"].append(9)
    assert ranged == ["uniform", [[0], 1]]


def test_one_value_choice_and_is_choice() -> None:
    from foundry.search_space import is_choice, one_value_choice

    assert one_value_choice(0.5) == ["choice", [[0.5]]]
    assert one_value_choice({"é": [1, 2]}) == ["choice", [['{"é":[1,2]}']]]
    assert one_value_choice([1, 2]) == ["choice", [["[1,2]"]]]
    assert is_choice(["choice", [[1]]]) and not is_choice(["uniform", [0, 1]])
    assert not is_choice([]) and not is_choice({"type": "choice"}) and not is_choice("choice")
