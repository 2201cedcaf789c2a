"""Fault soak in the suite (40 runs; `make soak` runs 200): every run ends in its
expected terminal state with zero duplicate jobs and zero jobs left running while
20% of Azure ML calls fail (429 + Retry-After, 500, 503, dropped connections,
answers lost after the request was applied, slow answers)."""

from __future__ import annotations

from bench.soak import KINDS, run_soak
from devhost.emulator.faults import FAULT_KINDS


def test_soak_40_runs_at_20_percent_faults():
    figures = run_soak(40, rate=0.2, seed=7, timeout=240)
    print(figures.table())
    assert not figures.unexpected, figures.table()
    assert figures.duplicate_jobs == 0
    assert figures.jobs_left_running == []
    assert set(figures.by_kind) == set(KINDS)  # the whole mix ran
    assert set(figures.faults) == set(FAULT_KINDS)  # every fault kind was injected
    assert sum(figures.faults.values()) >= 0.1 * sum(figures.calls.values())
    assert figures.reconciled >= 1  # terminated runs' jobs were cleaned up by the reconciler
    assert figures.passed
