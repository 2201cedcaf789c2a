"""Orphan reconciler: no Azure ML sweep job keeps running without a run tracking it,
and no run's Secret value stays in Key Vault after the run.

An orchestration can stop without cancelling its job: terminated through the
Durable management API (Polysync's terminate URL), purged, failed on an
unexpected error, or lost with its task hub. Every `RECONCILE_SCHEDULE`
(default every 10 minutes) this timer lists the workspace's watched Sweep jobs
(`polysyncWatch` tag: running, or ended without their run knowing yet) of this app (same
`polysync.taskHub`, `polysync.instanceId` naming the run), asks the
Durable client about each job's orchestration and cancels the job when that
orchestration is Terminated, Failed, Completed or Canceled. A job younger than
the grace period is left alone, so a run that is just starting is never raced.

It acts only on jobs that are provably its own: the job's name must be the name
the app derives from the instance id and template in its tags (a Studio clone of
a run copies the tags but gets another name), and the instance must exist in this
task hub (another deployment sharing the workspace and task hub name has its own
instances). A job whose instance was purged is therefore left alone and logged.

Run secrets get the same treatment: a secret tagged with this task hub, whose name
starts with the instance id in its tag, is erased (delete + purge) once that
instance has finished, and in any case once the secret has expired.

A run that gave up waiting for an unreachable Azure ML (past
`SWEEP_OUTAGE_LIMIT_SECONDS`) ends Failed on purpose *without* cancelling its
job, and says so in its customStatus (`jobLeftRunning`): the reconciler leaves
that job alone (reason `left-running`); the user decides in Azure ML studio.

Why it did so is recorded three ways: a WARNING log line naming job, instance
and runtime status; a `polysync.reconciled=<reason>` tag on the job (a tag-only
re-PUT, best effort); and the summary the run logs at the end.

`decide()` holds the whole policy and is pure; the I/O sits in `reconcile()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from compat import UTC, try_parse_utc
from foundry import run_secrets
from foundry import tags as tag
from foundry.errors import FoundryError, NotFoundError, RequestValidationError
from foundry.job_status import TERMINAL, JobStatus
from foundry.jobs import JobView
from foundry.names import job_name_for, validate_instance_id, validate_job_name
from foundry.vault import StoredSecret
from runtime import services
from triggers import instances
from triggers.watcher import ensure_watcher

log = logging.getLogger("triggers.reconciler")
bp = df.Blueprint()

INSTANCE_TAG = tag.INSTANCE
TASKHUB_TAG = tag.TASK_HUB
RECONCILED_TAG = tag.RECONCILED
GRACE = timedelta(minutes=10)
# Runtime status the lookup reports for a Failed run that left its job running on
# purpose (orchestrators.sweep: Azure ML unreachable past the outage limit).
LEFT_RUNNING = "Failed (job left running)"
# Job statuses that no longer cost anything, or are already being cancelled.
AT_REST = TERMINAL | {JobStatus.CANCEL_REQUESTED}


@dataclass(frozen=True)
class Verdict:
    """What to do with one job: `cancel` or not, and why (a short machine-readable reason)."""

    job_name: str
    instance_id: str | None
    cancel: bool
    reason: str
    runtime_status: str | None = None


def decide(
    resource: dict[str, Any],
    runtime_status: str | None,
    *,
    now: datetime,
    task_hub: str | None,
    grace: timedelta = GRACE,
    looked_up: bool = True,
) -> Verdict:
    """Should this job be cancelled? Pure: the job resource, the Durable runtime
    status of the instance its tag names (None = no such instance) and the time.

    `looked_up=False` means the status was not (or could not be) read; the job is
    then never cancelled."""
    job = JobView.from_rest(resource)

    def keep(reason: str) -> Verdict:
        return Verdict(job.name, job.instance_id, False, reason, runtime_status)

    if not job.instance_id:
        return keep("not-ours")
    if job.tags.get(TASKHUB_TAG) != task_hub:
        return keep("other-task-hub")
    if not named_as_ours(job):
        return keep("name-not-derived")
    if not _active(job):
        return keep("not-active")
    if job.created_at is None:
        return keep("no-createdAt")
    if now - job.created_at < grace:
        return keep("within-grace")
    if not looked_up:
        return keep("status-unknown")
    if runtime_status is None:
        return keep("instance-missing")
    if runtime_status == LEFT_RUNNING:
        return keep("left-running")
    if (
        runtime_status not in instances.FINISHED
    ):  # a missing instance never gets here: nothing proves the job ours
        return keep("tracked")
    return Verdict(job.name, job.instance_id, True, f"orchestration-{runtime_status.lower()}", runtime_status)


def named_as_ours(job: JobView) -> bool:
    """Is the job's name the one the app derives from its instance id and template tags?"""
    template = job.tags.get(tag.TEMPLATE)
    return isinstance(template, str) and job.name == job_name_for(job.instance_id or "", template)


