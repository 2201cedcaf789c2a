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

from contracts import (
    Cancelled,
    JobSnapshot,
    SecretsErased,
    SecretsToErase,
    StatusQuery,
    SubmitOrder,
    Submitted,
    TemplateFetched,
    TrialCounts,
    answer,
    refusal,
    unreachable,
)
from foundry.errors import (
    AzureMLError,
    BadRequestError,
    ConflictError,
    FoundryError,
    NotFoundError,
    ThrottledError,
    TransientError,
    template_not_found,
)
from foundry.jobs import JobView, template_definition
from foundry.monitor import monitor_url
from runtime import services

log = logging.getLogger("activities")
bp = df.Blueprint()


def answer_error(exc: Exception) -> dict[str, Any]:
    """An Azure ML error as the activity's result; anything else is raised."""
    if isinstance(exc, ThrottledError | TransientError):
        return unreachable(exc.to_dict(), exc.retry_after)
    if isinstance(exc, FoundryError):
        return refusal(exc.to_dict())
    raise exc


@bp.activity_trigger(input_name="payload")
def fetch_template(payload: dict[str, Any]) -> dict[str, Any]:
    """GET the template sweep job named by the External Id; answer its own definition."""
    name = payload["template"]
    try:
        job = JobView.from_rest(services.client().get_job(name))
    except NotFoundError as exc:
        return refusal(template_not_found(name, exc).to_dict())
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; _answer re-raises the rest
        return answer_error(exc)
    return answer(TemplateFetched(template_definition(job)))


@bp.activity_trigger(input_name="payload")
def submit_sweep(payload: dict[str, Any]) -> dict[str, Any]:
    """Build the Sweep body and PUT it, exactly once per orchestration: one Azure ML call.

    The job name is derived from the instance id, so a retry after a lost answer targets the
    same name with the same body (built from the run's history alone). The PUT goes first, with
    no GET to look before: Azure ML answers a PUT of an existing name whose definition is
    unchanged by updating only its mutable fields (description, tags, displayName, properties,
    isArchived; the tags sent replace the job's: REST spec `Jobs_CreateOrUpdate`, "For update
    case, the Tags in the definition passed in will replace Tags in the existing job"), and
    refuses any other change with 400 `UserError` / `JobPropertyImmutable` (facts.md). So:

    - 201: created. 200: the job was there with this very definition: our own earlier attempt
      (a PUT whose answer was lost, an activity delivered twice); it is adopted.
    - 400 JobPropertyImmutable (or 409): a job at the name with another definition. It is GET
      and adopted when it carries our instance id (an earlier attempt built by another version
      of the app), refused as JobNameTaken, untouched, when it does not.

    A retried order (`SubmitOrder.retried`: an earlier try had no answer from Azure ML, so its
    PUT may have been applied) looks first, as every submit once did: the GET finds the job even
    when PUT answers keep getting lost while reads get through.

    Why a 200 never re-tags someone else's job: it would take a job, not created by this run,
    at this run's name *and* with exactly the definition built for this run. The name ends with
    16 hex digits of SHA-256 of the instance id, which is a keyed hash of the runId
    (INSTANCE_ID_KEY, never outside the app) or a random UUID, so nobody can name a job for a run
    before the run exists, and two runs share a name with odds of 2**-64. A job at our name is
    therefore ours, or put there on purpose by someone holding the app's key or copying a run's
    name from the workspace, and such a job has a definition of its own (400, then refused) unless
    it is a byte-for-byte copy of ours, which is ours to run.
    """
    order = SubmitOrder.from_dict(payload)
    try:
        # pydantic: loaded by the first activity, not at cold start
        from polysync.request.parsing import parse_payload
        from polysync.sweep_body import build_sweep_body

        if order.retried and (existing := _get_or_none(order.job_name)) is not None:
            return _adopt_or_refuse(existing, order)
        body = build_sweep_body(
            order.template,
            parse_payload(order.request),
            services.settings().workspace,
            instance_id=order.instance_id,
            task_hub=services.settings().taskhub_name,
        )
        try:
            created, answered = services.client().put_job_answer(order.job_name, body)
        except ConflictError:
            # A job at our name with another definition: ours from an earlier attempt, or not ours.
            existing = _get_or_none(order.job_name)
            if existing is None:
                raise
            return _adopt_or_refuse(existing, order)
    except BadRequestError as exc:
        return refusal(_explained(exc))
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; _answer re-raises the rest
        return answer_error(exc)
    job = JobView.from_rest(answered)
    if not created:
        return _adopt_or_refuse(job, order)
    log.info("submitted sweep job %s for instance %s", order.job_name, order.instance_id)
    return _submitted(job, order.job_name, adopted=False)


