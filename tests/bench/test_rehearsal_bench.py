"""Smoke test of the rehearsal-overhead benchmark: one short trial, figures only, never timings."""

from __future__ import annotations

import pytest

from bench import run as bench_run
from bench.rehearsal import measure, render


@pytest.mark.slow
def test_one_pair_gives_sane_figures(monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    r = measure(trials=1, seconds=0.1, warm_up=False)
    assert len(r["direct_runs_s"]) == len(r["rehearsed_trials_s"]) == len(r["pair_ratios"]) == 1
    assert r["direct_median_s"] > 0.1 and r["rehearsed_median_s"] > 0.1
    assert r["ratio"] == pytest.approx(r["rehearsal_per_trial_s"] / r["direct_median_s"], rel=0.01)
    assert r["verdict"] == ("pass" if r["ratio"] < r["target_ratio"] else "FAIL")
    assert "ratio rehearsed / direct" in render(r)
    # `make bench` puts the figures in bench/RESULTS.md with the verdict computed from them
    report = bench_run.render(
        [], {"error": "skipped"}, {}, {"date": "d", "commit": "c", "machine": "m", "total_s": 0}, rehearsal=r
    )
    assert "## Sweep rehearsal overhead" in report and f"{r['ratio']:.3f}x" in report
    row = next(
        line for line in report.splitlines() if line.startswith("| Sweep rehearsal: wall time per trial")
    )
    assert ("| yes |" in row) == (r["verdict"] == "pass")
    failed = bench_run.render(
        [],
        {"error": "skipped"},
        {},
        {"date": "d", "commit": "c", "machine": "m", "total_s": 0},
        rehearsal={**r, "ratio": 2.0, "verdict": "FAIL"},
    )
    row = next(
        line for line in failed.splitlines() if line.startswith("| Sweep rehearsal: wall time per trial")
    )
    assert "| **NO** |" in row
