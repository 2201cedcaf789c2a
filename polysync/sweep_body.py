"""Build the PUT body of a new sweep job from a template job and a run request.

Pure: template dict + request in, body dict out.  The template is the user's
definition, edited in AI Foundry; we copy it and change only what Polysync owns
(display name, tags, the attribute overrides, one-value choices for the Input
parameters, sampling and limits), and drop what the service owns (status,
studio endpoints, `_aml_system_*` bookkeeping, run properties, best-trial results,
the run's output bindings; `strip_service_state`) so the PUT is a new job's own.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from foundry import tags as tag
from foundry.errors import FieldError, RequestValidationError, TemplateError
from foundry.workspace import Workspace
from polysync.request.models import ATTRIBUTE_NAMES, GOALS, RunRequest

# What the service writes into a job it runs, which a copy must not carry. Derived from
# the service's own answers (tests/recordings/README.md: the azure-ai-ml sweep recording)
# and the SDK (azure-ai-ml reads `best_child_run_id`, writes `ContentSnapshotId`).
# Resource fields that are read-only or the service's:
_READ_ONLY_PROPERTIES = frozenset({"status", "isArchived", "creationContext", "parentJobName", "error"})
# `services` entries the service fills in for every job.
_SERVER_SERVICES = frozenset({"Studio", "Tracking"})
# Tags the service writes (HyperDrive bookkeeping, one per generated trial, ...).
_SERVER_TAG_PREFIXES = ("_aml_system_",)
# Keys of the user `properties` map that the service writes on a run (compared lower case).
_SERVER_PROPERTY_KEYS = frozenset(
    {
        "best_child_run_id",
        "score",
        "best_metric_status",
        "best_data_container_id",
        "primary_metric_config",
        "resume_from",
        "runtemplate",
        "run_template",
        "platform",
        "platform_config",
        "generator_config",
        "hyperparameters",
        "contentsnapshotid",
        "processinfofile",
        "processstatusfile",
        "user_agent",
        "space_size",
    }
)
_SERVER_PROPERTY_PREFIXES = ("azureml.", "_azureml.", "mlflow.")
# The output the service adds to every job, bound to that run's artifact store.
_RUN_ARTIFACT_URI = "azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{name}"


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


def is_server_property(key: str) -> bool:
    lower = key.lower()
    return lower in _SERVER_PROPERTY_KEYS or lower.startswith(_SERVER_PROPERTY_PREFIXES)


def searchspace_to_logical(entry: Any) -> dict[str, Any]:
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


def searchspace_to_wire(entry: Any) -> list[Any]:
    """Logical `{"type": "choice", "values": [..]}` (or wire list) -> the wire list the API takes."""
    logical = searchspace_to_logical(entry)
    kind = logical["type"]
    if kind == "choice":
        return ["choice", [list(logical["values"])]]
    return [kind, [logical[n] for n in SEARCH_SPACE_ARGS[kind]]]


def choice_of(value: Any) -> list[Any]:
    """The one-value choice Polysync sends for an Input parameter.

    Objects and lists (JSON parameters) are sent as compact JSON text: inside a
    choice the service reads a dict as a nested search space, and the trial command
    gets `${{search_space.x}}` as text anyway, so JSON text is what the script can parse.
    """
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return ["choice", [[value]]]


def _attr(field: str) -> str:
    return ATTRIBUTE_NAMES[field][0]


def _clean_properties_map(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    kept = {k: v for k, v in value.items() if isinstance(k, str) and not is_server_property(k)}
    return kept or None


def _clean_outputs(outputs: Any, template_name: str | None) -> Any:
    """Drop output URIs the service derived from the template job's own name (`.../{name}/...`,
    `dcid.{name}`): reusing them would make the new job write into the template's output folder.
    The `default` output the service added for the template's run goes entirely. The service
    assigns fresh ones."""
    if not isinstance(outputs, dict) or not template_name:
        return outputs
    own = re.compile(rf"(^|[/.]){re.escape(template_name)}($|/)")
    run_artifacts = _RUN_ARTIFACT_URI.format(name=template_name)
    cleaned: dict[str, Any] = {}
    for key, out in outputs.items():
        if key == "default" and isinstance(out, dict) and out.get("uri") == run_artifacts:
            continue
        if isinstance(out, dict) and isinstance(out.get("uri"), str) and own.search(out["uri"]):
            out = {k: v for k, v in out.items() if k != "uri"}
        cleaned[key] = out
    return cleaned


def _drop_nulls(value: Any) -> Any:
    """The service answers with explicit nulls (`description: null`, `logbase: null`); a new
    job states only what it defines."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def strip_service_state(src: dict[str, Any], template_name: str | None) -> dict[str, Any]:
    """The template job's own definition: its `properties` without what the service wrote
    into it (status, studio services, bookkeeping tags and properties, best-trial results,
    nulls, the run's output bindings). Pure; `src` is not changed."""
    props: dict[str, Any] = {
        k: _drop_nulls(copy.deepcopy(v))
        for k, v in src.items()
        if k not in _READ_ONLY_PROPERTIES and v is not None
    }
    services = props.pop("services", None)
    if isinstance(services, dict):
        user_services = {k: v for k, v in services.items() if k not in _SERVER_SERVICES}
        if user_services:
            props["services"] = user_services
    user_props = _clean_properties_map(props.pop("properties", None))
    if user_props:
        props["properties"] = user_props
    if isinstance(props.get("tags"), dict):
        props["tags"] = {
            k: v
            for k, v in props["tags"].items()
            if not (isinstance(k, str) and k.startswith(_SERVER_TAG_PREFIXES))
        }
    if "outputs" in props:
        props["outputs"] = _clean_outputs(props["outputs"], template_name)
    return props


