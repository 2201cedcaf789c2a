"""What a request body may hold: sizes, nesting and text, checked once for every string
and key (lone surrogates, which no UTF-8 encoder can write, and control characters other
than tab and newlines are a 400, not a crash further down). One nesting limit applies to a
parameter value whichever body shape carries it."""

from __future__ import annotations

import json
import math
from typing import Any

from foundry.errors import FieldError

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
                    add(f"{path}.{label(k)}" if path else label(k), f"this key: {problem}")
                    break
                stack.append((v, f"{path}.{k[:100]}" if path else k[:100], depth + 1))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                stack.append((v, f"{path or 'body'}[{i}]", depth + 1))
        else:
            add(path, "not a JSON value.")
    return errors


def label(key: Any) -> str:
    """A body key as an error's `field`: at most 100 characters, and a blank key
    quoted so the field is never empty."""
    text = str(key)[:100]
    return text if text.strip() else json.dumps(text)
