"""What the durable layers hand each other, typed: names, the orchestration input,
activity inputs and answers, external event payloads, customStatus timestamps.

Written once, read once: the start route builds a `SweepInput` and the orchestrator
reads it back; each activity reads its input type and answers its result type; each
trigger raises its event type. Everything goes through JSON (`to_dict`/`from_dict`)
because Durable keeps it in history: the wire keys are those docs/architecture.md
documents, so runs started by an earlier deployment replay unchanged. No pydantic:
orchestrator replays, the most frequent invocations, import this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from compat import UTC

# -- names (function names are the Python names of the decorated functions) -------------
ORCHESTRATOR = "sweep_orchestrator"
FETCH_TEMPLATE = "fetch_template"
SUBMIT_SWEEP = "submit_sweep"
GET_JOB_STATUS = "get_job_status"
CANCEL_JOB = "cancel_job"
DELETE_RUN_SECRETS = "delete_run_secrets"
WATCHER = "sweep_watcher"  # the one orchestration that watches every running sweep's job
WATCH_JOBS = "watch_jobs"
UNWATCH_JOB = "unwatch_job"
READ_TRIAL_PROGRESS = "read_trial_progress"
ACTIVITIES = (
    FETCH_TEMPLATE,
    SUBMIT_SWEEP,
    GET_JOB_STATUS,
    CANCEL_JOB,
    DELETE_RUN_SECRETS,
    WATCH_JOBS,
    UNWATCH_JOB,
    READ_TRIAL_PROGRESS,
)
CANCEL_EVENT = "cancel"
STATUS_EVENT = "job_status_changed"
# `eventType` of the status events the watcher raises (Event Grid's are Microsoft.MachineLearningServices.*)
WATCHER_EVENT_TYPE = "Polysync.Watcher.JobListed"


def watcher_instance_id(task_hub: str | None) -> str:
    """The watcher's fixed instance id: one per task hub, so every start finds the same one."""
    return f"polysync-watcher-{task_hub}" if task_hub else "polysync-watcher"


# -- customStatus and output timestamps: whole seconds, UTC ----------------------------------
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def timestamp(moment: datetime) -> str:
    return moment.strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


# -- the orchestration input -------------------------------------------------------------
# Longest single durable timer the orchestrator creates: below the extension's
# maximumShortTimerDuration (6 days on Azure Storage), so it never becomes a
# "long timer" whose cancel() does not reach the inner timer.
MAX_TIMER_SECONDS = 5 * 24 * 3600.0


