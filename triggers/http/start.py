"""Starting a run, in order: signature (when `WEBHOOK_SECRET` is set) -> parse and check
every field, including that compute and environment stay in the workspace -> instance
id (keyed hash of template and runId) -> an existing run with that id answers as
Stripe's idempotency keys do (same request: that run; different: 409), with no Azure ML
call -> the template checked (exists, is a Sweep template, the body builds, the compute and
environment the request names exist: triggers.http.preflight) -> Secret values to Key Vault
-> start the orchestration, whose input holds only the secrets' identifiers and the template
it submits from.

Validation happens before anything is started: a bad request gets a 400 (404 for an unknown
template, 413 for an over-size body) that names each bad field and starts nothing. Blocking
Azure ML and Key Vault calls run in a worker thread so the worker's event loop stays free.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import azure.durable_functions as df
import azure.functions as func

from compat import UTC
from contracts import ORCHESTRATOR, SweepInput
from foundry import run_secrets
from foundry.errors import FieldError, FoundryError, RequestValidationError
from foundry.names import instance_id_for, job_name_for, validate_job_name
from foundry.workspace import reference_errors
from runtime import services
from triggers.http.preflight import check_template
from triggers.http.requests import read_json, signature_problem
from triggers.http.responses import error_response, json_response
from triggers.http.signing import run_id_from_signature
from triggers.watcher import ensure_watcher

if TYPE_CHECKING:
    from polysync.request.models import RunRequest

log = logging.getLogger("triggers.http")


async def start(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, template: str | None
) -> func.HttpResponse:
    """Start a run from a structured body (`template` None) or a flat one for `template`."""
    # pydantic loads with the first start request, not at cold start.
    from polysync.request.parsing import parse_flat_request, parse_structured_request

    denied = signature_problem(req)
    if denied is not None:
        return denied
    try:
        body = read_json(req)
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
        return error_response(exc)

    existing = await client.get_status(instance_id, show_input=True)
    if existing:
        return _existing(client, req, instance_id, existing, payload)
    try:
        template_job = await asyncio.to_thread(check_template, request, payload, instance_id)
    except FoundryError as exc:
        return error_response(exc)

    try:
        await asyncio.to_thread(_store_secrets, plan, instance_id)
    except FoundryError as exc:
        await asyncio.to_thread(_forget_secrets, plan)
        return error_response(exc)
    try:
        await client.start_new(
            ORCHESTRATOR, instance_id, _orchestration_input(request, payload, instance_id, template_job)
        )
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
    await ensure_watcher(client, services.settings())
    return client.create_check_status_response(req, instance_id)


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
                    "setting. Set it (docs/reliability-and-security.md, 'Security'), or send the value as a String.",
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


def _orchestration_input(
    request: RunRequest, payload: dict[str, Any], instance_id: str, template_job: dict[str, Any] | None
) -> dict[str, Any]:
    return SweepInput(
        request=payload,
        template=request.external_id,
        job_name=job_name_for(instance_id, request.external_id),
        policy=services.settings().poll,
        template_job=template_job,
    ).to_dict()
