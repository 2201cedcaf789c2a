"""A validated run request: which template, what to override, which parameters.

Everything here ends up in an Azure ML job definition, in orchestration history and
in HTTP answers, so a `RunRequest`'s values already have their final JSON types.
Secret values live in `SecretStr` until the start route stores them in Key Vault;
orchestration state only ever holds the secret's identifier (`foundry.run_secrets`):
`to_payload` is the form the orchestration input carries.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from foundry.errors import FieldError, FoundryError, RequestValidationError
from foundry.names import JOB_NAME_RE
from foundry.workspace import compute_reference_problem
from polysync.request.coercion import coerce_value, to_int
from polysync.request.types import (
    ATTRIBUTE_NAMES,
    DEFAULT_MAX_CONCURRENT_TRIALS,
    DEFAULT_MAX_TOTAL_TRIALS,
    DEFAULT_SAMPLING_ALGORITHM,
    GOALS,
    INPUT_DIRECTIONS,
    OUTPUT_DIRECTIONS,
    SAMPLING,
    DataType,
    Direction,
)

PARAM_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


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
        number = to_int(v)
    except ValueError:
        raise ValueError(f"{label} must be a whole number between {low} and {high}") from None
    if not low <= number <= high:
        raise ValueError(f"{label} must be between {low} and {high}")
    return number


# Longest text each free-text attribute may hold.
_TEXT_LIMITS = {"compute_name": 1024, "environment_name": 1024, "command": 32 * 1024, "objective_metric": 255}


# Attributes that name one of a few choices: accepted spellings, and the value when not given.
_CHOICES: dict[str, tuple[dict[str, str], str | None]] = {
    "objective_goal": (GOALS, None),
    "sampling_algorithm": (SAMPLING, DEFAULT_SAMPLING_ALGORITHM),
}


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

    @field_validator("compute_name", "environment_name", "command", "objective_metric", mode="before")
    @classmethod
    def _free_text(cls, v: Any, info: ValidationInfo) -> str | None:
        text = _text(v, ATTRIBUTE_NAMES[info.field_name][0], _TEXT_LIMITS[info.field_name])
        if text is not None and info.field_name == "compute_name":
            if (problem := compute_reference_problem(text)) is not None:
                raise ValueError(problem)
        return text

    @field_validator("objective_goal", "sampling_algorithm", mode="before")
    @classmethod
    def _named_choice(cls, v: Any, info: ValidationInfo) -> str | None:
        """One of a few names, written in any case (`maximize`, `GRID`); sent as the REST enum spells it."""
        label = ATTRIBUTE_NAMES[info.field_name][0]
        spellings, default = _CHOICES[info.field_name]
        text = _text(v, label, 32)
        if text is None:
            return default
        choice = spellings.get(text.lower())
        if choice is None:
            names = list(dict.fromkeys(spellings.values()))
            raise ValueError(f"{label} must be {', '.join(names[:-1])} or {names[-1]}")
        return choice

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

    def to_payload(self) -> dict[str, Any]:
        """camelCase keys, unset values left out."""
        return {ATTRIBUTE_NAMES[k][1]: v for k, v in self.model_dump().items() if v is not None}


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
        return [p for p in self.parameters if p.direction in INPUT_DIRECTIONS]

    def outputs(self) -> list[Parameter]:
        """Parameters filled from the result (Output and Input&Output)."""
        return [p for p in self.parameters if p.direction in OUTPUT_DIRECTIONS]

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
