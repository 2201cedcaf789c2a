"""Sweep rehearsal through the whole product (issue 15): Polysync's request on the app's start
route, the real orchestrator and activities, the emulated workspace running the sweep's trials
for real on this machine. Nothing in the product knows it is a rehearsal: the start, the wait
(polls and Event Grid events), cancel and the outputs run unchanged.

Virtual time with the rehearsed job holding the clock (docs/rehearsal.md), every activity run
twice (at-least-once, as on Azure: the re-PUT of a rehearsed job must not start it twice).
Sources: the product spec's troubleshooting entries (No trials completed, PrimaryMetricNotFound),
the Azure ML REST cancel operation, the Event Grid sample of a child run's RunStatusChanged
(tests/recordings/eventgrid_run_status_changed.json).
"""

from __future__ import annotations

import copy
import json
import pickle
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.emulator.rehearsals import CodeMap, RehearsalSetup
from devhost.stack import LocalStack
from tests.e2e.helpers import start, structured, wait_finished, wait_until
from tests.lingering_trial import LINGER, pid_files, written_pids

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "rehearsal"
EXAMPLE_TEMPLATE = json.loads((EXAMPLE / "train-sweep-rehearsal.json").read_text())
TEST_CODE_ASSET = "e2e-rehearsal-src:1"

# Logs its metric(s) through MLflow's REST API (what mlflow.log_metric sends), so a trial takes
# milliseconds; the example's real mlflow client runs in the first test.
LOG_METRICS = textwrap.dedent(
    """
    import json, os, sys, time, urllib.request

    def log(key, value, step):
        body = {"run_id": os.environ["MLFLOW_RUN_ID"], "key": key, "value": value,
                "timestamp": int(time.time() * 1000), "step": step}
        request = urllib.request.Request(
            os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-metric",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]},
        )
        urllib.request.urlopen(request).read()

    lr = float(sys.argv[1])
    for step in range(3):
        log("val_acc", 1 - lr / (step + 1), step)
        log("loss", lr / (step + 1), step)
    """
)
FAIL = (
    "import sys\nprint('KeyError: feature_42 missing from the training data', file=sys.stderr)\nsys.exit(2)\n"
)


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("code")
    (folder / "log_metrics.py").write_text(LOG_METRICS)
    (folder / "linger.py").write_text(LINGER)
    (folder / "fail.py").write_text(FAIL)
    return folder


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, code: Path, events: list) -> Iterator[LocalStack]:
    example_asset = EXAMPLE_TEMPLATE["properties"]["trial"]["codeId"]
    setup = RehearsalSetup(
        code=CodeMap.parse([f"{example_asset}={EXAMPLE / 'src'}", f"{TEST_CODE_ASSET}={code}"]),
        runs_dir=tmp_path_factory.mktemp("runs"),
        kill_grace_seconds=2,
    )
    with LocalStack.start(
        virtual=True, events=True, rerun_activities=True, rehearsal=setup, on_event=events.append
    ) as s:
        s.emulator.add_job(EXAMPLE_TEMPLATE)
        yield s


def _template(stack: LocalStack, name: str, command: str, **env: str) -> str:
    """A template job like the example's, running `command` from the test's code folder."""
    job = copy.deepcopy(EXAMPLE_TEMPLATE)
    job["name"] = name
    props = job["properties"]
    props["trial"]["command"] = command
    props["trial"]["codeId"] = f"{stack.emulator.workspace_id}/codes/e2e-rehearsal-src/versions/1"
    props["trial"]["environmentVariables"] = dict(env)
    props["searchSpace"] = {"lr": ["choice", [[0.1, 0.2, 0.3, 0.4]]]}
    props["samplingAlgorithm"] = {"samplingAlgorithmType": "Grid"}
    props["earlyTermination"] = None
    props["inputs"] = {}
    props["outputs"] = {}
    stack.emulator.add_job(job)
    return name