@dataclass(frozen=True)
class PollPolicy:
    """How a run waits (the SWEEP_* settings, checked together): the start route writes it into
    the input, so a run keeps the policy it started with. Intervals: orchestrators.polling."""

    floor: float = 15.0
    cap: float = 120.0
    event_floor: float = 3600.0
    event_cap: float = 28800.0
    polls_per_generation: int = 1
    stalled_limit: float = 3600.0
    use_events: bool = True
    outage_limit: float = 86400.0  # how long Azure ML may stay unreachable before the run gives up
    # The sweep watcher lists this run's job every `watch_period` seconds and tells the run when it
    # changes (0: no watcher). A watched run only polls for itself as a safety net, from
    # `safety_floor` doubling to `safety_cap`, whether or not Event Grid events arrive.
    watch_period: float = 30.0
    safety_floor: float = 14400.0
    safety_cap: float = 86400.0
    # Read the sweep's trials (one run-history GET) for customStatus while it runs. Off when
    # absent from an input: runs started before this setting existed replay unchanged; the
    # SWEEP_TRIAL_PROGRESS setting (default on) is written into every new run's input.
    trial_progress: bool = False
    # At most this often while the sweep runs, on the run's own timer (SWEEP_TRIAL_PROGRESS_SECONDS),
    # besides each status change and the end. 0 (and absent): only after the run's status GETs.
    trial_progress_seconds: float = 0.0

    @property
    def watched(self) -> bool:
        return self.watch_period > 0

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.cap:
            raise ValueError("SWEEP_POLL_FLOOR_SECONDS must be > 0 and <= SWEEP_POLL_CAP_SECONDS")
        if not 0 < self.event_floor <= self.event_cap:
            raise ValueError("SWEEP_EVENT_POLL_FLOOR_SECONDS must be > 0 and <= SWEEP_EVENT_POLL_CAP_SECONDS")
        if self.event_cap > MAX_TIMER_SECONDS:
            raise ValueError("SWEEP_EVENT_POLL_CAP_SECONDS must be at most 5 days")
        if self.polls_per_generation < 1:
            raise ValueError("SWEEP_POLLS_PER_GENERATION must be at least 1")
        if self.outage_limit <= 0:
            raise ValueError("SWEEP_OUTAGE_LIMIT_SECONDS must be > 0")
        if self.watch_period < 0:
            raise ValueError("SWEEP_WATCH_PERIOD_SECONDS must be >= 0 (0 turns the watcher off)")
        if not 0 < self.safety_floor <= self.safety_cap:
            raise ValueError(
                "SWEEP_SAFETY_POLL_FLOOR_SECONDS must be > 0 and <= SWEEP_SAFETY_POLL_CAP_SECONDS"
            )
        if self.safety_cap > MAX_TIMER_SECONDS:
            raise ValueError("SWEEP_SAFETY_POLL_CAP_SECONDS must be at most 5 days")
        if not 0 <= self.trial_progress_seconds <= MAX_TIMER_SECONDS:
            raise ValueError(
                "SWEEP_TRIAL_PROGRESS_SECONDS must be between 0 (only at status polls) and 5 days"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PollPolicy:
        if not data:
            return cls(watch_period=0.0)
        names = {f.name for f in fields(cls)}
        given = {k: v for k, v in data.items() if k in names}
        # A run started before the watcher existed: its job carries no watch tag, nobody lists it.
        given.setdefault("watch_period", 0.0)
        return cls(**given)


@dataclass(frozen=True)
class OutputParameter:
    """A parameter the result reports (Output or Input&Output)."""

    name: str
    secret: bool = False  # reported masked, never read from the job
    echo: Any = None  # an Input&Output's input, reported when the job has no output of that name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "secret": self.secret, "echo": self.echo}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputParameter:
        return cls(str(data["name"]), bool(data.get("secret")), data.get("echo"))


@dataclass(frozen=True)
class StatusQuery:
    """`get_job_status`'s input: the job, and what its report needs of the request."""

    job_name: str
    outputs: tuple[OutputParameter, ...] = ()  # none declared (a flat body): every job output is echoed
    objective_metric: str | None = None  # named in a failure's hint

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobName": self.job_name,
            "outputs": [o.to_dict() for o in self.outputs],
            "objectiveMetric": self.objective_metric,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatusQuery:
        outputs = tuple(OutputParameter.from_dict(o) for o in data.get("outputs") or [])
        return cls(str(data["jobName"]), outputs, data.get("objectiveMetric"))


@dataclass(frozen=True)
class SweepInput:
    """The orchestration's input: written by the start route, read by every generation."""

    request: dict[str, Any]  # RunRequest.to_payload(): a Secret is its Key Vault identifier
    template: str
    job_name: str  # derived from the instance id (foundry.names.job_name_for)
    policy: PollPolicy = field(default_factory=PollPolicy)
    state: dict[str, Any] | None = None  # the previous generation's LoopState; None in the first
    # The template's own definition as the start route read it (foundry.jobs.template_definition):
    # the first generation submits from it instead of fetching it again. None: fetch it (the
    # start route could not reach Azure ML, or the run was started by an earlier deployment).
    template_job: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "request": self.request,
            "template": self.template,
            "jobName": self.job_name,
            "policy": self.policy.to_dict(),
            "state": self.state,
        }
        if self.template_job is not None:
            out["templateJob"] = self.template_job
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepInput:
        return cls(
            request=data.get("request") or {},
            template=str(data.get("template") or ""),
            job_name=str(data["jobName"]),
            policy=PollPolicy.from_dict(data.get("policy")),
            state=data.get("state"),
            template_job=data.get("templateJob"),
        )

    def next_generation(self, state: dict[str, Any]) -> dict[str, Any]:
        """The input of the generation that continues this one (the template is not carried:
        the job is submitted by then, and every generation's history would hold it)."""
        out = {**self.to_dict(), "state": state}
        out.pop("templateJob", None)
        return out


# -- activity inputs and answers -------------------------------------------------------------
# Every activity answers Azure ML's reply as a value: {"ok": true, ...the result}; a
# permanent error {"ok": false, "error": {code, message, hint}}; Azure ML unreachable
# {"ok": false, "transient": true, "retryAfter": seconds | null, "error": ...}.
def answer(result: Any) -> dict[str, Any]:
    return {"ok": True, **result.to_dict()}


def refusal(error: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, "error": error}


