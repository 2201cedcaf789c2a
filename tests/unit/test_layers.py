"""The packages depend on each other one way (docs/architecture.md, "Dependencies point one
way"): Polysync's side imports the Azure ML adapter, never the reverse, and nothing below the
triggers imports azure.functions. Read from the source, so a new import that breaks the
layering fails here before it tangles anything."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "function_app",
    "triggers",
    "activities",
    "orchestrators",
    "runtime",
    "polysync",
    "contracts",
    "foundry",
    "compat",
)
ALLOWED = {
    "function_app": {"triggers", "orchestrators", "activities"},
    "triggers": {"runtime", "polysync", "contracts", "foundry", "compat"},
    "activities": {"runtime", "polysync", "contracts", "foundry", "compat"},
    "orchestrators": {"polysync", "contracts", "foundry"},
    "runtime": {"contracts", "foundry"},
    "polysync": {"contracts", "foundry", "compat"},
    "contracts": {"compat"},
    "foundry": {"compat"},
    "compat": set(),
}
NO_FUNCTIONS = ("polysync", "foundry", "contracts", "runtime", "compat")


def _sources() -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for package in PACKAGES:
        path = ROOT / package
        out[package] = sorted(path.rglob("*.py")) if path.is_dir() else [ROOT / f"{package}.py"]
    return out


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_each_package_imports_only_the_layers_below_it():
    wrong = {}
    for package, files in _sources().items():
        for path in files:
            used = {m.split(".")[0] for m in _imports(path)} & set(PACKAGES) - {package}
            if used - ALLOWED[package]:
                wrong[str(path.relative_to(ROOT))] = sorted(used - ALLOWED[package])
    assert wrong == {}


def test_below_the_triggers_nothing_imports_azure_functions():
    offenders = [
        str(path.relative_to(ROOT))
        for package in NO_FUNCTIONS
        for path in _sources()[package]
        if any(
            m == "azure.functions" or m.startswith(("azure.functions.", "azure.durable_functions"))
            for m in _imports(path)
        )
    ]
    assert offenders == []
