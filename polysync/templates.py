"""Template sweep jobs described in Polysync's job-import shape. Pure.

Templates are templates: jobs this connector submitted (tagged `polysync.instanceId`)
are runs and are never listed, and a search-space value that is a Key Vault secret
identifier is shown as a Secret parameter without a default.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from foundry.run_secrets import is_secret_reference
from foundry.tags import is_connector_run
from polysync.request.models import ATTRIBUTE_NAMES, GOALS
from polysync.sweep_body import searchspace_to_logical

JOB_TYPE = "AI Foundry Sweep Job"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, dict | list):
        return "JSON"
    return "String"


def _number_type(values: list[Any]) -> str:
    return "Int" if all(isinstance(v, int) and not isinstance(v, bool) for v in values) else "Float"


def infer_search_space_type(entry: Any) -> tuple[str, Any]:
    """(Polysync dataType, default value or None) for a search-space entry."""
    try:
        logical = searchspace_to_logical(entry)
    except ValueError:
        return "JSON", None
    kind = logical["type"]
    if kind == "choice":
        values = logical["values"]
        types = {_json_type(v) for v in values}
        if types <= {"Int", "Float"} and types:
            data_type = "Int" if types == {"Int"} else "Float"
        else:
            data_type = types.pop() if len(types) == 1 else "JSON"
        return data_type, values[0] if values else None
    if kind == "randint":
        return "Int", None
    if kind in ("uniform", "loguniform", "normal", "lognormal"):
        return "Float", None
    # quniform & co: Int when every bound and q is whole
    return _number_type([v for k, v in logical.items() if k != "type"]), None


def _last_segment(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.rstrip("/").rsplit("/", 1)[-1].removeprefix("azureml:")


def _environment_name(value: Any) -> str | None:
    """`.../environments/{name}/versions/{v}` -> `name:v`; other forms returned as they are."""
    if not isinstance(value, str) or not value:
        return None
    parts = value.rstrip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "environments" in lowered:
        i = lowered.index("environments")
        name = parts[i + 1] if len(parts) > i + 1 else None
        if name and len(parts) > i + 3 and lowered[i + 2] == "versions":
            return f"{name}:{parts[i + 3]}"
        return name
    return value.removeprefix("azureml:")


def describe_template(job: dict[str, Any]) -> dict[str, Any]:
    """The Polysync job-import description of one template Sweep job."""
    props = job.get("properties") if isinstance(job, dict) else None
    props = props if isinstance(props, dict) else {}
    trial = props.get("trial") if isinstance(props.get("trial"), dict) else {}
    objective = props.get("objective") if isinstance(props.get("objective"), dict) else {}
    limits = props.get("limits") if isinstance(props.get("limits"), dict) else {}
    algo = props.get("samplingAlgorithm") if isinstance(props.get("samplingAlgorithm"), dict) else {}
    values = {
        "compute_name": _last_segment(props.get("computeId")),
        "environment_name": _environment_name(trial.get("environmentId")),
        "command": trial.get("command"),
        "objective_metric": objective.get("primaryMetric"),
        "objective_goal": GOALS.get(str(objective.get("goal") or "").lower()),
        "max_total_trials": limits.get("maxTotalTrials"),
        "max_concurrent_trials": limits.get("maxConcurrentTrials"),
        "sampling_algorithm": algo.get("samplingAlgorithmType"),
    }
    attributes = {ATTRIBUTE_NAMES[k][0]: v for k, v in values.items() if v is not None}
    parameters: list[dict[str, Any]] = []
    space = props.get("searchSpace") if isinstance(props.get("searchSpace"), dict) else {}
    for name, entry in space.items():
        data_type, default = infer_search_space_type(entry)
        if is_secret_reference(default):
            data_type, default = "Secret", None
        item: dict[str, Any] = {"name": name, "dataType": data_type, "direction": "Input"}
        if default is not None:
            item["defaultValue"] = default
        parameters.append(item)
    outputs = props.get("outputs") if isinstance(props.get("outputs"), dict) else {}
    for name in outputs:
        parameters.append({"name": name, "direction": "Output", "dataType": "String"})
    name = job.get("name") if isinstance(job, dict) else None
    return {
        "externalId": name,
        "displayName": props.get("displayName") or name,
        "description": props.get("description"),
        "jobType": JOB_TYPE,
        "attributes": attributes,
        "parameters": parameters,
    }


def list_templates(jobs: Iterable[Any]) -> list[dict[str, Any]]:
    """The Polysync descriptions of the template Sweep jobs among `jobs` (connector runs left out)."""
    return [describe_template(job) for job in jobs if isinstance(job, dict) and not is_connector_run(job)]
