"""Azure ML Event Grid events for job status changes, in either delivery schema.

Shapes from the Event Grid documentation of Azure ML as a source
(MicrosoftDocs/azure-docs `articles/event-grid/event-schema-machine-learning.md`):
the Event Grid schema (`topic`, `eventType`, `eventTime`, `dataVersion`,
`metadataVersion`) and the CloudEvents 1.0 schema (`source`, `type`, `time`,
`specversion`), which a subscription chooses with its `eventDeliverySchema`. `data`
carries experimentId, experimentName, runId, runType, runTags, runProperties, and
runStatus on RunStatusChanged; RunCompleted is raised for successful completion only.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timezone
from typing import Any

EVENT_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
EVENT_COMPLETED = "Microsoft.MachineLearningServices.RunCompleted"
EVENT_GRID_SCHEMA = "EventGridSchema"
CLOUD_EVENT_SCHEMA = "CloudEventSchemaV1_0"
SCHEMAS = (EVENT_GRID_SCHEMA, CLOUD_EVENT_SCHEMA)
_UTC = timezone.utc  # Python 3.10 has no datetime.UTC
RUN_TYPES = {"Sweep": "hyperdrive", "Command": "azureml.scriptrun", "Pipeline": "azureml.PipelineRun"}


def iso(dt: datetime) -> str:
    return dt.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def experiment_id(workspace_id: str, experiment: str) -> str:
    """A stable id per experiment name (the service's are GUIDs, stable per experiment)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{workspace_id}/experiments/{experiment}"))


def run_event(
    *,
    workspace_id: str,
    job_name: str,
    props: dict[str, Any],
    event_type: str,
    when: datetime,
    schema: str = EVENT_GRID_SCHEMA,
    run_type: str | None = None,
) -> dict[str, Any]:
    """One event for run `job_name` whose resource properties are `props` (`run_type`: the run's
    type when it is not a job's own, e.g. a sweep trial's `azureml.scriptrun`)."""
    experiment = str(props.get("experimentName") or "Default")
    exp_id = experiment_id(workspace_id, experiment)
    job_type = props.get("jobType")
    data: dict[str, Any] = {
        "experimentId": exp_id,
        "experimentName": experiment,
        "runId": job_name,
        "runType": run_type or RUN_TYPES.get(str(job_type), f"azureml.{str(job_type).lower()}"),
        "runTags": copy.deepcopy(props.get("tags") or {}),
        "runProperties": copy.deepcopy(props.get("properties") or {}),
    }
    if event_type == EVENT_STATUS_CHANGED:
        data["runStatus"] = props.get("status")
    subject = f"experiments/{exp_id}/runs/{job_name}"
    if schema == CLOUD_EVENT_SCHEMA:
        return {
            "id": str(uuid.uuid4()),
            "source": workspace_id,
            "subject": subject,
            "type": event_type,
            "time": iso(when),
            "data": data,
            "specversion": "1.0",
        }
    return {
        "id": str(uuid.uuid4()),
        "topic": workspace_id,
        "subject": subject,
        "eventType": event_type,
        "eventTime": iso(when),
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
    }
