"""What the service itself writes into a job it accepted: status, studio service,
defaults, output URIs and - for sweeps - the HyperDrive bookkeeping tags and
properties, at creation, when the trials are generated and at completion.

Source: the service's own answers recorded by Azure/azure-sdk-for-python
(`sdk/ml/azure-ai-ml/tests/recordings/sweep_job/e2etests/test_sweep_job.pyTestSweepJob
test_sweep_job_await_completion.json`, committed in part under tests/recordings/):
the PUT answer already carries the `_aml_system_*` tags and the properties
primary_metric_config, resume_from, runTemplate, azureml.runsource, platform,
ContentSnapshotId (with a code snapshot) and user_agent; a later GET adds space_size,
`_aml_system_all_jobs_generated: "true"` and one `_aml_system_{job}_{k}` tag per trial;
samplingAlgorithm comes back with `seed`, `logbase` and `rule`; a `default` output bound to
`azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{job}` is added. A finished
sweep's properties name the best trial: best_child_run_id, score, best_metric_status,
best_data_container_id (`dcid.{best trial}`).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .trials import Trial, parameters_tag, space_size

SYSTEM_TAG_PREFIX = "_aml_system_"
USER_AGENT = "managementfrontend/emulator"
DEFAULT_OUTPUT_URI = "azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{job}"
OUTPUT_URI = "azureml://datastores/workspaceblobstore/paths/azureml/{job}/{output}/"
# Keys of `properties.properties` the service writes on a sweep.
SWEEP_PROPERTY_KEYS = (
    "primary_metric_config",
    "resume_from",
    "runTemplate",
    "azureml.runsource",
    "platform",
    "ContentSnapshotId",
    "user_agent",
    "space_size",
    "best_child_run_id",
    "score",
    "best_metric_status",
    "best_data_container_id",
)
_NULL_DEFAULTS = ("description", "identity", "componentId", "notificationSetting", "secretsConfiguration")
_ISO_MINUTES_RE = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def studio_endpoint(workspace_id: str, job: str) -> str:
    """The service's Studio URL: `wsid` is `/subscriptions/{s}/resourcegroups/{rg}/workspaces/{ws}`."""
    parts = workspace_id.split("/")
    return f"https://ml.azure.com/runs/{job}?wsid=/subscriptions/{parts[2]}/resourcegroups/{parts[4]}/workspaces/{parts[8]}"