def _request(template: str, trials: int, **attributes: Any) -> dict[str, Any]:
    body = structured(template)
    body["parameters"] = [{"name": "model", "dataType": "String", "direction": "Output"}]
    body["attributes"].update(
        {"AI Foundry Max Total Trials": trials, "AI Foundry Max Concurrent Trials": 2, **attributes}
    )
    body["attributes"]["AI Foundry Sampling Algorithm"] = "Grid"
    return body


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def _until(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_polysync_flat_body_rehearses_the_example_sweep_end_to_end(stack, events):
    """Polysync's flat body on `POST /api/sweeps/{template}`: the example's real training script
    (scikit-learn, logging with the mlflow client) runs as the sweep's trials; the run ends
    Success with the best trial and score Azure ML would report and the Output parameter
    pointing at the best trial's local model folder; the sweep's and the trials' Event Grid
    events reached the app."""
    answer = stack.post(
        "sweeps/train-sweep-rehearsal",
        {"loss": "log_loss", "AI Foundry Max Total Trials": 2, "AI Foundry Max Concurrent Trials": 2},
    )
    assert answer.status_code == 202, answer.text
    view = wait_finished(stack, answer.json()["id"], timeout=120)
    job_name = view["jobName"]
    assert view["status"] == "Success", view
    sweep = stack.emulator.rehearsals.get(job_name)
    assert sweep is not None and sweep.settled.wait(30)
    trials = {
        t["name"]: t for t in (json.loads(p.read_text()) for p in sweep.run_dir.glob("trials/*/trial.json"))
    }
    assert sorted(trials) == [f"{job_name}_0", f"{job_name}_1"]
    assert {t["params"]["loss"] for t in trials.values()} == {"log_loss"}  # the flat body's Input parameter
    best = max(trials.values(), key=lambda t: (t["bestScore"], -t["index"]))
    assert view["bestTrial"] == {
        "runId": best["name"],
        "score": best["bestScore"],
        "metricStatus": "Succeeded",
    }
    assert max(best["metrics"]["accuracy"], key=lambda point: point[1])[1] == best["bestScore"]
    # customStatus' trial progress, read from the rehearsed sweep's child runs (run history)
    assert {k: view["trials"][k] for k in ("total", "done", "running", "failed")} == {
        "total": 2, "done": 2, "running": 0, "failed": 0,
    }  # fmt: skip
    assert view["trials"]["best"] == {"trial": best["name"], "score": best["bestScore"]}
    model_dir = Path(view["outputs"]["model"])
    assert model_dir == sweep.run_dir / "trials" / best["name"] / "outputs" / "model"
    assert pickle.loads((model_dir / "model.pkl").read_bytes())["model"] is not None
    assert sweep.report is not None and sweep.report.is_file()
    # the job as the workspace shows it, and its trials as child runs
    job = stack.emulator.job(job_name)["properties"]
    assert job["status"] == "Completed" and job["properties"]["best_child_run_id"] == best["name"]
    assert {t.run_id for t in stack.emulator.trials.children(job_name)} == set(trials)
    puts = {status: n for (kind, status), n in stack.emulator.calls_for(job_name).items() if kind == "put"}
    # the activity ran twice (rerun) and adopted its job: one sweep, one rehearsal; a 200 is the
    # sweep watcher's tag-only re-PUT once the run knew the end
    assert puts.get(201) == 1 and set(puts) <= {200, 201}
    # events: the sweep's lifecycle, and every trial's own
    mine = [e["data"] for e in events if e["data"]["runId"] == job_name]
    statuses = [d.get("runStatus") for d in mine if d.get("runStatus")]
    assert statuses == ["Queued", "Running", "Finalizing", "Completed"]
    for name, trial in trials.items():
        mine = [e["data"].get("runStatus") for e in events if e["data"]["runId"] == name]
        assert [status for status in mine if status] == ["Running", trial["status"]], mine


def test_cancel_route_stops_the_running_trials_and_leaves_no_process(stack, tmp_path):
    """`POST /api/sweeps/{id}/cancel` while trials run: the orchestrator cancels the job in Azure
    ML (REST cancel), the rehearsal kills each running trial's process group, starts none of
    the remaining budget, and the run ends Cancelled with the job Canceled."""
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    template = _template(
        stack, "rehearse-linger", "python linger.py ${{search_space.lr}}", PIDS_DIR=str(pids_dir)
    )
    instance_id = start(stack, _request(template, trials=4))
    _until(lambda: len(pid_files(pids_dir)) == 2)
    pids = written_pids(pids_dir)
    assert all(_alive(pid) for pid in pids)
    answer = stack.post(f"sweeps/{instance_id}/cancel", {"reason": "operator asked"})
    assert answer.status_code == 202, answer.text
    view = wait_finished(stack, instance_id, timeout=60)
    assert view["status"] == "Cancelled", view
    assert view["azureStatus"] == "Canceled"
    assert [pid for pid in pids if _alive(pid)] == []
    trials = stack.emulator.trials.children(view["jobName"])
    assert sorted(t.status for t in trials) == ["Canceled", "Canceled"]  # 4 in the budget, 2 ever started


def test_a_wrong_objective_metric_ends_primary_metric_not_found_naming_the_logged_metrics(stack):
    """Product spec, troubleshooting: PrimaryMetricNotFound when the objective metric is not what
    the script logs. The run's failure names the metrics the trials did log, so the user can
    align the attribute without opening a log."""
    template = _template(stack, "rehearse-metrics", "python log_metrics.py ${{search_space.lr}}")
    instance_id = start(stack, _request(template, trials=2, **{"AI Foundry Objective Metric": "accuracy"}))
    view = wait_finished(stack, instance_id, timeout=60)
    assert view["status"] == "Failed"
    error = view["error"]
    assert error["code"] == "PrimaryMetricNotFound"
    assert "'accuracy'" in error["message"]
    assert "loss" in error["message"] and "val_acc" in error["message"]
    assert "AI Foundry Objective Metric" in error["hint"]
    output = str(stack.host.get_status(instance_id)["output"])
    assert "val_acc" in output  # the orchestration's own failure carries the names too


def test_a_failing_training_script_ends_no_trials_completed_with_a_trial_log_path(stack):
    """Product spec, troubleshooting: No trials completed. The run's failure message names a
    failing trial's user_logs/std_log.txt, which holds the script's own error."""
    template = _template(stack, "rehearse-fail", "python fail.py ${{search_space.lr}}")
    view = wait_finished(stack, start(stack, _request(template, trials=2)), timeout=60)
    assert view["status"] == "Failed"
    error = view["error"]
    assert error["code"] == "NoTrialsCompleted"
    log = stack.emulator.rehearsals.get(view["jobName"]).run_dir / "trials" / f"{view['jobName']}_0"
    log = log / "user_logs" / "std_log.txt"
    assert str(log) in error["message"]
    assert "feature_42 missing" in log.read_text()
    assert view["bestTrial"] is None
    assert (view["trials"]["failed"], view["trials"]["total"], view["trials"]["best"]) == (2, 2, None)


def test_simulated_templates_still_simulate_next_to_rehearsed_ones(stack):
    """Only sweeps whose code maps to a local folder are rehearsed: the seeded simulated
    template (its own code asset) keeps the emulator's simulated lifecycle."""
    view = wait_finished(stack, start(stack, structured()), timeout=60)
    assert view["status"] == "Success"
    assert stack.emulator.rehearsals.get(view["jobName"]) is None
    assert view["outputs"]["model"].startswith("azureml://")
    _ = wait_until  # the shared helpers stay the only way tests read the status route


def test_the_command_line_rehearses_a_request_showing_trial_progress_and_the_report(tmp_path):
    """`python -m devhost run REQUEST.json --code DIR` (README, "Rehearse a sweep"): the template
    next to the request is seeded, each trial's start and end is printed with the sweep's
    progress (done/running/failed, best so far), the result is the product's, and the report's
    path comes last."""
    import subprocess
    import sys

    request = json.loads((EXAMPLE / "request.json").read_text())
    request["attributes"]["AI Foundry Max Total Trials"] = 2
    (tmp_path / "request.json").write_text(json.dumps(request))
    (tmp_path / "train-sweep-rehearsal.json").write_text(json.dumps(EXAMPLE_TEMPLATE))
    runs = tmp_path / "runs"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devhost",
            "run",
            str(tmp_path / "request.json"),
            "--code",
            str(EXAMPLE / "src"),
            "--runs-dir",
            str(runs),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "Success"
    job = result["jobName"]
    assert Path(result["outputs"]["model"]).is_relative_to(runs / job)
    err = done.stderr
    assert f"template train-sweep-rehearsal from {tmp_path / 'train-sweep-rehearsal.json'}" in err
    assert f"trial {job}_0 started: " in err and f"trial {job}_1 started: " in err
    assert "2/2 trials done (" in err and ", best " in err
    assert f"Running: Azure ML job {job} is Running" in err  # the run's status, live on the wall clock
    assert f"{job}_0 is" not in err  # a trial's events would repeat its progress lines
    last = err.strip().splitlines()[-1]
    report = runs / job / "report" / "report.md"
    assert last.endswith(f"report: {report}") and report.is_file()


def test_missing_rehearsal_requirements_say_how_to_install_them(tmp_path, monkeypatch, capsys):
    """Without requirements-rehearsal.txt installed, `--code` stops before starting anything and
    says what is missing and the command that installs it (`make run` never needs them)."""
    from devhost import __main__ as cli
    from devhost.rehearsal import deps

    requirements = tmp_path / "requirements-rehearsal.txt"
    requirements.write_text(
        "# a package this interpreter lacks\nno-such-dist-for-polysync>=1  # why\nnumpy>=1\n"
    )
    monkeypatch.setattr(deps, "REQUIREMENTS", requirements)
    code = cli.main(["run", str(EXAMPLE / "request.json"), "--code", str(EXAMPLE / "src")])
    err = capsys.readouterr().err
    assert code == 2
    assert "no-such-dist-for-polysync." in err and "numpy" not in err  # installed ones are not listed
    assert f"-m pip install -r {requirements}" in err
    assert "make rehearsal-deps" in err