def unreachable(error: dict[str, Any], retry_after: float | None) -> dict[str, Any]:
    return {"ok": False, "transient": True, "retryAfter": retry_after, "error": error}


@dataclass(frozen=True)
class TemplateFetched:
    """`fetch_template`'s answer: the template's own definition (`JobView.definition`), so
    none of the service's state about the template's run enters history."""

    job: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TemplateFetched:
        return cls(data["job"])


@dataclass(frozen=True)
class SubmitOrder:
    """`submit_sweep`'s input."""

    instance_id: str
    job_name: str
    request: dict[str, Any]
    template: dict[str, Any]
    # An earlier attempt had no answer from Azure ML (its PUT may have been applied): look first.
    retried: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {
            "instanceId": self.instance_id,
            "jobName": self.job_name,
            "request": self.request,
            "template": self.template,
        }
        if self.retried:
            out["retried"] = True
        return out

    def retry(self) -> SubmitOrder:
        return replace(self, retried=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmitOrder:
        return cls(
            data["instanceId"], data["jobName"], data["request"], data["template"], bool(data.get("retried"))
        )


@dataclass(frozen=True)
class Submitted:
    """`submit_sweep`'s answer."""

    job_name: str
    azure_status: str
    monitor_url: str
    adopted: bool  # the job existed already, tagged with this instance (a retried submit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobName": self.job_name,
            "azureStatus": self.azure_status,
            "monitorUrl": self.monitor_url,
            "adopted": self.adopted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Submitted:
        return cls(data["jobName"], data["azureStatus"], data["monitorUrl"], bool(data.get("adopted")))


@dataclass(frozen=True)
class JobSnapshot:
    """`get_job_status`'s answer: what one GET of the job means to Polysync. The best
    trial, outputs and error are there once the job is terminal (the error too while stalled;
    the best trial whenever the service has named one)."""

    azure_status: str
    status: str  # Polysync's
    job_name: str
    monitor_url: str
    terminal: bool
    best_trial: dict[str, Any] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "azureStatus": self.azure_status,
            "status": self.status,
            "jobName": self.job_name,
            "monitorUrl": self.monitor_url,
            "terminal": self.terminal,
        }
        if self.terminal or self.error is not None:
            out.update(bestTrial=self.best_trial, outputs=self.outputs, error=self.error)
        elif self.best_trial is not None:
            out["bestTrial"] = self.best_trial  # named while it runs: trial progress shows it
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSnapshot:
        return cls(
            azure_status=data["azureStatus"],
            status=data.get("status") or "",
            job_name=data.get("jobName") or "",
            monitor_url=data.get("monitorUrl") or "",
            terminal=bool(data.get("terminal")),
            best_trial=data.get("bestTrial"),
            outputs=data.get("outputs") or {},
            error=data.get("error"),
        )


@dataclass(frozen=True)
class TrialCounts:
    """`read_trial_progress`' answer (its input is `{"jobName"}`): the sweep's trials by what
    they are doing (foundry.trials.count_trials); `partial` when the listing hit its cap."""

    total: int = 0
    done: int = 0
    running: int = 0
    queued: int = 0
    failed: int = 0
    cancelled: int = 0
    partial: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialCounts:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Cancelled:
    """`cancel_job`'s answer (its input is `{"jobName"}`)."""

    job_name: str
    found: bool  # False: Azure ML has no such job (nothing to cancel)

    def to_dict(self) -> dict[str, Any]:
        return {"jobName": self.job_name, "found": self.found}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cancelled:
        return cls(data.get("jobName") or "", bool(data.get("found", True)))


@dataclass(frozen=True)
class SecretsToErase:
    """`delete_run_secrets`' input."""

    instance_id: str
    references: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"instanceId": self.instance_id, "references": list(self.references)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecretsToErase:
        return cls(data["instanceId"], tuple(data.get("references") or ()))


@dataclass(frozen=True)
class SecretsErased:
    """`delete_run_secrets`' answer."""

    deleted: int

    def to_dict(self) -> dict[str, Any]:
        return {"deleted": self.deleted}


