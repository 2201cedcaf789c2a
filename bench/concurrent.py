"""N concurrent 30-minute sweeps through devhost (HTTP start route), with the sweep watcher and the
orphan reconciler on their schedules: Azure ML calls in total and by who makes them, detection
of every run, Function executions, memory.

The starts are spread evenly over the first 10 virtual minutes (sweeps do not all start on the
same second, and the watcher's period then falls at every phase of a run's end); from minute 10
to minute 30 all N run at once, and the calls made in that window are the steady state, per hour.

Run in its own process (`python -m bench.concurrent --runs 1000 --events lost --page-size 20`) so
that peak RSS is this workload's alone; prints one JSON object. Time moves in fixed steps (the
clock is not free-running), so the counts are the same on every run.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOUR = 3600.0


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run(
    runs: int,
    *,
    events: str = "delivered",
    page_size: int = 20,
    settings: dict[str, str] | None = None,
    clients: int = 8,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    logging.disable(logging.WARNING)
    import requests

    from bench.instrument import install
    from bench.scenarios import SWEEPS, _seed_templates, advance_until, request_body, status_input
    from compat import parse_utc
    from devhost.stack import LocalStack

    template = SWEEPS["30m"][0]
    settings = {"RECONCILE_SCHEDULE": "0 */10 * * * *", **(settings or {})}
    out: dict[str, Any] = {
        "runs": runs,
        "events": events,
        "page_size": page_size,
        "settings": settings,
        "route": "HTTP POST /api/sweeps",
        "clients": clients,
    }
    stack = LocalStack.start(virtual=True, events=events != "lost", page_size=page_size, settings=settings)
    counts = install(stack.host)
    try:
        stack.clock.auto = False
        _seed_templates(stack.emulator)
        stack.host.schedule_timer_triggers()
        out["rss_after_start_mib"] = _rss_mib()
        v0 = stack.clock.now()
        sessions: dict[int, requests.Session] = {}

        def start(i: int) -> str:
            s = sessions.setdefault(threading.get_ident(), requests.Session())
            s.headers.update(stack.key_header)
            answer = s.post(stack.url("sweeps"), json=request_body(template, f"load-{i:04d}"), timeout=120)
            if answer.status_code != 202:
                raise RuntimeError(f"start {i}: {answer.status_code} {answer.text[:200]}")
            return answer.json()["id"]

        t0 = time.perf_counter()
        cpu0 = time.process_time()
        ids: list[str] = []
        batch = max(1, -(-runs // START_BATCHES))  # ceil: never more than START_BATCHES batches
        with ThreadPoolExecutor(clients) as pool:
            for first in range(0, runs, batch):
                ids += list(pool.map(start, range(first, min(runs, first + batch))))
                stack.clock.advance(START_SPREAD / START_BATCHES)
        out["start_wall_s"] = time.perf_counter() - t0
        # the steady state: every run started, none ended yet
        before = _calls(stack.emulator, _jobs(stack, ids), template, counts.watcher_pages)
        passes_before = counts.by_function["watch_jobs"]
        steady_from = stack.clock.now()
        stack.clock.advance(STEADY_WINDOW)
        after = _calls(stack.emulator, _jobs(stack, ids), template, counts.watcher_pages)
        out["steady_window_s"] = (stack.clock.now() - steady_from).total_seconds()
        passes = counts.by_function["watch_jobs"] - passes_before
        out["steady_watcher_passes"] = passes
        out["pages_per_pass"] = (after["watcher_list"] - before["watcher_list"]) / passes if passes else None
        out["steady_calls_per_hour"] = {
            k: (after[k] - before[k]) / (out["steady_window_s"] / HOUR) for k in after
        }

        def all_done() -> list[dict[str, Any]] | None:
            statuses = [stack.host.get_status(i) for i in ids]
            finished = ("Completed", "Failed", "Terminated")
            return statuses if all(s and s["runtimeStatus"] in finished for s in statuses) else None

        statuses = advance_until(stack, all_done, timeout)
        out["wall_s"] = time.perf_counter() - t0
        out["cpu_s"] = time.process_time() - cpu0
        window = (stack.clock.now() - v0).total_seconds()
        out["virtual_s"] = window
        out["peak_rss_mib"] = _rss_mib()
        emu = stack.emulator
        jobs = [status_input(s).get("jobName") for s in statuses]
        ok = sum(
            1
            for s in statuses
            if s["runtimeStatus"] == "Completed"
            and isinstance(s.get("output"), dict)
            and s["output"].get("status") == "Success"
        )
        detections = []
        for s, job in zip(statuses, jobs, strict=True):
            ended = emu.ended_at(job)
            if ended is not None:
                detections.append((parse_utc(s["lastUpdatedTime"]) - ended).total_seconds())
        out["success"] = ok
        out["failures"] = runs - ok
        out["jobs_created"] = emu.calls["put_created"]
        submits = [
            sum(n for (k, st), n in emu.calls_for(j).items() if k == "put" and st == 201) for j in jobs
        ]
        out["duplicates"] = sum(1 for p in submits if p != 1) + (emu.calls["put_created"] - len(set(jobs)))
        out["detection_s"] = _summary(detections)
        out["calls"] = _calls(emu, jobs, template, counts.watcher_pages)
        out["calls_per_hour"] = {k: v / (window / HOUR) for k, v in out["calls"].items()}
        by = counts.by_function
        metrics = stack.host.metrics
        out["executions"] = {
            "run_episodes": by["sweep_orchestrator"],
            "run_activities": sum(
                by[a]
                for a in (
                    "fetch_template",
                    "submit_sweep",
                    "get_job_status",
                    "cancel_job",
                    "delete_run_secrets",
                )
            ),
            "trial_activities": by["read_trial_progress"],
            "watcher_episodes": by["sweep_watcher"],
            "watcher_activities": by["watch_jobs"] + by["unwatch_job"],
            "event_grid": metrics.event_grid_runs,
            "http": metrics.http_runs,
            "timer": metrics.timer_runs,
        }
        out["executions"]["total"] = sum(out["executions"].values())
    finally:
        stack.stop()
    return out


START_BATCHES = 23  # 26.1 s apart: the starts fall at every phase of a 30 s watcher period
START_SPREAD = 600.0  # virtual seconds over which the starts are spread
STEADY_WINDOW = 1140.0  # from the last start (<= 600 s) to before the first end (>= 1800 s)


def _jobs(stack: Any, ids: list[str]) -> list[str]:
    from bench.scenarios import status_input

    return [status_input(stack.host.get_status(i)).get("jobName") for i in ids]


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"max": None, "p50": None, "mean": None}
    return {"max": max(values), "p50": statistics.median(values), "mean": statistics.fmean(values)}


def _calls(emu: Any, jobs: list[str], template: str, watcher_pages: int) -> dict[str, int]:
    """Azure ML calls by who made them: the runs' own (template GET, existence GET, submit PUT,
    status GETs, cancels), the watcher's untag PUTs and list pages, the reconciler's list pages
    (`total`: these ARM calls); and apart, `trial_list`: the runs' trial listings on the
    workspace's run-history data plane (customStatus.trials), which ARM's limits do not count."""
    own = untag = trial_list = 0
    for job in jobs:
        for (kind, status), n in emu.calls_for(job).items():
            if kind == "runhistory":
                trial_list += n  # run-history data plane, not ARM: counted apart, never in the total
            elif kind == "put" and status != 201:
                untag += n
            else:
                own += n
    own += sum(n for (kind, _st), n in emu.calls_for(template).items() if kind == "get")
    lists = emu.calls["list"]
    out = {
        "runs_own": own,
        "untag_put": untag,
        "watcher_list": watcher_pages,
        "reconciler_list": lists - watcher_pages,
    }
    out["total"] = sum(out.values())
    out["trial_list"] = trial_list
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--events", choices=("delivered", "lost"), default="delivered")
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--setting", action="append", default=[], help="NAME=VALUE app setting")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    settings = dict(s.split("=", 1) for s in args.setting)
    result = run(
        args.runs, events=args.events, page_size=args.page_size, settings=settings, clients=args.clients
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
