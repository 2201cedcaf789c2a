"""The Azure ML studio URL a Polysync user opens to watch the sweep."""

from __future__ import annotations

from urllib.parse import quote

from foundry.workspace import Workspace

STUDIO = "https://ml.azure.com"


def monitor_url(workspace: Workspace, job_name: str, studio_endpoint: str | None = None) -> str:
    """The job's `services.Studio.endpoint` when the service gave one, else the studio run URL."""
    if studio_endpoint:
        return studio_endpoint
    url = f"{STUDIO}/runs/{quote(job_name, safe='')}?wsid={workspace.arm_id}"
    if workspace.tenant_id:
        url += f"&tid={quote(workspace.tenant_id, safe='')}"
    return url
