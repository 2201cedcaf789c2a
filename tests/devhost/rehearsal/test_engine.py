"""Rehearsals with real trial processes: how a sweep ends (as Azure ML reports it: the product
spec's troubleshooting entries NoTrialsCompleted and PrimaryMetricNotFound, `best_child_run_id`
/ `score` / `best_metric_status` in `properties.properties`), early termination (how-to v2,
"Specify early termination policy"), limits (`maxConcurrentTrials`, `trialTimeout`, `timeout`:
"the system will cancel the sweep job, including all its trials") and cancel.

Every wait here is on a condition (an event, a file the trial writes) with a generous deadline
that only a broken rehearsal reaches."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from devhost.rehearsal import Rehearsal, RehearsalEvent, RehearsalOptions

from .conftest import sweep_job, write_code

FAST = RehearsalOptions(kill_grace_seconds=0.5, linger_seconds=5.0)


def _alive(pid: int) -> bool:
    """A process exists and is not a zombie (a zombie is dead, only not yet reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def _wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _files(root: Path) -> str:
    return "\n".join(
        p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.suffix != ".png"
    )


def test_failing_script_ends_no_trials_completed_with_the_log_path(tmp_path):
    code = write_code(
        tmp_path / "code",
        **{"train.py": "import sys\nprint('boom: bad data', file=sys.stderr)\nsys.exit(3)\n"},
    )
    events: list[RehearsalEvent] = []
    job = sweep_job(
        trial={"command": "python train.py --lr ${{search_space.lr}} --token ${{search_space.token}}"},
        searchSpace={"lr": ["choice", [[0.1, 0.2, 0.3, 0.4]]], "token": ["choice", [["s3cr3t-value"]]]},
        limits={"maxTotalTrials": 10, "maxConcurrentTrials": 2},
    )
    rehearsal = Rehearsal(
        job,
        name="sweep-fail",
        code_dir=code,
        run_dir=tmp_path / "run",
        options=RehearsalOptions(redact=frozenset({"token"})),
        on_event=events.append,
    )
    outcome = rehearsal.run()

    assert outcome.status == "Failed"
    assert outcome.error["details"][0]["code"] == "NoTrialsCompleted"
    log = tmp_path / "run" / "trials" / "sweep-fail_0" / "user_logs" / "std_log.txt"
    assert str(log) in outcome.error["message"]
    assert "boom: bad data" in log.read_text()
    assert [t.status for t in outcome.trials] == ["Failed"] * 4  # the grid has 4 points; the budget 10
    assert all(t.exit_code == 3 and "status code 3" in t.error for t in outcome.trials)
    assert outcome.job_update() == {"status": "Failed", "properties": {}, "error": outcome.error}
    assert max(e.progress.running for e in events) == 2  # maxConcurrentTrials used, never exceeded
    assert [e.kind for e in events][-1] == "sweep_ended"
    # the Secret-like parameter never reaches a record, the outcome or the report
    assert "s3cr3t-value" not in _files(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "outcome.json").read_text())["status"] == "Failed"


TRAIN_WRONG_METRIC = """
import mlflow
mlflow.log_metric("acc", 0.9)
mlflow.log_metric("loss", 0.1)
"""


@pytest.mark.slow
def test_wrong_objective_metric_ends_primary_metric_not_found_with_the_logged_names(tmp_path):
    code = write_code(tmp_path / "code", **{"train.py": TRAIN_WRONG_METRIC})
    job = sweep_job(searchSpace={"lr": ["choice", [[0.1]]]})
    outcome = Rehearsal(job, name="sweep-metric", code_dir=code, run_dir=tmp_path / "run", options=FAST).run()

    assert outcome.status == "Failed"
    assert outcome.error["details"][0] == {
        "code": "PrimaryMetricNotFound",
        "message": outcome.error["message"],
        "target": "objective.primaryMetric",
    }
    assert "'accuracy' was not logged" in outcome.error["message"]
    assert "Metrics logged by the trials: acc, loss." in outcome.error["message"]
    assert [t.status for t in outcome.trials] == ["Completed"]


TRAIN_PROFILE = """
import pathlib, sys, time
import mlflow

profile, marker = sys.argv[1], pathlib.Path(sys.argv[2])
if profile == "good":
    for step in range(5):
        mlflow.log_metric("accuracy", 0.9, step=step)
    marker.touch()
else:
    while not marker.exists():  # report only once the good trial has reported everything
        time.sleep(0.01)
    for step in range(5):
        mlflow.log_metric("accuracy", 0.5, step=step)
    time.sleep(300)  # only a stop ends this trial before its timeout
"""