def _algorithm(template_algo: Any, wanted: str) -> dict[str, Any]:
    if isinstance(template_algo, dict):
        current = str(template_algo.get("samplingAlgorithmType", "")).lower()
        if current == wanted.lower():
            return {**copy.deepcopy(template_algo), "samplingAlgorithmType": wanted}
    return {"samplingAlgorithmType": wanted}


def refuse_run_as_template(template: dict[str, Any]) -> None:
    """A job this connector submitted is a run, not a template: copying it would copy
    another caller's inputs (and, before Key Vault, their Secret values). TemplateError if so."""
    if tag.is_connector_run(template):
        raise TemplateError(
            f"The job '{template.get('name')}' was submitted by this connector for a run; it is not a template.",
            code="TemplateIsARun",
            hint="Set the External Id to a template Sweep job (GET /api/templates lists them).",
            status=400,
        )


def build_sweep_body(
    template: dict[str, Any],
    request: RunRequest,
    workspace: Workspace,
    *,
    instance_id: str,
    task_hub: str | None = None,
) -> dict[str, Any]:
    """The `{"properties": {...}}` body for `PUT /jobs/{name}` of a new sweep run."""
    src = template.get("properties") if isinstance(template, dict) else None
    template_name = template.get("name") if isinstance(template, dict) else None
    if not isinstance(src, dict):
        raise TemplateError(
            "The template job has no properties.",
            code="InvalidTemplate",
            hint="Set the External Id to the name of a Sweep job.",
        )
    if str(src.get("jobType", "")).lower() != "sweep":
        raise TemplateError(
            f"The template job '{template_name}' is a {src.get('jobType') or 'job of unknown type'}, "
            "not a Sweep job.",
            code="TemplateNotSweep",
            hint="Set the External Id to the name of a Sweep job (GET /api/templates lists them).",
        )
    refuse_run_as_template(template)
    attrs = request.attributes
    props = strip_service_state(src, template_name)

    tags = {k: v for k, v in (props.get("tags") or {}).items() if isinstance(k, str)}
    tags[tag.INSTANCE] = instance_id
    tags[tag.TEMPLATE] = request.external_id
    if request.run_id:
        tags[tag.RUN_ID] = request.run_id
    else:
        tags.pop(tag.RUN_ID, None)
    if task_hub:
        tags[tag.TASK_HUB] = task_hub
    else:
        tags.pop(tag.TASK_HUB, None)
    tags.pop(tag.RECONCILED, None)  # a verdict on the template, not on this run
    props["tags"] = tags
    props["jobType"] = "Sweep"
    props["displayName"] = request.name

    errors: list[FieldError] = []
    if attrs.compute_name:
        try:
            props["computeId"] = workspace.compute_id(attrs.compute_name)
        except ValueError as exc:
            errors.append(FieldError(f"attributes.{_attr('compute_name')}", str(exc)))

    trial = props.get("trial") if isinstance(props.get("trial"), dict) else {}
    if attrs.command:
        trial["command"] = attrs.command
    if attrs.environment_name:
        try:
            trial["environmentId"] = workspace.environment_id(attrs.environment_name)
        except ValueError as exc:
            errors.append(FieldError(f"attributes.{_attr('environment_name')}", str(exc)))
    if errors:
        raise RequestValidationError(errors)
    if not trial.get("command"):
        raise TemplateError(
            "The template has no trial command and the run supplies none.",
            code="TemplateMissingCommand",
            hint=f"Set the '{_attr('command')}' attribute, or add a trial command to the template.",
        )
    if not trial.get("environmentId"):
        raise TemplateError(
            "The template has no trial environment and the run supplies none.",
            code="TemplateMissingEnvironment",
            hint=f"Set the '{_attr('environment_name')}' attribute, or give the template's trial "
            "an environment.",
        )
    props["trial"] = trial

    objective = dict(props.get("objective") or {}) if isinstance(props.get("objective"), dict) else {}
    if attrs.objective_metric:
        objective["primaryMetric"] = attrs.objective_metric
    if attrs.objective_goal:
        objective["goal"] = attrs.objective_goal
    goal = GOALS.get(str(objective.get("goal") or "").lower())
    if not objective.get("primaryMetric"):
        raise TemplateError(
            "The sweep needs an objective metric and neither the template nor the run gives one.",
            code="TemplateMissingObjective",
            hint=f"Set the '{_attr('objective_metric')}' attribute to the metric the trial logs "
            "(mlflow.log_metric).",
        )
    if goal is None:
        raise TemplateError(
            "The sweep needs an objective goal (Maximize or Minimize) and neither the template nor the run "
            "gives one.",
            code="TemplateMissingObjective",
            hint=f"Set the '{_attr('objective_goal')}' attribute to Maximize or Minimize.",
        )
    objective["goal"] = goal
    props["objective"] = objective

    space: dict[str, Any] = {}
    raw_space = props.get("searchSpace")
    if isinstance(raw_space, dict):
        for key, entry in raw_space.items():
            space[key] = searchspace_to_wire(entry) if isinstance(entry, dict) and "type" in entry else entry
    for param in request.inputs():
        space[param.name] = choice_of(param.typed_value())
    if not space:
        raise TemplateError(
            "The sweep has an empty search space: the template defines none and the run sends no Input "
            "parameters.",
            code="TemplateMissingSearchSpace",
            hint="Send at least one Input parameter, or define a search space on the template.",
        )
    props["searchSpace"] = space

    algorithm = attrs.sampling_algorithm
    props["samplingAlgorithm"] = _algorithm(props.get("samplingAlgorithm"), algorithm)
    if algorithm == "Grid":
        not_choice = sorted(
            k for k, v in space.items() if not (isinstance(v, list) and v and v[0] == "choice")
        )
        if not_choice:
            raise TemplateError(
                f"Grid sampling needs choice-only search spaces; not choice: {', '.join(not_choice)}.",
                code="GridNeedsChoice",
                hint=f"Set '{_attr('sampling_algorithm')}' to Random or Bayesian, or use choices "
                "in the template.",
            )
    if algorithm == "Bayesian" and props.get("earlyTermination"):
        raise TemplateError(
            "Bayesian sampling does not support an early termination policy, and the template has one.",
            code="BayesianNoEarlyTermination",
            hint=f"Set '{_attr('sampling_algorithm')}' to Random or Grid, or remove the template's early "
            "termination policy.",
        )

    limits = dict(props.get("limits") or {}) if isinstance(props.get("limits"), dict) else {}
    limits.update(
        jobLimitsType="Sweep",
        maxTotalTrials=attrs.max_total_trials,
        maxConcurrentTrials=attrs.max_concurrent_trials,
    )
    props["limits"] = limits
    return {"properties": props}
