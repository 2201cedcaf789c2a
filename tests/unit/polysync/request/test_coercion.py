"""Parameter values coerced to their data type, and errors that name the field without quoting the value."""

from __future__ import annotations

from typing import Any

import pytest

from foundry.errors import RequestValidationError
from polysync.request.models import Parameter
from polysync.request.parsing import parse_structured_request


def fields(exc: pytest.ExceptionInfo[RequestValidationError]) -> list[str]:
    return [e.field for e in exc.value.errors]


COERCION = [
    ("Float", "0.01", 0.01),
    ("Float", 3, 3.0),
    ("Float", " 1e-3 ", 0.001),
    ("Int", "42", 42),
    ("Int", "3.0", 3),
    ("Int", 7.0, 7),
    ("Int", -5, -5),
    ("Bool", "true", True),
    ("Bool", "1", True),
    ("Bool", "yes", True),
    ("Bool", "No", False),
    ("Bool", 0, False),
    ("Bool", False, False),
    ("String", "x", "x"),
    ("String", 5, "5"),
    ("String", True, "true"),
    ("JSON", '{"a": [1, 2]}', {"a": [1, 2]}),
    ("JSON", [1, "two"], [1, "two"]),
    ("JSON", {"k": None}, {"k": None}),
    ("JSON", None, None),
    ("JSON", 3.5, 3.5),
]


BAD = [
    ("Int", "3.5"),
    ("Int", 3.5),
    ("Int", True),
    ("Int", "abc"),
    ("Int", 2**70),
    ("Int", [1]),
    ("Float", "abc"),
    ("Float", True),
    ("Float", float("nan")),
    ("Float", "inf"),
    ("Float", 10**400),
    ("Bool", "maybe"),
    ("Bool", 2),
    ("Bool", [True]),
    ("String", {"a": 1}),
    ("String", None),
    ("Secret", ["x"]),
    ("JSON", "not json {"),
    ("JSON", float("inf")),
]


@pytest.mark.parametrize(("dtype", "raw", "expected"), COERCION)
def test_coercion_table(dtype: str, raw: Any, expected: Any) -> None:
    p = Parameter(name="p", dataType=dtype, value=raw)
    got = p.typed_value()
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("dtype", "raw"), BAD)
def test_coercion_errors_name_the_value_field(dtype: str, raw: Any) -> None:
    body = {"externalId": "t", "parameters": [{"name": "p", "dataType": dtype, "value": raw}]}
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request(body)
    assert fields(exc) == ["parameters[0].value"]
    assert dtype in exc.value.errors[0].message or "JSON" in exc.value.errors[0].message
