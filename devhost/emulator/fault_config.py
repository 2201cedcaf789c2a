"""A `FaultPlan` from JSON, for `--faults` and the emulator's admin route.

Built from the dataclass's own fields (pydantic validates a stdlib dataclass and runs
its `__post_init__`), so a field added to `FaultPlan` is accepted here without any
change: `{"rate": 1, "kinds": ["429"], "retry_after_seconds": 600, "methods": ["PUT"]}`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from .faults import FaultPlan

Plan = TypeVar("Plan")


@functools.cache
def _adapter(cls: type) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


class FaultPlanError(ValueError):
    """A fault plan that cannot be built; the message names the field and the fix."""


def field_names(cls: type = FaultPlan) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def plan_from_json(data: Any, cls: type[Plan] = FaultPlan) -> Plan:  # type: ignore[assignment]
    """`data` is the decoded JSON object; unknown keys are refused, naming the known ones."""
    names = field_names(cls)
    if not isinstance(data, dict):
        raise FaultPlanError(f"a fault plan is a JSON object with the fields {', '.join(names)}")
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise FaultPlanError(
            f"unknown fault plan field(s) {', '.join(unknown)}; known fields: {', '.join(names)}"
        )
    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            where = ".".join(str(part) for part in err["loc"])
            problems.append(f"{where}: {message}" if where else message)
        raise FaultPlanError("invalid fault plan: " + "; ".join(problems)) from None


def plan_to_json(plan: Any) -> dict[str, Any]:
    """The plan as JSON (sets as sorted lists, tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(plan), default=sorted))


def parse_faults_option(value: str) -> FaultPlan:
    """`--faults` takes inline JSON or `@path/to/plan.json`."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise FaultPlanError(f"cannot read fault plan file {value[1:]}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FaultPlanError(
            f"the fault plan is not valid JSON ({exc}); give a JSON object or @file"
        ) from None
    return plan_from_json(data)
