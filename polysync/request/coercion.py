"""A parameter value in its data type's final JSON form, or a ValueError that names the
fix without quoting the value (it may be a secret)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import SecretStr

from polysync.request.limits import shape_errors
from polysync.request.types import DataType

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def to_int(value: Any) -> int:
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
        return to_int(value)
    if data_type is DataType.FLOAT:
        return _to_float(value)
    if data_type is DataType.BOOL:
        return _to_bool(value)
    if data_type is DataType.JSON:
        return _to_json(value)
    if data_type is DataType.SECRET:
        return SecretStr(_to_string(value, "Secret"))
    return _to_string(value, "String")
