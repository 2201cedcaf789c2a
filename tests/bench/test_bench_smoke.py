"""Smoke test of the benchmark harness: one strategy, the 10-minute sweep.
Figures only, never timings."""

from __future__ import annotations

from bench.run import render, runs_table
from bench.scenarios import Task, run_task


def test_one_run_gives_sane_figures():
    r = run_task(Task("airflow-60s", events=False, sweep="10m"))
    assert r["error"] == "" and r["ok"], r
    assert r["rest_total"] >= 3
    assert r["template_get"] == 1 and r["put"] == 1 and r["exist_get"] == 1
    assert r["status_get"] >= 1
    assert r["detection_s"] is not None and r["detection_s"] >= 0
    assert 0 < r["history_max"] <= 200
    assert r["episodes"] >= 2 and r["replay_cpu_first_ms"] is not None
    table = runs_table([r])
    assert "airflow-60s" in table
    assert "## Targets" in render(
        [r], {"error": "skipped"}, {}, {"date": "d", "commit": "c", "machine": "m", "total_s": 0}
    )
