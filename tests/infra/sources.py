"""Readers for the infra tests: Bicep (parsed offline by pycep), docs tables and the Python sources.

pycep renders identifiers and string literals alike as Python strings, and string interpolation
as the raw `${...}` text; helpers here resolve just enough of that for the checks.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SETTINGS_PY = ROOT / "runtime" / "settings.py"
TRIGGERS = ROOT / "triggers"
# Application code (what runs in Azure); devhost/, bench/ and tests/ never do.
APP_SOURCES = (
    "function_app.py",
    "compat.py",
    "activities",
    "foundry",
    "orchestrators",
    "polysync",
    "runtime",
    "triggers",
)

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
BINDING_EXPRESSION = re.compile(r"^%([A-Za-z][A-Za-z0-9_]*)%$")
BINDING_EXPRESSION_ANYWHERE = re.compile(r"%([A-Za-z][A-Za-z0-9_]*)%")


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def _parser() -> BicepParser:
    return BicepParser()  # building the grammar takes about a second: once


@cache
def parse(path: Path) -> dict[str, Any]:
    return _parser().parse(file_path=path.resolve())


def bicep(relative: str) -> dict[str, Any]:
    return parse(INFRA / relative)


def resources_of_type(doc: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in doc.get("resources", {}).items() if v["type"].lower() == type_.lower()}


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's properties, looking through `= if (cond) {...}`."""
    config = resource["config"]
    if "condition" in config and "config" in config:
        return config["config"]
    return config


def the_resource(relative: str, type_: str) -> dict[str, Any]:
    found = resources_of_type(bicep(relative), type_)
    assert len(found) == 1, f"{relative}: expected one {type_}, found {sorted(found)}"
    return next(iter(found.values()))


def function_site() -> dict[str, Any]:
    return body(the_resource("app/function.bicep", "Microsoft.Web/sites"))


def app_settings() -> dict[str, Any]:
    settings = function_site()["properties"]["siteConfig"]["appSettings"]
    names = [s["name"] for s in settings]
    assert len(names) == len(set(names)), f"duplicate app settings: {names}"
    return {s["name"]: s["value"] for s in settings}


def resolve_variable(doc: dict[str, Any], value: Any) -> Any:
    """`foo` (an identifier) -> the value of `var foo`; anything else unchanged."""
    variables = doc.get("variables", {})
    if isinstance(value, str) and value in variables:
        return variables[value]["value"]
    return value


def role_definition_guid(doc: dict[str, Any], assignment: dict[str, Any]) -> str:
    role = body(assignment)["properties"]["roleDefinitionId"]
    function = role["function"]
    assert function["type"] == "subscription_resource_id", role
    params = function["parameters"]
    assert params["resource_type"] == "Microsoft.Authorization/roleDefinitions", role
    return resolve_variable(doc, params["resource_name_1"])


# --- docs/architecture.md ---------------------------------------------------------------


def markdown_table(path: Path, heading: str) -> list[list[str]]:
    """Rows (cells stripped, header and rule dropped) of the first table under `heading`."""
    text = path.read_text(encoding="utf-8")
    start = text.index(heading)
    rows: list[list[str]] = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"no table under {heading!r} in {path}"
    return [r for r in rows[2:]]


def documented_settings() -> dict[str, str]:
    """App setting name -> meaning, from the architecture page's settings table."""
    rows = markdown_table(ARCHITECTURE, "## App settings")
    return {r[0].strip("`"): r[1] for r in rows}


def documented_functions() -> dict[str, str]:
    """Function name -> trigger, from the architecture page's function table."""
    out: dict[str, str] = {}
    for r in markdown_table(ARCHITECTURE, "## Function names"):
        for name in re.findall(r"`([^`]+)`", r[0]):
            out[name] = r[1]
    return out


# --- Python sources -----------------------------------------------------------------------


def app_python_files() -> list[Path]:
    files: list[Path] = []
    for entry in APP_SOURCES:
        path = ROOT / entry
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(path.rglob("*.py")))
    return files


def _env_mapping_name(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in {"environ", "env", "environment"}
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return False


def environ_lookups(path: Path) -> set[str]:
    """Upper-case names read from the environment in one file.

    Catches `os.environ["X"]`, `<env>.get("X")`, `os.getenv("X")` and helper calls that are
    handed the environment mapping and a name, like `_text(environ, "X")`.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()

    def literal(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.match(node.value):
            return node.value
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _env_mapping_name(node.value):
            if name := literal(node.slice):
                found.add(name)
        elif isinstance(node, ast.Call):
            func = node.func
            args = list(node.args) + [k.value for k in node.keywords]
            names = {n for a in args if (n := literal(a))}
            if not names:
                continue
            is_getter = isinstance(func, ast.Attribute) and func.attr in {"get", "pop", "setdefault"}
            if (is_getter and _env_mapping_name(func.value)) or (
                isinstance(func, ast.Attribute | ast.Name)
                and getattr(func, "attr", getattr(func, "id", "")) == "getenv"
            ):
                found |= names
            elif any(_env_mapping_name(a) for a in args):
                found |= names
    return found


def code_setting_names() -> dict[str, set[Path]]:
    """Every environment name the application code reads, with the files that read it."""
    out: dict[str, set[Path]] = {}
    for path in app_python_files():
        for name in environ_lookups(path):
            out.setdefault(name, set()).add(path)
    return out


def binding_expressions() -> dict[str, set[Path]]:
    """`%NAME%` app-setting references in decorator arguments (e.g. a timer's schedule)."""
    out: dict[str, set[Path]] = {}
    for path in app_python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                for sub in ast.walk(decorator):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        for name in BINDING_EXPRESSION.findall(sub.value):
                            out.setdefault(name, set()).add(path)
    return out


def _decorator_call_name(decorator: ast.AST) -> str | None:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Name):
        return target.id
    return None


def trigger_modules() -> list[Path]:
    return sorted(p for p in TRIGGERS.rglob("*.py") if p.name != "__init__.py")


def event_grid_functions() -> set[str]:
    """Names of functions with an `event_grid_trigger` decorator in triggers/*.py.

    The name is `@app.function_name(name=...)` when given, else the Python name.
    """
    names: set[str] = set()
    for path in trigger_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            decorators = {_decorator_call_name(d): d for d in node.decorator_list}
            if "event_grid_trigger" not in decorators:
                continue
            name = node.name
            override = decorators.get("function_name")
            if isinstance(override, ast.Call):
                args = list(override.args) + [k.value for k in override.keywords if k.arg == "name"]
                for a in args:
                    if isinstance(a, ast.Constant) and isinstance(a.value, str):
                        name = a.value
            names.add(name)
    return names
