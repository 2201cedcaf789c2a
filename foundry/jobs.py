"""One Azure ML job resource, read once: `JobView.from_rest(job)`.

The jobs API answers `{"name", "properties": {...}, "systemData": {...}}`, and a job
can hold anything (templates are edited by hand; tags by anyone with write access).
Like the azure-ai-ml entities' `_from_rest_object`, this wraps the REST dict once so
that every reader gets a name, a status, tags and sections that are what they claim
to be, instead of `.get("properties")` chains that each guard against junk their own way.

It also knows what the service writes into a job (read-only fields, its own services,
bookkeeping tags and run properties, output bindings to the run), so that a copy of a
template, or a tag-only re-PUT, carries none of it (`definition`, `update_body`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from compat import try_parse_utc
from foundry import tags as tag
from foundry.job_status import JobStatus

# What the service writes into a job it runs. Derived from the service's own answers
# (tests/recordings/README.md: the azure-ai-ml sweep recording) and the SDK (azure-ai-ml
# reads `best_child_run_id`, writes `ContentSnapshotId`).
# Resource fields that are read-only (the service's, never the caller's):
READ_ONLY_PROPERTIES = frozenset({"status", "error", "creationContext", "parentJobName"})
# `services` entries the service fills in for every job.
SERVICE_ENDPOINTS = frozenset({"Studio", "Tracking"})
# Tags the service writes (HyperDrive bookkeeping, one per generated trial, ...).
_SERVER_TAG_PREFIXES = ("_aml_system_",)
# Keys of the user `properties` map that the service writes on a run (compared lower case).
_SERVER_PROPERTY_KEYS = frozenset(
    {
        "best_child_run_id",
        "score",
        "best_metric_status",
        "best_data_container_id",
        "primary_metric_config",
        "resume_from",
        "runtemplate",
        "run_template",
        "platform",
        "platform_config",
        "generator_config",
        "hyperparameters",
        "contentsnapshotid",
        "processinfofile",
        "processstatusfile",
        "user_agent",
        "space_size",
    }
)
_SERVER_PROPERTY_PREFIXES = ("azureml.", "_azureml.", "mlflow.")
# The output the service adds to every job, bound to that run's artifact store.
_RUN_ARTIFACT_URI = "azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{name}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class JobView:
    """A job resource as read: never raises on junk, never changes the dict it wraps."""

    name: str
    props: Mapping[str, Any]  # `properties`; empty when absent or not an object
    created_at: datetime | None  # `systemData.createdAt`
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_rest(cls, job: Any) -> JobView:
        resource = _dict(job)
        name = resource.get("name")
        return cls(
            name=name if isinstance(name, str) else "",
            props=_dict(resource.get("properties")),
            # Azure writes 7 fraction digits, which 3.10's fromisoformat refuses: parse_utc reads them.
            created_at=try_parse_utc(_dict(resource.get("systemData")).get("createdAt")),
            raw=resource,
        )

    @property
    def status(self) -> JobStatus | None:
        return JobStatus.parse(self.props.get("status"))

    @property
    def job_type(self) -> str | None:
        value = self.props.get("jobType")
        return value if isinstance(value, str) else None

    @property
    def tags(self) -> dict[str, Any]:
        return _dict(self.props.get("tags"))

    @property
    def instance_id(self) -> str | None:
        """The `polysync.instanceId` tag: which run owns the job (as written; validate before use)."""
        value = self.tags.get(tag.INSTANCE)
        return value if isinstance(value, str) else None

    @property
    def is_connector_run(self) -> bool:
        """Was this job submitted by the connector (a run, never a template)?"""
        return tag.INSTANCE in self.tags

    @property
    def run_properties(self) -> dict[str, Any]:
        """The user `properties` map (`properties.properties`), where the service also writes."""
        return _dict(self.props.get("properties"))

    @property
    def outputs(self) -> dict[str, Any]:
        return _dict(self.props.get("outputs"))

    @property
    def error(self) -> dict[str, Any] | None:
        value = self.props.get("error")
        return value if isinstance(value, dict) else None

    @property
    def studio_endpoint(self) -> str | None:
        """`services.Studio.endpoint` when the service gave an https one."""
        endpoint = _dict(_dict(self.props.get("services")).get("Studio")).get("endpoint")
        return endpoint if isinstance(endpoint, str) and endpoint.startswith("https://") else None

    def section(self, key: str) -> dict[str, Any]:
        """One object-valued property (`trial`, `objective`, `limits`, ...); {} when absent or junk."""
        return _dict(self.props.get(key))

    def definition(self) -> dict[str, Any]:
        """The job's own definition, to copy into a new job: its `properties` without what
        the service wrote (read-only fields, the archive flag, its services, bookkeeping tags
        and run properties, nulls, the run's output bindings). A fresh dict."""
        props: dict[str, Any] = {
            k: _drop_nulls(copy.deepcopy(v))
            for k, v in self.props.items()
            if k not in READ_ONLY_PROPERTIES and k != "isArchived" and v is not None
        }
        _keep_user_services(props)
        user_props = {
            k: v for k, v in self.run_properties.items() if isinstance(k, str) and not _server_key(k)
        }
        props.pop("properties", None)
        if user_props:
            props["properties"] = _drop_nulls(copy.deepcopy(user_props))
        if isinstance(props.get("tags"), dict):
            props["tags"] = {
                k: v
                for k, v in props["tags"].items()
                if not (isinstance(k, str) and k.startswith(_SERVER_TAG_PREFIXES))
            }
        if "outputs" in props:
            props["outputs"] = _own_outputs(props["outputs"], self.name)
        return props

    def update_body(self, *, without: tuple[str, ...] = (), **new_tags: str) -> dict[str, Any]:
        """The body of a re-PUT of this same job that adds `new_tags` and drops the tags named in
        `without` (only tags, description, displayName, properties and isArchived may change on
        an existing job)."""
        props = {k: copy.deepcopy(v) for k, v in self.props.items() if k not in READ_ONLY_PROPERTIES}
        _keep_user_services(props)
        props["tags"] = {k: v for k, v in {**self.tags, **new_tags}.items() if k not in without}
        return {"properties": props}


def template_definition(job: JobView) -> dict[str, Any]:
    """What a run copies from its template: the template's name and own definition, without
    the service's state about the template's own run (a job without properties stays as it is:
    the sweep body builder says why it is no template)."""
    if not isinstance(job.raw.get("properties"), dict):
        return dict(job.raw)
    return {"name": job.name, "properties": job.definition()}


def _server_key(key: str) -> bool:
    lower = key.lower()
    return lower in _SERVER_PROPERTY_KEYS or lower.startswith(_SERVER_PROPERTY_PREFIXES)


def _keep_user_services(props: dict[str, Any]) -> None:
    services = props.pop("services", None)
    if isinstance(services, dict):
        user_services = {k: v for k, v in services.items() if k not in SERVICE_ENDPOINTS}
        if user_services:
            props["services"] = user_services


def _drop_nulls(value: Any) -> Any:
    """The service answers with explicit nulls (`description: null`, `logbase: null`); a new
    job states only what it defines."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _own_outputs(outputs: Any, job_name: str) -> Any:
    """Drop output URIs the service derived from the job's own name (`.../{name}/...`,
    `dcid.{name}`): reusing them would make a new job write into this job's output folder.
    The `default` output the service added for this job's run goes entirely. The service
    assigns fresh ones."""
    if not isinstance(outputs, dict) or not job_name:
        return outputs
    own = re.compile(rf"(^|[/.]){re.escape(job_name)}($|/)")
    run_artifacts = _RUN_ARTIFACT_URI.format(name=job_name)
    cleaned: dict[str, Any] = {}
    for key, out in outputs.items():
        if key == "default" and isinstance(out, dict) and out.get("uri") == run_artifacts:
            continue
        if isinstance(out, dict) and isinstance(out.get("uri"), str) and own.search(out["uri"]):
            out = {k: v for k, v in out.items() if k != "uri"}
        cleaned[key] = out
    return cleaned
