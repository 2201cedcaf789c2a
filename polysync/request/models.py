"""Run requests: the two body shapes Polysync can send, validated and typed.

Why so strict: everything here ends up in an Azure ML job definition, in
orchestration history and in HTTP answers.  A request either becomes a
`RunRequest` whose values already have their final JSON types, or fails with a
`RequestValidationError` listing *every* bad field (so one round trip fixes all)
without ever quoting a value.  Secret values live in `SecretStr` until the start
route stores them in Key Vault; orchestration state only ever holds the secret's
identifier (`foundry.run_secrets`).

Text is checked once, here, for every string and key of a body: lone surrogates
(which no UTF-8 encoder can write) and control characters other than tab and
newlines are a 400, not a crash further down. One nesting limit applies to a
parameter value whichever body shape carries it.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from compat import StrEnum
from foundry.errors import FieldError, FoundryError, RequestValidationError
from foundry.names import JOB_NAME_RE, validate_job_name
from foundry.run_secrets import is_secret_reference

MAX_DEPTH = 32  # levels of nesting inside one parameter value, the same in both body shapes
# How deep a parameter value sits in each body: flat `{"p": v}` one level, structured
# `{"parameters": [{"value": v}]}` three. The body limit is the value limit plus that.
FLAT_ENVELOPE = 1
STRUCTURED_ENVELOPE = 3
MAX_STRING = 64 * 1024
MAX_PARAMETERS = 500
MAX_NODES = 50_000
MAX_RUN_ID = 256
MAX_DISPLAY_NAME = 1024
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
PARAM_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


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


# ---------------------------------------------------------------- JSON shape limits


def text_problem(text: str) -> str | None:
    """Why `text` is not acceptable text (a lone surrogate, a control character), or None."""
    for ch in text:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            return "text holds a lone surrogate (invalid Unicode); send valid UTF-8 text."
        if (code < 0x20 and ch not in "\t\n\r") or 0x7F <= code <= 0x9F:
            return f"text holds the control character U+{code:04X}; remove it."
    return None


def shape_errors(value: Any, root: str = "", *, max_depth: int = MAX_DEPTH) -> list[FieldError]:
    """Depth/size/type/text limits on a JSON value, checked iteratively (never recursion errors).

    Paths are relative to `root` (`parameters[2].value`); the root itself is called `body`.
    `max_depth` is measured from `value`; callers checking a whole body add the envelope
    the parameter values sit in, so the limit a user meets is always MAX_DEPTH levels of value.
    """
    errors: list[FieldError] = []
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    nodes = 0

    def add(path: str, message: str) -> None:
        errors.append(FieldError(path or "body", message))

    while stack and len(errors) < 20:
        node, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            add(root, f"the JSON value is too large (more than {MAX_NODES} elements).")
            break
        if depth > max_depth:
            add(path, f"nested deeper than {MAX_DEPTH} levels; flatten the value.")
            continue
        if isinstance(node, str):
            if len(node) > MAX_STRING:
                add(path, f"text longer than {MAX_STRING} characters.")
            elif (problem := text_problem(node)) is not None:
                add(path, problem)
        elif isinstance(node, float):
            if not math.isfinite(node):
                add(path, "NaN and Infinity are not valid JSON numbers.")
        elif isinstance(node, bool | int) or node is None:
            continue
        elif isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    add(path, "object keys must be text.")
                    break
                if len(k) > MAX_STRING:
                    add(path, f"an object key is longer than {MAX_STRING} characters.")
                    break
                if (problem := text_problem(k)) is not None:
                    add(f"{path}.{_label(k)}" if path else _label(k), f"this key: {problem}")
                    break
                stack.append((v, f"{path}.{k[:100]}" if path else k[:100], depth + 1))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                stack.append((v, f"{path or 'body'}[{i}]", depth + 1))
        else:
            add(path, "not a JSON value.")
    return errors


# ---------------------------------------------------------------- value coercion


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("value must be a whole number for dataType Int, not true/false")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float | str):
        try:
            number = (
                int(value.strip())
                if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value)
                else float(value)
            )
        except (ValueError, OverflowError):
            raise ValueError("value must be a whole number for dataType Int") from None
        if isinstance(number, float):
            if not math.isfinite(number) or not number.is_integer():
                raise ValueError('value must be a whole number for dataType Int (e.g. 3 or "3.0", not 3.5)')
            number = int(number)
        result = number
    else:
        raise ValueError("value must be a whole number for dataType Int")
    if not INT_MIN <= result <= INT_MAX:
        raise ValueError("value is out of the 64-bit integer range for dataType Int")
    return result


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("value must be a number for dataType Float")
    try:
        result = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise ValueError("value must be a number for dataType Float (e.g. 0.01)") from None
    if not math.isfinite(result):
        raise ValueError("value must be a finite number for dataType Float")
    return result


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
    raise ValueError("value must be true or false for dataType Bool (also accepted: yes/no, 1/0)")


def _to_string(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise ValueError(f"value must be text for dataType {what}; use dataType JSON for objects and lists")


def _to_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            raise ValueError(
                'value must be a JSON value for dataType JSON; a string must hold JSON text (e.g. "[1, 2]")'
            ) from None
        value = parsed
    problems = shape_errors(value, "")
    if problems:
        raise ValueError(f"value is not an acceptable JSON value: {problems[0].message}")
    return value


def coerce_value(data_type: DataType, value: Any) -> Any:
    """The typed JSON value for `value` under `data_type`, or ValueError (never quoting the value)."""
    if data_type is DataType.INT:
        return _to_int(value)
    if data_type is DataType.FLOAT:
        return _to_float(value)
    if data_type is DataType.BOOL:
        return _to_bool(value)
    if data_type is DataType.JSON:
        return _to_json(value)
    if data_type is DataType.SECRET:
        return SecretStr(_to_string(value, "Secret"))
    return _to_string(value, "String")


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


# ---------------------------------------------------------------- Parameter


class Parameter(BaseModel):
    """One Polysync parameter with its value already coerced to its data type."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", hide_input_in_errors=True)

    name: str
    data_type: DataType = Field(DataType.STRING, alias="dataType")
    direction: Direction = Direction.INPUT
    value: Any = Field(default=None, validate_default=True)
    _reference: bool = PrivateAttr(default=False)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> str:
        if not isinstance(v, str) or not PARAM_NAME_RE.fullmatch(v):
            raise ValueError(
                "name must be a valid search-space key: letters, digits and '_', starting with a letter "
                "or '_', at most 255 characters"
            )
        return v

    @field_validator("data_type", mode="before")
    @classmethod
    def _data_type(cls, v: Any) -> DataType:
        return DataType.parse(DataType.STRING if v is None else v)

    @field_validator("direction", mode="before")
    @classmethod
    def _direction(cls, v: Any) -> Direction:
        return Direction.parse(Direction.INPUT if v is None else v)

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, v: Any, info: ValidationInfo) -> Any:
        data_type = info.data.get("data_type")
        direction = info.data.get("direction")
        if data_type is None or direction is None:
            return None  # the dataType/direction error is reported instead
        if direction is Direction.OUTPUT:
            return None  # outputs are filled from the result; a sent value is meaningless
        if isinstance(v, SecretStr):
            v = v.get_secret_value()
        if v is None and data_type is not DataType.JSON:
            raise ValueError(
                f"value is required for an {direction.value} parameter of dataType {data_type.value}"
            )
        return coerce_value(data_type, v)

    @property
    def is_secret(self) -> bool:
        return self.data_type is DataType.SECRET

    @property
    def is_reference(self) -> bool:
        """A Secret whose value is already in Key Vault: `value` is the secret's identifier."""
        return self._reference

    def typed_value(self) -> Any:
        """The value sent to Azure ML. A Secret is sent as its Key Vault identifier, never its value."""
        if self.is_secret and self.value is not None:
            if not self._reference:
                raise FoundryError(
                    f"Secret parameter '{self.name}' has not been stored in Key Vault.",
                    code="SecretNotStored",
                    hint="Start the run through the start route, which stores Secret values in Key Vault.",
                    status=500,
                )
            return self.value.get_secret_value()
        return copy.deepcopy(self.value)


