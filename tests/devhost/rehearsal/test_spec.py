"""Reading a Sweep job (REST 2024-10-01 property names, as facts.md lists them and the emulator
accepts them) into what a rehearsal needs, refusing what cannot be rehearsed with every
problem named by its field. Limits: "max_total_trials ... an integer between 1 and 1000",
concurrency defaulting to the total, "truncation_percentage ... between 1 and 99", Bayesian
without early termination (how-to v2); durations ISO 8601 (SweepJobLimits)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from devhost.rehearsal import Rehearsal, SweepSpec, SweepSpecError

from .conftest import SWEEP_PROPERTIES, sweep_job

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "rehearsal"


def _fields(job) -> list[str]:
    with pytest.raises(SweepSpecError) as err:
        SweepSpec.from_job(job)
    return [p.field for p in err.value.problems]


def test_the_example_template_reads_whole():
    import json

    spec = SweepSpec.from_job(json.loads((EXAMPLE / "train-sweep-rehearsal.json").read_text()))
    assert spec.objective.primary_metric == "accuracy" and spec.maximize
    assert spec.limits.timeout == timedelta(minutes=10) and spec.limits.trial_timeout == timedelta(minutes=2)
    assert spec.early_termination is not None and spec.early_termination.policy_type == "Bandit"
    assert set(spec.search_space) == {"alpha", "learning_rate", "loss"}
    assert spec.experiment_name == "polysync-rehearsal"


def test_properties_alone_and_any_enum_case_are_accepted():
    props = dict(SWEEP_PROPERTIES, objective={"goal": "minimize", "primaryMetric": "loss"})
    props["samplingAlgorithm"] = {"samplingAlgorithmType": "random", "rule": "sobol", "seed": 1}
    spec = SweepSpec.from_job(props)
    assert spec.objective.goal == "Minimize" and spec.sampling.rule == "Sobol"
    assert spec.limits.concurrency == 2
    no_conc = SweepSpec.from_job(sweep_job(limits={"maxTotalTrials": 5}))
    assert no_conc.limits.concurrency == 5


def test_every_problem_is_named_by_its_rest_field():
    job = sweep_job(
        objective={"goal": "Up", "primaryMetric": ""},
        limits={"maxConcurrentTrials": 0, "trialTimeout": "soon"},
        searchSpace={"lr": ["uniform", [1, 0]]},
        earlyTermination={"policyType": "Hyperband"},
    )
    fields = _fields(job)
    for expected in (
        "objective.goal",
        "objective.primaryMetric",
        "limits.maxTotalTrials",
        "limits.maxConcurrentTrials",
        "limits.trialTimeout",
        "earlyTermination.policyType",
        "searchSpace.lr",
    ):
        assert expected in fields, fields


def test_missing_trial_budget_says_which_attribute_sets_it():
    with pytest.raises(SweepSpecError) as err:
        SweepSpec.from_job(sweep_job(limits={"jobLimitsType": "Sweep"}))
    assert "AI Foundry Max Total Trials" in str(err.value)


def test_cross_field_rules():
    bayes_with_policy = sweep_job(
        samplingAlgorithm={"samplingAlgorithmType": "Bayesian"},
        earlyTermination={"policyType": "Bandit", "slackFactor": 0.1},
    )
    assert _fields(bayes_with_policy) == ["earlyTermination"]
    truncation = sweep_job(earlyTermination={"policyType": "TruncationSelection", "truncationPercentage": 0})
    assert _fields(truncation) == ["earlyTermination.truncationPercentage"]
    assert _fields(sweep_job(samplingAlgorithm={"samplingAlgorithmType": "Random", "logbase": "1"})) == [
        "samplingAlgorithm.logbase"
    ]
    assert _fields(sweep_job(trial={"command": "python t.py ${{search_space.other}}"})) == ["trial.command"]
    assert _fields(sweep_job(jobType="Command")) == ["jobType"]


def test_uri_inputs_need_a_local_copy(tmp_path):
    job = sweep_job(
        trial={"command": "python t.py --data ${{inputs.data}} --lr ${{search_space.lr}}"},
        inputs={"data": {"jobInputType": "uri_folder", "uri": "azureml://datastores/blob/paths/data/"}},
    )
    code = tmp_path / "code"
    code.mkdir()
    with pytest.raises(SweepSpecError) as err:
        Rehearsal(job, name="s", code_dir=code, run_dir=tmp_path / "run")
    assert err.value.problems[0].field == "inputs.data"
    assert "data=PATH" in str(err.value)
    from devhost.rehearsal import RehearsalOptions

    ok = Rehearsal(
        job,
        name="s",
        code_dir=code,
        run_dir=tmp_path / "run",
        options=RehearsalOptions(input_paths={"data": code}),
    )
    assert ok.planned == 2


def test_sampling_errors_surface_before_anything_starts(tmp_path):
    job = sweep_job(searchSpace={"lr": ["uniform", [0, 1]]})
    (tmp_path / "code").mkdir()
    with pytest.raises(SweepSpecError) as err:
        Rehearsal(job, name="s", code_dir=tmp_path / "code", run_dir=tmp_path / "run")
    assert "not choice: lr" in str(err.value)
    assert not (tmp_path / "run").exists()
