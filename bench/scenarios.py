"""One benchmark run: one sweep through the whole app on devhost, virtual time.

Each run gets its own `LocalStack` (the app reads its settings from the process
environment, so one stack per process) and its own template copy, so every
Azure ML REST call the emulator sees for the template and the job belongs to
this run. `run_task` is what the worker processes of `bench.run` call.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from compat import parse_utc

ROOT = Path(__file__).resolve().parent.parent

HOUR = 3600.0
REPLAY_SAMPLES = 15  # re-replays of the first and last episode; the median is reported


@dataclass(frozen=True)
class Strategy:
    """How a waiting strategy maps onto this app's orchestrator settings."""

    key: str
    label: str
    settings: dict[str, str]
    consumes_events: bool
    note: str = ""


def _fixed(seconds: int) -> dict[str, str]:
    return {
        "SWEEP_POLL_FLOOR_SECONDS": str(seconds),
        "SWEEP_POLL_CAP_SECONDS": str(seconds),
        "SWEEP_EVENTS_ENABLED": "false",
    }


STRATEGIES: dict[str, Strategy] = {
    s.key: s
    for s in (
        Strategy("app", "this app (backoff 15->120 s, events, safety poll 1 h->8 h)", {}, True),
        Strategy("dagster-5s", "fixed 5 s (Dagster Azure ML client)", _fixed(5), False),
        Strategy("kestra-10s", "fixed 10 s (Kestra Azure ML plugin)", _fixed(10), False),
        Strategy("airflow-60s", "fixed 60 s (Airflow Data Factory operator)", _fixed(60), False),
        Strategy(
            "sdk-stream",
            "azure-ai-ml stream backoff 2->60 s",
            {
                "SWEEP_POLL_FLOOR_SECONDS": "2",
                "SWEEP_POLL_CAP_SECONDS": "60",
                "SWEEP_EVENTS_ENABLED": "false",
            },
            False,
            "approximation: our backoff doubles from 2 s to 60 s and resets to 2 s on a status change",
        ),
    )
}

# Sweep durations (virtual seconds) and the template each one uses: 10 min and
# 2 h are copies of train-sweep-template with another duration tag, seeded at
# run start; 48 h is the committed train-sweep-long.
SWEEPS: dict[str, tuple[str, float | None]] = {
    "10m": ("bench-sweep-10m", 600.0),
    "2h": ("bench-sweep-2h", 7200.0),
    "48h": ("train-sweep-long", None),
}


@dataclass
class Task:
    strategy: str
    events: bool
    sweep: str
    timeout: float = 3600.0


@dataclass
class Result:
    strategy: str
    events: bool
    sweep: str
    ok: bool = False
    runtime_status: str = ""
    polysync_status: str = ""
    error: str = ""
    template_get: int = 0
    exist_get: int = 0
    put: int = 0
    status_get: int = 0
    cancel: int = 0
    other: int = 0
    rest_total: int = 0
    sweep_seconds: float = 0.0  # job created -> job terminal (virtual)
    status_get_per_hour: float = 0.0
    detection_s: float | None = None  # job terminal -> orchestration finished (virtual)
    generations: int = 0
    history_per_generation: list[int] = field(default_factory=list)
    history_max: int = 0
    episodes: int = 0
    replay_cpu_first_ms: float | None = None  # median of REPLAY_SAMPLES re-replays
    replay_cpu_last_ms: float | None = None
    replay_cpu_live_first_ms: float | None = None  # the single live sample (host metrics)
    replay_cpu_live_last_ms: float | None = None
    replay_cpu_max_ms: float | None = None
    replay_cpu_total_ms: float = 0.0
    history_first_episode: int = 0  # history events the first / last episode replayed
    history_last_episode: int = 0
    wall_s: float = 0.0
    extrapolated_from: str = ""

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


def _parse_time(text: str) -> datetime:
    return parse_utc(text)


def _seed_templates(emulator: Any) -> None:
    base = emulator.job("train-sweep-template")
    for name, seconds in SWEEPS.values():
        if seconds is None:
            continue
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


