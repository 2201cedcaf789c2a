"""One benchmark run: one sweep through the whole app on devhost, virtual time, with the sweep
watcher and the orphan reconciler running on their schedules, and Event Grid events delivered,
delayed or lost as the scenario says.

Each run gets its own `LocalStack` (the app reads its settings from the process environment, so
one stack per process) and its own template copy, so every Azure ML call the emulator sees for
the template and the job belongs to this run; the watcher's and the reconciler's list calls are
this run's share (it is the only sweep). `run_task` is what the worker processes of `bench.run`
call.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from compat import parse_utc

ROOT = Path(__file__).resolve().parent.parent

HOUR = 3600.0
REPLAY_PAIRS = 41  # interleaved first/last replays of the 48 h sweep's episodes
TERMINAL = ("Completed", "Failed", "Canceled")

# Sweep durations (virtual seconds) and the template each one uses: 10 min and 2 h are copies of
# train-sweep-template with another duration tag, seeded at run start; 48 h is the committed
# train-sweep-long (10 min queue).
SWEEPS: dict[str, tuple[str, float | None]] = {
    "10m": ("bench-sweep-10m", 600.0),
    "30m": ("bench-sweep-30m", 1800.0),
    "2h": ("bench-sweep-2h", 7200.0),
    "48h": ("train-sweep-long", None),
}

# What happens to the sweep's own Event Grid events on their way to the app.
EVENTS = {
    "delivered": "every event delivered",
    "terminal-lost": "the terminal events lost (RunStatusChanged Completed and RunCompleted)",
    "final-lost": "Finalizing and the terminal events lost",
    "all-lost": "no event delivered at all (subscription missing or broken)",
}


@dataclass
class Task:
    sweep: str
    events: str = "delivered"  # a key of EVENTS
    delay: float = 1.0  # Event Grid delivery delay, virtual seconds
    settings: dict[str, str] = field(default_factory=dict)  # app settings on top of the defaults
    label: str = "app"
    extra_seconds: int = 0  # added to the sweep's duration: moves its end against the watcher's passes
    replay: bool = False  # measure replay CPU with interleaved pairs
    timeout: float = 3600.0


@dataclass
class Result:
    label: str
    sweep: str
    events: str
    delay: float
    extra_seconds: int = 0
    ok: bool = False
    error: str = ""
    runtime_status: str = ""
    polysync_status: str = ""
    # Azure ML calls: the run's own, the watcher's untag PUT, and the shared listings
    template_get: int = 0
    exist_get: int = 0
    submit_put: int = 0
    status_get: int = 0
    cancel: int = 0
    untag_put: int = 0
    watcher_list: int = 0
    reconciler_list: int = 0
    own_calls: int = 0  # everything attributable to this run alone (untag included)
    total_calls: int = 0  # own + the listings (a lone sweep's share is all of them): ARM calls
    # the run's trial listings (customStatus.trials) on the run-history data plane: not ARM
    trial_list: int = 0
    sweep_seconds: float = 0.0  # job created -> terminal (virtual)
    detection_s: float | None = None  # terminal transition -> the run's end (virtual)
    # Function executions
    run_episodes: int = 0
    run_activities: int = 0
    trial_activities: int = 0  # read_trial_progress, apart from the run's other activities
    watcher_episodes: int = 0
    watcher_activities: int = 0
    event_grid: int = 0
    http: int = 0
    timer: int = 0
    reconciler_runs: int = 0
    executions: int = 0
    # history and replay
    generations: int = 0
    history_max: int = 0
    watcher_history_max: int = 0
    history_first_episode: int = 0
    history_last_episode: int = 0
    replay: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status_input(status: dict[str, Any] | None) -> dict[str, Any]:
    """The orchestration input from a Durable status: the extension returns a
    Python-started instance's input as a JSON string."""
    value = (status or {}).get("input")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _seed_templates(emulator: Any, extra_seconds: int = 0) -> None:
    base = emulator.job("train-sweep-template")
    for name, seconds in SWEEPS.values():
        if seconds is None:
            continue
        seconds += extra_seconds
        job = dict(base)
        job.pop("id", None)
        job["name"] = name
        props = dict(base["properties"])
        props["tags"] = {**props.get("tags", {}), "emulator.durationSeconds": str(int(seconds))}
        props["displayName"] = f"Benchmark sweep, {name}"
        job["properties"] = props
        emulator.add_job(job)


def request_body(template: str, run_id: str) -> dict[str, Any]:
    return {
        "externalId": template,
        "name": "bench sweep",
        "runId": run_id,
        "attributes": {"AI Foundry Objective Metric": "accuracy", "AI Foundry Objective Goal": "Maximize"},
        "parameters": [
            {"name": "learning_rate", "value": "0.01", "dataType": "Float", "direction": "Input"},
            {"name": "model", "dataType": "String", "direction": "Output"},
        ],
    }


