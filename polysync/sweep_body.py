"""Build the PUT body of a new sweep job from a template job and a run request.

Pure: template dict + request in, body dict out. The template is the user's definition,
edited in AI Foundry: we start from its own definition (`JobView.definition`: without
what the service wrote into it) and change only what Polysync owns, one step per part
of the body, in the order below. Each step either returns its part or raises the error
that names the attribute to set.
"""

from __future__ import annotations

from typing import Any

from foundry import search_space
from foundry import tags as tag
from foundry.errors import FieldError, RequestValidationError, TemplateError
from foundry.jobs import JobView
from foundry.workspace import Workspace
from polysync.request.models import Attributes, RunRequest
from polysync.request.types import ATTRIBUTE_NAMES, GOALS


def build_sweep_body(
    template: dict[str, Any],
    request: RunRequest,
    workspace: Workspace,
    *,
    instance_id: str,
    task_hub: str | None = None,
) -> dict[str, Any]:
    """The `{"properties": {...}}` body for `PUT /jobs/{name}` of a new sweep run."""
    job = JobView.from_rest(template)
    check_template(job)
    attrs = request.attributes
    props = job.definition()
    props["tags"] = _tags(props.get("tags"), request, instance_id, task_hub)
    props["jobType"] = "Sweep"
    props["displayName"] = request.name
    _apply_code_and_compute(props, attrs, workspace)
    props["objective"] = _objective(props.get("objective"), attrs)
    props["searchSpace"] = _search_space(props.get("searchSpace"), request)
    props["samplingAlgorithm"] = _sampling(props.get("samplingAlgorithm"), attrs.sampling_algorithm)
    _check_sampling(attrs.sampling_algorithm, props)
    props["limits"] = _limits(props.get("limits"), attrs)
    return {"properties": props}


def check_template(job: JobView) -> None:
    """A Sweep job that is a template, not a run: TemplateError otherwise."""
    if not isinstance(job.raw.get("properties"), dict):
        raise TemplateError(
            "The template job has no properties.",
            code="InvalidTemplate",
            hint="Set the External Id to the name of a Sweep job.",
        )
    if str(job.job_type or "").lower() != "sweep":
        raise TemplateError(
            f"The template job '{job.raw.get('name')}' is a {job.props.get('jobType') or 'job of unknown type'}, "
            "not a Sweep job.",
            code="TemplateNotSweep",
            hint="Set the External Id to the name of a Sweep job (GET /api/templates lists them).",
        )
    if job.is_connector_run:
        # Copying a run would copy another caller's inputs (and, before Key Vault, their Secret values).
        raise TemplateError(
            f"The job '{job.raw.get('name')}' was submitted by this connector for a run; it is not a template.",
            code="TemplateIsARun",
            hint="Set the External Id to a template Sweep job (GET /api/templates lists them).",
            status=400,
        )


def _attr(field: str) -> str:
    return ATTRIBUTE_NAMES[field][0]


def _tags(template_tags: Any, request: RunRequest, instance_id: str, task_hub: str | None) -> dict[str, Any]:
    """The template's tags plus the run's own: which instance owns the job, from which
    template, for which Polysync run and task hub."""
    tags = {k: v for k, v in (template_tags or {}).items() if isinstance(k, str)}
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
    # Watched until its run knows it ended (the sweep watcher removes the tag then).
    tags[tag.WATCH] = task_hub or ""
    tags.pop(tag.RECONCILED, None)  # a verdict on the template, not on this run
    return tags


def _apply_code_and_compute(props: dict[str, Any], attrs: Attributes, workspace: Workspace) -> None:
    """Compute, trial command and environment: the run's when it gives them, else the template's,
    which must then have them."""
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


def _objective(template_objective: Any, attrs: Attributes) -> dict[str, Any]:
    """Metric and goal (`Maximize`/`Minimize`, as the REST enum spells them)."""
    objective = dict(template_objective) if isinstance(template_objective, dict) else {}
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
    return objective


def _search_space(template_space: Any, request: RunRequest) -> dict[str, Any]:
    """The template's entries in wire form, each Input (and Input&Output) parameter as a
    one-value choice over them."""
    space: dict[str, Any] = {}
    if isinstance(template_space, dict):
        for key, entry in template_space.items():
            logical = isinstance(entry, dict) and "type" in entry
            space[key] = search_space.to_wire(entry) if logical else entry
    for param in request.inputs():
        space[param.name] = search_space.one_value_choice(param.typed_value())
    if not space:
        raise TemplateError(
            "The sweep has an empty search space: the template defines none and the run sends no Input "
            "parameters.",
            code="TemplateMissingSearchSpace",
            hint="Send at least one Input parameter, or define a search space on the template.",
        )
    return space


def _sampling(template_algorithm: Any, wanted: str) -> dict[str, Any]:
    """The run's algorithm, keeping the template's settings (`seed`, `rule`) when it is the same one."""
    if isinstance(template_algorithm, dict):
        current = str(template_algorithm.get("samplingAlgorithmType", "")).lower()
        if current == wanted.lower():
            return {**template_algorithm, "samplingAlgorithmType": wanted}
    return {"samplingAlgorithmType": wanted}


def _check_sampling(algorithm: str, props: dict[str, Any]) -> None:
    """What the service would refuse: Grid over anything but choices, Bayesian with early termination."""
    if algorithm == "Grid":
        not_choice = sorted(k for k, v in props["searchSpace"].items() if not search_space.is_choice(v))
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


def _limits(template_limits: Any, attrs: Attributes) -> dict[str, Any]:
    """Trial counts from the attributes; the template's timeouts kept."""
    limits = dict(template_limits) if isinstance(template_limits, dict) else {}
    limits.update(
        jobLimitsType="Sweep",
        maxTotalTrials=attrs.max_total_trials,
        maxConcurrentTrials=attrs.max_concurrent_trials,
    )
    return limits
