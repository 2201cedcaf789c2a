"""Data types and directions accepted in any case and spelling, whole words only."""

from __future__ import annotations

import pytest

from polysync.request.types import DataType, Direction


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("string", DataType.STRING),
        ("SECRET", DataType.SECRET),
        ("int", DataType.INT),
        ("Integer", DataType.INT),
        ("float", DataType.FLOAT),
        ("bool", DataType.BOOL),
        ("json", DataType.JSON),
    ],
)
def test_data_type_case_insensitive(raw: str, expected: DataType) -> None:
    assert DataType.parse(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("input", Direction.INPUT),
        ("OUTPUT", Direction.OUTPUT),
        ("Input&Output", Direction.INPUT_OUTPUT),
        ("InputOutput", Direction.INPUT_OUTPUT),
        ("input & output", Direction.INPUT_OUTPUT),
    ],
)
def test_direction_aliases(raw: str, expected: Direction) -> None:
    assert Direction.parse(raw) is expected


@pytest.mark.parametrize("raw", ["OU/TPUT", "In put", "input&&output", "outin", "", "Inputs"])
def test_direction_refuses_words_with_separators_spliced_in(raw: str) -> None:
    """Found by the start-route fuzz: stripping every separator read "OU/TPUT" as Output."""
    with pytest.raises(ValueError, match="direction must be"):
        Direction.parse(raw)


@pytest.mark.parametrize("raw", ["St/ring", "st ring", "In-t"])
def test_data_type_refuses_words_with_separators_spliced_in(raw: str) -> None:
    with pytest.raises(ValueError, match="dataType must be"):
        DataType.parse(raw)
