"""Rehearsal overhead: the same training script run directly and as the trials of a rehearsed
sweep, side by side in one run, as a ratio of wall time per trial (target: under 1.3x for a
2-second trial).

    python -m bench.rehearsal                   # 5 trials of a 2-second script
    python -m bench.rehearsal --trials 3 --seconds 1

The script imports mlflow, logs its metric 10 times over `--seconds` of work and exits. Run
directly, it logs to a local MLflow file store (what a user gets without a tracking server);
rehearsed, it logs through the rehearsal's loopback tracking server, in its own snapshot of the
code folder and process group, one trial at a time (maxConcurrentTrials 1). Each rehearsed
trial is paired with a direct run right after it, so the load of this shared machine hits both
sides alike. The rehearsal's figure per trial is the median trial plus its share of what the
sweep costs once (tracking server, snapshots, report); the verdict is computed from it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from devhost.rehearsal import Rehearsal, RehearsalEvent

TARGET_RATIO = 1.3

SCRIPT = textwrap.dedent(
    """
    import argparse, time
    import mlflow

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--lr", type=float, required=True)
    args = parser.parse_args()
    with mlflow.start_run():
        mlflow.log_param("lr", args.lr)
        for step in range(10):
            time.sleep(args.seconds / 10)  # the training work of one epoch
            mlflow.log_metric("accuracy", 1 - args.lr / (step + 1), step=step)
    """
)


def _job(trials: int, seconds: float) -> dict[str, Any]:
    return {
        "properties": {
            "jobType": "Sweep",
            "experimentName": "bench-rehearsal",
            "trial": {"command": f"python train.py --seconds {seconds} --lr ${{{{search_space.lr}}}}"},
            "objective": {"goal": "Maximize", "primaryMetric": "accuracy"},
            "samplingAlgorithm": {"samplingAlgorithmType": "Random", "seed": 1},
            "limits": {"jobLimitsType": "Sweep", "maxTotalTrials": trials, "maxConcurrentTrials": 1},
            "searchSpace": {"lr": ["choice", [[0.1, 0.2, 0.3]]]},
        }
    }


def _direct(code: Path, seconds: float, store: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        MLFLOW_TRACKING_URI=store.as_uri(),
        MLFLOW_ALLOW_FILE_STORE="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
    )
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "train.py", "--seconds", str(seconds), "--lr", "0.1"],
        cwd=code,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def measure(trials: int, seconds: float, *, warm_up: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-rehearsal-") as tmp:
        root = Path(tmp)
        code = root / "code"
        code.mkdir()
        (code / "train.py").write_text(SCRIPT)
        if warm_up:  # the first import fills the OS file cache, for both sides
            _direct(code, seconds, root / "warm-up-store")
        direct: list[float] = []

        def direct_after_each_trial(event: RehearsalEvent) -> None:
            # Runs on the rehearsal's loop thread, so the next trial starts only after it: each
            # rehearsed trial is paired with a direct run right after it, and a burst of load on
            # this shared machine hits both sides of a pair alike.
            if event.kind == "trial_ended":
                direct.append(_direct(code, seconds, root / "mlruns"))

        start = time.perf_counter()
        outcome = Rehearsal(
            _job(trials, seconds),
            name="bench",
            code_dir=code,
            run_dir=root / "run",
            on_event=direct_after_each_trial,
        ).run()
        wall = time.perf_counter() - start
        if outcome.status != "Completed" or len(outcome.trials) != trials:
            raise RuntimeError(f"the rehearsal did not complete its {trials} trials: {outcome.error}")
        rehearsed = [(t.ended_at - t.started_at).total_seconds() for t in outcome.trials]  # type: ignore[operator]
    # what the sweep costs besides its trials: tracking server, code snapshots, bookkeeping, report
    fixed = wall - sum(rehearsed) - sum(direct)
    per_trial = statistics.median(rehearsed) + fixed / trials
    direct_median = statistics.median(direct)
    ratio = per_trial / direct_median
    return {
        "trials": trials,
        "work_seconds": seconds,
        "direct_runs_s": [round(d, 3) for d in direct],
        "direct_median_s": round(direct_median, 3),
        "rehearsed_trials_s": [round(r, 3) for r in rehearsed],
        "rehearsed_median_s": round(statistics.median(rehearsed), 3),
        "pair_ratios": [round(r / d, 3) for r, d in zip(rehearsed, direct, strict=True)],
        "per_sweep_fixed_s": round(fixed, 3),
        "rehearsal_per_trial_s": round(per_trial, 3),
        "overhead_per_trial_s": round(per_trial - direct_median, 3),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "verdict": "pass" if ratio < TARGET_RATIO else "FAIL",
    }


def render(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"Rehearsal overhead, {r['trials']} trials of a {r['work_seconds']} s script "
            "(mlflow import + 10 logged steps), one at a time, each paired with a direct run:",
            f"  direct run (local MLflow file store)    : median {r['direct_median_s']:.3f} s {r['direct_runs_s']}",
            f"  rehearsed trial (process start -> end)  : median {r['rehearsed_median_s']:.3f} s "
            f"{r['rehearsed_trials_s']} (pair ratios {r['pair_ratios']})",
            f"  once per sweep (server, snapshots, report): {r['per_sweep_fixed_s']:.3f} s",
            f"  rehearsal per trial (median + once/trials): {r['rehearsal_per_trial_s']:.3f} s, "
            f"overhead {r['overhead_per_trial_s']:+.3f} s",
            f"  ratio rehearsed / direct                : {r['ratio']:.3f}x (target < {r['target_ratio']}x) "
            f"-> {r['verdict']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rehearsal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="the script's work per run (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    result = measure(args.trials, args.seconds)
    print(render(result))
    if args.json:
        print(json.dumps(result))
    return 0 if result["verdict"] == "pass" else 1


if __name__ == "__main__":
    raise SystemExit(main())
