"""The shipped example (examples/rehearsal) rehearsed through `python -m devhost.rehearsal`: the
real training script logs with mlflow, the sweep completes with its best trial as Azure ML
reports it (`best_child_run_id`, `score`, `best_metric_status`), the best trial's declared
output holds the model, and the report is written next to the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.rehearsal.__main__ import main

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "rehearsal"


@pytest.mark.slow
def test_the_example_sweep_rehearses_end_to_end(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = main(
        [
            str(EXAMPLE / "train-sweep-rehearsal.json"),
            "--code",
            str(EXAMPLE / "src"),
            "--run-dir",
            str(run_dir),
            "--name",
            "digits",
            "--max-total-trials",
            "3",
        ]
    )
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert code == 0 and result["status"] == "Completed", out.err
    assert result["trials"] == 3
    best = result["properties"]["best_child_run_id"]
    assert best in {"digits_0", "digits_1", "digits_2"}
    assert 0.5 < float(result["properties"]["score"]) <= 1.0
    assert result["properties"]["best_metric_status"] == "Succeeded"
    assert (Path(result["outputs"]["model"]) / "model.pkl").is_file()
    report = Path(result["report"])
    assert report == run_dir / "report" / "report.md"
    text = report.read_text()
    assert f"`{best}`" in text and "learning_rate" in text
    for name in ("objective_over_steps.png", "objective_vs_hyperparameters.png", "trials.csv"):
        assert (report.parent / name).stat().st_size > 0
    assert "trial digits_0 started" in out.err and "report:" in out.err
    trial = json.loads((run_dir / "trials" / best / "trial.json").read_text())
    assert len(trial["metrics"]["accuracy"]) == trial["intervals"] > 0


def test_a_sweep_that_cannot_be_rehearsed_exits_2_listing_the_problems(tmp_path, capsys):
    job = json.loads((EXAMPLE / "train-sweep-rehearsal.json").read_text())
    job["properties"]["samplingAlgorithm"] = {"samplingAlgorithmType": "Grid"}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job))
    code = main([str(path), "--code", str(EXAMPLE / "src"), "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "samplingAlgorithm.samplingAlgorithmType" in err and "not choice: learning_rate" in err
