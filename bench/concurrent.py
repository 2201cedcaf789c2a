"""N concurrent 10-minute sweeps through devhost (HTTP start route, events on).

Run in its own process (`python -m bench.concurrent --runs 500`) so that peak
RSS is this workload's alone; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run(runs: int, *, clients: int = 8, timeout: float = 900.0) -> dict[str, Any]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    logging.disable(logging.WARNING)
    import requests

    from bench.scenarios import SWEEPS, _seed_templates, request_body, status_input
    from devhost.stack import LocalStack

    template = SWEEPS["10m"][0]
    out: dict[str, Any] = {"runs": runs, "route": "HTTP POST /api/sweeps", "clients": clients}
    stack = LocalStack.start(virtual=True, events=True)
    try:
        _seed_templates(stack.emulator)
        out["rss_after_start_mib"] = _rss_mib()
        v0 = stack.clock.now()
        session_local: dict[int, requests.Session] = {}

        def start(i: int) -> str:
            import threading

            s = session_local.setdefault(threading.get_ident(), requests.Session())
            s.headers.update(stack.key_header)
            answer = s.post(stack.url("sweeps"), json=request_body(template, f"load-{i:04d}"), timeout=120)
            if answer.status_code != 202:
                raise RuntimeError(f"start {i}: {answer.status_code} {answer.text[:200]}")
            return answer.json()["id"]

        t0 = time.perf_counter()
        cpu0 = time.process_time()
        with ThreadPoolExecutor(clients) as pool:
            ids = list(pool.map(start, range(runs)))
        out["start_wall_s"] = time.perf_counter() - t0
        deadline = time.monotonic() + timeout
        statuses = [
            stack.host.wait_for_completion(i, timeout=max(1.0, deadline - time.monotonic())) for i in ids
        ]
        out["wall_s"] = time.perf_counter() - t0
        out["cpu_s"] = time.process_time() - cpu0
        out["virtual_s"] = (stack.clock.now() - v0).total_seconds()
        out["peak_rss_mib"] = _rss_mib()
        ok = sum(
            1
            for s in statuses
            if s["runtimeStatus"] == "Completed"
            and isinstance(s.get("output"), dict)
            and s["output"].get("status") == "Success"
        )
        jobs = [status_input(s).get("jobName") for s in statuses]
        emu = stack.emulator
        puts = [sum(n for (k, _st), n in emu.calls_for(j).items() if k == "put") for j in jobs]
        out["success"] = ok
        out["distinct_instances"] = len(set(ids))
        out["distinct_jobs"] = len(set(jobs))
        out["jobs_created"] = emu.calls["put_created"]
        out["duplicates"] = sum(1 for p in puts if p != 1) + (emu.calls["put_created"] - len(set(jobs)))
        out["rest_calls"] = sum(emu.calls.values()) - emu.calls["put_created"]
        out["episodes"] = stack.host.metrics.episodes
    finally:
        stack.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.runs, clients=args.clients)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