def losing(events: str) -> Any:
    """The `lose_events` predicate of a scenario (None: nothing lost on purpose)."""
    statuses = {"terminal-lost": set(TERMINAL), "final-lost": {"Finalizing", *TERMINAL}}.get(events)
    if statuses is None:
        return None

    def lose(event: dict[str, Any]) -> bool:
        data = event.get("data") or {}
        completed = str(event.get("eventType") or event.get("type") or "").endswith("RunCompleted")
        return data.get("runType") != "azureml.scriptrun" and (completed or data.get("runStatus") in statuses)

    return lose


def run_task(task: Task) -> dict[str, Any]:
    """Run one sweep start to finish and return its figures (a plain dict)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    logging.disable(logging.WARNING)
    from bench.instrument import install
    from devhost.stack import LocalStack

    template, _ = SWEEPS[task.sweep]
    res = Result(
        label=task.label,
        sweep=task.sweep,
        events=task.events,
        delay=task.delay,
        extra_seconds=task.extra_seconds,
    )
    t0 = time.perf_counter()
    stack = LocalStack.start(
        virtual=True,
        events=task.events != "all-lost",
        settings={"RECONCILE_SCHEDULE": RECONCILE_EVERY_10_MIN, **task.settings},
        event_delay_seconds=task.delay,
        lose_events=losing(task.events),
    )
    counts = install(stack.host)
    episodes = _record_episodes(stack)
    try:
        # Time moves only as the bench says, in steps, every callback in order: the figures are
        # the same on every run (a free-running clock would race the counters).
        stack.clock.auto = False
        _seed_templates(stack.emulator, task.extra_seconds)
        stack.host.schedule_timer_triggers()  # the orphan reconciler, every 10 virtual minutes
        answer = stack.post("sweeps", request_body(template, f"bench-{task.sweep}-{task.events}"))
        if answer.status_code != 202:
            res.error = f"start answered {answer.status_code}: {answer.text[:200]}"
            return res.as_dict()
        iid = answer.json()["id"]
        status = advance_until(stack, lambda: _finished(stack, iid), task.timeout)
        # until the watcher has nothing left to watch and ends (the untag PUT, its idle passes)
        advance_until(stack, lambda: _watcher_done(stack), task.timeout, limit=3 * HOUR)
        res.wall_s = time.perf_counter() - t0
        _collect(stack, iid, template, status, res, counts)
        if episodes.counts:
            res.history_first_episode, res.history_last_episode = episodes.counts[0], episodes.counts[-1]
        if task.replay:
            res.replay = episodes.interleaved_pairs()
    except Exception as exc:  # noqa: BLE001 - reported in the table, never hidden
        res.error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        stack.stop()
    return res.as_dict()


# The app's default orphan-reconciler schedule (infra and README): every 10 minutes.
RECONCILE_EVERY_10_MIN = "0 */10 * * * *"
STEP = 60.0  # virtual seconds per step of the bench's clock


def advance_until(stack: Any, done: Any, timeout: float, *, limit: float = 7 * 24 * HOUR) -> Any:
    """Step virtual time until `done()` answers something (returned); raises past `limit`
    virtual seconds or `timeout` wall seconds."""
    deadline = time.monotonic() + timeout
    moved = 0.0
    while True:
        stack.clock.wait_quiet()
        answer = done()
        if answer:
            return answer
        if moved >= limit or time.monotonic() > deadline:
            raise TimeoutError(f"not done after {moved:.0f} virtual s")
        stack.clock.advance(STEP)
        moved += STEP


def _finished(stack: Any, iid: str) -> dict[str, Any] | None:
    status = stack.host.get_status(iid)
    return status if status and status["runtimeStatus"] in ("Completed", "Failed", "Terminated") else None


def _watcher_done(stack: Any) -> bool:
    from contracts import watcher_instance_id

    status = stack.host.get_status(watcher_instance_id(stack.env.get("TASKHUB_NAME")))
    return status is None or status["runtimeStatus"] not in ("Pending", "Running")


class _Episodes:
    """What the sweep orchestrator received in its first and last episode: how many history
    events, and the exact request body, kept for re-replays."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.counts: list[int] = []
        self.first_body: str | None = None
        self.last_body: str | None = None

    def __call__(self, body: str) -> Any:
        self.counts.append(body.count('"EventType"'))
        if self.first_body is None:
            self.first_body = body
        self.last_body = body
        return self.inner(body)

    def _cpu_ms(self, body: str) -> float:
        t0 = time.thread_time()
        try:
            self.inner(body)
        except Exception:  # noqa: BLE001 - a failing orchestration ends by raising
            pass
        return (time.thread_time() - t0) * 1000

    def interleaved_pairs(self) -> dict[str, Any]:
        """Replay the first and the last episode alternately REPLAY_PAIRS times (the orchestrator
        is deterministic: the same body is the same work), so load on this shared box hits both
        alike; the ratio of each pair, and p10/p50/p90 of ratios and times."""
        if self.first_body is None or self.last_body is None:
            return {}
        firsts, lasts, ratios = [], [], []
        for i in range(REPLAY_PAIRS):
            order = (self.first_body, self.last_body) if i % 2 == 0 else (self.last_body, self.first_body)
            a, b = (self._cpu_ms(body) for body in order)
            first, last = (a, b) if i % 2 == 0 else (b, a)
            firsts.append(first)
            lasts.append(last)
            ratios.append(last / first if first > 0 else float("inf"))
        return {
            "pairs": REPLAY_PAIRS,
            "first_ms": _quantiles(firsts),
            "last_ms": _quantiles(lasts),
            "ratio": _quantiles(ratios),
        }


