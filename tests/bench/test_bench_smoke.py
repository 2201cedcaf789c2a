"""Smoke tests of the benchmark harness: one 10-minute sweep through the stack, the peers' model,
and the report's verdicts following the figures. Figures only, never timings."""

from __future__ import annotations

import copy

import pytest

from bench.peers import PEERS, model, polls_until, sdk_wait
from bench.run import DEFAULT_PERIOD, LOADS, render, runs_table, targets, trial_cost
from bench.scenarios import Task, run_task


@pytest.fixture(scope="module")
def lost_terminal() -> dict:
    """A 10-minute sweep whose terminal events are lost, ending 1 s after a watcher pass."""
    return run_task(Task("10m", events="terminal-lost", extra_seconds=1))


def test_one_run_counts_every_caller_and_detects_within_a_period(lost_terminal):
    r = lost_terminal
    assert r["error"] == "" and r["ok"], r
    # the submit PUTs without a GET first, and the ending the watcher listed needs no GET
    assert (r["template_get"], r["exist_get"], r["submit_put"], r["untag_put"]) == (1, 0, 1, 1)
    assert r["status_get"] == 0 and r["own_calls"] == 3
    # a pass per period while the sweep runs: the watcher's list pages are counted, not assumed
    assert r["watcher_list"] >= r["sweep_seconds"] / DEFAULT_PERIOD
    assert r["total_calls"] == r["own_calls"] + r["watcher_list"] + r["reconciler_list"]
    # ARM calls only: the trial listings (run history) are counted apart, with their activities
    arm_own = r["template_get"] + r["exist_get"] + r["submit_put"] + r["status_get"] + r["cancel"]
    assert r["own_calls"] == arm_own + r["untag_put"]
    assert r["trial_list"] >= 2 and r["trial_activities"] == r["trial_list"]
    assert r["reconciler_list"] >= 1  # the reconciler ran on its schedule and its page is counted
    # the end falls just after a pass: the next pass sees it, within one period, not at once
    assert 1 <= r["detection_s"] <= DEFAULT_PERIOD
    assert r["watcher_episodes"] > 0 and r["watcher_activities"] > 0 and r["http"] == 1
    assert 0 < r["history_max"] <= 200
    assert any("| 10m | terminal-lost |" in line for line in runs_table([{**r, "label": "main"}]))


def test_peers_poll_on_their_own_schedules():
    fixed = {p.key: p for p in PEERS}
    assert model(fixed["airflow-adf"], 600) == {"status_get": 11, "calls": 12, "detection_s": 0}
    assert model(fixed["airflow-adf"], 601)["detection_s"] == 59
    # the SDK's real curve: 2 s at first, 60 s once polling has gone on for minutes, never reset
    wait = sdk_wait()
    if wait is None:
        pytest.skip("azure-ai-ml is not installed")
    assert wait(0) == 2 and wait(600) == 59  # int() of a sigmoid towards 60: it never quite gets there
    polls, detection = polls_until(7200, lambda t: float(wait(t)))
    assert 7200 / 60 < polls < 7200 / 60 + 40 and 0 <= detection < 60


def _loads(base_total: float, watcher_total: float) -> dict:
    one = {
        "runs": 1000,
        "page_size": 20,
        "success": 1000,
        "duplicates": 0,
        "jobs_created": 1000,
        "detection_s": {"max": 30.0, "p50": 15.0},
        "steady_calls_per_hour": {"total": watcher_total, "untag_put": 0.0},
        "pages_per_pass": 50.0,
    }
    loads = {key: copy.deepcopy(one) for key in LOADS}
    loads["per-run"]["steady_calls_per_hour"]["total"] = base_total
    return loads


def test_the_20x_verdict_follows_the_measured_calls():
    def verdict(loads: dict) -> bool:
        rows = targets([], loads, {}, [], None)
        return next(met for name, met, _ in rows if "page size 20" in name)

    assert verdict(_loads(30000, 1400)) is True
    assert verdict(_loads(30000, 6300)) is False


def test_the_20x_floor_names_the_page_size_it_needs():
    # 30000 calls/h / 20 = 1500 calls/h; one look a minute = 60 looks/h -> 25 pages a look -> 40 per page
    rows = targets([], _loads(30000, 6300), {}, [], None)
    text = next(figures for name, _, figures in rows if "page size 20" in name)
    assert "3000 calls/h = 10.0x fewer" in text and "cannot hold at this page size" in text
    assert "20x needs page size >= 40" in text


def test_the_report_renders_with_missing_parts(lost_terminal):
    text = render(
        [{**lost_terminal, "label": "main"}],
        {key: {"error": "skipped"} for key in LOADS},
        {},
        {"date": "d", "commit": "c", "machine": "m", "total_s": 0},
        [],
        None,
    )
    assert "## Targets" in text and "**NO**" in text


def test_the_cost_of_trial_progress_is_the_difference_to_the_same_sweep_without_it():
    on = run_task(Task("10m", events="delivered", extra_seconds=1, label="main"))
    off = run_task(Task("10m", events="delivered", extra_seconds=1, label="trials-off",
                        settings={"SWEEP_TRIAL_PROGRESS": "false"}))  # fmt: skip
    (t,) = trial_cost([on, off], ("10m",))
    assert t["ok"] and off["trial_list"] == off["trial_activities"] == 0
    assert t["listings"] == on["trial_list"] >= 2 and t["arm_on"] == t["arm_off"]  # no ARM call added
    assert t["executions_on"] - t["executions_off"] >= 2 * on["trial_list"]  # an episode and an activity each
    assert t["extra_executions_per_hour"] > 0 and t["extra_cost_per_hour"] > 0
