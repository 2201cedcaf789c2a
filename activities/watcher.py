"""The sweep watcher's two activities: one listing of the watched jobs (telling each run whose
job has news), and one tag-only re-PUT per ended job (so the next listing leaves it out).

Why an activity raises the events: an orchestration cannot raise an event to another instance
in the Python SDK (`DurableOrchestrationContext` has no such call; only `signal_entity` and
`call_entity`, which address entities); a Durable client can, and the client binding is an input
binding that any function may declare, activities included (the extension binds
`DurableClientAttribute` whatever the trigger). Each activity makes one Azure ML call: the paged
list (one `GET /jobs?jobType=Sweep&tag=polysyncWatch`, following `nextLink`) or the PUT.

At-least-once: running `watch_jobs` twice raises the same events twice; a run takes a repeated
status event as no news (`StatusSignal.key`, the same status, type and time). `unwatch_job` twice
re-PUTs the same body.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import azure.durable_functions as df

from activities.azureml import answer_error
from contracts import (
    STATUS_EVENT,
    WATCHER_EVENT_TYPE,
    StatusSignal,
    Unwatched,
    WatchOrder,
    WatchReport,
    answer,
)
from foundry import tags as tag
from foundry.errors import NotFoundError
from foundry.jobs import JobView
from foundry.watch import WatchedJob, news_for_run, watched_jobs
from runtime import services

log = logging.getLogger("activities.watcher")
bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
@bp.durable_client_input(client_name="client")
async def watch_jobs(payload: dict[str, Any], client: df.DurableOrchestrationClient) -> dict[str, Any]:
    """List the watched jobs once and tell each run whose job has news."""
    order = WatchOrder.from_dict(payload)
    azure_ml = services.client()
    pages = [0]

    def page_read() -> None:
        pages[0] += 1

    try:
        resources = await asyncio.to_thread(
            lambda: list(azure_ml.list_jobs("Sweep", tag=tag.WATCH, list_view_type="All", on_page=page_read))
        )
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; answer_error re-raises the rest
        return answer_error(exc)
    jobs = watched_jobs(resources, order.task_hub)
    seen: dict[str, str] = {}
    finished: list[dict[str, Any]] = []
    signalled = undelivered = 0
    for job in jobs:
        last = order.seen.get(job.name)
        told = True
        if news_for_run(job, last, events=order.events):
            told = await _tell(client, job)
            signalled += told
            undelivered += not told
        if told:
            seen[job.name] = job.status
            if job.ended:
                finished.append(job.resource)
        elif last is not None:
            seen[job.name] = last  # not told: the next pass tries again
    if signalled or undelivered or finished:
        log.info(
            "watcher: %d watched job(s), told %d run(s), %d not reached, %d ended",
            len(jobs),
            signalled,
            undelivered,
            len(finished),
        )
    return answer(WatchReport(seen, tuple(finished), len(jobs), signalled, undelivered, pages[0]))


async def _tell(client: df.DurableOrchestrationClient, job: WatchedJob) -> bool:
    """Raise the status event; True when the run has it or is past needing it (finished or gone:
    the client answers 410 or 404), False when the Durable API could not be reached."""
    signal = StatusSignal(job.name, job.status, WATCHER_EVENT_TYPE, None, job.ending())
    try:
        await client.raise_event(job.instance_id, STATUS_EVENT, signal.to_dict())
    except Exception as exc:  # noqa: BLE001 - the SDK raises plain Exceptions carrying the HTTP answer
        text = str(exc)
        if "is gone" in text or "No instance with ID" in text:
            return True
        log.warning("watcher: could not tell run %s about %s (%s)", job.instance_id, job.name, text[:200])
        return False
    return True


@bp.activity_trigger(input_name="payload")
def unwatch_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Remove the watch tag from an ended job (a tag-only re-PUT of the listed resource)."""
    job = JobView.from_rest(payload["job"])
    try:
        services.client().put_job(job.name, job.update_body(without=(tag.WATCH,)))
    except NotFoundError:
        return answer(Unwatched(job.name, found=False))
    except Exception as exc:  # noqa: BLE001 - Azure ML errors are answers; answer_error re-raises the rest
        return answer_error(exc)
    return answer(Unwatched(job.name, found=True))