@pytest.mark.slow
def test_bandit_stops_a_trial_outside_the_slack(tmp_path):
    code = write_code(tmp_path / "code", **{"train.py": TRAIN_PROFILE})
    job = sweep_job(
        trial={"command": "python train.py ${{search_space.profile}} ${{inputs.marker}}"},
        inputs={"marker": {"jobInputType": "literal", "value": str(tmp_path / "good-done")}},
        searchSpace={"profile": ["choice", [["good", "bad"]]]},
        earlyTermination={
            "policyType": "Bandit",
            "slackFactor": 0.1,
            "delayEvaluation": 2,
            "evaluationInterval": 1,
        },
        limits={"maxTotalTrials": 2, "maxConcurrentTrials": 2, "trialTimeout": "PT2M"},
    )
    outcome = Rehearsal(job, name="sweep-bandit", code_dir=code, run_dir=tmp_path / "run", options=FAST).run()

    good, bad = outcome.trials
    assert good.params == {"profile": "good"} and good.status == "Completed"
    assert bad.status == "Canceled"
    # 0.5 < 0.9 / (1 + 0.1) at the first evaluated interval (delayEvaluation 2)
    assert bad.stop_reason.startswith("Early terminated: Bandit policy at interval 2")
    assert bad.exit_code is not None and bad.exit_code < 0  # killed, not finished
    assert outcome.status == "Completed"
    assert outcome.properties == {
        "best_child_run_id": "sweep-bandit_0",
        "score": "0.9",
        "best_metric_status": "Succeeded",
    }
    assert outcome.best_score == 0.9


TRAIN_STUBBORN = """
# the command's shell ignores SIGTERM, starts a child that ignores it too, one that stops
# cleanly on it, and a plain grandchild; it records their pids
trap '' TERM
echo $$ > "pids-$1"
( trap '' TERM; sleep 300 ) &
echo $! >> "pids-$1"
( trap 'echo stopped > "term-$1"; exit 0' TERM; echo > "ready-$1"; sleep 300 & wait ) &
echo $! >> "pids-$1"
sleep 300 &
echo $! >> "pids-$1"
wait
"""


@pytest.mark.slow
def test_cancel_kills_running_trials_and_starts_no_more(tmp_path):
    code = write_code(tmp_path / "code", **{"run.sh": TRAIN_STUBBORN})
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    job = sweep_job(
        trial={"command": "cd ${{inputs.pids}} && bash $OLDPWD/run.sh ${{search_space.k}}"},
        inputs={"pids": {"jobInputType": "literal", "value": str(pid_dir)}},
        searchSpace={"k": ["choice", [[1, 2, 3, 4, 5]]]},
        limits={"maxTotalTrials": 5, "maxConcurrentTrials": 2},
    )
    # the shells ignore SIGTERM, so the stop always waits out this grace period before SIGKILL: it is
    # the time the graceful child has to run its trap, generous for a loaded machine
    options = RehearsalOptions(kill_grace_seconds=3.0)
    rehearsal = Rehearsal(
        job, name="sweep-cancel", code_dir=code, run_dir=tmp_path / "run", options=options
    ).start()
    files = [pid_dir / "pids-1", pid_dir / "pids-2"]
    ready = [pid_dir / "ready-1", pid_dir / "ready-2"]
    _wait_for(
        lambda: (
            all(f.exists() and len(f.read_text().split()) == 4 for f in files)
            and all(r.exists() for r in ready)
        )
    )
    pids = [int(p) for f in files for p in f.read_text().split()]
    assert all(_alive(p) for p in pids)

    rehearsal.cancel("operator cancelled")
    outcome = rehearsal.wait(60)

    assert outcome is not None and outcome.status == "Canceled"
    assert outcome.cancel_reason == "operator cancelled"
    assert [t.status for t in outcome.trials] == ["Canceled", "Canceled"]  # no third trial started
    assert all(t.stop_reason == "operator cancelled" for t in outcome.trials)
    assert [p for p in pids if _alive(p)] == []  # SIGTERM-proof children and grandchildren included
    # the whole group got the SIGTERM first: a child that handles it stopped cleanly
    assert [(pid_dir / f"term-{k}").read_text() for k in (1, 2)] == ["stopped\n", "stopped\n"]
    assert outcome.warnings == []


def test_processes_a_trial_leaves_behind_end_with_it(tmp_path):
    code = write_code(tmp_path / "code", **{"leave.sh": 'sleep 300 &\necho $! > "$1"\n'})
    job = sweep_job(
        trial={"command": "bash leave.sh ${{inputs.pidfile}} ${{search_space.lr}}"},
        inputs={"pidfile": {"jobInputType": "literal", "value": str(tmp_path / "pid")}},
        searchSpace={"lr": ["choice", [[0.1]]]},
    )
    outcome = Rehearsal(job, name="s-leave", code_dir=code, run_dir=tmp_path / "run", options=FAST).run()
    assert [t.exit_code for t in outcome.trials] == [0]
    assert not _alive(int((tmp_path / "pid").read_text()))  # as a container teardown would


