"""Outage soak: sweeps that are running when Azure ML becomes unreachable.

    python -m bench.soak --outage 503            # every call answers 503 for 2 h
    python -m bench.soak --outage 429            # every call answers 429 + Retry-After: 600 for 2 h

Each run's sweep takes `sweep_hours`; `outage_after` hours after the starts, every
Azure ML call (the app's and the reconciler's) fails for `hours` hours, then the
service is back. Expected: every run ends Success, no cancel is ever sent, the
orphan reconciler (on its real schedule) acts on nothing, one job per run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from devhost.emulator import FaultPlan
from devhost.stack import LocalStack
from foundry import tags as tag

FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}
TEMPLATE = "train-sweep-outage"
RECONCILE_SCHEDULE = "0 */10 * * * *"  # the app's default
# Retry-After each kind of outage answers with (503 as ARM usually sends it).
RETRY_AFTER = {"503": 1, "429": 600}


@dataclass
class OutageFigures:
    kind: str
    retry_after: int | None
    hours: float
    runs: int
    success: int
    outcomes: dict[str, int]
    cancel_calls: int
    reconciled: int
    reconciler_passes: int
    duplicate_jobs: int
    faults: dict[str, int]
    calls: dict[str, int]
    max_history: int
    wall_seconds: float
    errors: list[Any] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            self.success == self.runs
            and self.cancel_calls == 0
            and self.reconciled == 0
            and self.duplicate_jobs == 0
            and sum(self.faults.values()) > 0
            and self.max_history <= 200
        )

    def table(self) -> str:
        lines = [
            f"outage soak: {self.runs} runs, {self.hours:g} h of all-{self.kind}"
            + (f" (Retry-After: {self.retry_after})" if self.retry_after is not None else "")
            + f" mid-sweep, wall {self.wall_seconds:.1f} s",
            f"Success:                     {self.success}/{self.runs}   outcomes {self.outcomes}",
            f"cancels sent to Azure ML:    {self.cancel_calls}",
            f"jobs the reconciler touched: {self.reconciled} (over {self.reconciler_passes} passes)",
            f"duplicate jobs:              {self.duplicate_jobs}",
            f"faults injected:             {self.faults}",
            f"history per generation, max: {self.max_history}",
            "REST calls: " + ", ".join(f"{k}={v}" for k, v in sorted(self.calls.items())),
        ]
        lines += [f"UNEXPECTED: {e}" for e in self.errors[:10]]
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)


def seed_template(stack: LocalStack, sweep_hours: float) -> None:
    base = stack.emulator.job("train-sweep-template")
    props = dict(base["properties"])
    props["tags"] = {**props.get("tags", {}), "emulator.durationSeconds": str(int(sweep_hours * 3600))}
    props["displayName"] = "Outage soak sweep"
    job = {k: v for k, v in base.items() if k != "id"}
    job.update(name=TEMPLATE, properties=props)
    stack.emulator.add_job(job)


def body(run_id: str) -> dict[str, Any]:
    return {
        "externalId": TEMPLATE,
        "name": "outage soak",
        "runId": run_id,
        "attributes": {"AI Foundry Objective Metric": "accuracy", "AI Foundry Objective Goal": "Maximize"},
        "parameters": [{"name": "learning_rate", "value": "0.01", "dataType": "Float", "direction": "Input"}],
    }


def outage_plan(stack: LocalStack, kind: str, *, after_hours: float, hours: float) -> FaultPlan:
    """Every Azure ML call fails with `kind` from `after_hours` to `after_hours + hours` from now."""
    now = stack.clock.now()
    return FaultPlan(
        rate=1.0,
        seed=1,
        kinds=(kind,),
        retry_after_seconds=RETRY_AFTER.get(kind),
        active_from=now + timedelta(hours=after_hours),
        active_until=now + timedelta(hours=after_hours + hours),
    )


def run_outage(
    kind: str = "503",
    *,
    runs: int = 10,
    hours: float = 2.0,
    outage_after: float = 1.0,
    sweep_hours: float = 5.0,
    events: bool = False,
    timeout: float = 300.0,
) -> OutageFigures:
    """Start `runs` sweeps, cut Azure ML off mid-sweep, and report how they ended."""
    started = time.monotonic()
    stack = LocalStack.start(virtual=True, events=events, settings={"RECONCILE_SCHEDULE": RECONCILE_SCHEDULE})
    try:
        seed_template(stack, sweep_hours)
        passes: list[int] = []
        original = stack.host.fire_timer_trigger

        def counting(name: str, **kw: Any):
            passes.append(1)
            return original(name, **kw)

        stack.host.fire_timer_trigger = counting  # type: ignore[method-assign]
        stack.host.schedule_timer_triggers()  # the orphan reconciler, every 10 virtual minutes
        stack.emulator.set_faults(outage_plan(stack, kind, after_hours=outage_after, hours=hours))
        ids = []
        for i in range(runs):
            answer = stack.post("sweeps", body(f"outage-{kind}-{i}"))
            if answer.status_code != 202:
                raise RuntimeError(f"start {i}: HTTP {answer.status_code} {answer.text[:300]}")
            ids.append(answer.json()["id"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = [stack.host.get_status(i, show_input=False) or {} for i in ids]
            if all(s.get("runtimeStatus") in FINISHED for s in statuses):
                break
            time.sleep(0.05)
        outcomes: dict[str, int] = {}
        errors = []
        success = 0
        for iid in ids:
            view = stack.get(f"sweeps/{iid}").json()
            key = f"{view.get('runtimeStatus')}/{view.get('status')}"
            outcomes[key] = outcomes.get(key, 0) + 1
            if view.get("status") == "Success":
                success += 1
            else:
                errors.append({"instance": iid, "status": key, "error": view.get("error")})
        jobs: dict[str, int] = {}
        reconciled = 0
        for job in stack.emulator.jobs():
            job_tags = job["properties"].get("tags") or {}
            if job_tags.get(tag.INSTANCE) in ids:
                jobs[job_tags[tag.INSTANCE]] = jobs.get(job_tags[tag.INSTANCE], 0) + 1
                reconciled += tag.RECONCILED in job_tags
        metrics = stack.host.metrics
        return OutageFigures(
            kind=kind,
            retry_after=RETRY_AFTER.get(kind),
            hours=hours,
            runs=runs,
            success=success,
            outcomes=outcomes,
            cancel_calls=stack.emulator.calls.get("cancel", 0),
            reconciled=reconciled,
            reconciler_passes=len(passes),
            duplicate_jobs=sum(1 for n in jobs.values() if n > 1),
            faults=dict(stack.emulator.faults_injected),
            calls=dict(stack.emulator.calls),
            max_history=max((metrics.instance(i).history_len_max for i in ids), default=0),
            wall_seconds=time.monotonic() - started,
            errors=errors,
        )
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.outage KIND [--runs N]`: the figures as one JSON line (for bench.run)."""
    import argparse
    import json
    import logging
    from dataclasses import asdict

    parser = argparse.ArgumentParser(prog="python -m bench.outage")
    parser.add_argument("kind", choices=sorted(RETRY_AFTER))
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    figures = run_outage(args.kind, runs=args.runs)
    print(json.dumps({**asdict(figures), "passed": figures.passed}))
    return 0 if figures.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