def _active(job: JobView) -> bool:
    """Still running (or about to): a job at rest costs nothing, one being cancelled is handled."""
    return job.status is not None and job.status not in AT_REST


def candidates(jobs: Iterable[dict[str, Any]], task_hub: str | None) -> list[dict[str, Any]]:
    """The jobs worth a Durable status lookup: ours, active, with a safe instance id and name."""
    out = []
    for resource in jobs:
        if not isinstance(resource, dict):
            continue
        job = JobView.from_rest(resource)
        if not job.instance_id or job.tags.get(TASKHUB_TAG) != task_hub or not _active(job):
            continue
        if not named_as_ours(job):
            continue  # a copy of a run (a Studio clone keeps the tags, not the name)
        try:
            validate_job_name(job.name, "name")
            validate_instance_id(job.instance_id, INSTANCE_TAG)
        except RequestValidationError:
            # A tag anyone with workspace write access can set: never let it reach a URL.
            log.warning(
                "reconciler: skipped job %.100r: its name or %s tag is not valid", job.name, INSTANCE_TAG
            )
            continue
        out.append(resource)
    return out


def watched_and_running(resource: dict[str, Any], task_hub: str | None) -> bool:
    """A job of this task hub the sweep watcher should be listing: tagged and still active."""
    if not isinstance(resource, dict):
        return False
    job = JobView.from_rest(resource)
    return job.tags.get(tag.WATCH) == (task_hub or "") and _active(job)


def reference_now(timer: Any, wall: datetime | None = None) -> datetime:
    """'Now' for the grace period: the earlier of the wall clock and the occurrence this
    invocation is for, ScheduleStatus.Next. The host hands the status as it stood before the
    invocation (TimerListener.InvokeJobFunction): `Next` is the occurrence now firing (never
    later than the wall clock but for sub-second skew, earlier when past due), `Last` the
    previous invocation, or year 1 when there was none, so it would hold every job within its
    grace. On devhost `Next` follows the virtual clock. No status (no schedule monitor): the
    wall clock."""
    wall = wall or datetime.now(UTC)
    status = getattr(timer, "schedule_status", None)
    due = try_parse_utc(status.get("Next")) if isinstance(status, dict) else None
    return min(wall, due) if due is not None and due.year > 1 else wall


StatusLookup = Callable[[str], Awaitable[str | None]]


