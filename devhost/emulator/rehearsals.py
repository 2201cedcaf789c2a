"""Rehearsed sweeps: Sweep jobs the emulated workspace runs for real on this machine.

A Sweep job whose trial code maps to a local folder (`RehearsalSetup.code`, from `--code`) is
not simulated: its trials run as processes through `devhost.rehearsal` (docs/rehearsal.md),
and everything a client sees of the job comes from that rehearsal:

- PUT: the rehearsal is built, which checks everything it needs; a sweep it cannot run as
  written is refused 400 (`UserError`, one detail per problem naming the field), nothing stored.
- Status: NotStarted at PUT, then Queued and Running at once (trials start as they are
  sampled), Finalizing when the last trial has ended, then Completed or Failed as the rehearsal
  decides: `properties.properties` `best_child_run_id`, `score`, `best_metric_status`,
  `best_data_container_id`; `properties.error` NoTrialsCompleted (naming a failing trial's
  log) or PrimaryMetricNotFound (naming the metrics the trials logged). Outputs the service
  bound are re-bound to the best trial's local folders.
- Trials: each is a child run `{job}_{k}` in the `TrialBook` (run history lists it), its
  parameters in the sweep's `_aml_system_{job}_{k}` tag, and it raises its own RunStatusChanged
  (Running, then its end) and, on success, RunCompleted events: Azure ML raises them for every
  run, child runs included (the documented RunStatusChanged sample is a child run's).
- Cancel: CancelRequested, the rehearsal stops the running trials (their process groups) and
  starts no more, Canceled once no trial process is left.
- Time: trials take wall time. A rehearsed job holds the clock from its PUT until it is
  terminal, so a VirtualClock never jumps past running trials (there, the job's events are
  delivered when it ends; everything it records carries the virtual time of its PUT). A
  RealClock is not affected.

`devhost.rehearsal` is imported only when a sweep is rehearsed: `make run` and the Function
App never load it or its requirements (requirements-rehearsal.txt).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import service_state
from .errors import ArmError
from .events import EVENT_COMPLETED, EVENT_STATUS_CHANGED
from .trials import TERMINAL as TRIAL_TERMINAL
from .trials import TRIAL_RUN_TYPE, Trial, space_size, trial_event_run

if TYPE_CHECKING:
    from devhost.rehearsal import Rehearsal, RehearsalEvent, SweepOutcome

    from .jobs import Job, JobBook

log = logging.getLogger("devhost.emulator")

_JOB_TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
_CODE_ID = re.compile(r"/codes/([^/]+)/versions/([^/]+)/?$", re.IGNORECASE)

Listener = Callable[[str, "RehearsalEvent"], None]


def _asset_keys(code_id: str) -> list[str]:
    """The names a code reference answers to: its ARM id, `NAME:VERSION` and `NAME` (lower case)."""
    ref = code_id.strip().removeprefix("azureml:")
    keys = [ref.lower()]
    match = _CODE_ID.search(ref)
    if match:
        keys += [f"{match.group(1)}:{match.group(2)}".lower(), match.group(1).lower()]
    elif ":" in ref:
        keys.append(ref.split(":", 1)[0].lower())
    return keys


@dataclass(frozen=True)
class CodeMap:
    """Which local folder holds a sweep's training code: the local side of `trial.codeId` (on
    Azure, the code asset is what the job's `code: ./src` uploaded).

    `default` serves every sweep; `by_asset` serves sweeps whose `trial.codeId` names that code
    asset (by its ARM id, `NAME:VERSION` or `NAME`) and wins over `default`."""

    default: Path | None = None
    by_asset: Mapping[str, Path] = field(default_factory=dict)

    @classmethod
    def parse(cls, specs: Sequence[str]) -> CodeMap:
        """From `--code` values: `DIR` (every sweep) or `ASSET=DIR`. ValueError names a bad one."""
        default: Path | None = None
        by_asset: dict[str, Path] = {}
        for spec in specs:
            asset, sep, folder = spec.partition("=")
            path = Path(folder if sep else spec).expanduser().resolve()
            if not path.is_dir():
                raise ValueError(f"--code {spec}: {path} is not a folder (give the training code's folder)")
            if not sep:
                if default is not None:
                    raise ValueError("--code DIR is given twice; map the others by code asset: ASSET=DIR")
                default = path
            elif not asset.strip():
                raise ValueError(f"--code {spec}: the code asset before '=' is empty")
            else:
                by_asset[asset.strip().removeprefix("azureml:").lower()] = path
        return cls(default=default, by_asset=by_asset)

    def resolve(self, code_id: Any) -> Path | None:
        if isinstance(code_id, str) and code_id.strip():
            for key in _asset_keys(code_id):
                if key in self.by_asset:
                    return self.by_asset[key]
        return self.default

    def __bool__(self) -> bool:
        return self.default is not None or bool(self.by_asset)

    def describe(self) -> str:
        parts = [f"code asset {asset}: {path}" for asset, path in sorted(self.by_asset.items())]
        if self.default is not None:
            parts.append(f"{'other sweeps' if parts else 'every sweep'}: {self.default}")
        return "; ".join(parts)


@dataclass(frozen=True)
class RehearsalSetup:
    """What the emulator needs to rehearse sweeps: where their code is and where runs go."""

    code: CodeMap
    runs_dir: Path
    kill_grace_seconds: float = 5.0  # SIGTERM -> SIGKILL when a trial is stopped
    # (sweep job name, RehearsalEvent), called on the rehearsal's thread: the command line's progress
    listener: Listener | None = None


class RehearsedSweep:
    """One rehearsed job: its engine, where it runs, and how it ended."""

    def __init__(self, name: str, rehearsal: Rehearsal, run_dir: Path) -> None:
        self.name = name
        self.rehearsal = rehearsal
        self.run_dir = run_dir
        self.started = False
        self.outcome: SweepOutcome | None = None
        self.settled = threading.Event()  # the job is terminal and the clock released

    @property
    def report(self) -> Path | None:
        return self.outcome.report if self.outcome else None


class Rehearsals:
    """The rehearsed sweeps of one workspace. Every job change is made under the job book's lock;
    the engine's threads only call in through `_on_event` and `_settle`."""

    def __init__(self, setup: RehearsalSetup, book: JobBook) -> None:
        self.setup = setup
        self.book = book
        self._sweeps: dict[str, RehearsedSweep] = {}

    def get(self, name: str) -> RehearsedSweep | None:
        with self.book.lock:
            return self._sweeps.get(name)

    def all(self) -> list[RehearsedSweep]:
        with self.book.lock:
            return list(self._sweeps.values())

    # -- PUT --------------------------------------------------------------------------------
    def prepare(self, name: str, props: dict[str, Any]) -> RehearsedSweep | None:
        """The rehearsal of a new job, or None when it is not a Sweep or its code maps to no folder.
        Raises a 400 ArmError when the sweep cannot be rehearsed as written."""
        if props.get("jobType") != "Sweep":
            return None
        trial = props.get("trial") if isinstance(props.get("trial"), dict) else {}
        code_dir = self.setup.code.resolve(trial.get("codeId"))
        if code_dir is None:
            return None
        from devhost.rehearsal import MissingDependencyError, Rehearsal, RehearsalOptions, SweepSpecError

        run_dir = self._new_run_dir(name)
        try:
            rehearsal = Rehearsal(
                {"name": name, "properties": props},
                name=name,
                code_dir=code_dir,
                run_dir=run_dir,
                options=RehearsalOptions(kill_grace_seconds=self.setup.kill_grace_seconds),
                on_event=lambda event: self._on_event(name, event),
            )
        except SweepSpecError as exc:
            raise _cannot_rehearse(exc) from exc
        except MissingDependencyError as exc:
            raise ArmError(
                400,
                "UserError",
                f"This sweep cannot be rehearsed on this machine: {exc}",
                details=[{"code": "RehearsalDependencyMissing", "message": str(exc), "details": []}],
                inner_code="RehearsalDependencyMissing",
            ) from exc
        return RehearsedSweep(name, rehearsal, run_dir)

    def admit(self, job: Job) -> None:
        """The job is stored: hold the clock until it is terminal, start it on the clock at once."""
        sweep = job.rehearsal
        assert sweep is not None
        self._sweeps[job.name] = sweep
        self.book.clock.acquire()
        now = self.book.clock.now()
        job.timers.append(self.book.at(now, lambda: self._begin(job)))

    def _new_run_dir(self, name: str) -> Path:
        """`runs_dir/NAME`, or `NAME.2`, ... when an earlier session left that folder behind."""
        root = self.setup.runs_dir
        candidate, n = root / name, 1
        while candidate.exists() and any(candidate.iterdir()):
            n += 1
            candidate = root / f"{name}.{n}"
        return candidate

    # -- lifecycle ------------------------------------------------------------------------------
    def _begin(self, job: Job) -> None:
        with self.book.lock:
            sweep = job.rehearsal
            if sweep is None or sweep.started or self.book.find(job.name) is not job:
                return
            if job.status == "NotStarted":
                self.book.set_status(job, "Queued")
                props = job.props
                props.setdefault("properties", {})["space_size"] = space_size(props.get("searchSpace") or {})
                self.book.set_status(job, "Running")
            self._start(sweep)

    def _start(self, sweep: RehearsedSweep) -> None:
        sweep.started = True
        try:
            sweep.rehearsal.start()
        except Exception as exc:  # e.g. no loopback port for its tracking server
            log.exception("rehearsal of %s could not start", sweep.name)
            job = self.book.find(sweep.name)
            if job is not None:
                self._fail(job, f"The rehearsal could not start: {exc!r}")
            sweep.settled.set()
            self.book.clock.release()
            return
        threading.Thread(
            target=self._settle, args=(sweep,), name=f"rehearsal-settle-{sweep.name}", daemon=True
        ).start()

    def cancel(self, job: Job, reason: str = "Cancelled by the user") -> None:
        """Called under the book's lock once the job is CancelRequested."""
        sweep = job.rehearsal
        assert sweep is not None
        sweep.rehearsal.cancel(reason)
        if not sweep.started:  # cancelled before it began: it ends Canceled with no trial
            self._start(sweep)

    def stop_all(self, timeout: float) -> None:
        """The emulator stops: stop every rehearsal (no trial process outlives it) and wait for them."""
        with self.book.lock:
            sweeps = list(self._sweeps.values())
            for sweep in sweeps:
                sweep.rehearsal.cancel("The workspace emulator stopped")
                if not sweep.started:
                    self._start(sweep)
        for sweep in sweeps:
            if not sweep.settled.wait(timeout):
                log.error("rehearsal of %s did not end within %s s", sweep.name, timeout)

    # -- from the rehearsal's threads ---------------------------------------------------------------
    def _on_event(self, name: str, event: RehearsalEvent) -> None:
        with self.book.lock:
            job = self.book.find(name)
            if job is not None and event.trial is not None:
                if event.kind in ("trial_started", "trial_ended"):
                    self._trial_changed(job, event.trial)
                elif event.kind == "trial_metric" and event.metric is not None:
                    self._trial_metric(event.trial["name"], event.metric.key, event.metric.value)
                progress = event.progress
                if (
                    event.kind == "trial_ended"
                    and job.status == "Running"
                    and progress.running == 0
                    and progress.started >= progress.planned
                ):
                    self.book.set_status(job, "Finalizing")  # the last trial ended; the report is drawn
        listener = self.setup.listener
        if listener is not None:
            try:
                listener(name, event)
            except Exception:  # a listener's bug must not change the job
                log.exception("rehearsal listener failed")

    def _trial_changed(self, job: Job, record: dict[str, Any]) -> None:
        now = self.book.clock.now()
        trials = self.book.trials
        run_id = record["name"]
        trial = trials.get(run_id)
        if trial is None:
            trial = Trial(
                run_id=run_id,
                parent=job.name,
                number=int(record["index"]),
                parameters=dict(record["values"]),
                created=now,
                status="Running",
                started=now,
            )
            trials.add(trial)
            tags = job.props.setdefault("tags", {})
            tags[f"{service_state.SYSTEM_TAG_PREFIX}{run_id}"] = json.dumps(trial.parameters)
            job.touch(now)
            self._trial_event(job, trial, EVENT_STATUS_CHANGED)
        status = record["status"]
        if status in TRIAL_TERMINAL and trial.status not in TRIAL_TERMINAL:
            trials.update(run_id, status=status, ended=now)
            self._trial_event(job, trial, EVENT_STATUS_CHANGED)
            if status == "Completed":
                self._trial_event(job, trial, EVENT_COMPLETED)

    def _trial_metric(self, run_id: str, key: str, value: float) -> None:
        trial = self.book.trials.get(run_id)
        if trial is not None:
            self.book.trials.update(run_id, metrics={**trial.metrics, key: value})

    def _trial_event(self, job: Job, trial: Trial, event_type: str) -> None:
        """A trial's own Event Grid event: its run document's type, tags, properties and status."""
        run = trial_event_run(trial, job.props.get("experimentName"), str(trial.status))
        self.book.emit(trial.run_id, run, event_type, self.book.clock.now(), run_type=TRIAL_RUN_TYPE)

    def _settle(self, sweep: RehearsedSweep) -> None:
        """On its own thread: wait for the rehearsal's end, then make the job what it decided."""
        outcome = sweep.rehearsal.wait()
        try:
            with self.book.lock:
                sweep.outcome = outcome
                job = self.book.find(sweep.name)
                if job is not None and job.rehearsal is sweep and job.status not in _JOB_TERMINAL:
                    self._apply(job, outcome)
        finally:
            sweep.settled.set()
            self.book.clock.release()

    def _apply(self, job: Job, outcome: SweepOutcome | None) -> None:
        props = job.props
        tags = props.setdefault("tags", {})
        tags[service_state.SYSTEM_TAG_PREFIX + "all_jobs_generated"] = "true"
        if outcome is None:  # the engine itself broke
            self._fail(job, "The rehearsal ended without an outcome; see the emulator's log.")
            return
        update = outcome.job_update()
        user_props = props.setdefault("properties", {})
        user_props.update(update["properties"])
        if outcome.best_trial:
            user_props["best_data_container_id"] = f"dcid.{outcome.best_trial}"
        if update["error"] is not None:
            props["error"] = update["error"]
        self._bind_outputs(job, outcome.outputs)
        status = update["status"]
        if status in ("Completed", "Failed") and job.status == "Running":
            self.book.set_status(job, "Finalizing")
        self.book.set_status(job, status)

    def _fail(self, job: Job, message: str) -> None:
        job.props["error"] = {"code": "SystemError", "message": message, "details": []}
        self.book.set_status(job, "Failed")

    @staticmethod
    def _bind_outputs(job: Job, local: Mapping[str, str]) -> None:
        """The sweep's outputs are its best trial's: outputs bound by the service point at that
        trial's local folders instead (an output the caller bound to its own URI keeps it)."""
        outputs = job.props.get("outputs")
        if not isinstance(outputs, dict):
            return
        for name, path in local.items():
            out = outputs.get(name)
            if isinstance(out, dict) and out.get("uri") == job.service_uris.get(name):
                out["uri"] = path
                job.service_uris[name] = path


def _cannot_rehearse(exc: Any) -> ArmError:
    """A 400 listing every problem, each with the job field it concerns (REST names)."""
    details = [
        {
            "code": "CannotRehearse",
            "message": str(problem),
            "target": f"properties.{problem.field}",
            "details": [],
        }
        for problem in exc.problems
    ]
    message = "This sweep cannot be rehearsed as written: " + "; ".join(str(p) for p in exc.problems)
    return ArmError(400, "UserError", message, details=details, inner_code="CannotRehearse")
