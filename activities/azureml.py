"""Activities: one Azure ML call each, thin over `foundry/`.

Contract with the orchestrator: every Azure ML answer comes back as a value.
Throttling, 5xx and connection loss (after the client's own short retries) are
`{"ok": False, "transient": True, "retryAfter": seconds | None, "error": {...}}`:
the orchestrator waits on a durable timer, honouring `retryAfter`, and tries
again, so an outage costs no billed sleeping and never ends a healthy run.
Permanent answers (not found, forbidden, invalid template) are
`{"ok": False, "error": {...}}`. An activity raises only on the unexpected (a
bug), which the orchestrator reports as such. There is no durable retry policy:
its hidden retry timers would race a cancel event in the extension's replay.
Everything returned lands in the orchestration history, so nothing here returns
a secret. Activities may run more than once (at-least-once delivery): each is
idempotent.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df

from foundry import tags as tag
from foundry.errors import (
    AzureMLError,
    ConflictError,
    FoundryError,
    NotFoundError,
    ThrottledError,
    TransientError,
)
from foundry.jobs import JobView
from foundry.monitor import monitor_url
from runtime import services

log = logging.getLogger("activities")
bp = df.Blueprint()


def _failure(error: FoundryError) -> dict[str, Any]:
    return {"ok": False, "error": error.to_dict()}


def _answer(exc: Exception) -> dict[str, Any]:
    """An Azure ML error as the activity's result; anything else is raised."""
    if isinstance(exc, ThrottledError | TransientError):
        return {"ok": False, "transient": True, "retryAfter": exc.retry_after, "error": exc.to_dict()}
    if isinstance(exc, FoundryError):
        return _failure(exc)
    raise exc


@bp.activity_trigger(input_name="payload")
def fetch_template(payload: dict[str, Any]) -> dict[str, Any]:
    """GET the template sweep job named by the External Id."""
    name = payload["template"]
    try:
        job = services.client().get_job(name)
    except NotFoundError as exc:
        exc.code = "TemplateNotFound"
        exc.hint = (
            f"No job named '{name}' in the workspace. Set the Polysync job's External Id to the "
            "name of an existing Sweep job (GET /api/templates lists them)."
        )
        return _failure(exc)
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; _answer re-raises the rest
        return _answer(exc)
    return {"ok": True, "job": job}


@bp.activity_trigger(input_name="payload")
def submit_sweep(payload: dict[str, Any]) -> dict[str, Any]:
    """Build the Sweep body and PUT it, exactly once per orchestration.

    The job name is derived from the instance id, so a retry after a lost answer
    targets the same name: an existing job tagged with our instance id is adopted
    instead of submitted again; one that is not ours is refused.
    """
    instance_id: str = payload["instanceId"]
    job_name: str = payload["jobName"]
    client = services.client()
    workspace = services.settings().workspace
    try:
        existing = _get_or_none(job_name)
        if existing is not None:
            return _adopt_or_refuse(existing, instance_id, job_name)
        # pydantic: loaded by the first activity, not at cold start
        from polysync.request.parsing import parse_payload
        from polysync.sweep_body import build_sweep_body

        request = parse_payload(payload["request"])
        body = build_sweep_body(
            payload["template"],
            request,
            workspace,
            instance_id=instance_id,
            task_hub=services.settings().taskhub_name,
        )
        try:
            job = client.put_job(job_name, body)
        except ConflictError:
            # Someone (most likely our own earlier attempt) created it meanwhile.
            existing = _get_or_none(job_name)
            if existing is None:
                raise
            return _adopt_or_refuse(existing, instance_id, job_name)
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; _answer re-raises the rest
        return _answer(exc)
    log.info("submitted sweep job %s for instance %s", job_name, instance_id)
    return _submitted(job, job_name, adopted=False)


def _get_or_none(job_name: str) -> dict[str, Any] | None:
    try:
        return services.client().get_job(job_name)
    except NotFoundError:
        return None


def _adopt_or_refuse(job: dict[str, Any], instance_id: str, job_name: str) -> dict[str, Any]:
    tags = (job.get("properties") or {}).get("tags") or {}
    if tags.get(tag.INSTANCE) == instance_id:
        log.info("adopting existing sweep job %s for instance %s", job_name, instance_id)
        return _submitted(job, job_name, adopted=True)
    return _failure(
        AzureMLError(
            code="JobNameTaken",
            message=f"A job named '{job_name}' exists in the workspace but was not started by this run.",
            hint="Start the run again with a different runId, or archive the unrelated job.",
            status=409,
        )
    )


def _submitted(job: dict[str, Any], job_name: str, *, adopted: bool) -> dict[str, Any]:
    props = job.get("properties") or {}
    return {
        "ok": True,
        "jobName": job_name,
        "azureStatus": props.get("status") or "NotStarted",
        "monitorUrl": monitor_url(
            services.settings().workspace, job_name, JobView.from_rest(job).studio_endpoint
        ),
        "adopted": adopted,
    }


@bp.activity_trigger(input_name="payload")
def get_job_status(payload: dict[str, Any]) -> dict[str, Any]:
    """GET the job and reduce it to the snapshot the orchestrator reports."""
    job_name: str = payload["jobName"]
    try:
        job = services.client().get_job(job_name)
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; _answer re-raises the rest
        return _answer(exc)
    from polysync.outcome import snapshot
    from polysync.request.parsing import parse_payload

    request = parse_payload(payload["request"])
    snap = snapshot(
        job, services.settings().workspace, request.outputs(), request.attributes.objective_metric
    )
    snap["ok"] = True
    return snap


@bp.activity_trigger(input_name="payload")
def cancel_job(payload: dict[str, Any]) -> dict[str, Any]:
    """POST cancel. A job already gone or finished is not an error: the goal is
    simply that nothing keeps running."""
    job_name: str = payload["jobName"]
    try:
        services.client().cancel_job(job_name)
    except NotFoundError:
        return {"ok": True, "jobName": job_name, "found": False}
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; _answer re-raises the rest
        return _answer(exc)
    log.info("cancel requested for sweep job %s", job_name)
    return {"ok": True, "jobName": job_name, "found": True}


@bp.activity_trigger(input_name="payload")
def delete_run_secrets(payload: dict[str, Any]) -> dict[str, Any]:
    """Erase the run's Secret values from Key Vault (delete + purge) when the run ends.

    Only names that start with this instance id are touched, so nothing in a request or
    a history can point this at another secret. Raises on transient Key Vault trouble (the
    durable retry policy tries again); what still fails is left to the reconciler's pass
    and to the secrets' expiry.
    """
    from foundry import run_secrets

    instance_id: str = payload["instanceId"]
    names = [run_secrets.reference_name(ref) for ref in payload.get("references") or []]
    mine = [n for n in names if n and run_secrets.owned_by(n, instance_id)]
    vault = services.vault()
    if vault is None or not mine:
        return {"ok": True, "deleted": 0}
    deleted = sum(1 for name in mine if vault.remove(name))
    log.info("erased %d run secret(s) of instance %s", deleted, instance_id)
    return {"ok": True, "deleted": deleted}