async def reconcile(
    jobs: Iterable[dict[str, Any]],
    runtime_status: StatusLookup,
    cancel: Callable[[str], None],
    tag: Callable[[dict[str, Any], str], None] | None,
    *,
    now: datetime,
    task_hub: str | None,
    grace: timedelta = GRACE,
) -> dict[str, Any]:
    """One reconciler pass over `jobs`. Returns the summary (also what is logged)."""
    summary: dict[str, Any] = {"checked": 0, "cancelled": [], "kept": {}, "errors": []}
    for job in candidates(jobs, task_hub):
        summary["checked"] += 1
        view = JobView.from_rest(job)
        name, instance_id = view.name, view.instance_id
        looked_up, status = True, None
        # Ask Durable only about a job that would be cancelled were its instance over.
        if decide(job, "Terminated", now=now, task_hub=task_hub, grace=grace).cancel:
            try:
                status = await runtime_status(instance_id or "")
            except Exception as exc:  # noqa: BLE001 - a lookup failure must never cancel a job
                looked_up = False
                summary["errors"].append({"job": name, "step": "status", "error": type(exc).__name__})
        verdict = decide(job, status, now=now, task_hub=task_hub, grace=grace, looked_up=looked_up)
        if not verdict.cancel:
            summary["kept"][verdict.reason] = summary["kept"].get(verdict.reason, 0) + 1
            if verdict.reason == "instance-missing":
                log.warning(
                    "reconciler: left active job %s alone: its instance %s does not exist in this task hub "
                    "(purged, or another deployment's); cancel it by hand if it is an orphan",
                    name,
                    instance_id,
                )
            continue
        log.warning(
            "reconciler: cancelling orphaned sweep job %s: instance %s is %s (%s)",
            name,
            instance_id,
            verdict.runtime_status or "missing",
            verdict.reason,
        )
        try:
            await asyncio.to_thread(cancel, name)
        except NotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - retried on the next pass
            log.warning("reconciler: cancel of %s failed (%s); next pass retries", name, type(exc).__name__)
            summary["errors"].append({"job": name, "step": "cancel", "error": type(exc).__name__})
            continue
        summary["cancelled"].append(
            {
                "job": name,
                "instanceId": instance_id,
                "runtimeStatus": verdict.runtime_status,
                "reason": verdict.reason,
            }
        )
        if tag is not None:
            try:
                await asyncio.to_thread(tag, job, verdict.reason)
            except Exception as exc:  # noqa: BLE001 - the tag is a courtesy; the cancel is what counts
                log.info("reconciler: could not tag %s as reconciled (%s)", name, type(exc).__name__)
    return summary


def decide_secret(
    secret: StoredSecret,
    runtime_status: str | None,
    *,
    now: datetime,
    wall: datetime,
    task_hub: str | None,
    grace: timedelta = GRACE,
    looked_up: bool = True,
) -> str | None:
    """Why to erase this run secret ("expired", "orchestration-<status>"), or None to keep it.
    Pure. Expiry is judged on the wall clock the start route set it with; a finished
    instance past the grace (on the secret's creation time) on the reconciler's clock."""
    if secret.task_hub != task_hub or not secret.instance_id:
        return None
    if not run_secrets.owned_by(secret.name, secret.instance_id):
        return None
    if secret.expires is not None and secret.expires <= wall:
        return "expired"
    if secret.created is None or now - secret.created < grace or not looked_up:
        return None
    if runtime_status == LEFT_RUNNING:  # the run is over; only its job was left running
        runtime_status = "Failed"
    if runtime_status in instances.FINISHED:
        return f"orchestration-{runtime_status.lower()}"
    return None