def test_trial_timeout_cancels_the_trial_and_timeout_cancels_the_sweep(tmp_path):
    code = write_code(tmp_path / "code", **{"slow.sh": "sleep 300\n"})
    trial_limited = sweep_job(
        trial={"command": "bash slow.sh ${{search_space.lr}}"},
        searchSpace={"lr": ["choice", [[0.1]]]},
        limits={"maxTotalTrials": 1, "trialTimeout": "PT0.3S"},
    )
    outcome = Rehearsal(
        trial_limited, name="s-trial", code_dir=code, run_dir=tmp_path / "a", options=FAST
    ).run()
    (trial,) = outcome.trials
    assert trial.status == "Canceled" and "limits.trialTimeout" in trial.stop_reason
    assert outcome.status == "Failed" and outcome.error["details"][0]["code"] == "NoTrialsCompleted"
    assert "1 were canceled" in outcome.error["message"] and str(trial.log_path) in outcome.error["message"]

    sweep_limited = sweep_job(
        trial={"command": "bash slow.sh ${{search_space.lr}}"},
        searchSpace={"lr": ["choice", [[0.1, 0.2, 0.3]]]},
        limits={"maxTotalTrials": 3, "maxConcurrentTrials": 1, "timeout": "PT0.3S"},
    )
    outcome = Rehearsal(
        sweep_limited, name="s-sweep", code_dir=code, run_dir=tmp_path / "b", options=FAST
    ).run()
    assert outcome.status == "Canceled" and "limits.timeout" in outcome.cancel_reason
    assert [t.status for t in outcome.trials] == ["Canceled"]


def test_each_trial_runs_in_its_own_snapshot_with_azure_ml_variables(tmp_path):
    script = (
        "import json, os, pathlib, sys\n"
        "pathlib.Path('mine.txt').write_text(sys.argv[1])\n"
        "keys = ['MLFLOW_RUN_ID', 'AZUREML_RUN_ID', 'MLFLOW_EXPERIMENT_NAME', 'MLFLOW_DISABLE_TELEMETRY', 'MY_VAR']\n"
        "print(json.dumps({k: os.environ.get(k) for k in keys}))\n"
        "print(json.dumps({'token': bool(os.environ.get('MLFLOW_TRACKING_TOKEN')),"
        " 'uri': os.environ['MLFLOW_TRACKING_URI'], 'files': sorted(os.listdir('.'))}))\n"
    )
    code = write_code(tmp_path / "code", **{"train.py": script})
    (code / "__pycache__").mkdir()
    job = sweep_job(
        trial={"command": "python train.py ${{search_space.lr}}", "environmentVariables": {"MY_VAR": "x"}},
    )
    rehearsal = Rehearsal(job, name="sweep-env", code_dir=code, run_dir=tmp_path / "run", options=FAST)
    outcome = rehearsal.run()
    first, second = outcome.trials
    assert (first.work_dir / "mine.txt").read_text() == "0.1" and (
        second.work_dir / "mine.txt"
    ).read_text() == "0.2"
    assert not (code / "mine.txt").exists()
    env, seen = (json.loads(line) for line in first.log_path.read_text().splitlines()[:2])
    assert env == {
        "MLFLOW_RUN_ID": "sweep-env_0",
        "AZUREML_RUN_ID": "sweep-env_0",
        "MLFLOW_EXPERIMENT_NAME": "rehearsal-tests",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MY_VAR": "x",
    }
    assert seen["token"] and seen["uri"].startswith("http://127.0.0.1:")
    assert seen["files"] == ["mine.txt", "outputs", "train.py"]  # a snapshot: no __pycache__, ./outputs ready


def test_events_follow_each_trial_from_start_to_end(tmp_path):
    code = write_code(tmp_path / "code", **{"ok.sh": "exit 0\n"})
    job = sweep_job(
        trial={"command": "bash ok.sh ${{search_space.lr}}"},
        limits={"maxTotalTrials": 2, "maxConcurrentTrials": 1},
    )
    events: list[RehearsalEvent] = []
    lock = threading.Lock()

    def listen(event: RehearsalEvent) -> None:
        with lock:
            events.append(event)

    outcome = Rehearsal(job, name="s-ev", code_dir=code, run_dir=tmp_path / "run", on_event=listen).run()
    kinds = [(e.kind, (e.trial or {}).get("name")) for e in events]
    assert kinds == [
        ("trial_started", "s-ev_0"),
        ("trial_ended", "s-ev_0"),
        ("trial_started", "s-ev_1"),
        ("trial_ended", "s-ev_1"),
        ("sweep_ended", None),
    ]
    assert events[-1].outcome is outcome and events[-1].progress.done == 2
    # trials completed but no metric: PrimaryMetricNotFound, nothing logged
    assert outcome.error["details"][0]["code"] == "PrimaryMetricNotFound"
    assert "Metrics logged by the trials: none." in outcome.error["message"]


def test_a_cancel_before_start_starts_no_trial(tmp_path):
    code = write_code(tmp_path / "code", **{"ok.sh": "exit 0\n"})
    job = sweep_job(trial={"command": "bash ok.sh ${{search_space.lr}}"})
    rehearsal = Rehearsal(job, name="s-early", code_dir=code, run_dir=tmp_path / "run")
    rehearsal.cancel("changed my mind")
    rehearsal.cancel("second thoughts")
    outcome = rehearsal.run()
    assert outcome.status == "Canceled" and outcome.cancel_reason == "changed my mind"
    assert outcome.trials == [] and outcome.report is None
