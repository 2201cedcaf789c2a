"""Runs a sweep's trials for real on this machine: sampling, at most `maxConcurrentTrials`
processes at a time within `maxTotalTrials`, `timeout` and `trialTimeout`, metrics through a
loopback MLflow tracking server, early termination, cancel, and the outcome as Azure ML reports
it. See docs/rehearsal.md.

One thread (the loop) owns the sweep's state and makes every decision; trial processes,
the tracking server and `cancel()` only put events on its queue. The loop waits on that queue
with a timeout that is the next deadline, so nothing polls and nothing races on wall time.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from . import command as command_text
from . import outcome as outcomes
from .errors import SpecProblem, SweepSpecError
from .policy import decide as policy_decide
from .process import TrialProcess
from .records import CANCELED, COMPLETED, FAILED, RUNNING, TRIAL_TERMINAL, Progress, TrialRecord
from .sampling import GridSampler, Suggestion, make_sampler
from .space import format_value
from .spec import SweepSpec
from .tracking import MetricPoint, TrackingServer, TrackingStore

UTC = timezone.utc  # datetime.UTC is 3.11+; the app supports 3.10

JOB_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")
# MLflow run status for each trial status (mlflow.entities.RunStatus names).
_RUN_STATUS = {COMPLETED: "FINISHED", FAILED: "FAILED", CANCELED: "KILLED"}
# Folders never copied into a trial's snapshot of the code directory.
_NOT_SNAPSHOTTED = {".git", "__pycache__", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
# Inherited variables that would point the trial's MLflow client somewhere else.
_INHERITED_DROPPED = ("MLFLOW_", "AZUREML_")


@dataclass(frozen=True)
class RehearsalOptions:
    """How this machine runs the trials (nothing here changes the sweep's semantics)."""

    kill_grace_seconds: float = 5.0  # SIGTERM -> SIGKILL when a trial is stopped
    linger_seconds: float = 5.0  # how long a killed group may take to disappear
    input_paths: Mapping[str, Path] = field(default_factory=dict)  # local copies of uri inputs
    redact: frozenset[str] = frozenset()  # parameter names shown as *** (Secret parameters)
    seed: int | None = None  # sampler seed when the job sets none (Random) or has none (Bayesian)
    python_dir: Path | None = None  # first on the trials' PATH; default: this interpreter's bin dir
    report: bool = True
    shell: str = "/bin/bash"


EventKind = Literal["trial_started", "trial_metric", "trial_ended", "sweep_ended"]


@dataclass(frozen=True)
class RehearsalEvent:
    kind: EventKind
    progress: Progress
    trial: dict[str, Any] | None = None  # TrialRecord.as_dict() at the time of the event
    metric: MetricPoint | None = None
    outcome: outcomes.SweepOutcome | None = None


EventListener = Callable[[RehearsalEvent], None]


def progress_lines(event: RehearsalEvent) -> list[str]:
    """What a user watching the sweep reads for an event: a line when a trial starts, and when one
    ends its result plus the sweep's progress (trials done/running/failed, best so far). Pure:
    both command lines (`python -m devhost.rehearsal`, `python -m devhost run --code`) print these."""
    trial = event.trial or {}
    if event.kind == "trial_started":
        params = " ".join(f"{k}={v}" for k, v in trial["params"].items())
        return [f"trial {trial['name']} started: {params}"]
    if event.kind == "trial_ended":
        score = "" if trial.get("bestScore") is None else f", best {trial['bestScore']:.6g}"
        why = trial.get("stopReason") or trial.get("error") or ""
        lines = [f"trial {trial['name']} {trial['status']}{score}{': ' + why if why else ''}"]
        lines.append(event.progress.summary())
        lines.extend(f"warning: {warning}" for warning in trial.get("warnings") or [])
        return lines
    return []


def _now() -> datetime:
    return datetime.now(UTC)


class _Running:
    """The loop's bookkeeping for a started trial."""

    def __init__(
        self, record: TrialRecord, process: TrialProcess, suggestion: Suggestion, deadline: float | None
    ):
        self.record = record
        self.process = process
        self.suggestion = suggestion
        self.deadline = deadline


class Rehearsal:
    """Build (checks everything, starts nothing), then `start()` + `wait()`, or `run()`.

    `job` is a Sweep job resource (`{"name"?, "properties": {...}}`) or its `properties`, in the
    REST shape. `name` is the sweep job's name; trial `k` is `{name}_{k}`. Raises
    `SweepSpecError` listing every problem, `MissingDependencyError` when a sampler's library
    is missing."""

    def __init__(
        self,
        job: Mapping[str, Any],
        *,
        name: str,
        code_dir: Path,
        run_dir: Path,
        options: RehearsalOptions | None = None,
        on_event: EventListener | None = None,
    ) -> None:
        self.options = options or RehearsalOptions()
        self.spec = SweepSpec.from_job(job)
        problems: list[SpecProblem] = []
        if not JOB_NAME.match(name):
            problems.append(
                SpecProblem("name", f"{name!r} is not a valid job name", "letters, digits, - and _")
            )
        self.code_dir = Path(code_dir).resolve()
        if not self.code_dir.is_dir():
            problems.append(
                SpecProblem("code", f"{code_dir} is not a directory", "pass the training code's folder")
            )
        self.run_dir = Path(run_dir).resolve()
        if self.run_dir.exists() and any(self.run_dir.iterdir()):
            problems.append(
                SpecProblem(
                    "runDir", f"{run_dir} already holds files", "give each rehearsal a new or empty folder"
                )
            )
        self._input_text = self._resolve_inputs(problems)
        if problems:
            raise SweepSpecError(problems)
        self.name = name
        sampling = self.spec.sampling
        self.sampler = make_sampler(
            sampling.sampling_algorithm_type,
            self.spec.search_space,
            maximize=self.spec.maximize,
            seed=sampling.seed if sampling.seed is not None else self.options.seed,
            rule=sampling.rule,
            log_base=sampling.log_base,
        )
        limits = self.spec.limits
        self.planned = limits.max_total_trials
        if isinstance(self.sampler, GridSampler):
            self.planned = min(self.planned, self.sampler.size)
        self.on_event = on_event
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._lock = threading.Lock()
        self._trials: list[TrialRecord] = []
        self._running: dict[str, _Running] = {}
        self._cancel_reason: str | None = None
        self._exhausted = False
        self._done = threading.Event()
        self._outcome: outcomes.SweepOutcome | None = None
        self._thread: threading.Thread | None = None
        self.store = TrackingStore()
        self.experiment_id = self.store.ensure_experiment(self.spec.experiment_name)
        self._token = secrets.token_urlsafe(24)
        self._server: TrackingServer | None = None

    # -- public ------------------------------------------------------------------------------
    def start(self) -> Rehearsal:
        if self._thread is not None:
            raise RuntimeError("a rehearsal starts once")
        (self.run_dir / "trials").mkdir(parents=True, exist_ok=True)
        self._server = TrackingServer(
            self.store,
            token=self._token,
            artifact_root=self.run_dir / "mlflow-runs",
            on_metric=lambda run_id, point: self._events.put(("metric", run_id, point)),
        ).start()
        self._thread = threading.Thread(target=self._main, name=f"rehearsal-{self.name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self, reason: str = "Cancelled by the user") -> None:
        """Stop the running trials (their whole process groups) and start no more. Works before
        `start()` too: then no trial ever starts. The first reason given is the one kept."""
        with self._lock:
            if self._cancel_reason is None:
                self._cancel_reason = reason
        self._events.put(("cancel",))

    def wait(self, timeout: float | None = None) -> outcomes.SweepOutcome | None:
        self._done.wait(timeout)
        return self._outcome

    def run(self) -> outcomes.SweepOutcome:
        self.start()
        result = self.wait()
        assert result is not None
        return result

    @property
    def tracking_uri(self) -> str | None:
        return self._server.uri if self._server else None

    def progress(self) -> Progress:
        with self._lock:
            return self._progress()

    def trials(self) -> list[dict[str, Any]]:
        """Every started trial (as `TrialRecord.as_dict()`), in start order: the sweep's child jobs."""
        with self._lock:
            return [t.as_dict(maximize=self.spec.maximize, redact=self.options.redact) for t in self._trials]

    # -- checks made before anything starts ------------------------------------------------------
    def _resolve_inputs(self, problems: list[SpecProblem]) -> dict[str, str]:
        referenced = {r.name for r in command_text.references(self.spec.command) if r.namespace == "inputs"}
        texts: dict[str, str] = {}
        for name in sorted(referenced):
            entry = self.spec.inputs.get(name) or {}
            kind = str(entry.get("jobInputType", "")).lower()
            if kind == "literal":
                texts[name] = format_value(entry.get("value", ""))
                continue
            local = self.options.input_paths.get(name)
            uri = str(entry.get("uri") or "")
            if local is None and (uri.startswith("file://") or (uri and "://" not in uri and ":" not in uri)):
                local = Path(uri.removeprefix("file://"))
                if not local.is_absolute():
                    local = self.code_dir / local
            if local is None:
                problems.append(
                    SpecProblem(
                        f"inputs.{name}",
                        f"points at {uri or 'nothing'}, which a rehearsal cannot read",
                        f"give a local copy of '{name}' (input paths: {name}=PATH)",
                    )
                )
            elif not Path(local).exists():
                problems.append(SpecProblem(f"inputs.{name}", f"local copy {local} does not exist"))
            else:
                texts[name] = str(Path(local).resolve())
        return texts

    # -- the loop ----------------------------------------------------------------------------
    def _main(self) -> None:
        started = time.monotonic()
        timeout = self.spec.limits.timeout
        sweep_deadline = started + timeout.total_seconds() if timeout else None
        crash: BaseException | None = None
        try:
            while True:
                self._launch_what_fits()
                with self._lock:
                    if not self._running and not self._more_to_start():
                        break
                    deadlines = [
                        r.deadline for r in self._running.values() if r.deadline and not r.record.stop_reason
                    ]
                    if sweep_deadline is not None and self._cancel_reason is None:
                        deadlines.append(sweep_deadline)
                wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                try:
                    event = self._events.get(timeout=wait)
                except queue.Empty:
                    event = None
                if event is not None:
                    self._handle(event)
                self._check_deadlines(sweep_deadline)
        except BaseException as exc:  # noqa: BLE001 - whatever broke, no trial process may outlive the loop
            crash = exc
            with self._lock:
                self._cancel_reason = (
                    self._cancel_reason or f"The rehearsal stopped on an internal error: {exc!r}"
                )
            self._stop_all(self._cancel_reason)
            while self._running:
                self._handle(self._events.get())
        finally:
            self._finish(crash)

    def _more_to_start(self) -> bool:
        return self._cancel_reason is None and not self._exhausted and len(self._trials) < self.planned

    def _launch_what_fits(self) -> None:
        while True:
            with self._lock:
                if not self._more_to_start() or len(self._running) >= self.spec.limits.concurrency:
                    return
            suggestion = self.sampler.suggest()
            if suggestion is None:
                self._exhausted = True
                return
            self._launch(suggestion)

    def _launch(self, suggestion: Suggestion) -> None:
        index = len(self._trials)
        trial_name = f"{self.name}_{index}"
        trial_dir = self.run_dir / "trials" / trial_name
        work_dir = trial_dir / "code"
        outputs = self._trial_outputs(trial_dir)
        record = TrialRecord(
            name=trial_name,
            index=index,
            params=dict(suggestion.params),
            work_dir=work_dir,
            log_path=trial_dir / "user_logs" / "std_log.txt",
            outputs=outputs,
        )
        rendered = command_text.render(
            self.spec.command,
            search_space={k: format_value(v) for k, v in suggestion.params.items()},
            inputs=self._input_text,
            outputs={k: str(v) for k, v in outputs.items()},
        )
        record.warnings.extend(w for w in rendered.warnings if not self._mentions_redacted(w))
        self.store.register_run(
            trial_name,
            experiment_id=self.experiment_id,
            run_name=trial_name,
            artifact_dir=trial_dir / "artifacts",
        )
        process: TrialProcess | None = None
        try:
            self._snapshot_code(work_dir)
            (work_dir / "outputs").mkdir(exist_ok=True)
            process = TrialProcess(
                [self._shell(), "-c", rendered.text],
                cwd=work_dir,
                env=self._trial_env(trial_name),
                log_path=record.log_path,
            )
        except OSError as exc:
            record.error = f"The trial could not start: {exc}"
        trial_timeout = self.spec.limits.trial_timeout
        with self._lock:
            self._trials.append(record)
            record.started_at = _now()
            if process is None:
                record.status = FAILED
                record.ended_at = record.started_at
            else:
                record.status = RUNNING
                deadline = time.monotonic() + trial_timeout.total_seconds() if trial_timeout else None
                self._running[trial_name] = _Running(record, process, suggestion, deadline)
        if process is None:
            self.store.close_run(trial_name, "FAILED")
            self.sampler.tell(suggestion, None)
            self._emit("trial_ended", record)
            self._write_trial(record)
            return
        threading.Thread(
            target=lambda: self._events.put(
                ("exit", trial_name, process.wait_ended(self.options.linger_seconds))
            ),
            name=f"trial-{trial_name}",
            daemon=True,
        ).start()
        self._emit("trial_started", record)

    def _handle(self, event: tuple[Any, ...]) -> None:
        kind = event[0]
        if kind == "metric":
            self._on_metric(event[1], event[2])
        elif kind == "exit":
            self._on_exit(event[1], event[2])
        elif kind == "cancel":
            assert self._cancel_reason is not None
            self._stop_all(self._cancel_reason)

    def _on_metric(self, run_id: str, point: MetricPoint) -> None:
        if point.key != self.spec.objective.primary_metric:
            return
        with self._lock:
            running = self._running.get(run_id)
            if running is None:
                return  # a run the trial created itself, or a trial already ended
            record = running.record
            record.primary.append(point.value)
            verdict = None
            policy = self.spec.early_termination
            if policy is not None and record.stop_reason is None:
                histories = {t.name: t.primary for t in self._trials if t.primary}
                verdict = policy_decide(
                    policy, maximize=self.spec.maximize, trial=run_id, histories=histories
                )
        self._emit("trial_metric", record, metric=point)
        if verdict is not None and verdict.stop:
            self._stop(running, f"Early terminated: {verdict.reason}")

    def _on_exit(self, trial_name: str, code: int) -> None:
        with self._lock:
            running = self._running.pop(trial_name)
            record = running.record
            record.exit_code = code
            record.ended_at = _now()
            record.leftovers = list(running.process.leftovers)
            if record.stop_reason is not None:
                record.status = CANCELED
            elif code == 0:
                record.status = COMPLETED
            else:
                record.status = FAILED
                how = f"was killed by signal {-code}" if code < 0 else f"exited with status code {code}"
                record.error = f"Execution failed. User process {how}. See {record.log_path}"
        self.store.close_run(trial_name, _RUN_STATUS[record.status])
        self.sampler.tell(
            running.suggestion, None if record.status == FAILED else record.best(self.spec.maximize)
        )
        self._write_trial(record)
        self._emit("trial_ended", record)

    def _stop(self, running: _Running, reason: str) -> None:
        with self._lock:
            if running.record.stop_reason is not None or running.record.status in TRIAL_TERMINAL:
                return
            running.record.stop_reason = reason
        threading.Thread(
            target=running.process.stop,
            args=(self.options.kill_grace_seconds,),
            name="trial-stop",
            daemon=True,
        ).start()

    def _stop_all(self, reason: str) -> None:
        with self._lock:
            running = list(self._running.values())
        for r in running:
            self._stop(r, reason)

    def _check_deadlines(self, sweep_deadline: float | None) -> None:
        now = time.monotonic()
        if sweep_deadline is not None and now >= sweep_deadline:
            with self._lock:
                reached = self._cancel_reason is None
                if reached:
                    self._cancel_reason = f"The sweep reached limits.timeout ({self.spec.limits.timeout})"
            if reached:
                self._stop_all(self._cancel_reason)
        with self._lock:
            overdue = [r for r in self._running.values() if r.deadline is not None and now >= r.deadline]
        for r in overdue:
            self._stop(r, f"The trial reached limits.trialTimeout ({self.spec.limits.trial_timeout})")

    # -- the end -------------------------------------------------------------------------------
    def _finish(self, crash: BaseException | None) -> None:
        try:
            with self._lock:
                trials = list(self._trials)
            logged = {t.name: list(self.store.metrics(t.name)) for t in trials}
            result = outcomes.decide(
                trials,
                maximize=self.spec.maximize,
                primary_metric=self.spec.objective.primary_metric,
                logged=logged,
                cancel_reason=self._cancel_reason,
            )
            if crash is not None:
                result.status = FAILED
                message = f"The rehearsal stopped on an internal error: {crash!r}"
                result.error = {"code": "SystemError", "message": message, "details": []}
            result.run_dir = self.run_dir
            best = next((t for t in trials if t.name == result.best_trial), None)
            if best is not None:
                result.outputs = {k: str(v) for k, v in best.outputs.items()}
            for t in trials:
                if t.leftovers:
                    result.warnings.append(f"trial {t.name}: processes {t.leftovers} outlived its stop")
            if self.options.report and trials:
                result.report = self._write_report(result)
            self._write_json(
                self.run_dir / "outcome.json",
                result.as_dict(maximize=self.spec.maximize, redact=self.options.redact),
            )
            self._outcome = result
        finally:
            if self._server is not None:
                self._server.stop()
            self._done.set()
        self._emit("sweep_ended", None, outcome=self._outcome)

    def _write_report(self, result: outcomes.SweepOutcome) -> Path | None:
        from . import report  # matplotlib is imported there, and only when a report is written

        try:
            return report.write(
                self.run_dir / "report",
                sweep=self.name,
                outcome=result,
                histories={
                    t.name: self.store.metrics(t.name).get(self.spec.objective.primary_metric, [])
                    for t in result.trials
                },
                primary_metric=self.spec.objective.primary_metric,
                maximize=self.spec.maximize,
                redact=self.options.redact,
                log_names={n for n, d in self.spec.search_space.items() if getattr(d, "log", False)},
            )
        except Exception as exc:  # noqa: BLE001 - a report that cannot be drawn never changes the outcome
            result.warnings.append(f"no report: {exc}")
            return None

    # -- helpers ---------------------------------------------------------------------------------
    def _progress(self) -> Progress:
        counts = {COMPLETED: 0, FAILED: 0, CANCELED: 0, RUNNING: 0}
        for t in self._trials:
            counts[t.status] = counts.get(t.status, 0) + 1
        best = outcomes.best_trial(self._trials, self.spec.maximize)
        return Progress(
            planned=self.planned,
            started=len(self._trials),
            running=counts[RUNNING],
            completed=counts[COMPLETED],
            failed=counts[FAILED],
            canceled=counts[CANCELED],
            best_trial=best.name if best else None,
            best_score=best.best(self.spec.maximize) if best else None,
        )

    def _emit(
        self,
        kind: EventKind,
        record: TrialRecord | None,
        *,
        metric: MetricPoint | None = None,
        outcome: outcomes.SweepOutcome | None = None,
    ) -> None:
        if self.on_event is None:
            return
        with self._lock:
            progress = self._progress()
            trial = (
                record.as_dict(maximize=self.spec.maximize, redact=self.options.redact) if record else None
            )
        try:
            self.on_event(RehearsalEvent(kind, progress, trial, metric, outcome))
        except Exception as exc:  # noqa: BLE001 - a listener's bug must not stop the sweep
            print(f"rehearsal: event listener failed: {exc!r}", file=sys.stderr)

    def _mentions_redacted(self, warning: str) -> bool:
        return any(f"search_space.{name}}}" in warning for name in self.options.redact)

    def _trial_outputs(self, trial_dir: Path) -> dict[str, Path]:
        outputs: dict[str, Path] = {}
        for name, entry in self.spec.outputs.items():
            path = trial_dir / "outputs" / name
            if str(entry.get("jobOutputType", "uri_folder")).lower() == "uri_file":
                path.parent.mkdir(parents=True, exist_ok=True)
            else:
                path.mkdir(parents=True, exist_ok=True)
            outputs[name] = path
        return outputs

    def _snapshot_code(self, work_dir: Path) -> None:
        """Each trial runs in its own copy of the code directory, as each Azure ML trial runs in its
        own snapshot: concurrent trials writing ./outputs or caches never see each other."""
        run_dir = self.run_dir

        def ignore(folder: str, names: list[str]) -> set[str]:
            skipped = {n for n in names if n in _NOT_SNAPSHOTTED}
            skipped |= {n for n in names if (Path(folder) / n).resolve() == run_dir}
            return skipped

        shutil.copytree(self.code_dir, work_dir, symlinks=True, ignore=ignore)

    def _shell(self) -> str:
        return self.options.shell if Path(self.options.shell).exists() else "/bin/sh"

    def _trial_env(self, trial_name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_DROPPED)}
        env.update(self.spec.environment_variables)
        python_dir = self.options.python_dir or Path(sys.executable).parent
        env["PATH"] = str(python_dir) + os.pathsep + env.get("PATH", os.defpath)
        assert self._server is not None
        env.update(
            {
                # what Azure ML gives a trial's job (azureml-mlflow reads these)
                "MLFLOW_TRACKING_URI": self._server.uri,
                "MLFLOW_TRACKING_TOKEN": self._token,
                "MLFLOW_RUN_ID": trial_name,
                "MLFLOW_EXPERIMENT_ID": self.experiment_id,
                "MLFLOW_EXPERIMENT_NAME": self.spec.experiment_name,
                "AZUREML_RUN_ID": trial_name,
                # a rehearsal never reaches out: MLflow's usage telemetry stays off
                "MLFLOW_DISABLE_TELEMETRY": "true",
                "DO_NOT_TRACK": "true",
            }
        )
        return env

    def _write_trial(self, record: TrialRecord) -> None:
        path = record.log_path.parent.parent / "trial.json"
        data = record.as_dict(maximize=self.spec.maximize, redact=self.options.redact)
        data["metrics"] = {
            key: [[p.step, p.value] for p in points]
            for key, points in self.store.metrics(record.name).items()
        }
        self._write_json(path, data)

    @staticmethod
    def _write_json(path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
