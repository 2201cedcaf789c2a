"""HTTP routes: start, status, cancel, template discovery. Each route hands over to the
module that does its work (`start`, `cancel`, `status_view`); a bad request is a 4xx that
starts nothing, and an app setting the app cannot use (an unresolved Key Vault reference) a
JSON 500 naming it."""

from __future__ import annotations

from collections.abc import Awaitable

import azure.durable_functions as df
import azure.functions as func

from foundry.errors import FoundryError, RequestValidationError
from runtime import services
from runtime.secrets import SettingError
from triggers.http import cancel, start
from triggers.http.requests import instance_id_of
from triggers.http.responses import error_response, json_response, not_found, setting_problem
from triggers.http.status_view import status_view

bp = df.Blueprint()


async def _answered(work: Awaitable[func.HttpResponse]) -> func.HttpResponse:
    try:
        return await work
    except SettingError as exc:
        return setting_problem(exc)


@bp.route(route="sweeps", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_sweep(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Structured body: externalId, name, runId, attributes, parameters."""
    return await _answered(start.start(req, client, None))


@bp.route(route="sweeps/{template}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_sweep_flat(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Polysync's flat body: the template comes from the route, each key is a parameter."""
    return await _answered(start.start(req, client, req.route_params.get("template", "")))


@bp.route(route="sweeps/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def sweep_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await _answered(_status(req, client))


async def _status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    try:
        instance_id = instance_id_of(req)
    except RequestValidationError as exc:
        return error_response(exc, 400)
    status = await client.get_status(instance_id)
    if not status:
        return not_found(instance_id)
    return json_response(200, status_view(instance_id, status))


@bp.route(route="sweeps/{instanceId}/cancel", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def cancel_sweep(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Ask the run to cancel its Azure ML job and keep polling until Canceled (triggers.http.cancel)."""
    return await _answered(cancel.cancel(req, client))


@bp.route(route="templates", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_templates(req: func.HttpRequest) -> func.HttpResponse:
    """The workspace's template Sweep jobs as Polysync jobs to import (every page; the
    connector's own runs are not templates and are left out)."""
    from polysync.templates import list_templates as describe_all

    try:
        jobs = describe_all(services.client().list_jobs("Sweep"))
    except SettingError as exc:
        return setting_problem(exc)
    except FoundryError as exc:
        return error_response(exc, 502 if (exc.status or 500) >= 500 else exc.status)
    return json_response(200, {"value": jobs, "count": len(jobs)})
