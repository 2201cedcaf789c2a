"""Fault soak: many sweeps through the whole app on devhost while the Azure ML
emulator injects 429 (Retry-After), 500, 503, dropped connections, dropped
answers after the request was applied, and slow answers.

    python -m bench.soak --runs 200 [--rate 0.2] [--seed N]
    python -m bench.soak --outage 503|429 [--runs 20]   # Azure ML unreachable for 2 h mid-sweep (bench/outage.py)

Every run's terminal state is known upfront (the mix: successes, primary-metric
failures, no-trials failures, cancels at different points, terminates through the
Durable management API that the orphan reconciler must clean up). The figures:
runs by expected vs actual terminal state, duplicate jobs (more than one Azure
ML job for one instance), jobs left running, faults injected by kind, REST calls,
wall time. Exit code 0 only when every run ended as expected with zero
duplicates and zero jobs left running.
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from devhost.emulator import FaultPlan
from devhost.stack import LocalStack
from foundry import tags as tag

FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}
INSTANCE_TAG = tag.INSTANCE

# kind -> (template, objective metric, expected (runtimeStatus, Polysync status), expected job status)
KINDS: dict[str, tuple[str, str, tuple[str, str], str | None]] = {
    "success": ("train-sweep-template", "accuracy", ("Completed", "Success"), "Completed"),
    "metric-failure": ("train-sweep-template", "f1_score", ("Failed", "Failed"), "Failed"),
    "no-trials": ("train-sweep-fails-trials", "accuracy", ("Failed", "Failed"), "Failed"),
    "cancel-early": ("train-sweep-forever", "accuracy", ("Failed", "Cancelled"), "Canceled|none"),
    "cancel-running": ("train-sweep-forever", "accuracy", ("Failed", "Cancelled"), "Canceled"),
    "terminate": ("train-sweep-forever", "accuracy", ("Terminated", "Cancelled"), "Canceled"),
}
MIX = (
    ["success"] * 8
    + ["metric-failure"] * 3
    + ["no-trials"] * 3
    + ["cancel-early"] * 2
    + ["cancel-running"] * 3
    + ["terminate"] * 1
)


@dataclass
class Run:
    index: int
    kind: str
    instance_id: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    acted: bool = False
    runtime: str | None = None
    status: str | None = None
    job_name: str | None = None
    job_status: str | None = None

    @property
    def expected(self) -> tuple[str, str]:
        return KINDS[self.kind][2]

    def ok(self) -> bool:
        if (self.runtime, self.status) != self.expected:
            return False
        want = KINDS[self.kind][3]
        if want == "Canceled|none":
            return self.job_status in ("Canceled", None)
        return self.job_status == want


@dataclass
class Figures:
    runs: int
    rate: float
    seed: int
    wall_seconds: float
    by_kind: dict[str, dict[str, int]]
    unexpected: list[dict[str, Any]]
    duplicate_jobs: int
    jobs_left_running: list[str]
    faults: dict[str, int]
    calls: dict[str, int]
    jobs_created: int
    reconciled: int
    events_carried_over: int

    @property
    def passed(self) -> bool:
        return not self.unexpected and self.duplicate_jobs == 0 and not self.jobs_left_running

    def table(self) -> str:
        lines = [
            f"soak: {self.runs} runs, fault rate {self.rate:.0%}, seed {self.seed}, "
            f"wall {self.wall_seconds:.1f} s",
            "",
            f"{'kind':<16}{'runs':>6}{'as expected':>13}  expected terminal (runtime / Polysync / job)",
        ]
        for kind, row in self.by_kind.items():
            rt, ps = KINDS[kind][2]
            lines.append(f"{kind:<16}{row['runs']:>6}{row['ok']:>13}  {rt} / {ps} / {KINDS[kind][3]}")
        total_ok = sum(r["ok"] for r in self.by_kind.values())
        lines += [
            f"{'all':<16}{self.runs:>6}{total_ok:>13}",
            "",
            f"duplicate jobs (instances with > 1 job): {self.duplicate_jobs}",
            f"jobs left running:                       {len(self.jobs_left_running)}",
            f"jobs created (PUT 201):                  {self.jobs_created}",
            f"orphans cancelled by the reconciler:     {self.reconciled}",
            f"events carried over by continue-as-new:  {self.events_carried_over}",
            "faults injected: "
            + (", ".join(f"{k}={v}" for k, v in sorted(self.faults.items())) or "none")
            + f" (total {sum(self.faults.values())})",
            "REST calls: "
            + ", ".join(f"{k}={v}" for k, v in sorted(self.calls.items()))
            + f" (total {sum(v for k, v in self.calls.items() if k != 'put_created')})",
        ]
        for u in self.unexpected[:20]:
            lines.append(f"UNEXPECTED: {u}")
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)


def _body(run: Run) -> dict[str, Any]:
    template, metric, _, _ = KINDS[run.kind]
    return {
        "externalId": template,
        "name": f"soak {run.kind} {run.index}",
        "runId": f"soak-{run.index}",
        "attributes": {"AI Foundry Objective Metric": metric, "AI Foundry Objective Goal": "Maximize"},
        "parameters": [
            {"name": "learning_rate", "value": "0.01", "dataType": "Float", "direction": "Input"},
            {"name": "model", "dataType": "String", "direction": "Output"},
        ],
    }


def _custom(status: dict[str, Any] | None) -> dict[str, Any]:
    custom = (status or {}).get("customStatus")
    return custom if isinstance(custom, dict) else {}


def run_soak(
    runs: int = 200,
    *,
    rate: float = 0.2,
    seed: int = 0,
    timeout: float = 600.0,
    polls_per_generation: int = 1,
    log: Any = None,
) -> Figures:
    """Run the soak and return its figures (raises nothing for a failed expectation)."""
    say = log or (lambda _msg: None)
    rng = random.Random(seed)
    kinds = [MIX[i % len(MIX)] for i in range(runs)]
    rng.shuffle(kinds)
    plan = FaultPlan(rate=rate, seed=seed, retry_after_seconds=1, slow_seconds=0.05)
    started = time.monotonic()
    stack = LocalStack.start(
        virtual=True,
        events=True,
        faults=plan,
        settings={"SWEEP_POLLS_PER_GENERATION": str(polls_per_generation)},
    )
    try:
        all_runs = [Run(i, kind) for i, kind in enumerate(kinds)]
        for run in all_runs:
            answer = stack.post("sweeps", _body(run))
            if answer.status_code != 202:
                raise RuntimeError(f"start {run.index} answered {answer.status_code}: {answer.text[:300]}")
            run.payload = answer.json()
            run.instance_id = run.payload["id"]
            if run.kind == "cancel-early":
                _cancel(stack, run)
        say(f"started {runs} runs")

        deadline = time.monotonic() + timeout
        pending = list(all_runs)
        while pending and time.monotonic() < deadline:
            still = []
            for run in pending:
                status = stack.host.get_status(run.instance_id, show_input=False) or {}
                if status.get("runtimeStatus") in FINISHED:
                    continue
                still.append(run)
                if run.acted or run.kind not in ("cancel-running", "terminate"):
                    continue
                if _custom(status).get("azureStatus") == "Running":
                    if run.kind == "cancel-running":
                        _cancel(stack, run)
                    else:
                        url = run.payload["terminatePostUri"].replace("{text}", "soak%20terminate")
                        answer = requests.post(url, timeout=30)
                        if answer.status_code not in (202, 410):
                            raise RuntimeError(f"terminate {run.index}: HTTP {answer.status_code}")
                        run.acted = True
            pending = still
            time.sleep(0.05)
        say(f"orchestrations finished ({len(pending)} still running)")

        # Terminated runs leave their jobs running: the reconciler's job. Past the
        # grace period, run it until nothing is orphaned (a faulted pass is retried,
        # as the timer would do ten minutes later).
        reconciled = 0
        for _ in range(10):
            orphans = _orphans(stack)
            if not orphans:
                break
            stack.clock.advance(11 * 60)
            stack.host.fire_timer_trigger("reconcile_orphans", wait=True)
            stack.clock.advance(60)
        stack.clock.advance(60)  # let cancels that were accepted finish (5 virtual s)

        jobs_by_instance: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        for job in stack.emulator.jobs():
            tags = job["properties"].get("tags") or {}
            if tags.get(INSTANCE_TAG) and job["properties"].get("status") is not None:
                jobs_by_instance[tags[INSTANCE_TAG]].append(job)
        for jobs in jobs_by_instance.values():
            reconciled += sum(1 for j in jobs if "polysync.reconciled" in (j["properties"].get("tags") or {}))

        by_kind: dict[str, dict[str, int]] = {k: {"runs": 0, "ok": 0} for k in KINDS if k in kinds}
        unexpected = []
        for run in all_runs:
            status = stack.host.get_status(run.instance_id, show_input=False) or {}
            run.runtime = status.get("runtimeStatus")
            view = stack.get(f"sweeps/{run.instance_id}").json()
            run.status = view.get("status")
            jobs = jobs_by_instance.get(run.instance_id, [])
            run.job_name = jobs[0]["name"] if jobs else None
            run.job_status = jobs[0]["properties"].get("status") if jobs else None
            by_kind[run.kind]["runs"] += 1
            if run.ok():
                by_kind[run.kind]["ok"] += 1
            else:
                unexpected.append(
                    {
                        "run": run.index,
                        "kind": run.kind,
                        "expected": run.expected,
                        "actual": (run.runtime, run.status),
                        "job": run.job_status,
                        "error": view.get("error"),
                    }
                )
        emulator = stack.emulator
        return Figures(
            runs=runs,
            rate=rate,
            seed=seed,
            wall_seconds=time.monotonic() - started,
            by_kind=by_kind,
            unexpected=unexpected,
            duplicate_jobs=sum(1 for jobs in jobs_by_instance.values() if len(jobs) > 1),
            jobs_left_running=list(emulator.active_jobs()),
            faults=dict(emulator.faults_injected),
            calls=dict(emulator.calls),
            jobs_created=emulator.calls.get("put_created", 0),
            reconciled=reconciled,
            events_carried_over=stack.host.metrics.events_carried_over,
        )
    finally:
        stack.stop()


def _cancel(stack: LocalStack, run: Run) -> None:
    answer = stack.post(f"sweeps/{run.instance_id}/cancel", {"reason": f"soak {run.kind}"})
    if answer.status_code not in (200, 202):
        raise RuntimeError(f"cancel {run.index}: HTTP {answer.status_code} {answer.text[:300]}")
    run.acted = True


def _orphans(stack: LocalStack) -> list[str]:
    return [
        name
        for name in stack.emulator.active_jobs()
        if (stack.emulator.job(name) or {}).get("properties", {}).get("status") != "CancelRequested"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, help="runs (default 200; 20 with --outage)")
    parser.add_argument(
        "--outage",
        choices=("503", "429"),
        help="instead: every Azure ML call fails for 2 h mid-sweep (503, or 429 + Retry-After: 600)",
    )
    parser.add_argument("--rate", type=float, default=0.2, help="fault rate per Azure ML call (default 0.2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900.0, help="wall seconds to wait for the runs")
    parser.add_argument(
        "--verbose", action="store_true", help="show the app's warnings (retries, reconciler)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.verbose else logging.CRITICAL, format="%(name)s: %(message)s"
    )
    if args.outage:
        from bench.outage import run_outage

        outage = run_outage(args.outage, runs=args.runs or 20, timeout=args.timeout)
        print(outage.table())
        return 0 if outage.passed else 1
    figures = run_soak(
        args.runs or 200,
        rate=args.rate,
        seed=args.seed,
        timeout=args.timeout,
        log=lambda m: print(f"... {m}", file=sys.stderr, flush=True),
    )
    print(figures.table())
    return 0 if figures.passed else 1


if __name__ == "__main__":
    sys.exit(main())
