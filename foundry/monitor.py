"""The Azure ML studio URL a Polysync user opens to watch the sweep."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from foundry.workspace import Workspace

STUDIO = "https://ml.azure.com"


def monitor_url(job: dict[str, Any] | None, workspace: Workspace, job_name: str) -> str:
    """`properties.services.Studio.endpoint` when the service gives one, else the studio run URL."""
    props = job.get("properties") if isinstance(job, dict) else None
    services = props.get("services") if isinstance(props, dict) else None
    studio = services.get("Studio") if isinstance(services, dict) else None
    endpoint = studio.get("endpoint") if isinstance(studio, dict) else None
    if isinstance(endpoint, str) and endpoint.startswith("https://"):
        return endpoint
    url = f"{STUDIO}/runs/{quote(job_name, safe='')}?wsid={workspace.arm_id}"
    if workspace.tenant_id:
        url += f"&tid={quote(workspace.tenant_id, safe='')}"
    return url
