"""The workspace's jobs: creation, re-PUT, listing, cancel, and each submitted job's
lifecycle on the shared clock (NotStarted -> Queued -> Running -> Finalizing ->
Completed/Failed, or CancelRequested -> Canceled), with its trials and events.

Jobs seeded as templates (`add_job`) are resources as the service returned them and
never change by themselves. Knobs for a submitted job's timing and outcome are read
from its tags at creation (docs/emulator.md, "Lifecycle").
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from devhost.clock import Clock, TimerHandle

from . import service_state
from .catalog import Catalog
from .definition import MUTABLE, changed_fields, comparable
from .errors import ArmError, user_error
from .events import EVENT_COMPLETED, EVENT_STATUS_CHANGED, iso
from .trials import TRIAL_RUN_TYPE, SimulatedTrials, Trial, TrialBook, trial_event_run
from .validation import JOB_TYPES, normalize_sweep, validate_command, validate_name, validate_sweep

if TYPE_CHECKING:
    from .rehearsals import Rehearsals, RehearsedSweep

JOB_RESOURCE_TYPE = "Microsoft.MachineLearningServices/workspaces/jobs"
TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
VIEWS = {"activeonly": "ActiveOnly", "archivedonly": "ArchivedOnly", "all": "All"}


class Emit(Protocol):
    def __call__(
        self,
        job_name: str,
        props: dict[str, Any],
        event_type: str,
        when: datetime,
        *,
        run_type: str | None = None,
    ) -> None: ...


@dataclass
class Knobs:
    duration: float = 300.0
    queue: float = 30.0
    metrics: tuple[str, ...] = ("accuracy", "loss")
    all_fail: bool = False
    forever: bool = False

    @classmethod
    def from_tags(cls, tags: Any) -> Knobs:
        tags = tags if isinstance(tags, dict) else {}

        def num(key: str, default: float) -> float:
            try:
                return max(0.0, float(tags.get(key, default)))
            except (TypeError, ValueError):
                return default

        metrics = tags.get("emulator.loggedMetrics", "accuracy,loss")
        return cls(
            duration=num("emulator.durationSeconds", 300.0),
            queue=num("emulator.queueSeconds", 30.0),
            metrics=tuple(m.strip() for m in str(metrics).split(",") if m.strip()),
            all_fail=str(tags.get("emulator.trialOutcome", "ok")).strip().lower() == "allfail",
            forever=str(tags.get("emulator.runForever", "")).strip().lower() == "true",
        )


@dataclass
class Job:
    name: str
    resource: dict[str, Any]
    seq: int
    submitted: bool
    definition: dict[str, Any]
    knobs: Knobs = field(default_factory=Knobs)
    timers: list[TimerHandle] = field(default_factory=list)
    service_uris: dict[str, str] = field(default_factory=dict)
    service_added: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: dict[str, Any] | None = None  # the body of the PUT that created it, as the client sent it
    rehearsal: RehearsedSweep | None = None  # run for real on this machine (rehearsals.py)
    cache: bytes | None = None
    # (when, status) of every status change: what tests and benchmarks measure detection from
    # (systemData.lastModifiedAt also moves with tag edits)
    transitions: list[tuple[datetime, str]] = field(default_factory=list)

    def encoded(self) -> bytes:
        """JSON of the resource, cached until the next change (call with the book's lock held)."""
        if self.cache is None:
            self.cache = json.dumps(self.resource).encode()
        return self.cache

    @property
    def props(self) -> dict[str, Any]:
        return self.resource["properties"]

    @property
    def status(self) -> str:
        return self.props.get("status", "Unknown")

    def touch(self, now: datetime, by: str = "emulator") -> None:
        self.cache = None
        system = self.resource.setdefault("systemData", {})
        system["lastModifiedAt"] = iso(now)
        system["lastModifiedBy"] = by
        system["lastModifiedByType"] = "Application"


def encode_skip_token(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": seq}).encode()).decode().rstrip("=")


def decode_skip_token(token: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["s"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ArmError(400, "InvalidSkipToken", "The $skipToken is invalid.") from exc


def _kv_filter(raw: str | None) -> tuple[str, str | None] | None:
    if not raw:
        return None
    key, sep, value = raw.partition("=")
    return (key, value if sep else None)


def _kv_match(mapping: Any, flt: tuple[str, str | None]) -> bool:
    if not isinstance(mapping, dict) or flt[0] not in mapping:
        return False
    return flt[1] is None or str(mapping[flt[0]]) == flt[1]


class JobBook:
    """All jobs of one workspace, guarded by one re-entrant lock."""

    queued_after_seconds = 2.0
    cancel_seconds = 5.0

    def __init__(
        self,
        *,
        clock: Clock,
        catalog: Catalog,
        location: str,
        emit: Emit,
        trials: TrialBook,
        on_created: Callable[[], None] = lambda: None,
    ) -> None:
        self.clock = clock
        self.catalog = catalog
        self.location = location
        self.workspace_id = catalog.workspace_id
        self.lock = threading.RLock()
        self.trials = trials
        self.planner = SimulatedTrials(trials)
        self._emit = emit
        self._jobs: dict[str, Job] = {}
        self._seq = itertools.count(1)
        self._operations: dict[str, str] = {}
        self._timers: list[TimerHandle] = []
        self._on_created = on_created
        self.rehearsals: Rehearsals | None = None  # set when the workspace rehearses sweeps

    # ------------------------------------------------------------------ reads
    def get(self, name: str) -> Job:
        job = self._jobs.get(name)
        if job is None:
            raise self.not_found(name)
        return job

    def find(self, name: str) -> Job | None:
        return self._jobs.get(name)

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: -j.seq)

    def not_found(self, name: str) -> ArmError:
        return ArmError(
            404,
            "UserError",
            f"Could not find job '{name}' in workspace '{self.catalog.workspace_name}'.",
            details=[{"code": "NotFoundError", "message": f"Job '{name}' not found."}],
            inner_code="NotFoundError",
        )

    def page(self, query: dict[str, str], page_size: int) -> tuple[list[Job], int | None]:
        """One page of `GET /jobs` (newest first) and the seq to continue after, if any."""
        job_type = query.get("jobType")
        view = query.get("listViewType", "ActiveOnly")
        if view.lower() not in VIEWS:
            raise user_error(
                f"Invalid listViewType '{view}'; expected ActiveOnly, ArchivedOnly or All.",
                target="listViewType",
            )
        view = VIEWS[view.lower()]
        tag_filter = _kv_filter(query.get("tag"))
        prop_filter = _kv_filter(query.get("properties"))
        token = query.get("$skipToken") or query.get("$skiptoken")
        after = decode_skip_token(token) if token else None
        selected: list[Job] = []
        for job in self.all():
            if after is not None and job.seq >= after:
                continue
            props = job.props
            if job_type and str(props.get("jobType", "")).lower() != job_type.lower():
                continue
            archived = bool(props.get("isArchived", False))
            if (view == "ActiveOnly" and archived) or (view == "ArchivedOnly" and not archived):
                continue
            if tag_filter and not _kv_match(props.get("tags"), tag_filter):
                continue
            if prop_filter and not _kv_match(props.get("properties"), prop_filter):
                continue
            selected.append(job)
            if len(selected) > page_size:
                break
        page = selected[:page_size]
        return page, (page[-1].seq if len(selected) > page_size else None)

    # ------------------------------------------------------------------ seeding
    def add_template(self, resource: dict[str, Any]) -> None:
        """Seed a job resource as-is (it never runs)."""
        resource = copy.deepcopy(resource)
        name = resource.get("name")
        if not isinstance(name, str) or not isinstance(resource.get("properties"), dict):
            raise ValueError("a seeded job needs a name and properties")
        resource.setdefault("id", f"{self.workspace_id}/jobs/{name}")
        resource.setdefault("type", JOB_RESOURCE_TYPE)
        props = resource["properties"]
        props.setdefault("status", "Completed")
        with self.lock:
            old = self._jobs.pop(name, None)
            if old is not None:
                self._cancel_timers(old)
            outputs = props.get("outputs") if isinstance(props.get("outputs"), dict) else {}
            self._jobs[name] = Job(
                name=name,
                resource=resource,
                seq=next(self._seq),
                submitted=False,
                definition=self._comparable(props),
                # a template's output URIs are the service's (what a GET of it shows)
                service_uris={
                    k: o["uri"] for k, o in outputs.items() if isinstance(o, dict) and o.get("uri")
                },
            )

    # ------------------------------------------------------------------ PUT
    def put(self, name: str, raw: bytes) -> tuple[int, Job]:
        validate_name(name)
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArmError(400, "InvalidRequestContent", f"The request content was invalid: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise user_error("The request body must be an object with 'properties'.", target="properties")
        sent = copy.deepcopy(body)
        props = copy.deepcopy(body["properties"])
        job_type = props.get("jobType")
        if not isinstance(job_type, str) or job_type.lower() not in JOB_TYPES:
            raise user_error(
                f"properties.jobType is required and must be one of {sorted(JOB_TYPES.values())}, "
                f"got {job_type!r}.",
                target="properties.jobType",
                inner_code="RequiredField" if job_type is None else "InvalidValue",
            )
        props["jobType"] = job_type = JOB_TYPES[job_type.lower()]
        if job_type == "Sweep":
            validate_sweep(props)
            normalize_sweep(props)
        elif job_type == "Command":
            validate_command(props)
        self._resolve_refs(props)
        props.setdefault("experimentName", "Default")
        props.setdefault("isArchived", False)
        for key in ("tags", "properties"):
            if props.get(key) is None:
                props[key] = {}
        with self.lock:
            existing = self._jobs.get(name)
            if existing is not None:
                return 200, self._reput(existing, props)
            return 201, self._create(name, props, sent)

    def _comparable(self, props: dict[str, Any], job: Job | None = None) -> dict[str, Any]:
        return comparable(
            props,
            resolve_environment=self.catalog.resolve_environment,
            resolve_compute=lambda c: (
                f"{self.workspace_id}/computes/{n}" if (n := self.catalog.compute_name(c)) else None
            ),
            service_uris=job.service_uris if job else None,
            service_added=job.service_added if job else None,
        )

    def _resolve_refs(self, props: dict[str, Any]) -> None:
        compute = props.get("computeId")
        if compute is not None:
            name = self.catalog.compute_name(compute) if isinstance(compute, str) else None
            if name is None:
                known = ", ".join(sorted(c["name"] for c in self.catalog.computes.values()))
                raise user_error(
                    f"Compute '{compute}' was not found in workspace '{self.catalog.workspace_name}'. "
                    f"Known computes: {known}.",
                    target="properties.computeId",
                    inner_code="ComputeNotFound",
                )
            props["computeId"] = f"{self.workspace_id}/computes/{name}"
        holder, target = props.get("trial"), "properties.trial.environmentId"
        if props.get("jobType") != "Sweep":
            holder, target = props, "properties.environmentId"
        env = holder.get("environmentId") if isinstance(holder, dict) else None
        if env is not None:
            resolved = self.catalog.resolve_environment(str(env))
            if resolved is None:
                raise user_error(
                    f"Environment '{env}' was not found: it must name an existing environment version "
                    "(azureml:NAME:VERSION, azureml:NAME@latest, an ARM id of this workspace or an "
                    "azureml://registries/azureml/... reference).",
                    target=target,
                    inner_code="EnvironmentNotFound",
                )
            holder["environmentId"] = resolved

    def _reput(self, job: Job, props: dict[str, Any]) -> Job:
        new = self._comparable(props, job)
        if new != job.definition:
            raise user_error(
                "A job with this name already exists. If you are trying to modify an existing job, only "
                "description, tags, displayName, properties and isArchived can be changed; other properties "
                f"cannot be changed (changed: {', '.join(changed_fields(job.definition, new))}).",
                target="properties",
                inner_code="JobPropertyImmutable",
            )
        current = job.props
        changed = False
        for key in MUTABLE:
            value = copy.deepcopy(props.get(key))
            if key == "tags":
                # the service's bookkeeping tags stay whatever the caller sends
                kept = {
                    k: v for k, v in (current.get("tags") or {}).items() if service_state.is_service_tag(k)
                }
                value = {**kept, **(value or {})}
            elif key == "properties" and current.get("jobType") == "Sweep":
                kept = {
                    k: v
                    for k, v in (current.get("properties") or {}).items()
                    if k in service_state.SWEEP_PROPERTY_KEYS
                }
                value = {**(value or {}), **kept}
            if current.get(key) != value:
                current[key] = value
                changed = True
        if changed:
            job.touch(self.clock.now())
        return job

    def _create(self, name: str, props: dict[str, Any], sent: dict[str, Any]) -> Job:
        rehearsal = self.rehearsals.prepare(name, props) if self.rehearsals is not None else None
        now = self.clock.now()
        definition = self._comparable(props)
        knobs = Knobs.from_tags(props.get("tags"))
        service_uris, service_added = service_state.on_create(
            name, props, workspace_id=self.workspace_id, location=self.location
        )
        resource = {
            "id": f"{self.workspace_id}/jobs/{name}",
            "name": name,
            "type": JOB_RESOURCE_TYPE,
            "properties": props,
            "systemData": {
                "createdAt": iso(now),
                "createdBy": "emulator",
                "createdByType": "Application",
                "lastModifiedAt": iso(now),
                "lastModifiedBy": "emulator",
                "lastModifiedByType": "Application",
            },
        }
        job = Job(
            name=name,
            resource=resource,
            seq=next(self._seq),
            submitted=True,
            definition=definition,
            knobs=knobs,
            service_uris=service_uris,
            service_added=service_added,
            sent=sent,
            rehearsal=rehearsal,
        )
        self._jobs[name] = job
        self._on_created()
        if rehearsal is not None and self.rehearsals is not None:
            self.rehearsals.admit(job)
        else:
            self._schedule(job, now)
        return job

    # ------------------------------------------------------------------ run-history edits
    def modify(
        self, job: Job, *, display_name: Any, description: Any, tags: Any, properties: Any, hidden: Any
    ) -> None:
        """Run history's PATCH: tags merge, properties are add-only, `hidden` is isArchived."""
        props = job.props
        current_props = props.get("properties") or {}
        if isinstance(properties, dict):
            clashes = sorted(k for k, v in properties.items() if k in current_props and current_props[k] != v)
            if clashes:
                raise user_error(
                    f"Run properties are immutable once set: {', '.join(clashes)} already "
                    "exist with a different value.",
                    target="properties",
                    inner_code="PropertyImmutable",
                )
        with self.lock:
            if display_name is not None:
                props["displayName"] = display_name
            if description is not None:
                props["description"] = description
            if isinstance(tags, dict):
                props["tags"] = {**(props.get("tags") or {}), **tags}
            if isinstance(properties, dict):
                props["properties"] = {**current_props, **properties}
            if hidden is not None:
                props["isArchived"] = bool(hidden)
            job.touch(self.clock.now())

    # ------------------------------------------------------------------ cancel
    def cancel(self, name: str) -> str | None:
        """Returns the operation id to poll, or None when the job was already terminal."""
        with self.lock:
            job = self.get(name)
            if job.status in TERMINAL:
                return None
            if job.status != "CancelRequested":
                self._cancel_timers(job)
                service_state.on_cancel_requested(job.props)
                self.set_status(job, "CancelRequested")
                if job.rehearsal is not None and self.rehearsals is not None:
                    self.rehearsals.cancel(job)  # Canceled once its trials' processes are gone
                else:
                    when = self.clock.now() + timedelta(seconds=self.cancel_seconds)
                    job.timers.append(self.at(when, lambda j=job: self._cancelled(j)))
            op = uuid.uuid4().hex
            self._operations[op] = name
            return op

    def operation_done(self, op: str) -> bool:
        with self.lock:
            name = self._operations.get(op)
            job = self._jobs.get(name) if name else None
            if job is None:
                raise ArmError(404, "NotFound", f"Operation '{op}' was not found.")
            return job.status in TERMINAL

    def _cancelled(self, job: Job) -> None:
        with self.lock:
            if self._jobs.get(job.name) is job and job.status == "CancelRequested":
                self._settle_trials(job, "Canceled", self.clock.now())
                self.set_status(job, "Canceled")

    # ------------------------------------------------------------------ lifecycle
    def at(self, when: datetime, fn: Callable[[], None]) -> TimerHandle:
        handle = self.clock.call_at(when, fn)
        self._timers.append(handle)
        if len(self._timers) > 4096:
            now = self.clock.now()
            self._timers = [h for h in self._timers if not h.cancelled and h.when >= now]
        return handle

    def cancel_all_timers(self) -> None:
        with self.lock:
            for handle in self._timers:
                handle.cancel()
            self._timers.clear()

    def _cancel_timers(self, job: Job) -> None:
        for handle in job.timers:
            handle.cancel()
        job.timers.clear()

    def _schedule(self, job: Job, t0: datetime) -> None:
        k = job.knobs
        queued = t0 + timedelta(seconds=min(self.queued_after_seconds, k.queue))
        running = t0 + timedelta(seconds=k.queue)
        steps: list[tuple[datetime, str]] = [(queued, "Queued"), (running, "Running")]
        if not k.forever:
            end = max(t0 + timedelta(seconds=k.duration), running)
            lead = min(10.0, (end - running).total_seconds() * 0.1)
            steps.append((end - timedelta(seconds=lead), "Finalizing"))
            steps.append((end, "_finish"))
        for when, status in steps:
            job.timers.append(self.at(when, lambda s=status, j=job: self._step(j, s)))

    def _step(self, job: Job, status: str) -> None:
        with self.lock:
            if (
                self._jobs.get(job.name) is not job
                or job.status in TERMINAL
                or job.status == "CancelRequested"
            ):
                return
            if status == "_finish":
                self._finish(job)
                return
            if status == "Running" and job.props.get("jobType") == "Sweep":
                self._plan_trials(job)
            self.set_status(job, status)

    def _plan_trials(self, job: Job) -> None:
        k = job.knobs
        now = self.clock.now()
        end = None
        if not k.forever:
            created = job.resource["systemData"]["createdAt"]
            t0 = datetime.fromisoformat(created.replace("Z", "+00:00"))
            end = max(t0 + timedelta(seconds=k.duration), now)
        metric = (job.props.get("objective") or {}).get("primaryMetric")
        trials = self.planner.plan(
            job.name,
            job.props,
            running=now,
            end=end,
            outcome="Failed" if k.all_fail else "Completed",
            metric_logged=metric in k.metrics,
        )
        service_state.on_trials_generated(job.name, job.props, trials)
        # Azure ML raises RunStatusChanged for child runs too (the documented sample is one):
        # each trial's Running and its end, as a rehearsed sweep's trials do.
        for trial in trials:
            for when in (trial.planned_start, trial.planned_end):
                if when is not None:
                    job.timers.append(self.at(when, lambda t=trial, j=job: self._trial_moved(j, t)))

    def _trial_moved(self, job: Job, trial: Trial) -> None:
        """A planned trial transition is due: its event, unless the sweep settled it already."""
        with self.lock:
            if self._jobs.get(job.name) is not job or trial.status is not None:
                return
            self.emit_trial(job, trial, trial.status_at(self.clock.now()))

    def _settle_trials(self, job: Job, status: str, now: datetime) -> None:
        for trial in self.planner.settle(job.name, status, now):
            self.emit_trial(job, trial, status)

    def emit_trial(self, job: Job, trial: Trial, status: str) -> None:
        """A trial's own events (lock held): RunStatusChanged, and RunCompleted on success."""
        run = trial_event_run(trial, job.props.get("experimentName"), status)
        now = self.clock.now()
        self._emit(trial.run_id, run, EVENT_STATUS_CHANGED, now, run_type=TRIAL_RUN_TYPE)
        if status == "Completed":
            self._emit(trial.run_id, run, EVENT_COMPLETED, now, run_type=TRIAL_RUN_TYPE)

    def set_status(self, job: Job, status: str) -> None:
        """Call with the lock held: the job's new status and its events."""
        now = self.clock.now()
        job.props["status"] = status
        job.transitions.append((now, status))
        job.touch(now)
        if job.submitted:
            self._emit(job.name, job.props, EVENT_STATUS_CHANGED, now)
            if status == "Completed":
                self._emit(job.name, job.props, EVENT_COMPLETED, now)

    def emit(
        self,
        run_id: str,
        run: dict[str, Any],
        event_type: str,
        when: datetime,
        *,
        run_type: str | None = None,
    ) -> None:
        """An Event Grid event for another run of this workspace (a sweep's trial); lock held."""
        self._emit(run_id, run, event_type, when, run_type=run_type)

    def _finish(self, job: Job) -> None:
        props = job.props
        k = job.knobs
        metric = (
            (props.get("objective") or {}).get("primaryMetric")
            if isinstance(props.get("objective"), dict)
            else None
        )
        now = self.clock.now()
        if k.all_fail:
            self._settle_trials(job, "Failed", now)
            msg = (
                "No trials completed successfully: all child runs of the sweep failed (NoTrialsCompleted). "
                "Open a trial's logs for details."
            )
            props["error"] = {
                "code": "UserError",
                "message": msg,
                "details": [{"code": "NoTrialsCompleted", "message": msg}],
            }
            self.set_status(job, "Failed")
            return
        if metric is not None and metric not in k.metrics:
            msg = (
                f"Sweep job failed: the primary metric '{metric}' was not logged by any trial "
                f"(PrimaryMetricNotFound). Metrics logged by the trials: {', '.join(k.metrics) or 'none'}."
            )
            props["error"] = {
                "code": "UserError",
                "message": msg,
                "details": [
                    {"code": "PrimaryMetricNotFound", "message": msg, "target": "objective.primaryMetric"}
                ],
            }
            self._settle_trials(job, "Completed", now)
            self.set_status(job, "Failed")
            return
        if props.get("jobType") == "Sweep":
            self._settle_trials(job, "Completed", now)
            best, score = self._best_trial(job)
            if best is not None:
                service_state.on_sweep_completed(props, best, score)
        self.set_status(job, "Completed")

    def _best_trial(self, job: Job) -> tuple[Trial | None, float]:
        """Trial scores hash the search space, so equal search spaces score equally:
        in [0.5, 0.99) when maximizing, [0.05, 0.5) when minimizing."""
        trials = self.trials.children(job.name)
        if not trials:
            return None, 0.0
        space = json.dumps(job.props.get("searchSpace"), sort_keys=True, separators=(",", ":"))
        goal = str((job.props.get("objective") or {}).get("goal", "Maximize")).lower()
        scored = []
        for trial in trials:
            digest = hashlib.sha256(f"{space}#{trial.number}".encode()).digest()
            x = int.from_bytes(digest[:8], "big") / 2**64
            score = round(0.05 + 0.45 * x if goal == "minimize" else 0.5 + 0.49 * x, 6)
            scored.append((score, trial))
        score, best = (min if goal == "minimize" else max)(scored, key=lambda st: st[0])
        return best, score