# -- the sweep watcher ---------------------------------------------------------------------
@dataclass(frozen=True)
class WatcherInput:
    """The watcher orchestration's input, carried from pass to pass by continue-as-new: how it
    watches (written by whoever starts it) and what it saw last (`seen`: job name -> status)."""

    period: float
    events: bool  # Event Grid events are on: only endings (and stalls) need telling
    task_hub: str | None
    seen: dict[str, str] = field(default_factory=dict)
    empty_passes: int = 0  # consecutive passes that listed nothing: the watcher ends after a few
    passes: int = 0
    failures: int = 0  # consecutive passes Azure ML did not answer: the watcher backs off
    pages: int = 0  # list pages read since it started (its Azure ML calls, besides the untag PUTs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "events": self.events,
            "taskHub": self.task_hub,
            "seen": dict(self.seen),
            "emptyPasses": self.empty_passes,
            "passes": self.passes,
            "failures": self.failures,
            "pages": self.pages,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatcherInput:
        return cls(
            period=float(data.get("period") or 30.0),
            events=bool(data.get("events", True)),
            task_hub=data.get("taskHub"),
            seen={str(k): str(v) for k, v in (data.get("seen") or {}).items()},
            empty_passes=int(data.get("emptyPasses") or 0),
            passes=int(data.get("passes") or 0),
            failures=int(data.get("failures") or 0),
            pages=int(data.get("pages") or 0),
        )


@dataclass(frozen=True)
class WatchOrder:
    """`watch_jobs`' input: whose jobs, whether events are on, and the statuses seen last pass."""

    task_hub: str | None
    events: bool
    seen: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"taskHub": self.task_hub, "events": self.events, "seen": dict(self.seen)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatchOrder:
        return cls(data.get("taskHub"), bool(data.get("events", True)), dict(data.get("seen") or {}))


@dataclass(frozen=True)
class WatchReport:
    """`watch_jobs`' answer: the statuses now seen, the finished jobs whose runs know it (to be
    untagged, as listed resources), and counts for the log."""

    seen: dict[str, str]
    finished: tuple[dict[str, Any], ...] = ()
    listed: int = 0
    signalled: int = 0
    undelivered: int = 0
    pages: int = 0  # list pages read: the pass's Azure ML calls

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": dict(self.seen),
            "finished": list(self.finished),
            "listed": self.listed,
            "signalled": self.signalled,
            "undelivered": self.undelivered,
            "pages": self.pages,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatchReport:
        return cls(
            seen=dict(data.get("seen") or {}),
            finished=tuple(data.get("finished") or ()),
            listed=int(data.get("listed") or 0),
            signalled=int(data.get("signalled") or 0),
            undelivered=int(data.get("undelivered") or 0),
            pages=int(data.get("pages") or 0),
        )


@dataclass(frozen=True)
class Unwatched:
    """`unwatch_job`'s answer (its input is `{"job": <the listed job resource>}`)."""

    job_name: str
    found: bool  # False: the job is gone; nothing to untag

    def to_dict(self) -> dict[str, Any]:
        return {"jobName": self.job_name, "found": self.found}


# -- external events -------------------------------------------------------------------------
MAX_CANCEL_REASON = 500


def cancel_reason(value: Any) -> str | None:
    """A cancel's reason as a run reports it (in its final message): text, cut to 500 characters."""
    return str(value)[:MAX_CANCEL_REASON] if value else None


@dataclass(frozen=True)
class CancelSignal:
    """The `cancel` event, raised by the cancel route."""

    reason: str | None
    azure_ml_cancelled: bool = False  # the route already cancelled the job: the run sends no second cancel

    def to_dict(self) -> dict[str, Any]:
        return {"reason": cancel_reason(self.reason), "azureMlCancelled": self.azure_ml_cancelled}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CancelSignal:
        return cls(cancel_reason(data.get("reason")), data.get("azureMlCancelled") is True)


@dataclass(frozen=True)
class StatusSignal:
    """The `job_status_changed` event, raised by the Event Grid intake (a hint, which the run
    confirms with a GET before acting on a terminal status) or by the sweep watcher, which
    read the job itself: its terminal listings carry `job`, the part of the listed resource a
    report needs (foundry.watch.WatchedJob.ending), so the run needs no GET to confirm them."""

    job_name: str | None
    run_status: str | None
    event_type: str | None
    event_time: str | None
    job: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "jobName": self.job_name,
            "runStatus": self.run_status,
            "eventType": self.event_type,
            "eventTime": self.event_time,
        }
        if self.job is not None:
            out["job"] = self.job
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatusSignal:
        job = data.get("job")
        return cls(
            data.get("jobName"),
            data.get("runStatus"),
            data.get("eventType"),
            data.get("eventTime"),
            job if isinstance(job, dict) else None,
        )

    @property
    def key(self) -> str:
        """Which event this is: Event Grid delivers at least once, and a copy is no news."""
        return "|".join(str(v) for v in (self.run_status, self.event_type, self.event_time))
