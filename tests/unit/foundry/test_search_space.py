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
