"""The vocabulary of a Polysync run request: data types, directions and the
`AI Foundry ...` attributes with the spellings each is accepted under. No pydantic:
light enough for the orchestrator and the cold start."""

from __future__ import annotations

import re
from typing import Any

from compat import StrEnum


def _squash(text: str) -> str:
    return re.sub(r"[\s_\-&/]", "", text).lower()


class DataType(StrEnum):
    """Polysync parameter data types (input accepted in any case)."""

    STRING = "String"
    SECRET = "Secret"  # noqa: S105 - a type name, not a password
    INT = "Int"
    FLOAT = "Float"
    BOOL = "Bool"
    JSON = "JSON"

    @classmethod
    def parse(cls, value: Any) -> DataType:
        if isinstance(value, DataType):
            return value
        if isinstance(value, str):
            key = value.strip().lower()
            aliases = {"integer": "int", "boolean": "bool", "double": "float", "number": "float"}
            key = aliases.get(key, key)
            for member in cls:
                if member.value.lower() == key:
                    return member
        raise ValueError("dataType must be one of String, Secret, Int, Float, Bool, JSON")


_DIRECTION_RE = re.compile(
    r"(?P<both>in(?:put)?\s*[&/_\-]?\s*out(?:put)?)|(?P<input>in(?:put)?)|(?P<output>out(?:put)?)",
    re.IGNORECASE,
)


class Direction(StrEnum):
    """Parameter direction; `InputOutput` and any casing are accepted for `Input&Output`."""

    INPUT = "Input"
    OUTPUT = "Output"
    INPUT_OUTPUT = "Input&Output"

    @classmethod
    def parse(cls, value: Any) -> Direction:
        if isinstance(value, Direction):
            return value
        if isinstance(value, str):
            # Whole words only: "Input&Output", "input / output", "InOut" and any casing,
            # but never a word with a separator spliced into it ("OU/TPUT").
            match = _DIRECTION_RE.fullmatch(value.strip())
            if match:
                if match["both"]:
                    return cls.INPUT_OUTPUT
                return cls.INPUT if match["input"] else cls.OUTPUT
        raise ValueError("direction must be Input, Output or Input&Output")


def infer_data_type(value: Any) -> DataType:
    """The data type of a flat-body JSON value (bool before int: bool is an int in Python)."""
    if isinstance(value, bool):
        return DataType.BOOL
    if isinstance(value, int):
        return DataType.INT
    if isinstance(value, float):
        return DataType.FLOAT
    if isinstance(value, dict | list):
        return DataType.JSON
    return DataType.STRING


INPUT_DIRECTIONS = frozenset({Direction.INPUT, Direction.INPUT_OUTPUT})  # sent into the search space
OUTPUT_DIRECTIONS = frozenset({Direction.OUTPUT, Direction.INPUT_OUTPUT})  # filled from the result

# field -> (Polysync attribute name, camelCase alias)
ATTRIBUTE_NAMES: dict[str, tuple[str, str]] = {
    "compute_name": ("AI Foundry Compute Name", "computeName"),
    "environment_name": ("AI Foundry Environment Name", "environmentName"),
    "command": ("AI Foundry Command", "command"),
    "objective_metric": ("AI Foundry Objective Metric", "objectiveMetric"),
    "objective_goal": ("AI Foundry Objective Goal", "objectiveGoal"),
    "max_total_trials": ("AI Foundry Max Total Trials", "maxTotalTrials"),
    "max_concurrent_trials": ("AI Foundry Max Concurrent Trials", "maxConcurrentTrials"),
    "sampling_algorithm": ("AI Foundry Sampling Algorithm", "samplingAlgorithm"),
}
_ATTRIBUTE_KEYS: dict[str, str] = {}
for _field, (_polysync, _camel) in ATTRIBUTE_NAMES.items():
    _ATTRIBUTE_KEYS[_squash(_polysync)] = _field
    _ATTRIBUTE_KEYS[_squash(_camel)] = _field
    _ATTRIBUTE_KEYS[_squash(_field)] = _field

DEFAULT_MAX_TOTAL_TRIALS = 10
DEFAULT_MAX_CONCURRENT_TRIALS = 2
DEFAULT_SAMPLING_ALGORITHM = "Random"
GOALS = {"maximize": "Maximize", "minimize": "Minimize", "max": "Maximize", "min": "Minimize"}
SAMPLING = {"random": "Random", "grid": "Grid", "bayesian": "Bayesian"}


def attribute_field(key: str) -> str | None:
    """The Attributes field for any accepted spelling of an attribute key, else None."""
    return _ATTRIBUTE_KEYS.get(_squash(key)) if isinstance(key, str) else None


def meant_as_attribute(key: Any) -> bool:
    """A flat-body key spelled like a Polysync attribute (`AI Foundry ...`): a typo of one is
    reported as an unknown attribute, never sent to the sweep as a parameter."""
    return isinstance(key, str) and (attribute_field(key) is not None or _squash(key).startswith("aifoundry"))