def run_task(task: Task) -> dict[str, Any]:
    """Run one sweep start to finish and return its figures (a plain dict)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    logging.disable(logging.WARNING)
    from devhost.stack import LocalStack

    strategy = STRATEGIES[task.strategy]
    template, _ = SWEEPS[task.sweep]
    res = Result(strategy=task.strategy, events=task.events, sweep=task.sweep)
    t0 = time.perf_counter()
    stack = LocalStack.start(virtual=True, events=task.events, settings=dict(strategy.settings))
    episodes = _record_episodes(stack)
    try:
        _seed_templates(stack.emulator)
        answer = stack.post("sweeps", request_body(template, f"bench-{task.strategy}-{task.sweep}"))
        if answer.status_code != 202:
            res.error = f"start answered {answer.status_code}: {answer.text[:200]}"
            return res.as_dict()
        iid = answer.json()["id"]
        status = stack.host.wait_for_completion(iid, timeout=task.timeout)
        res.wall_s = time.perf_counter() - t0
        _collect(stack, iid, template, status, res)
        if episodes.counts:
            res.history_first_episode, res.history_last_episode = episodes.counts[0], episodes.counts[-1]
        res.replay_cpu_first_ms = episodes.median_replay_ms(episodes.first_body)
        res.replay_cpu_last_ms = episodes.median_replay_ms(episodes.last_body)
    except Exception as exc:  # noqa: BLE001 - reported in the table, never hidden
        res.error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        stack.stop()
    return res.as_dict()


class _Episodes:
    """What the orchestrator received in its first and last episode: how many
    history events, and the exact request body, kept for a re-replay."""

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

    def median_replay_ms(self, body: str | None) -> float | None:
        """Median thread CPU of REPLAY_SAMPLES replays of one episode's body. A
        single live sample is at the mercy of the other run sharing the CPUs and
        of the garbage collector; the orchestrator is deterministic, so replaying
        the same body again measures the same work."""
        if body is None:
            return None
        samples = []
        for _ in range(REPLAY_SAMPLES):
            t0 = time.thread_time()
            try:
                self.inner(body)
            except Exception:  # noqa: BLE001 - a failing orchestration ends by raising
                pass
            samples.append((time.thread_time() - t0) * 1000)
        return statistics.median(samples)


def _record_episodes(stack: Any) -> _Episodes:
    engine = stack.host.engine
    recorder = _Episodes(engine.orchestrators["sweep_orchestrator"])
    engine.orchestrators["sweep_orchestrator"] = recorder
    return recorder


def _collect(stack: Any, iid: str, template: str, status: dict[str, Any], res: Result) -> None:
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
    res.put = sum(n for (kind, _st), n in calls.items() if kind == "put")
    res.cancel = sum(n for (kind, _st), n in calls.items() if kind == "cancel")
    res.other = sum(calls.values()) - res.exist_get - res.status_get - res.put - res.cancel
    res.rest_total = res.template_get + sum(calls.values())

    job = emu.job(job_name) or {}
    created = _parse_time(job["systemData"]["createdAt"])
    terminal = _parse_time(job["systemData"]["lastModifiedAt"])  # set by the last status transition
    finished = _parse_time(status["lastUpdatedTime"])
    res.sweep_seconds = (terminal - created).total_seconds()
    res.status_get_per_hour = res.status_get / (res.sweep_seconds / HOUR) if res.sweep_seconds else 0.0
    res.detection_s = (finished - terminal).total_seconds()

    m = stack.host.metrics.instance(iid)
    res.generations = m.generations
    res.history_per_generation = list(m.history_len_per_generation)
    res.history_max = m.history_len_max
    res.episodes = m.episodes
    cpu = [c * 1000 for c in m.replay_cpu]
    res.replay_cpu_live_first_ms = cpu[0] if cpu else None
    res.replay_cpu_live_last_ms = cpu[-1] if cpu else None
    res.replay_cpu_max_ms = max(cpu) if cpu else None
    res.replay_cpu_total_ms = sum(cpu)
    res.ok = (
        res.runtime_status == "Completed"
        and res.polysync_status == "Success"
        and job.get("properties", {}).get("status") == "Completed"
        and res.put == 1
    )
