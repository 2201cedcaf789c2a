"""What the service writes into a job it accepted, judged by the service's own answers:
the azure-ai-ml sweep recording in tests/recordings (a PUT of a sweep and its answer, and a
GET once the trials were generated). The emulator is sent the recorded request body and
must answer with the same shape: the same tag names, property names and fields."""

from __future__ import annotations

import copy
import json
import pathlib

import pytest

from devhost.emulator import WorkspaceEmulator

from .conftest import Client

RECORDING = json.loads(
    (
        pathlib.Path(__file__).resolve().parents[2]
        / "recordings"
        / "azure-ai-ml_sweep_job_await_completion.json"
    ).read_text()
)
PUT, RUNNING_GET = RECORDING["Entries"]
JOB = RECORDING["Variables"]["job_name"]


@pytest.fixture
def recorded_workspace(make_emu) -> tuple[WorkspaceEmulator, Client]:
    """A workspace named as in the recording (its scrubbed ids), with its compute."""
    emu = make_emu(
        subscription_id="00000000-0000-0000-0000-000000000", resource_group="00000", workspace_name="00000"
    )
    emu.add_compute("testCompute")
    return emu, Client(emu)


def put_recorded(client: Client) -> dict:
    resp = client.put(JOB, copy.deepcopy(PUT["RequestBody"]), params={"api-version": "2023-04-01-preview"})
    assert resp.status_code == PUT["StatusCode"], resp.text
    return resp.json()


def test_put_answer_has_the_recorded_shape(recorded_workspace):
    _emu, client = recorded_workspace
    got, want = put_recorded(client)["properties"], PUT["ResponseBody"]["properties"]
    assert set(got) == set(want)
    assert set(got["tags"]) == set(want["tags"])
    assert set(got["properties"]) == set(want["properties"])
    for key in (
        "samplingAlgorithm",
        "objective",
        "searchSpace",
        "computeId",
        "experimentName",
        "jobType",
        "inputs",
    ):
        assert got[key] == want[key], key
    assert got["limits"] == want["limits"]
    assert got["trial"]["environmentId"] == want["trial"]["environmentId"]
    assert set(got["trial"]) == set(want["trial"]) and got["trial"]["resources"] == want["trial"]["resources"]
    assert got["outputs"] == want["outputs"]
    assert got["services"] == want["services"]
    for key in (
        "_aml_system_max_concurrent_jobs",
        "_aml_system_max_total_jobs",
        "_aml_system_max_duration_minutes",
        "_aml_system_policy_config",
        "_aml_system_generator_config",
        "_aml_system_primary_metric_config",
        "_aml_system_resume_child_runs",
        "_aml_system_all_jobs_generated",
        "_aml_system_cancellation_requested",
    ):
        assert got["tags"][key] == want["tags"][key], key
    for key in ("primary_metric_config", "resume_from", "runTemplate", "azureml.runsource", "platform"):
        assert got["properties"][key] == want["properties"][key], key


def test_once_trials_are_generated_the_recorded_bookkeeping_appears(vclock, recorded_workspace):
    """space_size, `_aml_system_all_jobs_generated: "true"` and one `_aml_system_{job}_{k}` tag
    per trial (its parameters as JSON) - as in the recorded GET of the running sweep."""
    _emu, client = recorded_workspace
    put_recorded(client)
    vclock.advance(30)
    got, want = client.get(JOB).json()["properties"], RUNNING_GET["ResponseBody"]["properties"]
    assert got["status"] == want["status"] == "Running"
    assert got["properties"]["space_size"] == want["properties"]["space_size"] == "infinite_space_size"
    assert got["tags"]["_aml_system_all_jobs_generated"] == "true"
    trial_tags = sorted(k for k in want["tags"] if k.startswith(f"_aml_system_{JOB}_"))
    assert sorted(k for k in got["tags"] if k.startswith(f"_aml_system_{JOB}_")) == trial_tags
    for key in trial_tags:
        assert (
            set(json.loads(got["tags"][key]))
            == set(json.loads(want["tags"][key]))
            == {"conv_size", "dropout_rate", "lr"}
        )
    assert json.loads(got["tags"][trial_tags[0]])["conv_size"] in (2, 5, 7)


def test_a_finished_sweep_names_its_best_trial(vclock, recorded_workspace):
    _emu, client = recorded_workspace
    put_recorded(client)
    vclock.advance(400)
    props = client.get(JOB).json()["properties"]
    assert props["status"] == "Completed"
    best = props["properties"]["best_child_run_id"]
    assert best in {f"{JOB}_0", f"{JOB}_1"}
    assert props["properties"]["best_data_container_id"] == f"dcid.{best}"
    assert props["properties"]["best_metric_status"] == "Succeeded"
    assert 0.5 <= float(props["properties"]["score"]) < 1.0
