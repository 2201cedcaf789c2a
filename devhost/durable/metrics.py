"""Counters the durable host keeps for tests and benchmarks."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class InstanceMetrics:
    episodes: int = 0
    generations: int = 1
    # max history length seen in each generation (index = generation - 1)
    history_len_per_generation: list[int] = field(default_factory=lambda: [0])
    # CPU seconds of each orchestrator call (thread_time), in order
    replay_cpu: list[float] = field(default_factory=list)
    # EventRaised events that reached a continue-as-new after it was called and went
    # on into the next generation (DTFx carry-over)
    events_carried_over: int = 0

    @property
    def history_len_max(self) -> int:
        return max(self.history_len_per_generation or [0])

    @property
    def replay_cpu_first(self) -> float | None:
        return self.replay_cpu[0] if self.replay_cpu else None

    @property
    def replay_cpu_last(self) -> float | None:
        return self.replay_cpu[-1] if self.replay_cpu else None

    @property
    def replay_cpu_total(self) -> float:
        return sum(self.replay_cpu)

    def as_dict(self) -> dict[str, Any]:
        return {
            "episodes": self.episodes,
            "generations": self.generations,
            "historyLenPerGeneration": list(self.history_len_per_generation),
            "historyLenMax": self.history_len_max,
            "replayCpuFirst": self.replay_cpu_first,
            "replayCpuLast": self.replay_cpu_last,
            "replayCpuMax": max(self.replay_cpu) if self.replay_cpu else None,
            "replayCpuTotal": self.replay_cpu_total,
            "eventsCarriedOver": self.events_carried_over,
        }


class HostMetrics:
    """Per-instance metrics plus global counters. Mutated by the engine under its lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.instances: dict[str, InstanceMetrics] = {}
        self.activities_run = 0
        self.activities_failed = 0
        self.events_raised = 0
        self.events_carried_over = 0
        self.activities_rerun = 0  # extra executions by the at-least-once switch
        self.episodes = 0
        # Function executions other than orchestrator episodes and activities, by trigger
        self.event_grid_runs = 0
        self.timer_runs = 0
        self.http_runs = 0

    @property
    def executions(self) -> int:
        """Every Function execution the host made: orchestrator episodes, activities (reruns
        included) and trigger invocations (what Flex Consumption bills per execution)."""
        return self.episodes + self.activities_run + self.event_grid_runs + self.timer_runs + self.http_runs

    def instance(self, instance_id: str) -> InstanceMetrics:
        with self._lock:
            m = self.instances.get(instance_id)
            if m is None:
                m = self.instances[instance_id] = InstanceMetrics()
            return m

    def bump(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "activitiesRun": self.activities_run,
                "activitiesFailed": self.activities_failed,
                "eventsRaised": self.events_raised,
                "eventsCarriedOver": self.events_carried_over,
                "activitiesRerun": self.activities_rerun,
                "episodes": self.episodes,
                "eventGridRuns": self.event_grid_runs,
                "timerRuns": self.timer_runs,
                "httpRuns": self.http_runs,
                "instances": {k: v.as_dict() for k, v in self.instances.items()},
            }
