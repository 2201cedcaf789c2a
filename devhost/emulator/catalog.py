"""The workspace's computes and environments: what a job may reference, and what the
`computes` and `environments` routes serve.

References are resolved as the service resolves them (Azure/azure-sdk-for-python
`sdk/ml/azure-ai-ml/tests/recordings/sweep_job/...test_sweep_job_await_completion.json`:
the SDK sent `azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:33` and the service
stored the workspace ARM id `.../workspaces/{ws}/environments/AzureML-sklearn-1.0-
ubuntu20.04-py38-cpu/versions/33`, i.e. curated environments are visible in every
workspace). ARM ids are compared whole - subscription, resource group and workspace
case-insensitively, never by their last segment alone.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .errors import ArmError, user_error

PROVIDER = "Microsoft.MachineLearningServices"

# Curated environments of the `azureml` registry: name -> highest version (1..N exist).
# The real registry's versions move on; these are fixed so tests are reproducible.
CURATED_ENVIRONMENTS: dict[str, int] = {
    "sklearn-1.5": 25,
    "lightgbm-3.3": 60,
    "acpt-pytorch-2.2-cuda12.1": 35,
    "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu": 33,
}
CURATED_REGISTRY = "azureml"
_CURATED_IMAGE = "mcr.microsoft.com/azureml/curated/{name}:{version}"
_WORKSPACE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:20240709.v1"

_WS_ID_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices"
    r"/workspaces/(?P<ws>[^/]+)/(?P<kind>computes|environments)/(?P<name>[^/]+)"
    r"(?:/versions/(?P<version>[^/]+))?/?$",
    re.IGNORECASE,
)
_REGISTRY_ENV_RE = re.compile(
    r"^azureml://registries/(?P<registry>[^/]+)/environments/(?P<name>[^/]+)/"
    r"(?P<kind>versions|labels)/(?P<ref>[^/]+)/?$",
    re.IGNORECASE,
)
_SHORT_VERSION_RE = re.compile(r"^azureml:(?P<name>[^:@/]+):(?P<version>[^:@/]+)$", re.IGNORECASE)
_SHORT_LABEL_RE = re.compile(r"^azureml:(?P<name>[^:@/]+)@(?P<label>[^:@/]+)$", re.IGNORECASE)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Catalog:
    """Computes and environments of one workspace (`workspace_id` is its ARM id)."""

    workspace_id: str
    location: str
    created: datetime
    computes: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-case name -> resource
    environments: dict[str, list[str]] = field(default_factory=dict)  # name -> versions, oldest first

    # ------------------------------------------------------------------ seeding
    def add_compute(
        self, name: str, compute_type: str = "AmlCompute", properties: dict | None = None
    ) -> dict:
        resource = {
            "id": f"{self.workspace_id}/computes/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/computes",
            "location": self.location,
            "properties": {
                "computeType": compute_type,
                "computeLocation": self.location,
                "provisioningState": "Succeeded",
                "createdOn": _iso(self.created),
                "modifiedOn": _iso(self.created),
                "isAttachedCompute": False,
                "disableLocalAuth": True,
                "properties": copy.deepcopy(properties)
                if properties is not None
                else {"vmSize": "STANDARD_DS3_V2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4}},
            },
        }
        self.computes[name.lower()] = resource
        return resource

    def add_environment(self, name: str, versions: list[str] | set[str]) -> None:
        known = self.environments.setdefault(name, [])
        for version in versions:
            if str(version) not in known:
                known.append(str(version))

    # ------------------------------------------------------------------ computes
    def compute(self, name: str) -> dict[str, Any]:
        resource = self.computes.get(name.lower())
        if resource is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{PROVIDER}/workspaces/{self.workspace_name}/computes/{name}' under resource "
                f"group '{self.resource_group}' was not found.",
            )
        return resource

    def put_compute(self, name: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Create or replace a compute (answers at once with provisioningState Succeeded)."""
        props = body.get("properties") if isinstance(body, dict) else None
        ctype = props.get("computeType") if isinstance(props, dict) else None
        if not isinstance(ctype, str) or not ctype:
            raise user_error(
                "properties.computeType is required (AmlCompute, ComputeInstance, Kubernetes, ...).",
                target="properties.computeType",
                inner_code="RequiredField",
            )
        existed = name.lower() in self.computes
        inner = props.get("properties") if isinstance(props.get("properties"), dict) else None
        resource = self.add_compute(name, ctype, inner)
        if isinstance(body.get("location"), str):
            resource["location"] = body["location"]
        return (200 if existed else 201), resource

    def compute_name(self, compute_id: str) -> str | None:
        """The workspace compute a job's `computeId` names, or None if it names none here.

        Accepts this workspace's full ARM id (compared whole), `azureml:NAME` and `NAME`."""
        if compute_id.startswith("/"):
            m = _WS_ID_RE.match(compute_id)
            if not m or m.group("kind").lower() != "computes" or m.group("version") or not self._ours(m):
                return None
            name = m.group("name")
        elif compute_id.lower().startswith("azureml:"):
            name = compute_id[len("azureml:") :]
        else:
            name = compute_id
        return self.computes[name.lower()]["name"] if name.lower() in self.computes else None

    # ------------------------------------------------------------------ environments
    def environment_versions(self, name: str) -> list[str] | None:
        if name in self.environments:
            return list(self.environments[name])
        if name in CURATED_ENVIRONMENTS:
            return [str(v) for v in range(1, CURATED_ENVIRONMENTS[name] + 1)]
        return None

    def environment_version(self, name: str, version: str) -> dict[str, Any]:
        versions = self.environment_versions(name)
        if versions is None or version not in versions:
            raise ArmError(
                404,
                "UserError",
                f"Could not find environment '{name}' version '{version}' in workspace '{self.workspace_name}'.",
                details=[{"code": "NotFoundError", "message": f"Environment {name}:{version} not found."}],
                inner_code="NotFoundError",
            )
        return self._environment_resource(name, version, versions.index(version))

    def list_environment_versions(self, name: str) -> list[dict[str, Any]]:
        """Newest first (the order the SDK asks for with `$orderBy=createdtime desc`)."""
        versions = self.environment_versions(name)
        if versions is None:
            return []
        return [self._environment_resource(name, v, i) for i, v in reversed(list(enumerate(versions)))]

    def _environment_resource(self, name: str, version: str, index: int) -> dict[str, Any]:
        curated = name in CURATED_ENVIRONMENTS
        created = _iso(self.created + timedelta(minutes=index))
        return {
            "id": f"{self.workspace_id}/environments/{name}/versions/{version}",
            "name": version,
            "type": f"{PROVIDER}/workspaces/environments/versions",
            "properties": {
                "description": "Curated environment of the azureml registry." if curated else None,
                "tags": {},
                "properties": {"azureml.labels": "latest"} if curated else {},
                "isArchived": False,
                "isAnonymous": False,
                "environmentType": "Curated" if curated else "UserCreated",
                "image": _CURATED_IMAGE.format(name=name.lower(), version=version)
                if curated
                else _WORKSPACE_IMAGE,
                "osType": "Linux",
                "autoRebuild": "Disabled",
                "provisioningState": "Succeeded",
            },
            "systemData": {
                "createdAt": created,
                "createdBy": "emulator",
                "createdByType": "Application",
                "lastModifiedAt": created,
                "lastModifiedBy": "emulator",
                "lastModifiedByType": "Application",
            },
        }

    def resolve_environment(self, env_id: str) -> str | None:
        """The canonical form the service stores for a job's `environmentId`, or None if the
        reference names no environment this workspace can use.

        `azureml:NAME:VERSION` becomes the workspace ARM id; registry ids and `@latest`
        labels are kept as sent."""
        m = _SHORT_VERSION_RE.match(env_id)
        if m:
            name, version = m.group("name"), m.group("version")
            versions = self.environment_versions(name)
            return (
                f"{self.workspace_id}/environments/{name}/versions/{version}"
                if versions and version in versions
                else None
            )
        m = _SHORT_LABEL_RE.match(env_id)
        if m:
            return (
                env_id
                if m.group("label").lower() == "latest" and self.environment_versions(m.group("name"))
                else None
            )
        m = _REGISTRY_ENV_RE.match(env_id)
        if m:
            name = m.group("name")
            if m.group("registry").lower() != CURATED_REGISTRY or name not in CURATED_ENVIRONMENTS:
                return None
            if m.group("kind").lower() == "labels":
                return env_id if m.group("ref").lower() == "latest" else None
            return env_id if m.group("ref") in (self.environment_versions(name) or []) else None
        m = _WS_ID_RE.match(env_id)
        if m and m.group("kind").lower() == "environments" and m.group("version") and self._ours(m):
            versions = self.environment_versions(m.group("name"))
            return env_id if versions and m.group("version") in versions else None
        return None

    # ------------------------------------------------------------------ helpers
    @property
    def workspace_name(self) -> str:
        return self.workspace_id.rsplit("/", 1)[1]

    @property
    def resource_group(self) -> str:
        return self.workspace_id.split("/")[4]

    def _ours(self, m: re.Match[str]) -> bool:
        parts = self.workspace_id.split("/")
        return (m.group("sub").lower(), m.group("rg").lower(), m.group("ws").lower()) == (
            parts[2].lower(),
            parts[4].lower(),
            parts[8].lower(),
        )
