"""Cancelling a run: one Azure ML cancel per run, however many calls.

Two paths, so a cancel is never lost: the `cancel` event tells the orchestrator, and when
the job already exists it is also cancelled in Azure ML directly (the orchestrator then
sees CancelRequested/Canceled on its next poll even if the event fell into a
continue-as-new transition, and sends no second cancel).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from contracts import CANCEL_EVENT, CancelSignal
from foundry.errors import FieldError, NotFoundError, RequestValidationError
from foundry.job_status import JobStatus
from foundry.names import validate_job_name
from runtime import services
from triggers.http.requests import instance_id_of, read_json, signature_problem
from triggers.http.responses import error_response, json_response, not_found
from triggers.http.status_view import status_view
from triggers.instances import FINISHED, runtime_status

log = logging.getLogger("triggers.http")


async def cancel(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Tell the run to cancel its Azure ML job (which it then polls until Canceled): 202
    while cancelling, 200 with the final status when already over, 404 when unknown."""
    denied = signature_problem(req)
    if denied is not None:
        return denied
    try:
        instance_id = instance_id_of(req)
        reason = _cancel_reason(read_json(req))
    except RequestValidationError as exc:
        return error_response(exc)
    status = await client.get_status(instance_id)
    if not status:
        return not_found(instance_id)
    custom = status.custom_status if isinstance(status.custom_status, dict) else {}
    if runtime_status(status) in FINISHED:
        return await _finished(instance_id, status, custom)
    view = status_view(instance_id, status)
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
        return json_response(200, status_view(instance_id, status))
    if job_name and not cancelled:
        _cancel_claims.forget(instance_id)  # calling again is the remedy; let it through
    return accepted


async def _finished(instance_id: str, status: Any, custom: dict[str, Any]) -> func.HttpResponse:
    """The run is over: 200 with its final status. A run that ended without its job at rest
    (terminated through the Durable API, or given up on an unreachable Azure ML) has its job
    cancelled now, as asked, rather than left to the reconciler's next pass."""
    view = status_view(instance_id, status)
    job_name = custom.get("jobName")
    last_seen = JobStatus.parse(custom.get("azureStatus"))
    if job_name and (last_seen is None or not last_seen.is_terminal):
        view["jobCancelRequested"] = await asyncio.to_thread(_cancel_in_azure_ml, job_name)
    return json_response(200, view)


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
