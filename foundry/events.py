"""Azure ML Event Grid events -> the run they concern.

Events are hints (at-least-once, unordered, late): this only extracts which job
changed and to what, for the orchestrator to confirm with a GET.  It never raises,
whatever arrives, because Event Grid would only redeliver a poison event.

Both delivery schemas are read: Event Grid (`topic`, `eventType`, `eventTime`) and
CloudEvents 1.0 (`source`, `type`, `time`). Data keys are read case-insensitively:
the service's events have been published with camelCase (`runId`, `runTags`,
`runStatus`) and PascalCase (`RunId`, `RunTags`, `RunStatus`) keys
(tests/recordings/README.md). An event must name this workspace as its topic/source,
and is placed on a run only when its run is that run's own job (a sweep's trials carry
their parent's tags but are other runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from foundry import tags as tag
from foundry.job_status import JobStatus
from foundry.names import INSTANCE_ID_RE, JOB_NAME_RE, is_job_of_instance
from foundry.workspace import Workspace

RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
RUN_COMPLETED = "Microsoft.MachineLearningServices.RunCompleted"


@dataclass(frozen=True)
class RunEvent:
    job_name: str
    instance_id: str | None
    run_status: str
    event_type: str
    event_time: str | None
    event_id: str | None


def _str(value: Any, limit: int = 1024) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _field(mapping: Mapping[str, Any], *names: str) -> Any:
    """The first of `names` present in `mapping`, compared case-insensitively."""
    for name in names:
        if name in mapping:
            return mapping[name]
    folded = {str(k).lower(): v for k, v in mapping.items()}
    for name in names:
        if name.lower() in folded:
            return folded[name.lower()]
    return None


def _parse(event: Any, workspace: Workspace) -> tuple[RunEvent | None, str | None]:
    if not isinstance(event, dict):
        return None, "event is not a JSON object"
    event_type = _field(event, "eventType", "type")
    if event_type not in (RUN_STATUS_CHANGED, RUN_COMPLETED):
        return None, f"event type {str(event_type)[:100]!r} is not a run status event"
    topic = _field(event, "topic", "source")
    if not isinstance(topic, str) or not topic:
        return None, "event names no topic (workspace); cannot tell whose run it is"
    if topic.rstrip("/").lower() != workspace.arm_id.lower():
        return None, "event is for another workspace"
    data = event.get("data")
    if not isinstance(data, dict):
        return None, "event has no data object"
    job_name = _str(_field(data, "runId"), 255)
    if job_name is None:
        subject = _str(event.get("subject"))
        if subject and "/runs/" in subject:
            job_name = subject.rsplit("/runs/", 1)[1]
    if not job_name or not JOB_NAME_RE.fullmatch(job_name):
        return None, "event has no valid runId"
    if event_type == RUN_COMPLETED:
        status = "Completed"
    else:
        status = JobStatus.parse(_field(data, "runStatus"))
        if status is None:
            return None, "event has no recognised runStatus"
    tags = _field(data, "runTags")
    instance = tags.get(tag.INSTANCE) if isinstance(tags, dict) else None
    if not (isinstance(instance, str) and INSTANCE_ID_RE.fullmatch(instance)):
        instance = None
    elif not is_job_of_instance(job_name, instance):
        return None, f"run {job_name} carries instance {instance}'s tag but is not its job (a trial?)"
    event_time = _field(event, "eventTime", "time")
    return (
        RunEvent(
            job_name=job_name,
            instance_id=instance,
            run_status=status,
            event_type=event_type,
            event_time=_str(event_time, 64),
            event_id=_str(event.get("id"), 256),
        ),
        None,
    )


def parse_run_event(event: Any, workspace: Workspace) -> tuple[RunEvent | None, str | None]:
    """`(RunEvent, None)` for a run status event of this workspace, else `(None, reason)`."""
    try:
        return _parse(event, workspace)
    except Exception as exc:  # noqa: BLE001 - documented: never raises on any input
        return None, f"malformed event ({type(exc).__name__})"
