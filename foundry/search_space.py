"""Azure ML's search-space forms: the wire list the REST API takes and the logical
(YAML) form templates may carry.

The REST API (as the azure-ai-ml SDK sends it) takes a list per parameter:
`["choice", [[v1, v2]]]` (double nesting), `["uniform", [min, max]]`, ...; the YAML
view and the product spec write `{"type": "choice", "values": [v1, v2]}`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

# search-space expression -> argument names in wire order (logical/YAML form keys)
SEARCH_SPACE_ARGS: dict[str, tuple[str, ...]] = {
    "choice": ("values",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "loguniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "qlognormal": ("mu", "sigma", "q"),
}


def to_logical(entry: Any) -> dict[str, Any]:
    """Wire form `["uniform", [0.01, 0.1]]` (or an already logical dict) -> `{"type": "uniform", ...}`.

    Choice: `["choice", [[1, 2]]]` -> `{"type": "choice", "values": [1, 2]}`.  ValueError if unknown.
    """
    if isinstance(entry, dict):
        kind = str(entry.get("type", "")).lower()
        if kind not in SEARCH_SPACE_ARGS:
            raise ValueError(f"unknown search space type {kind!r}")
        names = SEARCH_SPACE_ARGS[kind]
        missing = [n for n in names if n not in entry]
        if missing:
            raise ValueError(f"search space {kind} lacks {', '.join(missing)}")
        return {"type": kind, **{n: copy.deepcopy(entry[n]) for n in names}}
    if (
        isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and isinstance(entry[1], list)
    ):
        kind = entry[0].lower()
        args = entry[1]
        if kind == "choice":
            if len(args) != 1 or not isinstance(args[0], list):
                raise ValueError('choice must be ["choice", [[v1, v2, ...]]]')
            return {"type": "choice", "values": copy.deepcopy(args[0])}
        names = SEARCH_SPACE_ARGS.get(kind)
        if names is None:
            raise ValueError(f"unknown search space type {kind!r}")
        if len(args) != len(names):
            raise ValueError(f"{kind} takes {len(names)} arguments")
        return {"type": kind, **dict(zip(names, copy.deepcopy(args), strict=True))}
    raise ValueError("a search space entry must be a [type, [args]] list or a {type: ...} object")


def to_wire(entry: Any) -> list[Any]:
    """Logical `{"type": "choice", "values": [..]}` (or wire list) -> the wire list the API takes."""
    logical = to_logical(entry)
    kind = logical["type"]
    # choice has one argument, its list of values: ["choice", [[v1, v2]]]
    return [kind, [logical[n] for n in SEARCH_SPACE_ARGS[kind]]]


def one_value_choice(value: Any) -> list[Any]:
    """A choice of exactly `value`.

    Objects and lists are sent as compact JSON text: inside a choice the service reads a
    dict as a nested search space, and the trial command gets `${{search_space.x}}` as
    text anyway, so JSON text is what the script can parse.
    """
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return ["choice", [[value]]]


def is_choice(entry: Any) -> bool:
    """Is a wire-form entry a choice (what Grid sampling needs of every entry)?"""
    return isinstance(entry, list) and bool(entry) and entry[0] == "choice"
