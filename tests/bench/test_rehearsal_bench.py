"""Smoke test of the rehearsal-overhead benchmark: one short trial, figures only, never timings."""

from __future__ import annotations

import pytest

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