def _quantiles(values: list[float]) -> dict[str, float]:
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return {"p10": deciles[0], "p50": statistics.median(values), "p90": deciles[-1]}


def _record_episodes(stack: Any) -> _Episodes:
    engine = stack.host.engine
    recorder = _Episodes(engine.orchestrators["sweep_orchestrator"])
    engine.orchestrators["sweep_orchestrator"] = recorder
    return recorder


RUN_ACTIVITIES = ("fetch_template", "submit_sweep", "get_job_status", "cancel_job", "delete_run_secrets")


def _collect(stack: Any, iid: str, template: str, status: dict[str, Any], res: Result, counts: Any) -> None:
    from contracts import watcher_instance_id

    emu = stack.emulator
    res.runtime_status = status["runtimeStatus"]
    output = status.get("output")
    if isinstance(output, dict):
        res.polysync_status = str(output.get("status", ""))
    job_name = status_input(status).get("jobName") or status_input(stack.host.get_status(iid)).get("jobName")
    tmpl = emu.calls_for(template)
    calls = emu.calls_for(job_name)
    res.template_get = sum(n for (kind, _st), n in tmpl.items() if kind == "get")
    res.exist_get = sum(n for (kind, st), n in calls.items() if kind == "get" and st == 404)
    res.status_get = sum(n for (kind, st), n in calls.items() if kind == "get" and st != 404)
    res.submit_put = sum(n for (kind, st), n in calls.items() if kind == "put" and st == 201)
    res.untag_put = sum(n for (kind, st), n in calls.items() if kind == "put" and st != 201)
    res.cancel = sum(n for (kind, _st), n in calls.items() if kind == "cancel")
    res.watcher_list = counts.watcher_pages
    res.reconciler_list = emu.calls["list"] - counts.watcher_pages
    res.trial_list = sum(n for (kind, _st), n in calls.items() if kind == "runhistory")
    res.own_calls = res.template_get + sum(calls.values()) - res.trial_list
    res.total_calls = res.own_calls + res.watcher_list + res.reconciler_list

    job = emu.job(job_name) or {}
    created = parse_utc(job["systemData"]["createdAt"])
    ended = emu.ended_at(job_name)
    finished = parse_utc(status["lastUpdatedTime"])
    if ended is not None:
        res.sweep_seconds = (ended - created).total_seconds()
        res.detection_s = (finished - ended).total_seconds()

    by = counts.by_function
    res.run_episodes = by["sweep_orchestrator"]
    res.run_activities = sum(by[a] for a in RUN_ACTIVITIES)
    res.trial_activities = by["read_trial_progress"]
    res.watcher_episodes = by["sweep_watcher"]
    res.watcher_activities = by["watch_jobs"] + by["unwatch_job"]
    metrics = stack.host.metrics
    res.event_grid, res.http, res.timer = metrics.event_grid_runs, metrics.http_runs, metrics.timer_runs
    res.executions = sum(by.values()) + res.event_grid + res.http + res.timer

    m = metrics.instance(iid)
    res.generations = m.generations
    res.history_max = m.history_len_max
    watcher = metrics.instances.get(watcher_instance_id(stack.env.get("TASKHUB_NAME")))
    res.watcher_history_max = watcher.history_len_max if watcher else 0
    res.ok = (
        res.runtime_status == "Completed"
        and res.polysync_status == "Success"
        and emu.transitions(job_name)[-1][1] == "Completed"
        and res.submit_put == 1
    )
