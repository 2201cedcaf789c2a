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

from contracts import STATUS_EVENT, StatusSignal
from foundry.events import parse_run_event
from runtime import services

log = logging.getLogger("triggers.events")
bp = df.Blueprint()


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def event_to_dict(event: Any) -> dict[str, Any]:
    """The delivered event as a plain dict, in its own schema: the Functions worker hands
    the trigger a `func.EventGridEvent` (Event Grid schema: topic, event_type, event_time)
    or a `func.CloudEvent` (CloudEvents 1.0, a subscription with `CloudEventSchemaV1_0`:
    source, type, time), whichever the subscription delivers."""
    try:
        data = event.get_json()
    except ValueError:
        data = None
    if hasattr(event, "specversion"):
        return {
            "id": getattr(event, "id", None),
            "source": getattr(event, "source", None),
            "subject": getattr(event, "subject", None),
            "type": getattr(event, "type", None),
            "time": _iso(getattr(event, "time", None)),
            "specversion": event.specversion,
            "data": data,
        }
    return {
        "id": getattr(event, "id", None),
        "topic": getattr(event, "topic", None),
        "subject": getattr(event, "subject", None),
        "eventType": getattr(event, "event_type", None),
        "eventTime": _iso(getattr(event, "event_time", None)),
        "dataVersion": getattr(event, "data_version", None),
        "data": data,
    }


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def azureml_events(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    try:
        body = event_to_dict(event)
    except Exception as exc:  # noqa: BLE001 - a poison event is dropped, never retried
        log.info("ignored an undecodable Event Grid event (%s)", type(exc).__name__)
        return
    parsed, why = parse_run_event(body, services.settings().workspace)
    if parsed is None:
        log.info("ignored Event Grid event %s: %s", str(body.get("id"))[:64], why)
        return
    if not parsed.instance_id:
        log.info("ignored event for run %s: not started by this connector", parsed.job_name)
        return
    try:
        signal = StatusSignal(parsed.job_name, parsed.run_status, parsed.event_type, parsed.event_time)
        await client.raise_event(parsed.instance_id, STATUS_EVENT, signal.to_dict())
    except Exception as exc:  # noqa: BLE001 - finished or unknown instance: nothing to wake
        log.info("event for %s not delivered to instance %s: %s", parsed.job_name, parsed.instance_id, exc)
