"""What the sweep watcher reads from one listing of the connector's watched jobs, and which
runs it must tell. Pure: the listing comes in, decisions come out.

A job is watched while it carries the `polysyncWatch` tag with this app's task hub as its value
(set at submit, removed once its run knows the job ended), so the listing holds the jobs that are
still running plus those that ended since the last pass. Names are checked as the reconciler
checks them: a tag anyone with workspace write access can set never reaches a URL, and a job is
tied to a run only when its name is the one derived from the run's instance id (a Studio clone
keeps the tags, not the name).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from foundry import tags as tag
from foundry.job_status import JobStatus
from foundry.jobs import JobView
from foundry.names import INSTANCE_ID_RE, JOB_NAME_RE, is_job_of_instance

# The run properties a report reads (polysync.outcome.best_trial); error-like ones go too
# (polysync.failures reads every run property whose key says "error").
BEST_TRIAL_PROPERTIES = frozenset({"best_child_run_id", "score", "best_metric_status"})
# A listed ending larger than this (a huge error text, hundreds of outputs) is not carried:
# the run GETs the job as for an Event Grid hint. Event payloads are kept in the run's history.
MAX_ENDING_CHARS = 8192


@dataclass(frozen=True)
class WatchedJob:
    """One listed job of a run: its name, the run's instance id and the job's status now."""

    name: str
    instance_id: str
    status: str
    resource: dict[str, Any]

    @property
    def ended(self) -> bool:
        status = JobStatus.parse(self.status)
        return status is not None and status.is_terminal

    def ending(self) -> dict[str, Any] | None:
        """For a job listed ended: what its run's report reads of it (polysync.outcome.snapshot:
        status, error, outputs, the objective's metric, the studio endpoint, and of the run
        properties the best trial and the error-like entries), so the run needs no GET to confirm
        an ending the watcher read itself. None while it runs, or past MAX_ENDING_CHARS (the run
        GETs then): it travels in the run's history. Nothing else of the job goes: not its tags,
        its trial (command, environment variables) or the service's other properties. What does
        go is what any workspace reader sees in the studio, and no secret: the outputs are the
        job's output bindings (datastore URIs; a run reports a Secret one masked, as after a
        GET), and a run's Secret Inputs reach its job as Key Vault references, not values. The
        watcher's own history carries the whole listed resource already (`unwatch_job`)."""
        if not self.ended:
            return None
        job = JobView.from_rest(self.resource)
        props: dict[str, Any] = {"status": self.status}
        for key in ("error", "outputs"):
            if key in job.props:
                props[key] = job.props[key]
        metric = job.section("objective").get("primaryMetric")
        if metric is not None:
            props["objective"] = {"primaryMetric": metric}
        if job.studio_endpoint:
            props["services"] = {"Studio": {"endpoint": job.studio_endpoint}}
        reported = {
            k: v
            for k, v in job.run_properties.items()
            if isinstance(k, str) and (k in BEST_TRIAL_PROPERTIES or "error" in k.lower())
        }
        if reported:
            props["properties"] = reported
        thin = {"name": self.name, "properties": props}
        return thin if len(json.dumps(thin, default=str)) <= MAX_ENDING_CHARS else None


def watched_jobs(resources: Iterable[Any], task_hub: str | None) -> list[WatchedJob]:
    """The listed jobs watched for this task hub whose name and instance tag belong together."""
    out: list[WatchedJob] = []
    for resource in resources:
        if not isinstance(resource, dict):
            continue
        job = JobView.from_rest(resource)
        if job.tags.get(tag.WATCH) != (task_hub or ""):
            continue  # another app's (or task hub's) job
        instance = job.instance_id
        if not (
            isinstance(job.name, str)
            and JOB_NAME_RE.fullmatch(job.name)
            and isinstance(instance, str)
            and INSTANCE_ID_RE.fullmatch(instance)
            and is_job_of_instance(job.name, instance)
        ):
            continue
        status = job.props.get("status")
        if not isinstance(status, str) or not status:
            continue
        out.append(WatchedJob(job.name, instance, status, resource))
    return out


def news_for_run(job: WatchedJob, last_seen: str | None, *, events: bool) -> bool:
    """Must the run hear about this status? Only when it changed since the last pass (or the
    job is new to the watcher). With Event Grid events on, progress reaches the run by event and
    only what it must act on is repeated: an ending, or a stall (NotResponding, Paused, Unknown),
    so a lost or late terminal event costs at most one watcher period. Without events, the
    watcher is how the run hears anything, so every change is news."""
    if last_seen == job.status:
        return False
    if not events:
        return True
    status = JobStatus.parse(job.status)
    return status is not None and (status.is_terminal or status.is_stalled)
