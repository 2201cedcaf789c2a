"""`make bench`: what this app costs and how fast it sees a sweep end, measured, next to the peers'
connectors, in one run.

- One sweep through the whole app on devhost (HTTP start route, the unmodified orchestrators
  replayed by azure-durable-functions, the sweep watcher and the orphan reconciler on their
  schedules, activities, the Azure ML workspace emulator on 127.0.0.1, Event Grid events delivered,
  delayed or lost), in virtual time: Azure ML calls counted at the emulator by who makes them,
  Function executions by kind, detection from the emulator's terminal transition to the run's end.
- Detection with the sweep's end moved across the watcher's period (5 phases), events delivered
  after 0.1 / 1 / 30 / 300 s, or lost (terminal only; Finalizing and terminal; all).
- The watcher period: detection and calls at 15 / 30 / 45 / 60 s; the default is chosen from these.
- 1,000 concurrent sweeps (own processes): per-run polling as before the watcher, and the watcher
  with events off at two page sizes and with events on.
- Peers modelled from their own code (bench/peers.py): calls and detection only.
- Replay CPU of the first and last episode in interleaved pairs; an Azure ML outage mid-sweep;
  cold start; the sweep rehearsal's overhead.

Every verdict in the Targets table is computed here from the figures measured in the same run.

    python -m bench.run --write bench/RESULTS.md      # what `make bench` runs
    python -m bench.run --quick                       # 200 concurrent sweeps, fewer phases
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.bounds import calls_floor, hourly_floor, looks_needed, page_size_needed
from bench.peers import PEERS, model
from bench.scenarios import EVENTS, HOUR, Task, run_task

UTC = timezone.utc  # datetime.UTC is 3.11+; the app supports 3.10

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "make bench  (= .venv/bin/python -m bench.run --write bench/RESULTS.md)"

DEFAULT_PERIOD = 30  # SWEEP_WATCH_PERIOD_SECONDS's default (runtime/settings.py, infra, README)
PERIODS = (15, 30, 45, 60)  # watcher periods the bench measures to choose the default
PHASE_STEP = 3  # seconds between the sweep ends tried across each candidate period
DELAYS = (0.1, 1.0, 30.0, 300.0)  # Event Grid delivery delays, seconds
DETECTION_TARGET = 60.0
# Durable Functions' Azure Storage provider polls an idle control queue at most this often in the
# deployed app (infra: durableMaxQueuePollingIntervalSeconds, docs/deploy.md): a timer's message
# and the event raised to a run may each wait that long on Azure, which devhost does not simulate.
QUEUE_POLLING_S = 10.0
QUEUE_WAITS = 2  # the watcher's timer message, then the event it raises to the run

# Azure Resource Manager throttling (learn.microsoft.com/azure/azure-resource-manager/management/
# request-limits-and-throttling, "Regional throttling and token bucket algorithm"): per
# subscription, per security principal, per region, a token bucket per operation kind.
ARM_READS = {"bucket": 250, "refill_per_s": 25}
ARM_WRITES = {"bucket": 200, "refill_per_s": 10}

# Flex Consumption, On Demand (azure.microsoft.com/pricing/details/functions, East US, list
# prices as quoted in May 2025 by modal.com/blog/azure-function-pricing-guide; free grants ignored).
PRICE_PER_EXECUTION = 0.40 / 1_000_000
PRICE_PER_GB_S = 0.000026
INSTANCE_GB = 2.048  # instanceMemoryMB default in infra/main.bicep
# Billed busy time per execution is not something devhost can measure: assumed, stated as such.
ASSUMED_BUSY_S = {"episode": 0.1, "activity": 0.5, "trigger": 0.5}


def phases(period: float, n: int) -> list[int]:
    """Extra seconds on the sweep's duration so that its end falls at n points across a watcher
    period (1 s after a pass is the worst)."""
    return sorted({1 + int(i * period / n) for i in range(n)})


def grid(period: float, step: int) -> list[int]:
    """Extra seconds every `step` s over a whole period: the worst phase (wherever the watcher's
    passes fall against the sweep's end) is within `step` s of one of them."""
    return list(range(1, int(period) + 1, step))


TRIAL_COST_SWEEPS = ("2h", "48h")  # measured with trial progress on (the default) and off


def plan(quick: bool) -> list[Task]:
    n = 3 if quick else 5
    tasks = []
    for sweep in ("10m", "2h", "48h"):
        for events in EVENTS:
            replay = sweep == "48h" and events in ("delivered", "all-lost")
            # the end 1 s after a watcher pass (the worst phase; the 48 h template has its own)
            tasks.append(
                Task(sweep, events=events, label="main", replay=replay, extra_seconds=1, timeout=3600.0)
            )
    for delay in DELAYS:
        for x in phases(DEFAULT_PERIOD, n):
            tasks.append(Task("10m", events="delivered", delay=delay, extra_seconds=x, label="detect"))
    for events in ("terminal-lost", "final-lost", "all-lost"):
        for x in phases(DEFAULT_PERIOD, n):
            tasks.append(Task("10m", events=events, extra_seconds=x, label="detect"))
    for period in PERIODS:
        for x in grid(period, PHASE_STEP * (2 if quick else 1)):
            settings = {"SWEEP_WATCH_PERIOD_SECONDS": str(period)}
            tasks.append(
                Task("10m", events="all-lost", settings=settings, extra_seconds=x, label=f"period-{period}")
            )
    for sweep in TRIAL_COST_SWEEPS:
        # the same run with trial progress off: what the trial listings cost is the difference
        off = {"SWEEP_TRIAL_PROGRESS": "false"}
        tasks.append(Task(sweep, events="delivered", settings=off, label="trials-off", extra_seconds=1))
    tasks.sort(key=lambda t: t.sweep != "48h")  # the long ones first
    return tasks


def run_matrix(tasks: list[Task], workers: int) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    # one fresh process per run: the app reads settings from the environment, and host metrics and
    # emulator counters start from zero
    with ProcessPoolExecutor(workers, mp_context=ctx, max_tasks_per_child=1) as pool:
        futures = [(t, pool.submit(run_task, t)) for t in tasks]
        results = []
        for t, fut in futures:
            try:
                results.append(fut.result())
            except Exception as exc:  # noqa: BLE001 - a crashed worker is a row, not an abort
                results.append({**t.__dict__, "ok": False, "error": f"worker: {exc}"})
        print(f"  {len(results)} runs, {sum(1 for r in results if r.get('ok'))} ok", flush=True)
    return results


def _subprocess_json(args: list[str], timeout: float, *, accept_failure: bool = False) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0 and not (accept_failure and proc.stdout.strip()):
        return {"error": (proc.stderr or proc.stdout).strip()[-800:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


LOADS = {
    "per-run": (
        "per-run polling (watcher off: the app before the watcher), events off",
        "lost",
        20,
        ["SWEEP_WATCH_PERIOD_SECONDS=0"],
    ),
    "watcher-20": ("watcher, events off, page size 20", "lost", 20, []),
    "watcher-100": ("watcher, events off, page size 100", "lost", 100, []),
    "watcher-on": ("watcher, events on, page size 20", "delivered", 20, []),
}


def run_loads(runs: int) -> dict[str, dict[str, Any]]:
    out = {}
    for key, (_label, events, page, settings) in LOADS.items():
        print(f"bench: {runs} concurrent sweeps, {key}", flush=True)
        args = ["-m", "bench.concurrent", "--runs", str(runs), "--events", events, "--page-size", str(page)]
        for s in settings:
            args += ["--setting", s]
        out[key] = _subprocess_json(args, timeout=3600)
    return out


# ----------------------------------------------------------------------------- figures
def _f(value: Any, fmt: str = "{:.0f}", none: str = "-") -> str:
    if value is None or value == "":
        return none
    return fmt.format(value)


def _mains(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["sweep"], r["events"]): r for r in results if r.get("label") == "main"}


def _group(results: list[dict[str, Any]], label: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in results if r.get("label") == label and all(r.get(k) == v for k, v in match.items())]


def _detections(rows: list[dict[str, Any]]) -> list[float]:
    return [r["detection_s"] for r in rows if r.get("detection_s") is not None]


def _busy_gb_s(ex: dict[str, int]) -> float:
    episodes = ex.get("run_episodes", 0) + ex.get("watcher_episodes", 0)
    activities = ex.get("run_activities", 0) + ex.get("trial_activities", 0) + ex.get("watcher_activities", 0)
    triggers = ex.get("event_grid", 0) + ex.get("http", 0) + ex.get("timer", 0)
    busy = (
        episodes * ASSUMED_BUSY_S["episode"]
        + activities * ASSUMED_BUSY_S["activity"]
        + triggers * ASSUMED_BUSY_S["trigger"]
    )
    return busy * INSTANCE_GB


def cost(ex: dict[str, int]) -> float:
    """Estimated Flex Consumption On Demand cost of these executions, US$."""
    total = ex.get("total")
    if total is None:
        total = sum(v for k, v in ex.items() if k != "total")
    return total * PRICE_PER_EXECUTION + _busy_gb_s(ex) * PRICE_PER_GB_S


def _executions(r: dict[str, Any]) -> dict[str, int]:
    keys = (
        "run_episodes",
        "run_activities",
        "trial_activities",
        "watcher_episodes",
        "watcher_activities",
        "event_grid",
        "http",
        "timer",
    )
    ex = {k: int(r.get(k) or 0) for k in keys}
    ex["total"] = sum(ex.values())
    return ex


def per_hour(count: float, seconds: float | None) -> float | None:
    return count / (seconds / HOUR) if seconds else None


def at_scale_share(r: dict[str, Any], load: dict[str, Any], runs: int) -> float | None:
    """This run's calls with the watcher's and reconciler's listings shared by `runs` concurrent
    sweeps: its own calls plus, for each list pass it caused as a lone sweep (one page each: the
    watcher's and the reconciler's listing is the same), pages per pass at `runs` sweeps (measured)
    divided by `runs`."""
    ppp = load.get("pages_per_pass")
    if not ppp or r.get("error"):
        return None
    return r["own_calls"] + (r["watcher_list"] + r["reconciler_list"]) * ppp / runs


# ----------------------------------------------------------------------------- tables
SWEEP_ORDER = ("10m", "2h", "48h")


def runs_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| sweep | events | Azure ML calls | own | untag PUT | watcher list | reconciler list | calls per sweep-hour "
        "| trial listings (run history) | detection (s) | executions | run episodes / activities / trial listings "
        "| watcher episodes / activities | Event Grid / HTTP / timer | est. cost (US$) | history max run / watcher | ok |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    mains = _mains(results)
    for sweep in SWEEP_ORDER:
        for events in EVENTS:
            r = mains.get((sweep, events))
            if r is None:
                continue
            if r.get("error"):
                lines.append(f"| {sweep} | {events} | ERROR: {r['error']} |")
                continue
            ex = _executions(r)
            lines.append(
                f"| {sweep} | {events} | {r['total_calls']} | {r['own_calls']} | {r['untag_put']} | {r['watcher_list']} "
                f"| {r['reconciler_list']} | {_f(per_hour(r['total_calls'], r['sweep_seconds']), '{:.1f}')} "
                f"| {r.get('trial_list', 0)} | {_f(r['detection_s'])} | {ex['total']} "
                f"| {ex['run_episodes']} / {ex['run_activities']} / {ex['trial_activities']} "
                f"| {ex['watcher_episodes']} / {ex['watcher_activities']} "
                f"| {ex['event_grid']} / {ex['http']} / {ex['timer']} | {cost(ex):.4f} "
                f"| {r['history_max']} / {r['watcher_history_max']} | {'yes' if r['ok'] else 'NO'} |"
            )
    return lines


def trial_cost(
    results: list[dict[str, Any]], sweeps: tuple[str, ...] = TRIAL_COST_SWEEPS
) -> list[dict[str, Any]]:
    """What trial progress costs per sweep-hour: the default run (on) against the same sweep with
    SWEEP_TRIAL_PROGRESS=false, events delivered. Listings are run-history calls, not ARM; the
    ARM calls of both runs are shown so that any change there is seen."""
    mains = _mains(results)
    out = []
    for sweep in sweeps:
        on = mains.get((sweep, "delivered")) or {"error": "missing"}
        offs = _group(results, "trials-off", sweep=sweep)
        off = offs[0] if offs else {"error": "missing"}
        if on.get("error") or off.get("error"):
            out.append({"sweep": sweep, "error": on.get("error") or off.get("error")})
            continue
        hours = on["sweep_seconds"] / HOUR
        ex_on, ex_off = _executions(on), _executions(off)
        extra = ex_on["total"] - ex_off["total"]
        extra_cost = cost(ex_on) - cost(ex_off)
        out.append(
            {
                "sweep": sweep,
                "hours": hours,
                "listings": on["trial_list"],
                "listings_per_hour": on["trial_list"] / hours,
                "arm_on": on["total_calls"],
                "arm_off": off["total_calls"],
                "executions_on": ex_on["total"],
                "executions_off": ex_off["total"],
                "extra_executions_per_hour": extra / hours,
                "extra_episodes_per_hour": (ex_on["run_episodes"] - ex_off["run_episodes"]) / hours,
                "extra_cost_per_hour": extra_cost / hours,
                "history_max": (on["history_max"], off["history_max"]),
                "ok": bool(on.get("ok") and off.get("ok")),
            }
        )
    return out


def trial_cost_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| sweep (events delivered) | trial listings (run history) | listings per sweep-hour | ARM calls on / off "
        "| executions on / off | extra executions per sweep-hour (run episodes) | extra est. cost per sweep-hour (US$) "
        "| history max on / off | ok |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for t in trial_cost(results):
        if t.get("error"):
            lines.append(f"| {t['sweep']} | ERROR: {t['error']} |")
            continue
        lines.append(
            f"| {t['sweep']} | {t['listings']} | {t['listings_per_hour']:.1f} | {t['arm_on']} / {t['arm_off']} "
            f"| {t['executions_on']} / {t['executions_off']} | {t['extra_executions_per_hour']:.1f} "
            f"({t['extra_episodes_per_hour']:.1f}) | {t['extra_cost_per_hour']:.5f} "
            f"| {t['history_max'][0]} / {t['history_max'][1]} | {'yes' if t['ok'] else 'NO'} |"
        )
    return lines


def detection_rows(results: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    rows = []
    for delay in DELAYS:
        rows.append(
            (
                f"delivered, {delay:g} s after the transition",
                _group(results, "detect", events="delivered", delay=delay),
            )
        )
    for events in ("terminal-lost", "final-lost", "all-lost"):
        rows.append((EVENTS[events], _group(results, "detect", events=events)))
    return rows


def detection_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| events | runs (phases) | detection min / p50 / max (s) | Azure ML calls per run (lone sweep) | ok |",
        "|---|--:|--:|--:|---|",
    ]
    for label, rows in detection_rows(results):
        d = _detections(rows)
        calls = sorted({r.get("total_calls") for r in rows if not r.get("error")})
        ok = all(r.get("ok") for r in rows)
        text = f"{min(d):.0f} / {statistics.median(d):.0f} / {max(d):.0f}" if d else "-"
        lines.append(
            f"| {label} | {len(rows)} | {text} | {', '.join(map(str, calls))} | {'yes' if ok and rows else 'NO'} |"
        )
    return lines


def period_choice(
    results: list[dict[str, Any]], loads: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], int | None]:
    """Per candidate period: measured worst detection (events off), that plus Durable's queue
    waits on Azure, the lone sweep's list calls per hour, and 1,000 sweeps' list calls per hour
    (measured pages per pass x passes per hour). The default is the longest period whose worst
    detection plus queue waits stays within the target."""
    ppp = (loads.get("watcher-20") or {}).get("pages_per_pass")
    out = []
    for period in PERIODS:
        rows = _group(results, f"period-{period}")
        d = _detections(rows)
        worst = max(d) if d else None
        step = _phase_step(rows)
        azure = worst + step + QUEUE_WAITS * QUEUE_POLLING_S if worst is not None else None
        lone = [per_hour(r["watcher_list"], r["sweep_seconds"]) for r in rows if not r.get("error")]
        out.append(
            {
                "period": period,
                "runs": len(rows),
                "worst": worst,
                "azure_worst": azure,
                "lone_list_per_hour": statistics.median(lone) if lone else None,
                "at_scale_per_hour": ppp * HOUR / period if ppp else None,
                "ok": bool(rows) and all(r.get("ok") for r in rows),
            }
        )
    fitting = [
        o["period"]
        for o in out
        if o["ok"] and o["azure_worst"] is not None and o["azure_worst"] <= DETECTION_TARGET
    ]
    return out, (max(fitting) if fitting else None)


def _phase_step(rows: list[dict[str, Any]]) -> int:
    """The spacing of the sweep ends tried: the measured worst may be this much short of the true one."""
    xs = sorted({int(r.get("extra_seconds") or 0) for r in rows})
    return max((b - a for a, b in itertools.pairwise(xs)), default=0)


def period_table(choice: list[dict[str, Any]], chosen: int | None, runs: int) -> list[str]:
    lines = [
        f"| period (s) | runs (phases) | worst detection, devhost (s) | + phase step + {QUEUE_WAITS} x {QUEUE_POLLING_S:g} s queue polling (s) "
        f"| lone sweep: list calls / h | {runs} sweeps, page 20: list calls / h | chosen |",
        "|--:|--:|--:|--:|--:|--:|---|",
    ]
    for o in choice:
        lines.append(
            f"| {o['period']} | {o['runs']} | {_f(o['worst'])} | {_f(o['azure_worst'])} | {_f(o['lone_list_per_hour'])} "
            f"| {_f(o['at_scale_per_hour'])} | {'**yes**' if o['period'] == chosen else ''} |"
        )
    return lines


def peers_table(results: list[dict[str, Any]]) -> list[str]:
    mains = _mains(results)
    lines = [
        "| sweep | connector | Azure ML calls | calls per sweep-hour | detection at this end (s) | worst detection over 60 phases (s) |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for sweep in SWEEP_ORDER:
        app_on, app_off = mains.get((sweep, "delivered")), mains.get((sweep, "all-lost"))
        if not app_off or app_off.get("error"):
            continue
        end = app_off["sweep_seconds"]
        for name, r in (
            ("this app, events on (lone sweep, shares included)", app_on),
            ("this app, events off (lone sweep, shares included)", app_off),
        ):
            if r and not r.get("error"):
                lines.append(
                    f"| {sweep} | {name} | {r['total_calls']} | {_f(per_hour(r['total_calls'], end), '{:.1f}')} "
                    f"| {_f(r['detection_s'])} | see detection table |"
                )
        for peer in PEERS:
            m = model(peer, end)
            if m is None:
                lines.append(f"| {sweep} | {peer.label} | azure-ai-ml not installed | | | |")
                continue
            worst = max((model(peer, end + x) or {}).get("detection_s", 0) for x in range(60))
            lines.append(
                f"| {sweep} | {peer.label} | {m['calls']} | {_f(per_hour(m['calls'], end), '{:.1f}')} "
                f"| {_f(m['detection_s'])} | {_f(worst)} |"
            )
    return lines


def load_table(loads: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| mode | runs | Success | duplicates | detection p50 / max (s) | steady calls / h: total (runs' own, untag PUT, watcher list, reconciler list) "
        "| trial listings / h (run history, not ARM) | pages per pass | calls per run | executions per run | est. cost per run (US$) "
        "| ARM reads / writes used at steady state | wall (s) | peak RSS (MiB) |",
        "|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for key, (label, *_rest) in LOADS.items():
        o = loads.get(key) or {"error": "not run"}
        if o.get("error"):
            lines.append(f"| {label} | ERROR: {o['error'][:300]} |")
            continue
        s = o["steady_calls_per_hour"]
        runs = o["runs"]
        det = o.get("detection_s") or {}
        reads, writes = arm_use(o)
        lines.append(
            f"| {label} | {runs} | {o['success']}/{runs} | {o['duplicates']} | {_f(det.get('p50'))} / {_f(det.get('max'))} "
            f"| {s['total']:.0f} ({s['runs_own']:.0f}, {s['untag_put']:.0f}, {s['watcher_list']:.0f}, {s['reconciler_list']:.0f}) "
            f"| {_f(s.get('trial_list'))} | {_f(o.get('pages_per_pass'), '{:.1f}')} | {o['calls']['total'] / runs:.2f} "
            f"| {o['executions']['total'] / runs:.1f} | {cost(o['executions']) / runs:.4f} "
            f"| {reads:.1%} / {writes:.1%} | {o['wall_s']:.0f} | {o['peak_rss_mib']:.0f} |"
        )
    return lines


def arm_use(load: dict[str, Any]) -> tuple[float, float]:
    """Shares of ARM's sustained read and write rates (token refill) the steady state uses.
    Reads: GETs and list pages; writes: PUTs (submit, untag) and cancels."""
    s = load["steady_calls_per_hour"]
    writes = s["untag_put"]  # submits are all before the steady window; no cancels in it
    reads = s["total"] - writes
    return reads / (ARM_READS["refill_per_s"] * HOUR), writes / (ARM_WRITES["refill_per_s"] * HOUR)


def replay_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| 48 h sweep, events | pairs | history events first / last episode | first episode CPU p10 / p50 / p90 (ms) "
        "| last episode CPU p10 / p50 / p90 (ms) | last / first ratio p10 / p50 / p90 |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for events in ("delivered", "all-lost"):
        r = _mains(results).get(("48h", events)) or {}
        rp = r.get("replay") or {}
        if not rp:
            lines.append(f"| {events} | - | | | | |")
            continue

        def q(d: dict[str, float], fmt: str = "{:.2f}") -> str:
            return " / ".join(fmt.format(d[k]) for k in ("p10", "p50", "p90"))

        lines.append(
            f"| {events} | {rp['pairs']} | {r['history_first_episode']} / {r['history_last_episode']} "
            f"| {q(rp['first_ms'])} | {q(rp['last_ms'])} | {q(rp['ratio'])} |"
        )
    return lines


def outage_table(outages: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| outage | runs | Success | cancels sent | reconciler actions (passes) | duplicate jobs "
        "| faults injected | hist/gen max | wall (s) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for o in outages:
        if o.get("error"):
            lines.append(f"| {o.get('kind', '?')} | ERROR: {o['error']} |")
            continue
        retry = f", Retry-After {o['retry_after']}" if o.get("retry_after") is not None else ""
        lines.append(
            f"| {o['hours']:g} h all-{o['kind']}{retry} | {o['runs']} | {o['success']}/{o['runs']} "
            f"| {o['cancel_calls']} | {o['reconciled']} ({o['reconciler_passes']}) | {o['duplicate_jobs']} "
            f"| {sum(o['faults'].values())} | {o['max_history']} | {o['wall_seconds']:.1f} |"
        )
    return lines


def rehearsal_section(r: dict[str, Any]) -> list[str]:
    lines = ["", "## Sweep rehearsal overhead (bench/rehearsal.py)", ""]
    if r.get("error"):
        return [*lines, f"ERROR: {r['error']}"]
    return [
        *lines,
        "| trials | script work (s) | direct run, median (s) | rehearsed trial, median (s) | once per sweep (s) "
        "| rehearsal per trial (s) | overhead per trial (s) | ratio | pair ratios |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|---|",
        f"| {r['trials']} | {r['work_seconds']} | {r['direct_median_s']:.3f} | {r['rehearsed_median_s']:.3f} "
        f"| {r['per_sweep_fixed_s']:.3f} | {r['rehearsal_per_trial_s']:.3f} | {r['overhead_per_trial_s']:+.3f} "
        f"| {r['ratio']:.3f}x | {', '.join(f'{p:.2f}' for p in r['pair_ratios'])} |",
        "",
        "The same script (imports mlflow, logs its metric 10 times over its work) run directly against a "
        "local MLflow file store, and as the trials of a rehearsed sweep: its own code snapshot, process "
        "group and log, logging through the rehearsal's loopback tracking server, one trial at a time. "
        "Each rehearsed trial is paired with a direct run right after it, so load on this shared box hits "
        "both alike. `once per sweep` is the rehearsal's wall time outside its trials (tracking server, "
        "snapshots, the report's charts), shared over the trials; wall seconds, real processes.",
    ]


# ----------------------------------------------------------------------------- targets
def targets(
    results: list[dict[str, Any]],
    loads: dict[str, dict[str, Any]],
    cold: dict[str, Any],
    outages: list[dict[str, Any]],
    rehearsal: dict[str, Any] | None,
) -> list[tuple[str, bool, str]]:
    """(target, met, figures) for each target of issue 14 and the older ones, all computed from
    this run's measurements."""
    out: list[tuple[str, bool, str]] = []
    mains = _mains(results)
    base = loads.get("per-run") or {}
    runs = base.get("runs", 0)

    # 1,000 concurrent sweeps, events off: >= 20x fewer calls per hour than per-run polling
    for key in ("watcher-20", "watcher-100"):
        w = loads.get(key) or {}
        if base.get("error") or w.get("error") or not base or not w:
            out.append(
                (
                    f"{runs} sweeps, events off ({key}): >= 20x fewer calls/h than per-run polling",
                    False,
                    "not measured",
                )
            )
            continue
        ratio = base["steady_calls_per_hour"]["total"] / w["steady_calls_per_hour"]["total"]
        det = (w.get("detection_s") or {}).get("max")
        met = ratio >= 20 and det is not None and det <= DETECTION_TARGET
        out.append(
            (
                f"{w['runs']} concurrent sweeps, events off, page size {w['page_size']}: >= 20x fewer Azure ML calls/h "
                f"than per-run polling, detection <= {DETECTION_TARGET:g} s",
                met,
                f"{base['steady_calls_per_hour']['total']:.0f} -> {w['steady_calls_per_hour']['total']:.0f} calls/h "
                f"= {ratio:.1f}x fewer; detection max {_f(det)} s; {w.get('pages_per_pass') or 0:.0f} pages per pass "
                f"(Azure ML's own page size is not published: the List Jobs API has no page-size parameter). "
                + _twenty_x_floor(base["steady_calls_per_hour"]["total"], w),
            )
        )

    # Events on: <= 5 / 5 / 12 calls per run including shares
    limits = {"10m": 5, "2h": 5, "48h": 12}
    w_on = loads.get("watcher-on") or {}
    lone = {s: (mains.get((s, "delivered")) or {}).get("total_calls") for s in limits}
    scaled = {
        s: at_scale_share(mains.get((s, "delivered")) or {"error": "missing"}, w_on, w_on.get("runs", 1))
        for s in limits
    }
    met_lone = all(lone[s] is not None and lone[s] <= limits[s] for s in limits)
    met_scaled = all(scaled[s] is not None and scaled[s] <= limits[s] for s in limits)
    out.append(
        (
            "Events on: <= 5 calls per run (10 min, 2 h), <= 12 (48 h), watcher's and reconciler's shares included",
            met_lone and met_scaled,
            "lone sweep (it bears every list page): "
            + " / ".join(_f(lone[s]) for s in limits)
            + f"; at {w_on.get('runs', '?')} concurrent sweeps (pages per pass measured there, shared): "
            + " / ".join(_f(scaled[s], "{:.1f}") for s in limits)
            + "; own calls: "
            + " / ".join(_f((mains.get((s, "delivered")) or {}).get("own_calls")) for s in limits)
            + ". "
            + _events_on_floor(mains, limits, w_on),
        )
    )
    lost = [
        d
        for _label, rows in detection_rows(results)[len(DELAYS) : len(DELAYS) + 2]
        for d in _detections(rows)
    ]
    out.append(
        (
            f"Events on: a lost terminal (or Finalizing + terminal) event detected <= {DETECTION_TARGET:g} s after the terminal state",
            bool(lost) and max(lost) <= DETECTION_TARGET,
            f"max {_f(max(lost) if lost else None)} s over {len(lost)} runs (10-min sweep, end at every phase of the "
            f"{DEFAULT_PERIOD} s period), devhost processing included; on Azure add up to "
            f"{QUEUE_WAITS} x {QUEUE_POLLING_S:g} s of Durable queue polling",
        )
    )
    delayed = _detections(_group(results, "detect", events="delivered", delay=DELAYS[-1]))
    out.append(
        (
            f"Events delayed {DELAYS[-1]:g} s: the end is still seen within the watcher period",
            bool(delayed) and max(delayed) <= DEFAULT_PERIOD + 1,
            f"max {_f(max(delayed) if delayed else None)} s",
        )
    )

    # Events off, one sweep: detection <= 60 s and <= 35 calls per sweep-hour at any duration
    off = {s: mains.get((s, "all-lost")) or {} for s in SWEEP_ORDER}
    rate = {s: per_hour(off[s].get("total_calls") or 0, off[s].get("sweep_seconds")) for s in off}
    det_off = _detections(_group(results, "detect", events="all-lost")) + [
        off[s]["detection_s"] for s in off if off[s].get("detection_s") is not None
    ]
    floor = hourly_floor(DETECTION_TARGET)
    out.append(
        (
            f"Events off, one sweep: detection <= {DETECTION_TARGET:g} s",
            bool(det_off) and max(det_off) <= DETECTION_TARGET,
            f"max {_f(max(det_off) if det_off else None)} s",
        )
    )
    out.append(
        (
            "Events off, one sweep: <= 35 Azure ML calls per sweep-hour at any duration (shares included)",
            all(v is not None and v <= 35 for v in rate.values()),
            " / ".join(_f(rate[s], "{:.1f}") for s in rate)
            + " calls/h (10 min / 2 h / 48 h). Seeing an end within "
            f"{DETECTION_TARGET:g} s without events needs a look at least every {DETECTION_TARGET:g} s: "
            f">= {floor:.0f} calls/h for a lone sweep (floor {floor:.0f} > 35: this target and the one above cannot "
            "both hold for one sweep, whatever the design); the listing is shared, so per sweep it falls as sweeps "
            "run together (table above)",
        )
    )

    # history and replay
    measured = [r for r in results if not r.get("error")]
    hist = max((r.get("history_max") or 0 for r in measured), default=None)
    whist = max((r.get("watcher_history_max") or 0 for r in measured), default=None)
    out.append(
        (
            "<= 200 history events per generation (runs and the watcher)",
            hist is not None and max(hist, whist or 0) <= 200,
            f"run max {_f(hist)}, watcher max {_f(whist)} over {len(measured)} runs",
        )
    )
    for events in ("delivered", "all-lost"):
        rp = (mains.get(("48h", events)) or {}).get("replay") or {}
        p50 = (rp.get("ratio") or {}).get("p50")
        out.append(
            (
                f"48 h sweep, events {events}: replay CPU last / first <= 2x at p50",
                p50 is not None and p50 <= 2.0,
                f"p50 {_f(p50, '{:.2f}')}x (p10 {_f((rp.get('ratio') or {}).get('p10'), '{:.2f}')}, "
                f"p90 {_f((rp.get('ratio') or {}).get('p90'), '{:.2f}')}) over {rp.get('pairs', 0)} interleaved pairs",
            )
        )

    # load without failures
    for key in LOADS:
        o = loads.get(key) or {}
        ok = (
            not o.get("error")
            and o.get("success") == o.get("runs")
            and o.get("duplicates") == 0
            and o.get("jobs_created") == o.get("runs")
        )
        out.append(
            (
                f"{o.get('runs', '?')} concurrent sweeps through devhost with no failures ({key})",
                bool(ok),
                o.get("error", "")[:200]
                or f"{o.get('success')}/{o.get('runs')} Success, {o.get('duplicates')} duplicates, "
                f"{o.get('jobs_created')} jobs created",
            )
        )
    out.append(
        (
            "An Azure ML outage mid-sweep (2 h all-503; all-429 with Retry-After 600): every run Success, no cancel, "
            "0 reconciler actions",
            bool(outages) and all(o.get("passed") for o in outages),
            "; ".join(
                o.get("error", "")[:200]
                or f"all-{o['kind']}: {o['success']}/{o['runs']} Success, {o['cancel_calls']} cancels, "
                f"{o['reconciled']} reconciled over {o['reconciler_passes']} reconciler passes"
                for o in outages
            ),
        )
    )
    fa = cold.get("function_app") or {}
    imp = fa.get("importtime_s_median")
    out.append(
        (
            "import function_app < 1 s",
            imp is not None and imp < 1.0,
            f"{_f(imp, '{:.2f}')} s median of {fa.get('repeats')} (-X importtime cumulative)",
        )
    )
    if rehearsal is not None:
        r = rehearsal
        out.append(
            (
                f"Sweep rehearsal: wall time per trial < {r.get('target_ratio', 1.3)}x running the script directly",
                not r.get("error") and r.get("verdict") == "pass",
                r.get("error", "")[:200] or f"{r['ratio']:.3f}x",
            )
        )
    return out


def _twenty_x_floor(per_run_total: float, w: dict[str, Any]) -> str:
    """What any watcher bounded at DETECTION_TARGET pays at this page size (one look a
    DETECTION_TARGET, every page), and the page size from which 20x can hold at all."""
    runs, page = w["runs"], w["page_size"]
    floor = hourly_floor(DETECTION_TARGET) * math.ceil(runs / page)
    allowed_pages = math.floor(per_run_total / 20 / hourly_floor(DETECTION_TARGET))
    needs = f"page size >= {math.ceil(runs / allowed_pages)}" if allowed_pages >= 1 else "no page size"
    verdict = (
        "cannot hold at this page size, whatever the design" if per_run_total / floor < 20 else "can hold"
    )
    return (
        f"Floor with one look every {DETECTION_TARGET:g} s: {floor:.0f} calls/h = {per_run_total / floor:.1f}x fewer, "
        f"so 20x {verdict}; 20x needs {needs} (bench/bounds.py)"
    )


def _events_on_floor(
    mains: dict[tuple[str, str], dict[str, Any]], limits: dict[str, int], w_on: dict[str, Any]
) -> str:
    """The floor under the events-on call targets: a lost terminal event must still be seen within
    DETECTION_TARGET, so every minute of the sweep needs a look; a lone sweep pays each look whole,
    concurrent sweeps share the pages."""
    runs = w_on.get("runs") or 0
    lone, scaled, above = [], [], []
    for s, limit in limits.items():
        r = mains.get((s, "delivered")) or {}
        if r.get("error") or r.get("sweep_seconds") is None:
            return "floor not computed (run missing)"
        own = r["own_calls"]
        floor = calls_floor(r["sweep_seconds"], DETECTION_TARGET, 1, 1, own)
        lone.append(f"{floor:.0f}")
        above.append(floor > limit)
        if runs:
            need = page_size_needed(r["sweep_seconds"], DETECTION_TARGET, runs, own, limit)
            scaled.append(f">= {need}" if need is not None else "none")
    looks = " / ".join(
        str(looks_needed((mains.get((s, "delivered")) or {}).get("sweep_seconds") or 0, DETECTION_TARGET))
        for s in limits
    )
    text = (
        f"Floor for a lone sweep with the lost-event bound ({looks} looks, one a minute, plus its own calls): "
        f"{' / '.join(lone)}: "
        + (
            "above the target for every duration, whatever the design"
            if all(above)
            else f"above the target for {sum(above)} of {len(above)} durations"
        )
    )
    if runs:
        text += (
            f"; at {runs} sweeps the Azure ML page size with which the target could hold at all: "
            f"{' / '.join(scaled)} jobs per page (bench/bounds.py)"
        )
    return text


# ----------------------------------------------------------------------------- report
def render(
    results: list[dict[str, Any]],
    loads: dict[str, dict[str, Any]],
    cold: dict[str, Any],
    meta: dict[str, Any],
    outages: list[dict[str, Any]] | None = None,
    rehearsal: dict[str, Any] | None = None,
) -> str:
    outages = outages or []
    loads = {k: v for k, v in loads.items() if isinstance(v, dict)}  # {"error": ...}: nothing ran
    runs = next((o.get("runs") for o in loads.values() if o.get("runs")), "?")
    choice, chosen = period_choice(results, loads)
    cost_note = (
        f"est. cost = executions x US${PRICE_PER_EXECUTION * 1e6:.2f} per million + busy GB-s x US${PRICE_PER_GB_S} "
        f"(Flex Consumption On Demand, East US list prices from the Azure Functions pricing page as quoted in May 2025 "
        f"by modal.com/blog/azure-function-pricing-guide; free grants ignored), {INSTANCE_GB * 1000:.0f} MB instances; "
        f"busy time per execution is assumed, not measured: {ASSUMED_BUSY_S['episode']} s per orchestrator episode, "
        f"{ASSUMED_BUSY_S['activity']} s per activity, {ASSUMED_BUSY_S['trigger']} s per trigger"
    )
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{COMMAND}` on {meta['date']} at commit `{meta['commit']}`; {meta['machine']}; "
        f"total {meta['total_s']:.0f} s wall{' (--quick)' if meta.get('quick') else ''}. Every figure and verdict below "
        "is from that one run.",
        "",
        "Each single-sweep run: one sweep through the whole app on devhost (HTTP start route, the unmodified "
        "orchestrators replayed by azure-durable-functions, the sweep watcher every "
        f"{DEFAULT_PERIOD} s and the orphan reconciler every 10 minutes on their schedules, activities, the Azure ML "
        "workspace emulator on 127.0.0.1, Event Grid through the subscription's filters), in virtual time moved in "
        "steps. Azure ML calls are counted at the emulator (per job and HTTP status; list pages by the watcher's own "
        "reports, the rest of the list pages are the reconciler's). Function executions are counted per function on "
        "the host. Detection = the run's `lastUpdatedTime` minus the emulator's recorded terminal transition, so "
        "devhost's own processing is inside it (whole seconds, as the Durable status API gives `lastUpdatedTime`: "
        "a figure can be up to 1 s short).",
        "",
        "## Per run, app defaults (a lone sweep: the watcher's and reconciler's listings are all its own)",
        "",
        *runs_table(results),
        "",
        f"- {cost_note}.",
        "- calls per sweep-hour = all calls / (job created → terminal). A lone sweep pays for every watcher pass "
        "while it runs plus the idle passes before the watcher ends; at scale those pages are shared (below).",
        "- Azure ML calls are Azure Resource Manager calls. `trial listings` are the run's reads of its sweep's "
        "trials on the workspace's run-history data plane (customStatus.trials, README 'Trial progress'): not ARM, "
        "so counted apart and in no ARM total; their activity executions are counted apart too (`trial listings` "
        "in the executions column).",
        "",
        "## Trial progress: what it costs per sweep-hour",
        "",
        *trial_cost_table(results),
        "",
        "The default run (`SWEEP_TRIAL_PROGRESS=true`, `SWEEP_TRIAL_PROGRESS_SECONDS` at its default) against the "
        "same sweep with `SWEEP_TRIAL_PROGRESS=false`. With the watcher the run hardly GETs its job, so it wakes on "
        "its own durable timer for a listing alone once per cadence (each wake-up ends its generation, as a poll "
        "timer does: a timer episode, the next generation's first episode, the listing's activity, the episode "
        "after it), and also lists at each status change and at the end. Peers (below) are modelled from their "
        "own code and only poll the job: no trial listings.",
        "",
        "## Detection: 10-minute sweep, its end moved across the watcher period",
        "",
        *detection_table(results),
        "",
        "`events`: Event Grid delivery as the scenario says (the emulator raises each event; delivered after the "
        "delay, or dropped). The sweep's duration gets 1 s and then evenly spaced extra seconds, so its end falls at "
        "every phase of the watcher's passes; the worst phase is just after a pass.",
        "",
        "## The watcher period (events off, 10-minute sweep, every phase)",
        "",
        *period_table(choice, chosen, runs),
        "",
        f"Sweep ends tried every {PHASE_STEP} s across each period ({2 * PHASE_STEP} s with --quick), so the "
        "measured worst is at most one step short of the true worst. "
        f"Chosen by the bench: the longest period whose worst measured detection plus that step plus {QUEUE_WAITS} Durable queue "
        f"waits of up to {QUEUE_POLLING_S:g} s (the deployed `durableMaxQueuePollingIntervalSeconds`; devhost does "
        f"not simulate them) stays within {DETECTION_TARGET:g} s: **{_f(chosen)} s** (the app's default is "
        f"{DEFAULT_PERIOD} s{'' if chosen == DEFAULT_PERIOD else ' - it DIFFERS from the choice'}). Page size is "
        "Azure ML's, not ours: the List Jobs REST API takes no page-size parameter, and no public source states "
        "the size it uses, so the 1,000-sweep runs are measured at 20 (the emulator's default) and 100.",
        "",
        f"## {runs} concurrent 30-minute sweeps (bench/concurrent.py, own process each)",
        "",
        *load_table(loads),
        "",
        f"Starts spread over the first 10 virtual minutes; steady state = from the last start until before the first "
        f"end (all {runs} running), per hour. ARM's throttling is a token bucket per subscription, per principal, per "
        f"region: reads {ARM_READS['bucket']} with {ARM_READS['refill_per_s']}/s refill "
        f"({ARM_READS['refill_per_s'] * 3600:,.0f}/h sustained), writes {ARM_WRITES['bucket']} with "
        f"{ARM_WRITES['refill_per_s']}/s ({ARM_WRITES['refill_per_s'] * 3600:,.0f}/h) (learn.microsoft.com, "
        '"Understand how Azure Resource Manager throttles requests"); the columns show the share of the sustained '
        "rate used. Azure ML's own resource-provider limits come on top and are not published. "
        f"{cost_note}.",
        "",
        "## Peers, modelled from their code (calls and detection only)",
        "",
        *peers_table(results),
        "",
        "A peer connector is a loop per run: one submit, a GET right after, then a GET per interval until it sees "
        "the end (bench/peers.py). Sources: "
        + "; ".join(f"{p.label}: {p.source}" for p in PEERS)
        + ". The SDK curve is the installed package's own function. Kestra and Airflow have no Azure ML sweep "
        "connector; their Azure Data Factory run operators are their Azure long-running-job waiters. Job end = the "
        "app's measured events-off run of the same sweep. Worst detection: the same end moved by 0-59 s.",
        "",
        "## Replay CPU (interleaved pairs)",
        "",
        *replay_table(results),
        "",
        "After the 48 h run, the exact request bodies of the sweep orchestrator's first and last episodes are "
        "replayed alternately (first-last, last-first, ...) and timed with `thread_time`, so load on this shared box "
        "hits both alike; p10/p50/p90 over the pairs.",
        "",
        "## Azure ML unreachable mid-sweep (bench/outage.py, `make soak` runs it too)",
        "",
        *outage_table(outages),
        "",
        "Five-hour sweeps, events off; one hour in, every Azure ML call (the runs', the watcher's and the orphan "
        "reconciler's) fails for two hours.",
    ]
    lines += ["", "## Cold start", ""]
    fa = cold.get("function_app") or {}
    aiml = cold.get("azure_ai_ml") or {}
    lines += [
        "| import | -X importtime cumulative, median (s) | min (s) | process wall, median (s) "
        "| timed in-process without -X importtime, median (s) |",
        "|---|--:|--:|--:|--:|",
        f"| `import function_app` | {_f(fa.get('importtime_s_median'), '{:.3f}')} | "
        f"{_f(fa.get('importtime_s_min'), '{:.3f}')} | {_f(fa.get('process_wall_s_median'), '{:.3f}')} "
        f"| {_f(fa.get('plain_import_s_median'), '{:.3f}')} |",
    ]
    if aiml.get("skipped"):
        lines.append(f"| `import azure.ai.ml` | skipped: {aiml['skipped']} | | | |")
    else:
        lines.append(
            f"| `import azure.ai.ml` ({aiml.get('version')}) | {_f(aiml.get('importtime_s_median'), '{:.3f}')} | "
            f"{_f(aiml.get('importtime_s_min'), '{:.3f}')} | {_f(aiml.get('process_wall_s_median'), '{:.3f}')} "
            f"| {_f(aiml.get('plain_import_s_median'), '{:.3f}')} |"
        )
    lines += [
        "",
        f"Bare interpreter start: {_f(cold.get('python_startup_s_median'), '{:.3f}')} s. "
        + (f"azure-ai-ml: {aiml.get('source')}. " if aiml.get("source") else "")
        + "Measured in fresh interpreters, median of "
        f"{fa.get('repeats')}.",
    ]
    if rehearsal is not None:
        lines += rehearsal_section(rehearsal)
    lines += ["", "## Targets", "", "| target | met | figures |", "|---|---|---|"]
    for name, met, text in targets(results, loads, cold, outages, rehearsal):
        lines.append(f"| {name} | {'yes' if met else '**NO**'} | {text} |")
    lines.append("")
    return "\n".join(lines)


def _meta(total: float, quick: bool) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "?",
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}",
        "total_s": total,
        "quick": quick,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", type=Path, help="write the Markdown report here")
    parser.add_argument("--workers", type=int, default=2, help="single-sweep runs in parallel (default 2)")
    parser.add_argument("--quick", action="store_true", help="200 concurrent sweeps, 3 phases, no rehearsal")
    parser.add_argument("--runs", type=int, help="concurrent sweeps (default 1000; 200 with --quick)")
    parser.add_argument("--no-aiml", action="store_true", help="skip the azure-ai-ml import measurement")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "out" / "results.json", help="raw figures"
    )
    args = parser.parse_args(argv)
    runs = args.runs or (200 if args.quick else 1000)

    t0 = time.perf_counter()
    tasks = plan(args.quick)
    print(f"bench: {len(tasks)} single-sweep runs on {args.workers} workers", flush=True)
    results = run_matrix(tasks, args.workers)
    loads = run_loads(runs)
    print("bench: Azure ML outages mid-sweep", flush=True)
    outages = [
        _subprocess_json(["-m", "bench.outage", kind], timeout=900, accept_failure=True)
        for kind in ("503", "429")
    ]
    print("bench: cold start", flush=True)
    from bench import coldstart

    cold = coldstart.run(with_aiml=not args.no_aiml)
    rehearsal = None
    if not args.quick:
        print("bench: sweep rehearsal overhead", flush=True)
        rehearsal = _subprocess_json(["-m", "bench.rehearsal", "--json"], timeout=900, accept_failure=True)
    report = render(results, loads, cold, _meta(time.perf_counter() - t0, args.quick), outages, rehearsal)
    print(report)
    if args.write:
        args.write.write_text(report, encoding="utf-8")
        print(f"bench: wrote {args.write}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"runs": results, "loads": loads, "cold": cold, "outages": outages, "rehearsal": rehearsal},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
