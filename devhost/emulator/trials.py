"""A sweep's trials: the child runs the run-history data plane lists for
`jobs.list(parent_job_name=...)`.

`TrialBook` is the store the data plane reads; anything may feed it. Today the
`SimulatedTrials` planner fills it: when a sweep starts running it samples the search
space (deterministically, seeded by the job name), plans `maxTotalTrials` trials in
waves of `maxConcurrentTrials` across the sweep's running time, and settles them when
the sweep ends or is cancelled. A runner that executes real trials (issue 15) records
them with `TrialBook.add` / `TrialBook.update` instead; a trial whose status is set
explicitly no longer follows its plan.

Run ids follow the service's `{sweep}_{k}` (the recorded sweep's tags
`_aml_system_{sweep}_0`, `_aml_system_{sweep}_1` carry the trials' parameters).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
TRIAL_RUN_TYPE = "azureml.scriptrun"  # a sweep trial is a command (script) run


def trial_properties() -> dict[str, str]:
    return {"_azureml.ComputeTargetType": "amlctrain", "azureml.runsource": "azureml.scriptrun"}


def trial_tags(trial: Trial) -> dict[str, str]:
    return {"hyperparameters": json.dumps(trial.parameters)}


def trial_event_run(trial: Trial, experiment: Any, status: str) -> dict[str, Any]:
    """What a trial's own Event Grid event carries: its run document's tags, properties and
    status (not its parent's tags: a child run has its own)."""
    return {
        "experimentName": experiment,
        "tags": trial_tags(trial),
        "properties": trial_properties(),
        "status": status,
    }


@dataclass
class Trial:
    run_id: str
    parent: str
    number: int
    parameters: dict[str, Any]
    created: datetime
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    planned_outcome: str = "Completed"
    status: str | None = None  # set explicitly: overrides the plan
    started: datetime | None = None
    ended: datetime | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def status_at(self, now: datetime) -> str:
        if self.status is not None:
            return self.status
        if self.planned_start is None or now < self.planned_start:
            return "Queued"
        if self.planned_end is not None and now >= self.planned_end:
            return self.planned_outcome
        return "Running"

    def times_at(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        status = self.status_at(now)
        start = self.started or (self.planned_start if status != "Queued" else None)
        end = self.ended or (self.planned_end if status in TERMINAL and self.status is None else None)
        return start, end


class TrialBook:
    """Child runs by parent job name (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_parent: dict[str, list[Trial]] = {}

    def add(self, trial: Trial) -> None:
        with self._lock:
            self._by_parent.setdefault(trial.parent, []).append(trial)

    def update(self, run_id: str, **changes: Any) -> Trial:
        with self._lock:
            for trials in self._by_parent.values():
                for trial in trials:
                    if trial.run_id == run_id:
                        for key, value in changes.items():
                            setattr(trial, key, value)
                        return trial
        raise KeyError(run_id)

    def children(self, parent: str) -> list[Trial]:
        with self._lock:
            return list(self._by_parent.get(parent, []))

    def get(self, run_id: str) -> Trial | None:
        with self._lock:
            for trials in self._by_parent.values():
                for trial in trials:
                    if trial.run_id == run_id:
                        return trial
        return None

    def forget(self, parent: str) -> None:
        with self._lock:
            self._by_parent.pop(parent, None)


def sample(distribution: Any, rng: random.Random) -> Any:
    """One value from a wire-form search-space entry (`["uniform", [0.1, 1]]`, ...)."""
    kind, args = str(distribution[0]).lower(), distribution[1]
    if kind == "choice":
        return rng.choice(args[0])
    if kind == "randint":
        return rng.randrange(int(args[0]))
    if kind in ("uniform", "quniform"):
        value = rng.uniform(args[0], args[1])
    elif kind in ("loguniform", "qloguniform"):
        value = math.exp(rng.uniform(args[0], args[1]))
    elif kind in ("normal", "qnormal"):
        value = rng.gauss(args[0], args[1])
    elif kind in ("lognormal", "qlognormal"):
        value = math.exp(rng.gauss(args[0], args[1]))
    else:
        raise ValueError(f"unknown distribution {kind!r}")
    if kind.startswith("q"):
        q = args[-1]
        value = round(value / q) * q
    return value


def space_size(search_space: dict[str, Any]) -> str:
    """What the service reports in `properties.space_size`: the grid size, or
    `infinite_space_size` when any parameter is continuous."""
    size = 1
    for dist in search_space.values():
        if str(dist[0]).lower() != "choice":
            return "infinite_space_size"
        size *= len(dist[1][0])
    return str(size)


class SimulatedTrials:
    """Plans trials for a sweep from its definition; no code runs."""

    def __init__(self, book: TrialBook) -> None:
        self.book = book

    def plan(
        self,
        name: str,
        props: dict[str, Any],
        *,
        running: datetime,
        end: datetime | None,
        outcome: str,
        metric_logged: bool,
    ) -> list[Trial]:
        limits = props.get("limits") if isinstance(props.get("limits"), dict) else {}
        total = int(limits.get("maxTotalTrials") or 1)
        concurrent = max(1, min(total, int(limits.get("maxConcurrentTrials") or total)))
        space = props.get("searchSpace") if isinstance(props.get("searchSpace"), dict) else {}
        rng = random.Random(hashlib.sha256(name.encode()).digest())
        waves = math.ceil(total / concurrent)
        window = (end - running) if end is not None else timedelta(seconds=300 * waves)
        slot = window / waves
        trials = []
        for k in range(total):
            start = running + slot * (k // concurrent)
            trial = Trial(
                run_id=f"{name}_{k}",
                parent=name,
                number=k,
                parameters={p: sample(d, rng) for p, d in sorted(space.items())},
                created=running,
                planned_start=start,
                planned_end=start + slot * 0.9 if end is not None else None,
                planned_outcome=outcome,
            )
            if metric_logged and outcome == "Completed":
                trial.metrics = {"score": rng.random()}
            self.book.add(trial)
            trials.append(trial)
        return trials

    def settle(self, name: str, status: str, now: datetime) -> list[Trial]:
        """The sweep ended or was cancelled: trials still queued or running take `status`
        (returned, for their events)."""
        settled = []
        for trial in self.book.children(name):
            current = trial.status_at(now)
            if current not in TERMINAL:
                start, _ = trial.times_at(now)
                settled.append(self.book.update(trial.run_id, status=status, started=start, ended=now))
        return settled


def parameters_tag(trial: Trial) -> str:
    return json.dumps(trial.parameters)