async def reconcile_secrets(
    stored: Iterable[StoredSecret],
    runtime_status: StatusLookup,
    remove: Callable[[str], bool],
    *,
    now: datetime,
    wall: datetime,
    task_hub: str | None,
    grace: timedelta = GRACE,
) -> dict[str, Any]:
    """One pass over the vault's run secrets: erase those whose run is over or that expired."""
    summary: dict[str, Any] = {"checked": 0, "erased": [], "errors": []}
    for secret in stored:
        if secret.task_hub != task_hub or not secret.instance_id:
            continue
        summary["checked"] += 1
        status, looked_up = None, True
        probe = decide_secret(secret, "Terminated", now=now, wall=wall, task_hub=task_hub, grace=grace)
        if probe is not None and probe != "expired":
            try:
                status = await runtime_status(secret.instance_id)
            except Exception as exc:  # noqa: BLE001 - a lookup failure never erases a secret
                looked_up = False
                summary["errors"].append(
                    {"secret": secret.name, "step": "status", "error": type(exc).__name__}
                )
        reason = decide_secret(
            secret, status, now=now, wall=wall, task_hub=task_hub, grace=grace, looked_up=looked_up
        )
        if reason is None:
            continue
        try:
            await asyncio.to_thread(remove, secret.name)
        except Exception as exc:  # noqa: BLE001 - retried on the next pass
            summary["errors"].append({"secret": secret.name, "step": "erase", "error": type(exc).__name__})
            continue
        log.warning(
            "reconciler: erased run secret %s of instance %s (%s)", secret.name, secret.instance_id, reason
        )
        summary["erased"].append({"secret": secret.name, "instanceId": secret.instance_id, "reason": reason})
    return summary


def tag_reconciled(job: dict[str, Any], reason: str) -> None:
    """Record the reason on the job: re-PUT it with one more tag."""
    view = JobView.from_rest(job)
    services.client().put_job(view.name, view.update_body(**{RECONCILED_TAG: reason}))


async def _runtime_status(client: df.DurableOrchestrationClient, instance_id: str) -> str | None:
    status = await client.get_status(instance_id)
    if not status:
        return None
    runtime = instances.runtime_status(status)
    custom = getattr(status, "custom_status", None)
    if runtime == "Failed" and isinstance(custom, dict) and custom.get("jobLeftRunning") is True:
        return LEFT_RUNNING
    return runtime


async def _listed(what: str, listing: Callable[[], Iterable[Any]]) -> list[Any] | None:
    """Everything `listing` yields (read in a worker thread), or None when it failed: the next
    pass tries again."""
    try:
        return await asyncio.to_thread(lambda: list(listing()))
    except FoundryError as exc:
        log.warning("reconciler: could not list %s (%s); next pass retries", what, exc.code)
        return None


@bp.timer_trigger(schedule="%RECONCILE_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def reconcile_orphans(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    settings = services.settings()
    azure_ml = services.client()
    now = reference_now(timer)

    async def lookup(instance_id: str) -> str | None:
        return await _runtime_status(client, instance_id)

    # The watched jobs only (tag removed once a run knows its job ended): the listing costs pages
    # of running sweeps, not of every sweep this app ever ran. A job whose run ended without it
    # knowing (terminated, purged) keeps the tag while it runs, which is what an orphan is.
    jobs = await _listed(
        "sweep jobs", lambda: azure_ml.list_jobs("Sweep", tag=tag.WATCH, list_view_type="All")
    )
    if jobs is None:
        return
    if any(watched_and_running(job, settings.taskhub_name) for job in jobs):
        await ensure_watcher(client, settings)  # the backstop: a watcher that ended too early
    summary = await reconcile(
        jobs, lookup, azure_ml.cancel_job, tag_reconciled, now=now, task_hub=settings.taskhub_name
    )
    level = logging.WARNING if summary["cancelled"] or summary["errors"] else logging.INFO
    log.log(
        level,
        "reconciler: checked %d active job(s), cancelled %d, kept %s, errors %d",
        summary["checked"],
        len(summary["cancelled"]),
        summary["kept"],
        len(summary["errors"]),
    )
    vault = services.vault()
    stored = await _listed("run secrets", vault.run_secrets) if vault is not None else None
    if vault is None or stored is None:
        return
    erased = await reconcile_secrets(
        stored, lookup, vault.remove, now=now, wall=datetime.now(UTC), task_hub=settings.taskhub_name
    )
    log.info(
        "reconciler: checked %d run secret(s), erased %d, errors %d",
        erased["checked"],
        len(erased["erased"]),
        len(erased["errors"]),
    )
