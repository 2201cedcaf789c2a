"""The run-history data plane the SDK reaches through the workspace's discovery URL:
`Run` documents for jobs and their trials, the children listing, and the PATCH the SDK
uses for `jobs.update`, `archive` and `restore`.

Paths and shapes follow the SDK's generated run-history client
(azure-ai-ml `_restclient/runhistory/operations/_runs_operations.py`: `get`,
`get_child`, `add_or_modify_by_experiment_name`; models `Run`, `PaginatedRunList`,
`CreateRun`), which is the run-history spec in Azure/azure-rest-api-specs
`specification/machinelearningservices/data-plane/RunHistory`. The children listing
honours `$top` (a cap on the whole result) and pages with `$continuationtoken` /
`nextLink` past `children_page_size`; the SDK reads only the first page.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from .events import RUN_TYPES, experiment_id, iso
from .jobs import Job, decode_skip_token, encode_skip_token
from .trials import Trial, trial_properties, trial_tags

_CREATED_BY = {"userObjectId": None, "userTenantId": None, "userName": "emulator", "upn": None}


def _uuid(workspace_id: str, run_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{workspace_id}/runs/{run_id}"))


def job_run(job: Job, workspace_id: str) -> dict[str, Any]:
    """A job as run history describes it."""
    props = job.props
    experiment = str(props.get("experimentName") or "Default")
    system = job.resource.get("systemData") or {}
    compute = str(props.get("computeId") or "").rsplit("/", 1)[-1] or None
    return {
        "runNumber": job.seq,
        "rootRunId": job.name,
        "createdUtc": system.get("createdAt"),
        "createdBy": _CREATED_BY,
        "lastModifiedUtc": system.get("lastModifiedAt"),
        "runUuid": _uuid(workspace_id, job.name),
        "rootRunUuid": _uuid(workspace_id, job.name),
        "parentRunUuid": None,
        "runId": job.name,
        "parentRunId": None,
        "experimentId": experiment_id(workspace_id, experiment),
        "status": props.get("status"),
        "displayName": props.get("displayName"),
        "description": props.get("description"),
        "hidden": bool(props.get("isArchived")),
        "runType": RUN_TYPES.get(str(props.get("jobType")), f"azureml.{str(props.get('jobType')).lower()}"),
        "properties": dict(props.get("properties") or {}),
        "tags": dict(props.get("tags") or {}),
        "target": compute,
        "compute": {"target": compute, "targetType": "AmlCompute"} if compute else None,
        "dataContainerId": f"dcid.{job.name}",
        "services": {},
    }


def trial_run(trial: Trial, parent: Job, workspace_id: str, now: datetime) -> dict[str, Any]:
    """A sweep trial (a child run of the sweep)."""
    props = parent.props
    experiment = str(props.get("experimentName") or "Default")
    compute = str(props.get("computeId") or "").rsplit("/", 1)[-1] or None
    start, end = trial.times_at(now)
    return {
        "runNumber": trial.number + 1,
        "rootRunId": parent.name,
        "createdUtc": iso(trial.created),
        "createdBy": _CREATED_BY,
        "lastModifiedUtc": iso(end or start or trial.created),
        "runUuid": _uuid(workspace_id, trial.run_id),
        "rootRunUuid": _uuid(workspace_id, parent.name),
        "parentRunUuid": _uuid(workspace_id, parent.name),
        "runId": trial.run_id,
        "parentRunId": parent.name,
        "experimentId": experiment_id(workspace_id, experiment),
        "status": trial.status_at(now),
        "startTimeUtc": iso(start) if start else None,
        "endTimeUtc": iso(end) if end else None,
        "displayName": trial.run_id,
        "description": None,
        "hidden": False,
        "runType": "azureml.scriptrun",
        "properties": trial_properties(),
        "tags": trial_tags(trial),
        "target": compute,
        "compute": {"target": compute, "targetType": "AmlCompute"} if compute else None,
        "dataContainerId": f"dcid.{trial.run_id}",
        "services": {},
    }


def children_page(
    runs: list[dict[str, Any]], query: dict[str, str], *, page_size: int, next_url: str
) -> dict[str, Any]:
    """One page of `GET .../runs/{id}/children`: `$top` caps the whole listing."""
    top_raw = query.get("$top")
    try:
        top = int(top_raw) if top_raw else None
    except ValueError:
        top = None
    token = query.get("$continuationtoken") or query.get("$continuationToken")
    offset = decode_skip_token(token) if token else 0
    limit = len(runs) if top is None else min(len(runs), top)
    end = min(limit, offset + page_size)
    page = runs[offset:end]
    more = end < limit
    continuation = encode_skip_token(end) if more else None
    return {
        "value": page,
        "continuationToken": continuation,
        "nextLink": f"{next_url}?$continuationtoken={continuation}" if more else None,
    }
