"""Azure ML Event Grid intake: wake the right orchestration at once.

Events are hints (at-least-once, unordered, possibly late): this function only
forwards them; the orchestrator confirms terminal states with a GET and ignores
stale ones. Anything it cannot place — other workspaces, runs we did not start,
malformed payloads, instances already finished — is dropped with a log line,
never an exception (Event Grid would only retry it).
"""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from app import services
from foundry.events import parse_run_event

log = logging.getLogger("triggers.events")
bp = df.Blueprint()


def event_to_dict(event: func.EventGridEvent) -> dict[str, Any]:
    try:
        data = event.get_json()
    except ValueError:
        data = None
    event_time = event.event_time
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event_time.isoformat() if hasattr(event_time, "isoformat") else event_time,
        "dataVersion": event.data_version,
        "data": data,
    }


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def azureml_events(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    body = event_to_dict(event)
    parsed, why = parse_run_event(body, services.settings().workspace)
    if parsed is None:
        log.info("ignored Event Grid event %s: %s", str(body.get("id"))[:64], why)
        return
    if not parsed.instance_id:
        log.info("ignored event for run %s: not started by this connector", parsed.job_name)
        return
    try:
        await client.raise_event(
            parsed.instance_id,
            "job_status_changed",
            {
                "jobName": parsed.job_name,
                "runStatus": parsed.run_status,
                "eventType": parsed.event_type,
                "eventTime": parsed.event_time,
            },
        )
    except Exception as exc:  # noqa: BLE001 - finished or unknown instance: nothing to wake
        log.info("event for %s not delivered to instance %s: %s", parsed.job_name, parsed.instance_id, exc)
