"""Before a run starts: does its template exist, is it a Sweep template (not a run of this
connector), does the sweep body build from it and the request, and do the compute and
environment the request names exist? Each "no" is a 404 or 400 naming the fix, with nothing
started.

This costs no Azure ML call per run: the template GET is the one the orchestration would make
(the run submits from the definition read here, `SweepInput.template_job`), the body is built
by the same code the submit activity runs, and the compute and environment are looked up only
when the request sets them, in answers remembered for minutes (foundry.catalog). A template
definition that built a body is reused by the next starts within TEMPLATE_CACHE_SECONDS
(foundry.template_cache says what that trades); one that did not is read again each time, so
every refusal is a fresh read's. When Azure ML cannot be reached the run starts anyway and the
orchestration fetches the template itself, waiting Azure ML out on durable timers as before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from foundry.errors import (
    AzureMLError,
    FieldError,
    FoundryError,
    NotFoundError,
    RequestValidationError,
    TemplateError,
    ThrottledError,
    TransientError,
    template_not_found,
)
from foundry.jobs import JobView, template_definition
from foundry.workspace import Workspace
from runtime import services

if TYPE_CHECKING:
    from polysync.request.models import RunRequest

log = logging.getLogger("triggers.http")


def check_template(request: RunRequest, payload: dict[str, Any], instance_id: str) -> dict[str, Any] | None:
    """The template's definition for the run to submit from, or None when Azure ML could not be
    asked (the run fetches it). Raises the FoundryError to answer (404 TemplateNotFound, 400 for
    a template that is no Sweep template or a body that does not build, 400 naming a compute or
    environment that does not exist, 502 when Azure ML refuses the app)."""
    from polysync.request.parsing import parse_payload
    from polysync.sweep_body import build_sweep_body

    name = request.external_id
    cache = services.template_cache()
    template = cache.recall(name)
    fresh = template is None
    if template is None:
        read_at = cache.now()
        try:
            job = JobView.from_rest(services.start_client().get_job(name))
        except NotFoundError as exc:
            raise template_not_found(name, exc) from None
        except (ThrottledError, TransientError) as exc:
            log.warning(
                "template %s not checked before starting (%s); the run fetches it itself", name, exc.code
            )
            return None
        except AzureMLError as exc:
            raise FoundryError(exc.message, code=exc.code, hint=exc.hint, status=502) from None
        template = template_definition(job)
    settings = services.settings()
    try:
        body = build_sweep_body(
            template,
            parse_payload(payload),
            settings.workspace,
            instance_id=instance_id,
            task_hub=settings.taskhub_name,
        )
    except TemplateError as exc:
        raise TemplateError(exc.message, code=exc.code, hint=exc.hint, status=400) from None
    if fresh:
        cache.remember(name, template, read_at)
    problems = missing_references(request, body, settings.workspace)
    if problems:
        raise RequestValidationError(problems)
    return template


def _name(field: str) -> str:
    from polysync.request.types import ATTRIBUTE_NAMES

    return ATTRIBUTE_NAMES[field][0]


def _attribute(field: str) -> str:
    return f"attributes.{_name(field)}"


def missing_references(request: RunRequest, body: dict[str, Any], workspace: Workspace) -> list[FieldError]:
    """The compute and environment the request names that the workspace does not have (those of
    the template are the template's: Azure ML checks them when the sweep is submitted)."""
    catalog = services.catalog()
    props = body.get("properties") or {}
    problems: list[FieldError] = []
    attrs = request.attributes
    if attrs.compute_name:
        compute = str(props.get("computeId") or "").rsplit("/", 1)[-1]
        if compute and catalog.compute_exists(compute) is False:
            known = catalog.compute_names() or []
            listed = f" Its computes: {', '.join(known)}." if known else ""
            problems.append(
                FieldError(
                    _attribute("compute_name"),
                    f"workspace '{workspace.name}' has no compute '{compute}'.{listed} Set the "
                    f"'{_name('compute_name')}' attribute to one of them.",
                )
            )
    if attrs.environment_name:
        environment = str((props.get("trial") or {}).get("environmentId") or "")
        if _environment_exists(environment, workspace) is False:
            problems.append(
                FieldError(
                    _attribute("environment_name"),
                    f"workspace '{workspace.name}' has no environment {_shown(environment, workspace)}. Set the "
                    f"'{_name('environment_name')}' attribute to an existing one "
                    "('name:version' or 'name@latest').",
                )
            )
    return problems


def _environment_exists(environment: str, workspace: Workspace) -> bool | None:
    """Looked up for this workspace's versions and `azureml:name@label`; registry environments
    live outside the workspace (Azure ML checks them at submission)."""
    catalog = services.catalog()
    rest = workspace.owns(environment, "environments")
    if rest is not None and "/versions/" in rest:
        name, version = rest.split("/versions/", 1)
        return catalog.environment_version_exists(name, version)
    if environment.lower().startswith("azureml:") and "@" in environment and "://" not in environment:
        return catalog.environment_exists(environment[len("azureml:") :].split("@", 1)[0])
    return None


def _shown(environment: str, workspace: Workspace) -> str:
    rest = workspace.owns(environment, "environments")
    if rest is not None and "/versions/" in rest:
        name, version = rest.split("/versions/", 1)
        return f"'{name}:{version}'"
    return f"'{environment.removeprefix('azureml:')}'"
