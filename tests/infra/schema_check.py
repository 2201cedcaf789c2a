"""Offline check of Bicep resources against Azure's own resource schemas.

No Bicep compiler runs here, so nothing else would notice a resource type or API version that
does not exist, a misspelt property, or a read-only property set by mistake until the first
`azd up`. The committed fragments under `reference/schemas/` are extracted from
Azure/azure-rest-api-specs (or from Azure/bicep-types-az, which Bicep generates from those specs);
`reference/README.md` names each source file and commit.

A fragment describes, per `Type@apiVersion`, the request body's definition tree: every property
name of each definition on the path the Bicep walks, marked read-only where the source says so.
A property the fragment leaves opaque (`"object"`) cannot be checked: setting a literal object
under it is reported as "not extracted" so the fragment gets extended, never silently passed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).resolve().parent / "reference"
SCHEMAS = REFERENCE / "schemas"

# Resource-declaration keys that Bicep consumes itself; they never reach the request body.
BICEP_KEYWORDS = frozenset({"name", "parent", "scope", "dependsOn"})
LEAF_TYPES = frozenset({"string", "boolean", "integer", "number", "array", "object"})


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Fragment:
    file: Path
    resources: dict[str, dict[str, Any]]
    definitions: dict[str, dict[str, Any]]


@cache
def fragments() -> dict[str, Fragment]:
    """`Type@apiVersion` (as in Bicep, case preserved) -> the fragment that describes it."""
    out: dict[str, Fragment] = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        fragment = Fragment(path, doc["resources"], doc["definitions"])
        for key in doc["resources"]:
            assert key.lower() not in {k.lower() for k in out}, f"{key} described twice"
            out[key] = fragment
    return out


def lookup(type_and_version: str) -> tuple[Fragment, dict[str, Any]] | None:
    for key, fragment in fragments().items():
        if key.lower() == type_and_version.lower():
            return fragment, fragment.resources[key]
    return None


def is_expression(value: Any) -> bool:
    """pycep renders function calls, operators and `for` loops as single-purpose dicts."""
    return isinstance(value, dict) and (
        set(value) == {"function"} or set(value) == {"operator"} or "loop_type" in value
    )


def _key(name: str) -> str:
    """Quoted Bicep object keys keep their quotes in pycep's output."""
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == "'" else name


class _Walker:
    def __init__(self, fragment: Fragment, variables: dict[str, Any]) -> None:
        self.fragment = fragment
        self.variables = variables
        self.problems: list[Problem] = []

    def literal(self, value: Any) -> list[Any]:
        """The literal values an expression can take that this walker can still check.

        `cond ? a : b` yields both branches; an identifier naming a `var` whose value is an object
        or array literal yields that literal. Anything else is computed at deploy time.
        """
        if isinstance(value, str) and isinstance(self.variables.get(value, {}).get("value"), dict | list):
            return self.literal(self.variables[value]["value"])
        if (
            isinstance(value, dict)
            and set(value) == {"operator"}
            and value["operator"].get("type") == "conditional"
        ):
            operands = value["operator"]["operands"]
            return self.literal(operands["true_value"]) + self.literal(operands["false_value"])
        if is_expression(value) or value is None:
            return []
        return [value]

    def definition(self, name: str) -> dict[str, Any]:
        found = self.fragment.definitions.get(name)
        assert found is not None, f"{self.fragment.file.name}: definition {name} is missing"
        return found

    def node(self, where: str, value: Any, schema: Any) -> None:
        for literal in self.literal(value):
            self.check_literal(where, literal, schema)

    def check_literal(self, where: str, value: Any, schema: Any) -> None:
        if isinstance(schema, str):
            assert schema in LEAF_TYPES, schema
            schema = {"type": schema}
        if "$ref" in schema:
            self.obj(where, value, self.definition(schema["$ref"]))
            return
        kind = schema.get("type")
        if kind == "array":
            items = schema.get("items")
            if isinstance(value, list) and items is not None:
                for i, item in enumerate(value):
                    self.node(f"{where}[{i}]", item, items)
            return
        if kind == "object" and "properties" in schema:
            self.obj(where, value, schema)
            return
        if kind == "object" and "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            if isinstance(value, dict) and extra is not True:
                for key, item in value.items():
                    self.node(f"{where}.{_key(key)}", item, extra)
            return
        if kind == "object" and isinstance(value, dict) and value:
            self.problems.append(
                Problem(
                    where,
                    f"the schema fragment leaves this object opaque; extract it from {self.fragment.file.name}'s source",
                )
            )

    def obj(self, where: str, value: Any, definition: dict[str, Any]) -> None:
        if not isinstance(value, dict):
            return
        properties = dict(definition.get("properties", {}))
        if "discriminator" in definition:
            tag = definition["discriminator"]
            chosen = value.get(tag)
            variants = definition["variants"]
            if not isinstance(chosen, str) or chosen not in variants:
                self.problems.append(
                    Problem(where, f"{tag} must be one of {sorted(variants)}, got {chosen!r}")
                )
                return
            properties.update(variants[chosen]["properties"])
        lowered = {k.lower(): k for k in properties}
        for raw_key, item in value.items():
            key = _key(raw_key)
            path = f"{where}.{key}"
            if key in properties:
                spec = properties[key]
            elif key.lower() in lowered:
                self.problems.append(Problem(path, f"the schema spells it {lowered[key.lower()]!r}"))
                continue
            else:
                self.problems.append(Problem(path, "is not a property of this API version's schema"))
                continue
            if isinstance(spec, dict) and spec.get("readOnly"):
                self.problems.append(Problem(path, "is read-only in the schema (ARM ignores or rejects it)"))
                continue
            self.node(path, item, spec)


def resource_body(resource: dict[str, Any]) -> dict[str, Any]:
    """A declaration's properties, looking through `= if (...) {...}` and `= [for ...: {...}]`."""
    config = resource["config"]
    while (
        isinstance(config, dict) and "config" in config and ("condition" in config or "loop_type" in config)
    ):
        config = config["config"]
    return config


def check_resource(
    label: str, resource: dict[str, Any], variables: dict[str, Any] | None = None
) -> list[Problem]:
    type_and_version = f"{resource['type']}@{resource['api_version']}"
    found = lookup(type_and_version)
    if found is None:
        return [
            Problem(
                label,
                f"{type_and_version} is not in tests/infra/reference/schemas: it does not exist in "
                "azure-rest-api-specs, or its schema was never extracted (see reference/README.md)",
            )
        ]
    fragment, entry = found
    if resource.get("existing"):
        return []
    if entry.get("existing_only"):
        return [
            Problem(
                label,
                f"{type_and_version} is described for `existing` references only; extract its body schema",
            )
        ]
    body = resource_body(resource)
    walker = _Walker(fragment, variables or {})
    names = entry.get("names")
    name = body.get("name")
    if names and isinstance(name, str) and not is_expression(name) and name not in names:
        walker.problems.append(Problem(f"{label}.name", f"must be one of {names} for this type"))
    top = {k: v for k, v in body.items() if k not in BICEP_KEYWORDS}
    walker.obj(label, top, walker.definition(entry["body"]))
    return walker.problems


def check_document(relative: str, doc: dict[str, Any]) -> Iterator[Problem]:
    for name, resource in doc.get("resources", {}).items():
        yield from check_resource(f"{relative}:{name}", resource, doc.get("variables", {}))
