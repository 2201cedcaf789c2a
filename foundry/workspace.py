"""The Azure ML workspace the app talks to, parsed once from its ARM id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from foundry.names import JOB_NAME_RE

PROVIDER = "Microsoft.MachineLearningServices"
_ARM_ID_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/?$",
    re.IGNORECASE,
)
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.()]{0,127}$")
_ENV_VERSION_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9\-_.]{0,254}):(?P<version>[A-Za-z0-9\-_.]{1,64})$"
)
_ENV_LABEL_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9\-_.]{0,254})@(?P<label>[A-Za-z0-9\-_.]{1,64})$")
EXPECTED = (
    f"/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/{PROVIDER}/workspaces/<name>"
)


@dataclass(frozen=True)
class Workspace:
    """Subscription, resource group and name of one workspace (plus tenant for URLs)."""

    subscription_id: str
    resource_group: str
    name: str
    tenant_id: str | None = None

    @classmethod
    def parse(cls, arm_id: str, tenant_id: str | None = None) -> Workspace:
        """Parse `AZUREML_WORKSPACE_ID`; the provider segment is matched case-insensitively."""
        m = _ARM_ID_RE.match((arm_id or "").strip())
        if not m or not all(_SEGMENT_RE.match(m.group(g)) for g in ("sub", "rg", "ws")):
            raise ValueError(f"AZUREML_WORKSPACE_ID must be a workspace ARM id of the form {EXPECTED}")
        return cls(m.group("sub"), m.group("rg"), m.group("ws"), tenant_id or None)

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/workspaces/{self.name}"
        )

    @property
    def jobs_path(self) -> str:
        """The URL path of the workspace (URL-quoted segments); jobs live under `/jobs`."""
        return (
            f"/subscriptions/{quote(self.subscription_id, safe='')}"
            f"/resourceGroups/{quote(self.resource_group, safe='')}"
            f"/providers/{PROVIDER}/workspaces/{quote(self.name, safe='')}"
        )

    def compute_id(self, name: str) -> str:
        """A compute ARM id from a bare name, `azureml:name`, or a full ARM id (kept)."""
        value = (name or "").strip()
        if value.lower().startswith("azureml:"):
            value = value[len("azureml:") :]
        if value.startswith("/subscriptions/"):
            return value
        if not JOB_NAME_RE.fullmatch(value):
            raise ValueError(
                "AI Foundry Compute Name must be a compute name (letters, digits, '-', '_') "
                "or a compute ARM id"
            )
        return f"{self.arm_id}/computes/{value}"

    def environment_id(self, name: str) -> str:
        """An environment reference for `trial.environmentId`.

        `name:version` becomes the versioned ARM id; ARM ids and registry references
        (`azureml://registries/...`) are kept; `name@label` is sent as `azureml:name@label`.
        """
        value = (name or "").strip()
        if value.startswith("azureml://") or value.startswith("/subscriptions/"):
            return value
        if value.lower().startswith("azureml:"):
            value = value[len("azureml:") :]
            if value.startswith("/subscriptions/"):
                return value
        m = _ENV_VERSION_RE.fullmatch(value)
        if m:
            return f"{self.arm_id}/environments/{m.group('name')}/versions/{m.group('version')}"
        if _ENV_LABEL_RE.fullmatch(value):
            return f"azureml:{value}"
        raise ValueError(
            "AI Foundry Environment Name must be 'name:version', 'name@latest', an environment ARM id "
            "or an azureml://registries/... reference"
        )
