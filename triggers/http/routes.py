"""HTTP routes: start, status, cancel, template discovery.

Validation happens here, before anything is started: a bad request gets a 400
that lists each bad field and starts nothing. Blocking Azure ML and Key Vault
calls run in a worker thread so the worker's event loop stays free.

A start, in order: signature (when `WEBHOOK_SECRET` is set) -> parse and check
every field, including that compute and environment stay in the workspace ->
instance id (keyed hash of template and runId) -> an existing run with that id
answers as Stripe's idempotency keys do (same request: that run; different: 409)
-> Secret values to Key Vault -> start the orchestration, whose input holds only
the secrets' identifiers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from contracts import CANCEL_EVENT, ORCHESTRATOR, CancelSignal, SweepInput
from foundry import run_secrets
from foundry.errors import FieldError, FoundryError, NotFoundError, RequestValidationError
from foundry.names import instance_id_for, job_name_for, validate_instance_id, validate_job_name
from foundry.workspace import reference_errors
from orchestrators.polling import PollPolicy
from runtime import services
from triggers.http.responses import error_response, json_response, problem
from triggers.http.signing import run_id_from_signature, verify
from triggers.http.status_view import FINISHED, compose_status

UTC = timezone.utc  # datetime.UTC is 3.11+; the app supports 3.10

if TYPE_CHECKING:
    from polysync.request.models import RunRequest

log = logging.getLogger("triggers.http")
bp = df.Blueprint()

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
    path = urlsplit(req.url).path
    reason = verify(
        secret, req.method, path, dict(req.params), req.get_body() or b"", dict(req.headers), time.time()
    )
    if reason is None:
        return None
    log.warning("rejected %s %s: %s", req.method, path[:200], reason)
    return problem(
        401,
        "InvalidSignature",
        reason,
        "Sign timestamp, method, path, query and body with WEBHOOK_SECRET (README, 'Signed requests').",
    )


def _check_references(request: RunRequest) -> None:
    """Compute and environment must stay in the workspace (or an Azure ML registry for
    environments); Command/Environment overrides may be switched off. 400 naming the attribute."""
    from polysync.request.types import ATTRIBUTE_NAMES

    settings = services.settings()
    attrs = request.attributes
    problems = reference_errors(
        attrs.compute_name,
        attrs.environment_name,
        attrs.command,
        settings.workspace,
        allow_code=settings.allow_code_overrides,
    )
    if problems:
        raise RequestValidationError(
            [FieldError(f"attributes.{ATTRIBUTE_NAMES[field][0]}", message) for field, message in problems]
        )


@dataclass(frozen=True)
class _SecretToStore:
    parameter: str
    name: str
    value: str = field(repr=False)


def _plan_secrets(request: RunRequest, instance_id: str, *, flat: bool) -> list[_SecretToStore]:
    """Where each Secret Input goes in Key Vault; a 400 when no vault is configured."""
    inputs = request.secret_inputs()
    if not inputs:
        return []
    settings = services.settings()
    if services.vault() is None:
        raise RequestValidationError(
            [
                FieldError(
                    p.name if flat else f"parameters[{i}].value",
                    f"'{p.name}' is a Secret parameter, and Secret parameters are off on this app: they are "
                    "stored in the workspace's Key Vault, which is named by the RUN_SECRETS_VAULT_URL app "
                    "setting. Set it (README, 'Secret parameters'), or send the value as a String.",
                )
                for i, p, _ in inputs
            ]
        )
    key = settings.instance_id_key or ""
    if not key:
        raise FoundryError(
            "INSTANCE_ID_KEY is not set, so Secret parameters cannot be named safely.",
            code="SettingMissing",
            hint="Set the INSTANCE_ID_KEY app setting to a long random value (the deployment generates one).",
            status=500,
        )
    return [
        _SecretToStore(p.name, run_secrets.run_secret_name(instance_id, p.name, value, key), value)
        for _, p, value in inputs
    ]


def _store_secrets(plan: list[_SecretToStore], instance_id: str) -> None:
    vault = services.vault()
    if vault is None or not plan:
        return
    settings = services.settings()
    expires = datetime.now(UTC) + timedelta(hours=settings.run_secrets_ttl_hours)
    for item in plan:
        vault.put(
            item.name,
            item.value,
            instance_id=instance_id,
            parameter=item.parameter,
            task_hub=settings.taskhub_name,
            expires=expires,
        )


def _forget_secrets(plan: list[_SecretToStore]) -> None:
    """Erase secrets this request wrote but no run uses (lost a start race, or failed to start)."""
    vault = services.vault()
    for item in plan if vault is not None else []:
        try:
            vault.remove(item.name)
        except FoundryError as exc:
            log.warning(
                "could not erase unused run secret %s (%s); it expires on its own", item.name, exc.code
            )


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient, template: str | None):
    # pydantic loads with the first start request, not at cold start.
    from polysync.request.parsing import parse_flat_request, parse_structured_request

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
        _check_references(request)
        if services.settings().webhook_secret and not request.run_id:
            # A replay of this signed request must land on the same run, never a new sweep.
            request = request.model_copy(update={"run_id": run_id_from_signature(dict(req.headers))})
        instance_id = instance_id_for(
            request.run_id, request.external_id, services.settings().instance_id_key
        )
        plan = _plan_secrets(request, instance_id, flat=template is not None)
        vault = services.vault()
        refs = {item.parameter: vault.reference(item.name) for item in plan} if vault else {}
        payload = request.to_payload(refs)
    except FoundryError as exc:
        return error_response(exc, 400 if isinstance(exc, RequestValidationError) else None)

    existing = await client.get_status(instance_id, show_input=True)
    if existing:
        return _existing(client, req, instance_id, existing, payload)

    try:
        await asyncio.to_thread(_store_secrets, plan, instance_id)
    except FoundryError as exc:
        await asyncio.to_thread(_forget_secrets, plan)
        return error_response(exc)
    try:
        await client.start_new(ORCHESTRATOR, instance_id, _orchestration_input(request, payload, instance_id))
    except Exception:
        # A concurrent start with the same runId won the race: answer as for any
        # existing run. Anything else is a real failure.
        existing = await client.get_status(instance_id, show_input=True)
        if not existing:
            await asyncio.to_thread(_forget_secrets, plan)
            raise
        answer = _existing(client, req, instance_id, existing, payload)
        if answer.status_code == 409:
            # The winner's Secret names differ from ours (they derive from the values).
            await asyncio.to_thread(_forget_secrets, plan)
        return answer
    log.info("started instance %s for template %s", instance_id, request.external_id)
    return client.create_check_status_response(req, instance_id)


def _stored_request(status: Any) -> Any:
    data = getattr(status, "input_", None)
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    return data.get("request") if isinstance(data, dict) else None


def _existing(
    client: df.DurableOrchestrationClient,
    req: func.HttpRequest,
    instance_id: str,
    status: Any,
    payload: dict[str, Any],
) -> func.HttpResponse:
    """Same runId and same request: that run again (nothing new starts). Same runId and a
    different request: 409 naming what differs, and nothing about the existing run."""
    from polysync.idempotency import request_differences

    differences = request_differences(_stored_request(status), payload)
    if differences:
        log.warning("runId reused with a different request (%s); refused", ", ".join(differences))
        return json_response(
            409,
            {
                "error": {
                    "code": "RunIdReused",
                    "message": "This runId already started a run with a different request; nothing was "
                    f"started. Differs: {', '.join(differences)}.",
                    "hint": "Send the same request to see that run again, or use a new runId for a new run.",
                    "errors": [
                        {"field": name, "message": "differs from the request that first used this runId"}
                        for name in differences
                    ],
                }
            },
        )
    log.info("runId already started as instance %s; not starting again", instance_id)
    response = client.create_check_status_response(req, instance_id)
    response.headers["X-Polysync-Existing-Instance"] = "true"
    return response


def _orchestration_input(request: RunRequest, payload: dict[str, Any], instance_id: str) -> dict[str, Any]:
    return SweepInput(
        request=payload,
        template=request.external_id,
        job_name=job_name_for(instance_id, request.external_id),
        policy=PollPolicy.from_settings(services.settings()),
    ).to_dict()


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
    denied = _signature_problem(req)
    if denied is not None:
        return denied
    try:
        instance_id = _instance_id(req)
        body = _read_json(req)
        reason = _cancel_reason(body)
    except RequestValidationError as exc:
        return error_response(exc, 400)
    status = await client.get_status(instance_id)
    if not status:
        return _not_found(instance_id)
    if _runtime(status) in FINISHED:
        return json_response(200, _view(instance_id, status))
    custom = status.custom_status if isinstance(status.custom_status, dict) else {}
    view = _view(instance_id, status)
    view["cancelRequested"] = True
    accepted = json_response(202, view, {"Location": req.url.split("/cancel")[0]})
    if custom.get("cancelRequested"):
        return accepted  # the run already acts on a cancel: a storm adds nothing

    if not _cancel_claims.claim(instance_id):
        return accepted
    # Once the job exists, cancel it in Azure ML now and tell the run, so it sends no second
    # cancel; should the event fall into a continue-as-new, the next poll still sees it.
    job_name = custom.get("jobName")
    cancelled = bool(job_name) and await asyncio.to_thread(_cancel_in_azure_ml, job_name)
    try:
        await client.raise_event(instance_id, CANCEL_EVENT, CancelSignal(reason, cancelled).to_dict())
    except Exception as exc:  # noqa: BLE001 - it finished between our read and the event
        log.info(
            "cancel event for %s not delivered (%s); reading final status", instance_id, type(exc).__name__
        )
        _cancel_claims.forget(instance_id)
        status = await client.get_status(instance_id)
        return json_response(200, _view(instance_id, status))
    if job_name and not cancelled:
        _cancel_claims.forget(instance_id)  # calling again is the remedy; let it through
    return accepted


def _cancel_reason(body: Any) -> str:
    from polysync.request.limits import text_problem

    reason = body.get("reason") if isinstance(body, dict) else None
    if reason is None or reason == "":
        return "cancelled through the cancel endpoint"
    if not isinstance(reason, str):
        raise RequestValidationError([FieldError("reason", "reason must be text.")])
    problem_text = text_problem(reason)
    if problem_text is not None:
        raise RequestValidationError([FieldError("reason", problem_text)])
    return reason


def _cancel_in_azure_ml(job_name: str) -> bool:
    """Cancel the job directly; True when Azure ML accepted it (or it is gone)."""
    try:
        services.client().cancel_job(validate_job_name(job_name, "jobName"))
    except NotFoundError:
        return True
    except Exception as exc:  # noqa: BLE001 - the event path still cancels; this is the backup
        log.warning("direct Azure ML cancel of %s failed: %s", job_name, type(exc).__name__)
        return False
    return True


class _CancelClaims:
    """Which runs this worker has already cancelled, so a storm of cancel calls sends one
    Azure ML cancel per run: the first call claims the run, concurrent and later ones answer
    202 at once (once the run has acted, `cancelRequested` in customStatus says the same
    across workers). A claim whose cancel failed is released, so calling again still helps."""

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._claimed: dict[str, None] = {}
        self._limit = limit

    def claim(self, instance_id: str) -> bool:
        with self._lock:
            if instance_id in self._claimed:
                return False
            self._claimed[instance_id] = None
            while len(self._claimed) > self._limit:
                self._claimed.pop(next(iter(self._claimed)))
            return True

    def forget(self, instance_id: str) -> None:
        with self._lock:
            self._claimed.pop(instance_id, None)


_cancel_claims = _CancelClaims()


@bp.route(route="templates", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_templates(req: func.HttpRequest) -> func.HttpResponse:
    """The workspace's template Sweep jobs as Polysync jobs to import (every page; the
    connector's own runs are not templates and are left out)."""
    from polysync.templates import list_templates as describe_all

    try:
        jobs = describe_all(services.client().list_jobs("Sweep"))
    except FoundryError as exc:
        return error_response(exc, 502 if (exc.status or 500) >= 500 else exc.status)
    return json_response(200, {"value": jobs, "count": len(jobs)})
