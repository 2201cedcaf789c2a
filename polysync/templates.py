"""Template sweep jobs described in Polysync's job-import shape. Pure.

Templates are templates: jobs this connector submitted (tagged `polysync.instanceId`)
are runs and are never listed, and a search-space value that is a Key Vault secret
identifier is shown as a Secret parameter without a default.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from foundry import search_space
from foundry.jobs import JobView
from foundry.run_secrets import is_secret_reference
from polysync.request.types import ATTRIBUTE_NAMES, GOALS, DataType, Direction, infer_data_type

JOB_TYPE = "AI Foundry Sweep Job"


def _number_type(values: list[Any]) -> DataType:
    whole = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    return DataType.INT if whole else DataType.FLOAT


def infer_search_space_type(entry: Any) -> tuple[DataType, Any]:
    """(Polysync dataType, default value or None) for a search-space entry."""
    try:
        logical = search_space.to_logical(entry)
    except ValueError:
        return DataType.JSON, None
    kind = logical["type"]
    if kind == "choice":
        values = logical["values"]
        types = {infer_data_type(v) for v in values}
        if types and types <= {DataType.INT, DataType.FLOAT}:
            data_type = _number_type(values)
        else:
            data_type = types.pop() if len(types) == 1 else DataType.JSON
        return data_type, values[0] if values else None
    if kind == "randint":
        return DataType.INT, None
    if kind in ("uniform", "loguniform", "normal", "lognormal"):
        return DataType.FLOAT, None
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
    view = JobView.from_rest(job)
    trial = view.section("trial")
    objective = view.section("objective")
    limits = view.section("limits")
    values = {
        "compute_name": _last_segment(view.props.get("computeId")),
        "environment_name": _environment_name(trial.get("environmentId")),
        "command": trial.get("command"),
        "objective_metric": objective.get("primaryMetric"),
        "objective_goal": GOALS.get(str(objective.get("goal") or "").lower()),
        "max_total_trials": limits.get("maxTotalTrials"),
        "max_concurrent_trials": limits.get("maxConcurrentTrials"),
        "sampling_algorithm": view.section("samplingAlgorithm").get("samplingAlgorithmType"),
    }
    attributes = {ATTRIBUTE_NAMES[k][0]: v for k, v in values.items() if v is not None}
    parameters: list[dict[str, Any]] = []
    for name, entry in view.section("searchSpace").items():
        data_type, default = infer_search_space_type(entry)
        if is_secret_reference(default):
            data_type, default = DataType.SECRET, None
        item: dict[str, Any] = {"name": name, "dataType": data_type.value, "direction": Direction.INPUT.value}
        if default is not None:
            item["defaultValue"] = default
        parameters.append(item)
    for name in view.outputs:
        parameters.append(
            {"name": name, "direction": Direction.OUTPUT.value, "dataType": DataType.STRING.value}
        )
    name = job.get("name") if isinstance(job, dict) else None
    return {
        "externalId": name,
        "displayName": view.props.get("displayName") or name,
        "description": view.props.get("description"),
        "jobType": JOB_TYPE,
        "attributes": attributes,
        "parameters": parameters,
    }


def list_templates(jobs: Iterable[Any]) -> list[dict[str, Any]]:
    """The Polysync descriptions of the template Sweep jobs among `jobs` (connector runs left out)."""
    return [
        describe_template(job)
        for job in jobs
        if isinstance(job, dict) and not JobView.from_rest(job).is_connector_run
    ]