def _explained(exc: BadRequestError) -> dict[str, Any]:
    """Azure ML's refusal of the sweep, with the attribute to change when it is about the compute
    or environment (Azure ML's own hint only says to read the message)."""
    from polysync.failures import rejection

    why = rejection(exc.code, exc.message, exc.target)
    return why.to_dict() if why is not None else exc.to_dict()


def _get_or_none(job_name: str) -> JobView | None:
    try:
        return JobView.from_rest(services.client().get_job(job_name))
    except NotFoundError:
        return None


def _adopt_or_refuse(job: JobView, order: SubmitOrder) -> dict[str, Any]:
    if job.instance_id == order.instance_id:
        log.info("adopting existing sweep job %s for instance %s", order.job_name, order.instance_id)
        return _submitted(job, order.job_name, adopted=True)
    taken = AzureMLError(
        code="JobNameTaken",
        message=f"A job named '{order.job_name}' exists in the workspace but was not started by this run.",
        hint="Start the run again with a different runId, or archive the unrelated job.",
        status=409,
    )
    return refusal(taken.to_dict())


def _submitted(job: JobView, job_name: str, *, adopted: bool) -> dict[str, Any]:
    workspace = services.settings().workspace
    return answer(
        Submitted(
            job_name=job_name,
            azure_status=job.props.get("status") or "NotStarted",
            monitor_url=monitor_url(workspace, job_name, job.studio_endpoint),
            adopted=adopted,
        )
    )


@bp.activity_trigger(input_name="payload")
def get_job_status(payload: dict[str, Any]) -> dict[str, Any]:
    """GET the job and reduce it to the snapshot the orchestrator reports."""
    query = StatusQuery.from_dict(payload)
    try:
        job = services.client().get_job(query.job_name)
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; _answer re-raises the rest
        return answer_error(exc)
    from polysync.outcome import snapshot

    snap: JobSnapshot = snapshot(job, services.settings().workspace, query.outputs, query.objective_metric)
    return answer(snap)


# The trial listing's bound: Azure ML sweeps allow at most 1000 trials (maxTotalTrials), and a
# listing longer than MAX_TRIAL_PAGES pages reports its counts as partial rather than read on.
MAX_TRIALS = 1000
MAX_TRIAL_PAGES = 10


@bp.activity_trigger(input_name="payload")
def read_trial_progress(payload: dict[str, Any]) -> dict[str, Any]:
    """List the sweep's trials (its child runs in run history) and count them by status.
    Only counts come back: a `Run` also carries a run token and user names, which must not
    reach the orchestration history."""
    job_name: str = payload["jobName"]
    try:
        runs, complete = services.client().list_child_runs(
            job_name, top=MAX_TRIALS, max_pages=MAX_TRIAL_PAGES
        )
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; _answer re-raises the rest
        return answer_error(exc)
    from foundry.trials import count_trials

    return answer(TrialCounts.from_dict(count_trials(runs, complete=complete)))


@bp.activity_trigger(input_name="payload")
def cancel_job(payload: dict[str, Any]) -> dict[str, Any]:
    """POST cancel. A job already gone or finished is not an error: the goal is
    simply that nothing keeps running."""
    job_name: str = payload["jobName"]
    try:
        services.client().cancel_job(job_name)
    except NotFoundError:
        return answer(Cancelled(job_name, found=False))
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; _answer re-raises the rest
        return answer_error(exc)
    log.info("cancel requested for sweep job %s", job_name)
    return answer(Cancelled(job_name, found=True))


@bp.activity_trigger(input_name="payload")
def delete_run_secrets(payload: dict[str, Any]) -> dict[str, Any]:
    """Erase the run's Secret values from Key Vault (delete + purge) when the run ends.

    Only names that start with this instance id are touched, so nothing in a request or
    a history can point this at another secret. Raises on transient Key Vault trouble (the
    durable retry policy tries again); what still fails is left to the reconciler's pass
    and to the secrets' expiry.
    """
    from foundry import run_secrets

    order = SecretsToErase.from_dict(payload)
    names = [run_secrets.reference_name(ref) for ref in order.references]
    mine = [n for n in names if n and run_secrets.owned_by(n, order.instance_id)]
    vault = services.vault()
    if vault is None or not mine:
        return answer(SecretsErased(0))
    deleted = sum(1 for name in mine if vault.remove(name))
    log.info("erased %d run secret(s) of instance %s", deleted, order.instance_id)
    return answer(SecretsErased(deleted))
