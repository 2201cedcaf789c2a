"""JobView: a job resource as the jobs API returns it, read once, whatever it holds."""

from __future__ import annotations

import copy
import json
import pathlib
from datetime import datetime, timezone
from typing import Any

import pytest

from foundry.errors import TemplateError
from foundry.job_status import JobStatus
from foundry.jobs import READ_ONLY_PROPERTIES, JobView, template_definition
from polysync.sweep_body import check_template

RECORDING = json.loads(
    (
        pathlib.Path(__file__).resolve().parents[2]
        / "recordings"
        / "azure-ai-ml_sweep_job_await_completion.json"
    ).read_text()
)


def recorded_job() -> dict[str, Any]:
    """The running sweep as the service answered a GET (tests/recordings/README.md)."""
    return copy.deepcopy(RECORDING["Entries"][1]["ResponseBody"])


@pytest.mark.parametrize("junk", [None, "job", [], {}, {"name": 3, "properties": "x", "systemData": []}])
def test_junk_reads_as_an_empty_job(junk: Any) -> None:
    view = JobView.from_rest(junk)
    assert (view.name, view.status, view.tags, view.instance_id, view.created_at) == (
        "",
        None,
        {},
        None,
        None,
    )
    assert not view.is_connector_run and view.section("trial") == {} and view.studio_endpoint is None


def test_a_recorded_job_reads_as_the_service_wrote_it() -> None:
    job = recorded_job()
    view = JobView.from_rest(job)
    assert view.name == job["name"] and view.job_type == "Sweep"
    assert view.status is JobStatus.parse(job["properties"]["status"])
    assert view.studio_endpoint == job["properties"]["services"]["Studio"]["endpoint"]
    assert not view.is_connector_run


def test_created_at_reads_the_seven_fraction_digits_azure_writes() -> None:
    view = JobView.from_rest({"systemData": {"createdAt": "2026-01-05T09:00:00.1234567Z"}})
    assert view.created_at == datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=timezone.utc)


def test_the_definition_carries_none_of_the_services_state() -> None:
    job = recorded_job()
    before = copy.deepcopy(job)
    definition = JobView.from_rest(job).definition()
    assert job == before  # the wrapped dict is never changed
    assert not set(definition) & READ_ONLY_PROPERTIES and "isArchived" not in definition
    assert not any(k.startswith("_aml_system_") for k in definition.get("tags", {}))
    assert "Studio" not in definition.get("services", {})
    assert "null" not in json.dumps(definition)
    again = JobView.from_rest({"name": job["name"], "properties": definition}).definition()
    assert again == definition  # a definition is its own definition


def test_a_template_is_copied_as_its_name_and_definition_without_the_services_envelope() -> None:
    """What the start route and the fetch activity hand the sweep body builder: the
    template's name and definition, not the GET's id, type, systemData or run state."""
    job = recorded_job()
    copied = template_definition(JobView.from_rest(job))
    assert copied == {"name": job["name"], "properties": JobView.from_rest(job).definition()}
    check_template(JobView.from_rest(copied))  # still reads as a Sweep template


@pytest.mark.parametrize("job", [{"name": "tpl"}, {"name": "tpl", "properties": "x"}])
def test_a_job_without_properties_is_passed_on_as_it_came_for_the_builder_to_refuse(job: dict) -> None:
    copied = template_definition(JobView.from_rest(job))
    assert copied == job
    with pytest.raises(TemplateError, match="no properties") as refused:
        check_template(JobView.from_rest(copied))
    assert refused.value.code == "InvalidTemplate"


def test_an_update_body_adds_tags_and_sends_nothing_read_only() -> None:
    job = {
        "name": "j",
        "properties": {
            "status": "Running",
            "error": None,
            "isArchived": False,
            "services": {"Studio": {"endpoint": "https://ml.azure.com/x"}, "mine": {"port": 8888}},
            "tags": {"a": "1"},
        },
    }
    body = JobView.from_rest(job).update_body(reconciled="why")
    assert body == {
        "properties": {
            "isArchived": False,
            "services": {"mine": {"port": 8888}},
            "tags": {"a": "1", "reconciled": "why"},
        }
    }


def test_output_uris_the_service_derived_from_the_job_are_dropped_and_the_users_kept() -> None:
    """A new job must not write into its template's output folders; the user's own URIs stay."""
    artifacts = "azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.tpl"
    outputs = {
        "default": {"jobOutputType": "uri_folder", "uri": artifacts},
        "model": {"jobOutputType": "mlflow_model", "uri": "azureml://datastores/d/paths/tpl/model"},
        "report": {"jobOutputType": "uri_file", "uri": "azureml://datastores/reports/paths/churn/m.json"},
        "copy": {"jobOutputType": "uri_folder", "uri": artifacts},
        "literal": "x",
    }
    definition = JobView.from_rest({"name": "tpl", "properties": {"outputs": outputs}}).definition()
    assert definition["outputs"] == {
        "model": {"jobOutputType": "mlflow_model"},
        "report": outputs["report"],
        "copy": {"jobOutputType": "uri_folder"},
        "literal": "x",
    }
    user_default = {"default": {"jobOutputType": "uri_folder", "uri": "azureml://datastores/d/paths/mine"}}
    kept = JobView.from_rest({"name": "tpl", "properties": {"outputs": user_default}}).definition()
    assert kept["outputs"] == user_default
    nameless = JobView.from_rest({"properties": {"outputs": {"model": outputs["report"]}}}).definition()
    assert nameless["outputs"] == {"model": outputs["report"]}


def test_a_definition_and_an_update_body_are_copies_the_caller_may_change() -> None:
    job = recorded_job()
    before = copy.deepcopy(job)
    view = JobView.from_rest(job)
    for body in (view.definition(), view.update_body(t="v")["properties"]):
        for value in body.values():
            if isinstance(value, dict):
                value["changed"] = {"by": "caller"}
                for inner in value.values():
                    if isinstance(inner, dict):
                        inner["changed"] = True
    assert job == before