# ---------------------------------------------------------------- Attributes

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
_COMPUTE_ID_RE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+(/[^/]+/[^/]+)+$", re.IGNORECASE
)


def attribute_field(key: str) -> str | None:
    """The Attributes field for any accepted spelling of an attribute key, else None."""
    return _ATTRIBUTE_KEYS.get(_squash(key)) if isinstance(key, str) else None


def _meant_as_attribute(key: Any) -> bool:
    """A flat-body key spelled like a Polysync attribute (`AI Foundry ...`): a typo of one is
    reported as an unknown attribute, never sent to the sweep as a parameter."""
    return isinstance(key, str) and (attribute_field(key) is not None or _squash(key).startswith("aifoundry"))


def _text(v: Any, label: str, limit: int) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise ValueError(f"{label} must be text")
    v = v.strip()
    if not v:
        return None
    if len(v) > limit:
        raise ValueError(f"{label} is longer than {limit} characters")
    return v


def _whole(v: Any, label: str, low: int, high: int) -> int | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        number = _to_int(v)
    except ValueError:
        raise ValueError(f"{label} must be a whole number between {low} and {high}") from None
    if not low <= number <= high:
        raise ValueError(f"{label} must be between {low} and {high}")
    return number


class Attributes(BaseModel):
    """The `AI Foundry ...` job attributes. Empty strings mean "not set"."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, hide_input_in_errors=True)

    compute_name: str | None = None
    environment_name: str | None = None
    command: str | None = None
    objective_metric: str | None = None
    objective_goal: str | None = None
    max_total_trials: int = Field(DEFAULT_MAX_TOTAL_TRIALS, validate_default=True)
    max_concurrent_trials: int = Field(None, validate_default=True)  # type: ignore[assignment]
    sampling_algorithm: str = Field(DEFAULT_SAMPLING_ALGORITHM, validate_default=True)

    @classmethod
    def model_validate_any(cls, raw: dict[str, Any]) -> Attributes:
        """Validate a dict keyed by any accepted spelling (Polysync, camelCase, snake_case)."""
        return cls.model_validate({attribute_field(k) or k: v for k, v in raw.items()})

    @field_validator("compute_name", mode="before")
    @classmethod
    def _compute(cls, v: Any) -> str | None:
        text = _text(v, ATTRIBUTE_NAMES["compute_name"][0], 1024)
        if text is None:
            return None
        bare = text[len("azureml:") :] if text.lower().startswith("azureml:") else text
        if not (JOB_NAME_RE.fullmatch(bare) or (_COMPUTE_ID_RE.fullmatch(bare) and ".." not in bare)):
            raise ValueError(
                "AI Foundry Compute Name must be a compute name (letters, digits, '-', '_') "
                "or a compute ARM id"
            )
        return text

    @field_validator("environment_name", mode="before")
    @classmethod
    def _environment(cls, v: Any) -> str | None:
        return _text(v, ATTRIBUTE_NAMES["environment_name"][0], 1024)

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, v: Any) -> str | None:
        return _text(v, ATTRIBUTE_NAMES["command"][0], 32 * 1024)

    @field_validator("objective_metric", mode="before")
    @classmethod
    def _metric(cls, v: Any) -> str | None:
        return _text(v, ATTRIBUTE_NAMES["objective_metric"][0], 255)

    @field_validator("objective_goal", mode="before")
    @classmethod
    def _goal(cls, v: Any) -> str | None:
        text = _text(v, ATTRIBUTE_NAMES["objective_goal"][0], 32)
        if text is None:
            return None
        goal = GOALS.get(text.lower())
        if goal is None:
            raise ValueError("AI Foundry Objective Goal must be Maximize or Minimize")
        return goal

    @field_validator("max_total_trials", mode="before")
    @classmethod
    def _total(cls, v: Any) -> int:
        n = _whole(v, ATTRIBUTE_NAMES["max_total_trials"][0], 1, 1000)
        return DEFAULT_MAX_TOTAL_TRIALS if n is None else n

    @field_validator("max_concurrent_trials", mode="before")
    @classmethod
    def _concurrent(cls, v: Any, info: ValidationInfo) -> int | None:
        label = ATTRIBUTE_NAMES["max_concurrent_trials"][0]
        n = _whole(v, label, 1, 100)
        total = info.data.get("max_total_trials")
        if n is None:
            return min(DEFAULT_MAX_CONCURRENT_TRIALS, total or DEFAULT_MAX_CONCURRENT_TRIALS)
        if total is not None and n > total:
            raise ValueError(f"{label} ({n}) must not exceed AI Foundry Max Total Trials ({total})")
        return n

    @field_validator("sampling_algorithm", mode="before")
    @classmethod
    def _sampling(cls, v: Any) -> str:
        text = _text(v, ATTRIBUTE_NAMES["sampling_algorithm"][0], 32)
        if text is None:
            return DEFAULT_SAMPLING_ALGORITHM
        algo = SAMPLING.get(text.lower())
        if algo is None:
            raise ValueError("AI Foundry Sampling Algorithm must be Random, Grid or Bayesian")
        return algo

    def to_payload(self) -> dict[str, Any]:
        """camelCase keys, unset values left out."""
        return {ATTRIBUTE_NAMES[k][1]: v for k, v in self.model_dump().items() if v is not None}


# ---------------------------------------------------------------- RunRequest


class RunRequest(BaseModel):
    """A validated run: which template, what to override, which parameters."""

    model_config = ConfigDict(hide_input_in_errors=True)

    external_id: str
    name: str
    run_id: str | None = None
    attributes: Attributes = Field(default_factory=Attributes)
    parameters: list[Parameter] = Field(default_factory=list)

    @field_validator("external_id")
    @classmethod
    def _external_id(cls, v: str) -> str:
        if not JOB_NAME_RE.fullmatch(v):
            raise ValueError("externalId must be an Azure ML job name")
        return v

    def inputs(self) -> list[Parameter]:
        """Parameters sent into the search space (Input and Input&Output)."""
        return [p for p in self.parameters if p.direction in (Direction.INPUT, Direction.INPUT_OUTPUT)]

    def outputs(self) -> list[Parameter]:
        """Parameters filled from the result (Output and Input&Output)."""
        return [p for p in self.parameters if p.direction in (Direction.OUTPUT, Direction.INPUT_OUTPUT)]

    def secret_inputs(self) -> list[tuple[int, Parameter, str]]:
        """(index, parameter, clear value) of each Secret whose value is still in hand —
        for the start route, which stores them in Key Vault and forgets them."""
        return [
            (i, p, p.value.get_secret_value())
            for i, p in enumerate(self.parameters)
            if p.is_secret and p.value is not None and not p.is_reference
        ]

    def to_payload(self, secret_refs: Mapping[str, str] | None = None) -> dict[str, Any]:
        """JSON-safe form for orchestration input. Each Secret is given as the Key Vault
        identifier in `secret_refs` (parameter name -> identifier); its value never appears."""
        errors: list[FieldError] = []
        params: list[dict[str, Any]] = []
        refs = secret_refs or {}
        for i, p in enumerate(self.parameters):
            item: dict[str, Any] = {
                "name": p.name,
                "dataType": p.data_type.value,
                "direction": p.direction.value,
            }
            if p.is_secret and p.value is not None:
                if p.is_reference:
                    item.update(value=p.value.get_secret_value(), keyVaultSecret=True)
                elif p.name in refs:
                    item.update(value=refs[p.name], keyVaultSecret=True)
                else:
                    errors.append(
                        FieldError(
                            f"parameters[{i}].value",
                            f"'{p.name}' is a Secret parameter and has not been stored in Key Vault.",
                        )
                    )
            elif p.direction is not Direction.OUTPUT:
                item["value"] = copy.deepcopy(p.value)
            params.append(item)
        if errors:
            raise RequestValidationError(errors)
        return {
            "externalId": self.external_id,
            "name": self.name,
            "runId": self.run_id,
            "attributes": self.attributes.to_payload(),
            "parameters": params,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RunRequest:
        """Inverse of `to_payload` (trusted: it was validated at the start route)."""
        return _parse_structured(payload, trusted=True)


# ---------------------------------------------------------------- parsing


def _pydantic_errors(exc: ValidationError, prefix: str, aliases: dict[str, str]) -> list[FieldError]:
    out: list[FieldError] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = [str(p) for p in err.get("loc", ())]
        field = aliases.get(loc[0], loc[0]) if loc else ""
        path = f"{prefix}.{field}" if field and prefix else (field or prefix or "body")
        msg = str(err.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key; remove it"
        elif err.get("type") == "missing":
            msg = "required"
        out.append(FieldError(path, msg))
    return out


def _run_id(value: Any, field: str, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors.append(FieldError(field, "runId must be text (Polysync's run id)."))
        return None
    value = value.strip()
    if len(value) > MAX_RUN_ID or text_problem(value) is not None or any(c in value for c in "\t\n\r"):
        errors.append(FieldError(field, f"runId must be printable text of at most {MAX_RUN_ID} characters."))
        return None
    return value or None


def _display_name(value: Any, field: str, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(field, "name must be text (the Polysync job name)."))
        return None
    value = value.strip()
    if len(value) > MAX_DISPLAY_NAME:
        errors.append(FieldError(field, f"name is longer than {MAX_DISPLAY_NAME} characters."))
        return None
    if (problem := text_problem(value)) is not None or any(c in value for c in "\t\n\r"):
        errors.append(FieldError(field, problem or "name must be one line of text."))
        return None
    return value or None


def _attributes(
    raw: dict[str, Any], path_of: Callable[[str], str]
) -> tuple[Attributes | None, list[FieldError]]:
    """Validate attributes given by any spelling; errors carry the key as the caller wrote it."""
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    original: dict[str, str] = {}
    for key, value in raw.items():
        field = attribute_field(key)
        if field is None:
            known = ", ".join(n for n, _ in ATTRIBUTE_NAMES.values())
            errors.append(
                FieldError(path_of(str(key)[:100]), f"unknown attribute; known attributes: {known}.")
            )
            continue
        if field in values:
            errors.append(
                FieldError(path_of(key), f"given twice (also as '{original[field]}'); keep one of them.")
            )
            continue
        values[field] = value
        original[field] = key
    try:
        attrs = Attributes.model_validate(values)
    except ValidationError as exc:
        for e in _pydantic_errors(exc, "", {}):
            errors.append(
                FieldError(
                    path_of(original.get(e.field, ATTRIBUTE_NAMES.get(e.field, (e.field,))[0])), e.message
                )
            )
        attrs = None
    return (attrs if not errors else None), errors


_PARAM_ALIASES = {"data_type": "dataType"}
_PARAM_KEYS = {"name", "value", "dataType", "data_type", "direction"}


def _parameter(item: Any, path: str, *, trusted: bool, errors: list[FieldError]) -> Parameter | None:
    if not isinstance(item, dict):
        errors.append(
            FieldError(path, "each parameter must be an object with name, value, dataType, direction.")
        )
        return None
    data = {k: v for k, v in item.items() if k in _PARAM_KEYS}
    if "value" not in data and "defaultValue" in item:
        data["value"] = item["defaultValue"]
    ignored = {"defaultValue", "description"} | ({"keyVaultSecret"} if trusted else set())
    for key in item:
        if key not in _PARAM_KEYS and key not in ignored:
            errors.append(FieldError(f"{path}.{str(key)[:100]}", "unknown key; remove it."))
    reference = trusted and item.get("keyVaultSecret") is True
    try:
        param = Parameter.model_validate(data)
    except ValidationError as exc:
        name = item.get("name")
        for e in _pydantic_errors(exc, path, _PARAM_ALIASES):
            # name the parameter, not only its position
            named = isinstance(name, str) and name.strip() and not e.field.endswith(".name")
            errors.append(
                FieldError(e.field, f"parameter '{name.strip()[:100]}': {e.message}" if named else e.message)
            )
        return None
    if reference:
        if not (
            param.is_secret
            and param.value is not None
            and is_secret_reference(param.value.get_secret_value())
        ):
            errors.append(
                FieldError(f"{path}.value", "marked as a Key Vault secret but not a secret identifier.")
            )
            return None
        param._reference = True
    return param


def _check_duplicates(params: list[tuple[int, str, Parameter]], errors: list[FieldError]) -> None:
    seen: dict[str, str] = {}
    for _, path, p in params:
        if p.name in seen:
            errors.append(FieldError(f"{path}.name", f"duplicate parameter name (also {seen[p.name]})."))
        else:
            seen[p.name] = path


STRUCTURED_KEYS = ("externalId", "name", "runId", "attributes", "parameters")


def _label(key: Any) -> str:
    """A body key as an error's `field`: at most 100 characters, and a blank key
    quoted so the field is never empty."""
    text = str(key)[:100]
    return text if text.strip() else json.dumps(text)


def _parse_structured(body: Any, *, trusted: bool) -> RunRequest:
    # A payload the start route produced was checked there: checked once, not again.
    errors = [] if trusted else shape_errors(body, max_depth=MAX_DEPTH + STRUCTURED_ENVELOPE)
    if errors:
        raise RequestValidationError(errors)
    if not isinstance(body, dict):
        raise RequestValidationError(
            [FieldError("body", "the body must be a JSON object with externalId, attributes and parameters.")]
        )
    for key in body:
        if key not in STRUCTURED_KEYS:
            errors.append(FieldError(_label(key), f"unknown key; expected {', '.join(STRUCTURED_KEYS)}."))
    external_id: str | None = None
    try:
        external_id = validate_job_name(body.get("externalId"), "externalId")
    except RequestValidationError as exc:
        errors.extend(exc.errors)
    name = _display_name(body.get("name"), "name", errors)
    run_id = _run_id(body.get("runId"), "runId", errors)

    attrs: Attributes | None = Attributes()
    raw_attrs = body.get("attributes")
    if isinstance(raw_attrs, dict):
        attrs, attr_errors = _attributes(raw_attrs, lambda k: f"attributes.{k}")
        errors.extend(attr_errors)
    elif raw_attrs is not None:
        errors.append(FieldError("attributes", "attributes must be an object of 'AI Foundry ...' keys."))

    params: list[tuple[int, str, Parameter]] = []
    raw_params = body.get("parameters")
    if isinstance(raw_params, list):
        if len(raw_params) > MAX_PARAMETERS:
            errors.append(FieldError("parameters", f"more than {MAX_PARAMETERS} parameters."))
        else:
            for i, item in enumerate(raw_params):
                path = f"parameters[{i}]"
                p = _parameter(item, path, trusted=trusted, errors=errors)
                if p is not None:
                    params.append((i, path, p))
            _check_duplicates(params, errors)
    elif raw_params is not None:
        errors.append(
            FieldError("parameters", "parameters must be a list of {name, value, dataType, direction}.")
        )

    if errors or external_id is None or attrs is None:
        raise RequestValidationError(errors or [FieldError("body", "invalid request.")])
    return RunRequest(
        external_id=external_id,
        name=name or external_id,
        run_id=run_id,
        attributes=attrs,
        parameters=[p for _, _, p in params],
    )


def parse_structured_request(body: Any) -> RunRequest:
    """Parse `{"externalId", "name"?, "runId"?, "attributes"?, "parameters"?}`."""
    return _parse_structured(body, trusted=False)


RESERVED_FLAT_KEYS = ("runId", "name", "template")


def parse_flat_request(
    template: str, body: Any, *, name: str | None = None, run_id: str | None = None
) -> RunRequest:
    """Parse Polysync's flat body `{"<param>": <typed value>, ...}` for the template in the route.

    Attribute keys (any spelling) become attributes; `runId`, `name` and `template` are
    reserved; every other key is an Input parameter typed from its JSON value.
    Explicit `name`/`run_id` (query string) win over the body's.
    """
    errors: list[FieldError] = []
    template_ok = True
    try:
        template = validate_job_name(template, "template")
    except RequestValidationError as exc:
        errors.extend(exc.errors)
        template_ok = False
    shape = shape_errors(body, max_depth=MAX_DEPTH + FLAT_ENVELOPE)
    if shape:
        raise RequestValidationError(errors + shape)
    if not isinstance(body, dict):
        errors.append(FieldError("body", "the body must be a JSON object of parameter names to values."))
        raise RequestValidationError(errors)
    body_name = _display_name(body.get("name"), "name", errors)
    body_run_id = _run_id(body.get("runId"), "runId", errors)
    final_name = _display_name(name, "name", errors) or body_name
    final_run_id = _run_id(run_id, "runId", errors) or body_run_id

    raw_attrs: dict[str, Any] = {}
    params: list[tuple[int, str, Parameter]] = []
    candidates = [(k, v) for k, v in body.items() if k not in RESERVED_FLAT_KEYS]
    param_count = sum(1 for k, _ in candidates if not _meant_as_attribute(k))
    if param_count > MAX_PARAMETERS:
        errors.append(FieldError("body", f"more than {MAX_PARAMETERS} parameters."))
    for i, (key, value) in enumerate(candidates):
        if _meant_as_attribute(key):
            raw_attrs[key] = value
            continue
        if param_count > MAX_PARAMETERS:
            continue
        if value is None:
            errors.append(FieldError(_label(key), "null value: send a value or leave the parameter out."))
            continue
        item = {"name": key, "dataType": infer_data_type(value).value, "direction": "Input", "value": value}
        local: list[FieldError] = []
        p = _parameter(item, _label(key), trusted=False, errors=local)
        # the flat body has one key per parameter: report `lr`, not `lr.value`
        errors.extend(
            FieldError(_label(key), e.message.removeprefix(f"parameter '{key.strip()[:100]}': "))
            for e in local
        )
        if p is not None:
            params.append((i, key, p))
    attrs, attr_errors = _attributes(raw_attrs, lambda k: k)
    errors.extend(attr_errors)
    if errors or attrs is None or not template_ok:
        raise RequestValidationError(errors or [FieldError("body", "invalid request.")])
    return RunRequest(
        external_id=template,
        name=final_name or template,
        run_id=final_run_id,
        attributes=attrs,
        parameters=[p for _, _, p in params],
    )


def parameters_by_name(params: Iterable[Parameter]) -> dict[str, Parameter]:
    return {p.name: p for p in params}
