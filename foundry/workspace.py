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
_SEG = r"[A-Za-z0-9][A-Za-z0-9\-_.]{0,254}"
_WS_ENV_PATH_RE = re.compile(rf"(?P<name>{_SEG})/versions/(?P<version>[A-Za-z0-9\-_.]{{1,64}})")
_REGISTRY_ENV_RE = re.compile(
    rf"azureml://registries/{_SEG}/environments/{_SEG}/(versions|labels)/[A-Za-z0-9\-_.]{{1,64}}",
    re.IGNORECASE,
)
# Any ARM resource id: how a compute may be named before the workspace is known.
_ARM_RESOURCE_ID_RE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+(/[^/]+/[^/]+)+$", re.IGNORECASE
)
COMPUTE_NAME_RULE = (
    "AI Foundry Compute Name must be a compute name (letters, digits, '-', '_') or a compute ARM id"
)
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

    def owns(self, arm_id: str, collection: str) -> str | None:
        """The path after `{this workspace}/{collection}/` when `arm_id` lies inside this
        workspace (subscription, resource group, provider and name compared whole,
        case-insensitively as ARM does), else None."""
        prefix = f"{self.arm_id}/{collection}/".lower()
        if not arm_id.lower().startswith(prefix):
            return None
        return arm_id[len(prefix) :]

    def compute_id(self, name: str) -> str:
        """A compute ARM id from a bare name, `azureml:name`, or this workspace's compute ARM id.

        An ARM id of a compute in any other workspace, resource group or subscription is
        refused: a run's compute must be one the workspace owns."""
        value = _without_azureml((name or "").strip())
        if value.startswith("/"):
            rest = self.owns(value, "computes")
            if rest is None or not JOB_NAME_RE.fullmatch(rest):
                raise ValueError(
                    "AI Foundry Compute Name must be a compute of the configured workspace: give its name, "
                    "or its ARM id under this workspace"
                )
            return f"{self.arm_id}/computes/{rest}"
        if not JOB_NAME_RE.fullmatch(value):
            raise ValueError(COMPUTE_NAME_RULE)
        return f"{self.arm_id}/computes/{value}"

    def environment_id(self, name: str) -> str:
        """An environment reference for `trial.environmentId`.

        `name:version` becomes the versioned ARM id in this workspace; this workspace's
        environment ARM ids are kept; `name@label` is sent as `azureml:name@label`; an
        Azure ML registry environment (`azureml://registries/{registry}/environments/{name}/
        versions/{v}` or `/labels/{label}`, how curated environments are named) is kept.
        Anything else (another workspace's id, query strings, `..`) is refused."""
        value = (name or "").strip()
        if value.lower().startswith("azureml:") and not value.lower().startswith("azureml://"):
            value = value[len("azureml:") :]
        if value.lower().startswith("azureml://"):
            if not _REGISTRY_ENV_RE.fullmatch(value):
                raise ValueError(
                    "AI Foundry Environment Name: a registry environment must read "
                    "azureml://registries/<registry>/environments/<name>/versions/<version> (or /labels/<label>)"
                )
            return value
        if value.startswith("/"):
            rest = self.owns(value, "environments")
            m = _WS_ENV_PATH_RE.fullmatch(rest or "")
            if m is None:
                raise ValueError(
                    "AI Foundry Environment Name must be an environment of the configured workspace "
                    "(name:version, name@latest or its ARM id under this workspace) or an Azure ML "
                    "registry environment"
                )
            return f"{self.arm_id}/environments/{m.group('name')}/versions/{m.group('version')}"
        m = _ENV_VERSION_RE.fullmatch(value)
        if m:
            return f"{self.arm_id}/environments/{m.group('name')}/versions/{m.group('version')}"
        if _ENV_LABEL_RE.fullmatch(value):
            return f"azureml:{value}"
        raise ValueError(
            "AI Foundry Environment Name must be 'name:version', 'name@latest', an environment ARM id "
            "of this workspace or an azureml://registries/... reference"
        )


def _without_azureml(value: str) -> str:
    return value[len("azureml:") :] if value.lower().startswith("azureml:") else value


def compute_reference_problem(value: str) -> str | None:
    """Why `value` names no compute in any workspace, else None: the check a request gets
    before its compute is compared with the configured workspace (`Workspace.compute_id`)."""
    bare = _without_azureml(value.strip())
    if JOB_NAME_RE.fullmatch(bare) or (_ARM_RESOURCE_ID_RE.fullmatch(bare) and ".." not in bare):
        return None
    return COMPUTE_NAME_RULE


def reference_errors(
    compute: str | None,
    environment: str | None,
    command: str | None,
    workspace: Workspace,
    *,
    allow_code: bool,
) -> list[tuple[str, str]]:
    """(attribute, message) for each compute/environment reference that does not stay in
    the workspace, and for Command/Environment overrides when SWEEP_ALLOW_CODE_OVERRIDES is off."""
    problems: list[tuple[str, str]] = []
    if compute:
        try:
            workspace.compute_id(compute)
        except ValueError as exc:
            problems.append(("compute_name", str(exc)))
    if environment:
        if not allow_code:
            problems.append(("environment_name", _OVERRIDES_OFF))
        else:
            try:
                workspace.environment_id(environment)
            except ValueError as exc:
                problems.append(("environment_name", str(exc)))
    if command and not allow_code:
        problems.append(("command", _OVERRIDES_OFF))
    return problems


_OVERRIDES_OFF = (
    "overrides of the command and environment are turned off on this app (SWEEP_ALLOW_CODE_OVERRIDES=false); "
    "leave the attribute out so the template's own is used"
)