def on_create(
    job: str, props: dict[str, Any], *, workspace_id: str, location: str
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Fill in what the service writes at creation. Returns the output URIs it assigned
    and the outputs it added (so a re-PUT echoing them back changes nothing)."""
    props["status"] = "NotStarted"
    for key in _NULL_DEFAULTS:
        props.setdefault(key, None)
    props["services"] = {
        "Studio": {
            "jobServiceType": "Studio",
            "port": None,
            "endpoint": studio_endpoint(workspace_id, job),
            "status": None,
            "errorMessage": None,
            "properties": None,
            "nodes": None,
        }
    }
    props.setdefault("inputs", {})
    outputs = props.get("outputs") if isinstance(props.get("outputs"), dict) else {}
    props["outputs"] = outputs
    assigned: dict[str, str] = {}
    added: dict[str, dict[str, Any]] = {}
    for name, out in outputs.items():
        if isinstance(out, dict) and not out.get("uri"):
            out["uri"] = assigned[name] = OUTPUT_URI.format(job=job, output=name)
    if "default" not in outputs:
        outputs["default"] = added["default"] = {
            "description": None,
            "uri": DEFAULT_OUTPUT_URI.format(job=job),
            "assetName": None,
            "assetVersion": None,
            "mode": "ReadWriteMount",
            "autoDeleteSetting": None,
            "jobOutputType": "uri_folder",
        }
        assigned["default"] = outputs["default"]["uri"]
    if props.get("jobType") == "Sweep":
        _sweep_on_create(job, props, workspace_id=workspace_id, location=location)
    return assigned, added


def _minutes(duration: Any) -> int | None:
    m = _ISO_MINUTES_RE.match(str(duration or ""))
    if not m or not any(m.groups()):
        return None
    hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return hours * 60 + minutes + seconds // 60


def _sweep_on_create(job: str, props: dict[str, Any], *, workspace_id: str, location: str) -> None:
    sampling = props["samplingAlgorithm"]
    sampling.setdefault("seed", None)
    if sampling.get("samplingAlgorithmType") == "Random":
        sampling.setdefault("logbase", None)
        sampling.setdefault("rule", "Random")
    props.setdefault("earlyTermination", None)
    props.setdefault("queueSettings", None)
    limits = props.setdefault("limits", {"jobLimitsType": "Sweep"})
    limits.setdefault("trialTimeout", None)
    trial = props["trial"]
    trial.setdefault("environmentVariables", {})
    trial.setdefault("distribution", None)
    resources = trial.get("resources") if isinstance(trial.get("resources"), dict) else {}
    trial["resources"] = {
        "instanceCount": 1,
        **{k: None for k in ("maxInstanceCount", "instanceType", "locations", "properties", "dockerArgs")},
        **resources,
    }
    objective = props["objective"]
    metric_config = json.dumps(
        {"name": objective["primaryMetric"], "goal": objective["goal"].lower()}, separators=(",", ":")
    )
    policy = props.get("earlyTermination") or {}
    policy_config = {"name": policy.get("policyType", "Default"), "properties": {}}
    for key in (
        "evaluationInterval",
        "delayEvaluation",
        "slackFactor",
        "slackAmount",
        "truncationPercentage",
    ):
        if key in policy:
            policy_config["properties"][re.sub(r"([A-Z])", r"_\1", key).lower()] = policy[key]
    generator = {
        "name": str(sampling["samplingAlgorithmType"]).upper(),
        "parameter_space": props["searchSpace"],
        "properties": {k: sampling.get(k) for k in ("rule", "logbase", "seed") if k in sampling},
    }
    parts = workspace_id.split("/")
    environment = str(trial.get("environmentId") or "")
    env_match = re.search(r"/environments/([^/]+)/versions/([^/]+)$", environment)
    platform = {
        "ServiceAddress": f"https://{location}.api.azureml.ms",
        "SubscriptionId": parts[2],
        "ResourceGroupName": parts[4],
        "WorkspaceName": parts[8],
        "ExperimentName": props.get("experimentName") or "Default",
        "Definition": {
            "Overrides": {
                "Command": trial.get("command"),
                "Target": str(props.get("computeId") or "").rsplit("/", 1)[-1] or None,
                "Environment": {
                    "Name": env_match.group(1) if env_match else None,
                    "Version": env_match.group(2) if env_match else None,
                },
            },
            "DisplayName": props.get("displayName"),
        },
        "ParentRunId": job,
    }
    tags = props.setdefault("tags", {})
    max_total = limits.get("maxTotalTrials")
    system_tags = {
        "max_concurrent_jobs": str(limits.get("maxConcurrentTrials") or max_total or 1),
        "max_total_jobs": str(max_total or 1),
        "max_duration_minutes": str(_minutes(limits.get("timeout")))
        if _minutes(limits.get("timeout"))
        else None,
        "policy_config": json.dumps(policy_config, separators=(",", ":")),
        "generator_config": json.dumps(generator, separators=(",", ":")),
        "primary_metric_config": metric_config,
        "platform_config": json.dumps(platform, separators=(",", ":")),
        "resume_child_runs": "null",
        "all_jobs_generated": "false",
        "cancellation_requested": "false",
    }
    tags.update({SYSTEM_TAG_PREFIX + k: v for k, v in system_tags.items() if v is not None})
    service_props = {
        "primary_metric_config": metric_config,
        "resume_from": "null",
        "runTemplate": "HyperDrive",
        "azureml.runsource": "hyperdrive",
        "platform": "AML",
        "user_agent": USER_AGENT,
    }
    if trial.get("codeId"):
        service_props["ContentSnapshotId"] = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{workspace_id}/{job}/snapshot")
        )
    props.setdefault("properties", {}).update(service_props)


def on_trials_generated(job: str, props: dict[str, Any], trials: list[Trial]) -> None:
    tags = props.setdefault("tags", {})
    tags[SYSTEM_TAG_PREFIX + "all_jobs_generated"] = "true"
    for trial in trials:
        tags[f"{SYSTEM_TAG_PREFIX}{trial.run_id}"] = parameters_tag(trial)
    props.setdefault("properties", {})["space_size"] = space_size(props.get("searchSpace") or {})


def on_cancel_requested(props: dict[str, Any]) -> None:
    if props.get("jobType") == "Sweep":
        props.setdefault("tags", {})[SYSTEM_TAG_PREFIX + "cancellation_requested"] = "true"


def on_sweep_completed(props: dict[str, Any], best: Trial, score: float) -> None:
    props.setdefault("properties", {}).update(
        {
            "best_child_run_id": best.run_id,
            "score": repr(score),
            "best_metric_status": "Succeeded",
            "best_data_container_id": f"dcid.{best.run_id}",
        }
    )


def is_service_tag(key: str) -> bool:
    return key.startswith(SYSTEM_TAG_PREFIX)
