"""Idempotency keys as Stripe uses them: the same `runId` with the same request is
the same run; the same `runId` with a different request is a mistake worth a 409
that names what differs, never a silent answer with someone else's run.

Compared on the orchestration-input form of the request (`RunRequest.to_payload`),
in which a Secret is its Key Vault name, itself derived from a keyed digest of the
value: two requests with different Secret values differ there too, without either
value being stored anywhere.
"""

from __future__ import annotations

import json
from typing import Any

from polysync.request.types import ATTRIBUTE_NAMES

_ATTRIBUTE_LABEL = {camel: polysync for polysync, camel in ATTRIBUTE_NAMES.values()}


def _parameters(payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in payload.get("parameters") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            out[item["name"]] = {k: v for k, v in item.items() if k != "name"}
    return out


def request_differences(existing: Any, new: dict[str, Any]) -> list[str]:
    """Fields (as a caller names them) in which `new` differs from the request that
    started the existing run; [] when they are the same request. Values are never quoted."""
    if not isinstance(existing, dict):
        return ["request"]
    diffs: list[str] = []
    for key in ("externalId", "name"):
        if existing.get(key) != new.get(key):
            diffs.append(key)
    old_attrs = existing.get("attributes") or {}
    new_attrs = new.get("attributes") or {}
    for key in sorted(set(old_attrs) | set(new_attrs)):
        if old_attrs.get(key) != new_attrs.get(key):
            diffs.append(f"attributes.{_ATTRIBUTE_LABEL.get(key, key)}")
    old_params, new_params = _parameters(existing), _parameters(new)
    for name in sorted(set(old_params) | set(new_params)):
        if _canonical(old_params.get(name)) != _canonical(new_params.get(name)):
            diffs.append(f"parameters.{name}")
    return diffs


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
