"""A job's definition as the service compares it on a re-PUT of the same name.

Facts (Azure ML jobs API): only description, tags, displayName, properties and
isArchived may change on an existing job; anything else is refused with 400
`UserError` / `JobPropertyImmutable`. The comparison is on meaning, not bytes: an
absent field and an empty one (`environmentVariables: {}`), or a null, are equal; enum
casing is not a change (the SDK sends `goal: "maximize"`, the service answers
`"Maximize"` - Azure/azure-sdk-for-python recording `test_sweep_job_await_completion`);
references are compared resolved (`azureml:env:1` and its ARM id name the same
environment); and what the service filled in itself (default output URIs, the
`default` output, Random sampling's `rule: Random`, one instance per trial) is not part of what the caller defined.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

MUTABLE = ("description", "tags", "displayName", "properties", "isArchived")
READ_ONLY = ("status", "services", "error", "parentJobName", "creationContext")
# (path of keys, value compared case-insensitively)
_ENUM_PATHS: tuple[tuple[str, ...], ...] = (
    ("jobType",),
    ("objective", "goal"),
    ("samplingAlgorithm", "samplingAlgorithmType"),
    ("samplingAlgorithm", "rule"),
    ("earlyTermination", "policyType"),
    ("limits", "jobLimitsType"),
)


def _prune(value: Any) -> Any:
    """Drop nulls and empty objects/lists, recursively."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def comparable(
    props: dict[str, Any],
    *,
    resolve_environment: Callable[[str], str | None],
    resolve_compute: Callable[[str], str | None],
    service_uris: dict[str, str] | None = None,
    service_added: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The part of `props` a re-PUT must not change, normalised for comparison.

    `service_uris` are the output URIs the service assigned (output name -> URI) and
    `service_added` the outputs it added itself; a body that echoes them back (a GET
    sent as a PUT) defines nothing more than the original one."""
    definition = {k: copy.deepcopy(v) for k, v in props.items() if k not in MUTABLE and k not in READ_ONLY}
    definition.setdefault("experimentName", "Default")
    for path in _ENUM_PATHS:
        holder: Any = definition
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and isinstance(holder.get(path[-1]), str):
            holder[path[-1]] = holder[path[-1]].lower()
    trial = definition.get("trial")
    if isinstance(trial, dict) and definition.get("jobType") == "sweep":
        resources = trial.get("resources") if isinstance(trial.get("resources"), dict) else {}
        trial["resources"] = {"instanceCount": 1, **resources}  # the service's default, written into the job
    sampling = definition.get("samplingAlgorithm")
    if isinstance(sampling, dict) and sampling.get("samplingAlgorithmType") == "random":
        sampling.setdefault("rule", "random")  # the service's default, written into the job
    compute = definition.get("computeId")
    if isinstance(compute, str):
        definition["computeId"] = (resolve_compute(compute) or compute).lower()
    for holder in (definition, definition.get("trial")):
        if isinstance(holder, dict) and isinstance(holder.get("environmentId"), str):
            holder["environmentId"] = resolve_environment(holder["environmentId"]) or holder["environmentId"]
    outputs = definition.get("outputs")
    if isinstance(outputs, dict):
        for key, out in list(outputs.items()):
            if not isinstance(out, dict):
                continue
            if service_added and key in service_added and _prune(out) == _prune(service_added[key]):
                outputs.pop(key)
            elif service_uris and out.get("uri") is not None and out.get("uri") == service_uris.get(key):
                out.pop("uri")
    return _prune(definition)


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
