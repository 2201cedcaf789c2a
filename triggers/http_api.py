"""HTTP routes: start, status, cancel, template discovery.

Validation happens here, before anything is started: a bad request gets a 400
that lists each bad field and starts nothing. Blocking Azure ML calls run in a
worker thread so the worker's event loop stays free.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import azure.durable_functions as df
import azure.functions as func

from app import services
from app.http import error_response, json_response, problem
from app.signing import verify
from app.status_view import FINISHED, compose_status
from foundry.errors import FieldError, FoundryError, NotFoundError, RequestValidationError
from foundry.names import instance_id_for, job_name_for, validate_instance_id, validate_job_name
from orchestrators.polling import PollPolicy

if TYPE_CHECKING:
    from foundry.models import RunRequest

log = logging.getLogger("triggers.http")
bp = df.Blueprint()

ORCHESTRATOR = "sweep_orchestrator"
MAX_BODY_BYTES = 1_000_000


def _runtime(status: Any) -> str | None:
    value = getattr(status, "runtime_status", None)
    return getattr(value, "value", value)


def _view(instance_id: str, status: Any) -> dict[str, Any]:
    return compose_status(
        instance_id,
        _runtime(status),
        status.custom_status,
        status.output,
        status.created_time,
        status.last_updated_time,
    )


def _read_json(req: func.HttpRequest) -> Any:
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise RequestValidationError([FieldError("body", f"The body is larger than {MAX_BODY_BYTES} bytes.")])
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise RequestValidationError(
            [FieldError("body", "The body is not valid JSON: send a JSON object.")]
        ) from None


def _signature_problem(req: func.HttpRequest) -> func.HttpResponse | None:
    secret = services.settings().webhook_secret
    if not secret:
        return None
    reason = verify(secret, req.get_body() or b"", dict(req.headers), time.time())
    if reason is None:
        return None
    log.warning("rejected start request: %s", reason)
    return problem(401, "InvalidSignature", reason, "Sign the raw body with WEBHOOK_SECRET (see README).")


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient, template: str | None):
    # pydantic loads with the first start request, not at cold start.
    from foundry.models import parse_flat_request, parse_structured_request

    denied = _signature_problem(req)
    if denied is not None:
        return denied
    try:
        body = _read_json(req)
        if template is None:
            request = parse_structured_request(body)
        else:
            validate_job_name(template, "template")
            request = parse_flat_request(
                template, body, name=req.params.get("name"), run_id=req.params.get("runId")
            )
        payload = request.to_payload(services.sealer())
    except FoundryError as exc:
        return error_response(exc, 400 if isinstance(exc, RequestValidationError) else None)

    instance_id = instance_id_for(request.run_id, request.external_id)
    if await client.get_status(instance_id):
        log.info("runId already started as instance %s; not starting again", instance_id)
        return _existing(client, req, instance_id)

    try:
        await client.start_new(ORCHESTRATOR, instance_id, _orchestration_input(request, payload, instance_id))
    except Exception:
        # A concurrent start with the same runId won the race: answer with that
        # instance. Anything else is a real failure.
        if not await client.get_status(instance_id):
            raise
        log.info("runId started concurrently as instance %s; not starting again", instance_id)
        return _existing(client, req, instance_id)
    log.info("started instance %s for template %s", instance_id, request.external_id)
    return client.create_check_status_response(req, instance_id)


def _existing(
    client: df.DurableOrchestrationClient, req: func.HttpRequest, instance_id: str
) -> func.HttpResponse:
    response = client.create_check_status_response(req, instance_id)
    response.headers["X-Polysync-Existing-Instance"] = "true"
    return response


def _orchestration_input(request: RunRequest, payload: dict[str, Any], instance_id: str) -> dict[str, Any]:
    return {
        "request": payload,
        "template": request.external_id,
        "jobName": job_name_for(instance_id, request.external_id),
        "policy": PollPolicy.from_settings(services.settings()).to_dict(),
        "state": None,
    }


@bp.route(route="sweeps", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_sweep(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Structured body: externalId, name, runId, attributes, parameters."""
    return await _start(req, client, None)


@bp.route(route="sweeps/{template}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_sweep_flat(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Polysync's flat body: the template comes from the route, each key is a parameter."""
    return await _start(req, client, req.route_params.get("template", ""))


def _not_found(instance_id: str) -> func.HttpResponse:
    return problem(404, "InstanceNotFound", f"No sweep run with instance id '{instance_id}'.")


def _instance_id(req: func.HttpRequest) -> str:
    return validate_instance_id(req.route_params.get("instanceId", ""))


@bp.route(route="sweeps/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def sweep_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    try:
        instance_id = _instance_id(req)
    except RequestValidationError as exc:
        return error_response(exc, 400)
    status = await client.get_status(instance_id)
    if not status:
        return _not_found(instance_id)
    return json_response(200, _view(instance_id, status))


@bp.route(route="sweeps/{instanceId}/cancel", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def cancel_sweep(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Ask the run to cancel its Azure ML job and keep polling until Canceled.

    Two paths, so a cancel is never lost: the `cancel` event tells the
    orchestrator, and when the job already exists it is also cancelled in Azure ML
    directly — the orchestrator then sees CancelRequested/Canceled on its next
    poll even if the event fell into a continue-as-new transition.
    """
    try:
        instance_id = _instance_id(req)
        body = _read_json(req)
    except RequestValidationError as exc:
        return error_response(exc, 400)
    status = await client.get_status(instance_id)
    if not status:
        return _not_found(instance_id)
    if _runtime(status) in FINISHED:
        return json_response(200, _view(instance_id, status))

    reason = body.get("reason") if isinstance(body, dict) else None
    reason = str(reason)[:500] if reason else "cancelled through the cancel endpoint"
    try:
        await client.raise_event(instance_id, "cancel", {"reason": reason})
    except Exception as exc:  # noqa: BLE001 - it finished between our read and the event
        log.info(
            "cancel event for %s not delivered (%s); reading final status", instance_id, type(exc).__name__
        )
        status = await client.get_status(instance_id)
        return json_response(200, _view(instance_id, status))

    job_name = (status.custom_status or {}).get("jobName") if isinstance(status.custom_status, dict) else None
    if job_name:
        await asyncio.to_thread(_cancel_in_azure_ml, job_name)
    view = _view(instance_id, status)
    view["cancelRequested"] = True
    return json_response(202, view, {"Location": req.url.split("/cancel")[0]})


def _cancel_in_azure_ml(job_name: str) -> None:
    try:
        services.client().cancel_job(validate_job_name(job_name, "jobName"))
    except NotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001 - the event path still cancels; this is the backup
        log.warning("direct Azure ML cancel of %s failed: %s", job_name, type(exc).__name__)


@bp.route(route="templates", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_templates(req: func.HttpRequest) -> func.HttpResponse:
    """The workspace's Sweep jobs as Polysync jobs to import (every page)."""
    from foundry.templates import describe_template

    try:
        jobs = [describe_template(job) for job in services.client().list_jobs("Sweep")]
    except FoundryError as exc:
        return error_response(exc, 502 if (exc.status or 500) >= 500 else exc.status)
    return json_response(200, {"value": jobs, "count": len(jobs)})
