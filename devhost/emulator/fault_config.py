"""A `FaultPlan` from JSON, for `--faults` and the emulator's admin route.

Built from the dataclass's own fields (pydantic validates a stdlib dataclass and runs
its `__post_init__`), so a field added to `FaultPlan` is accepted here without any
change: `{"rate": 1, "kinds": ["429"], "retry_after_seconds": 600, "methods": ["PUT"]}`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .faults import FaultPlan

_ADAPTER: TypeAdapter[FaultPlan] = TypeAdapter(FaultPlan)


class FaultPlanError(ValueError):
    """A fault plan that cannot be built; the message names the field and the fix."""


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(FaultPlan)]


def plan_from_json(data: Any) -> FaultPlan:
    """`data` is the decoded JSON object; unknown keys are refused, naming the known ones."""
    if not isinstance(data, dict):
        raise FaultPlanError(f"a fault plan is a JSON object with the fields {', '.join(field_names())}")
    unknown = sorted(set(data) - set(field_names()))
    if unknown:
        raise FaultPlanError(
            f"unknown fault plan field(s) {', '.join(unknown)}; known fields: {', '.join(field_names())}"
        )
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "plan"
            problems.append(f"{where}: {err['msg']}")
        raise FaultPlanError("invalid fault plan: " + "; ".join(problems)) from None


def plan_to_json(plan: FaultPlan) -> dict[str, Any]:
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
