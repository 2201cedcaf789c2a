from __future__ import annotations

import copy
import json
import pathlib
from typing import Any

import pytest

from foundry.errors import RequestValidationError, TemplateError
from foundry.workspace import Workspace
from polysync.request.parsing import parse_structured_request
from polysync.sweep_body import build_sweep_body
from tests.unit.conftest import WS_ID


def request(**over: Any) -> Any:
    body: dict[str, Any] = {
        "externalId": "train-sweep-template",
        "name": "Nightly model sweep",
        "runId": "run-42",
        "attributes": {},
        "parameters": [
            {"name": "learning_rate", "value": "0.01", "dataType": "Float"},
            {"name": "batch_size", "value": 32, "dataType": "Int", "direction": "Input&Output"},
            {"name": "new_flag", "value": "yes", "dataType": "Bool"},
            {"name": "model", "direction": "Output"},
        ],
    }
    body.update(over)
    return parse_structured_request(body)


def build(template: dict[str, Any], workspace: Workspace, req: Any = None, **kw: Any) -> dict[str, Any]:
    return build_sweep_body(template, req or request(), workspace, instance_id="ps-abc")


def test_read_only_and_server_fields_dropped(template: dict[str, Any], workspace: Workspace) -> None:
    body = build(template, workspace)
    assert set(body) == {"properties"}
    p = body["properties"]
    for key in ("status", "isArchived", "services"):
        assert key not in p
    assert p["properties"] == {"owner": "ml-platform"}  # server keys (azureml.*, score ...) gone
    # output URIs derived from the template's own name are dropped, user-chosen ones kept;
    # the `default` output the service bound to the template's run goes entirely
    assert "uri" not in p["outputs"]["model"] and "default" not in p["outputs"]
    assert p["outputs"]["metrics_report"]["uri"] == "azureml://datastores/reports/paths/churn/metrics.json"
    assert p["inputs"] == {
        k: {f: v for f, v in i.items() if v is not None} for k, i in template["properties"]["inputs"].items()
    }
    json.dumps(body, allow_nan=False)


def test_template_not_mutated(template: dict[str, Any], workspace: Workspace) -> None:
    before = copy.deepcopy(template)
    build(template, workspace)
    assert template == before


def test_tags_display_name_and_kept_trial(template: dict[str, Any], workspace: Workspace) -> None:
    p = build(template, workspace)["properties"]
    assert p["displayName"] == "Nightly model sweep"
    assert p["tags"] == {
        "team": "ml-platform",
        "emulator.durationSeconds": "120",
        "polysync.instanceId": "ps-abc",
        "polysync.template": "train-sweep-template",
        "polysync.runId": "run-42",
        "polysyncWatch": "",  # watched until its run knows it ended (foundry/watch.py)
    }
    src = template["properties"]["trial"]
    # nothing overridden; the service's explicit nulls are not restated
    assert p["trial"] == {
        **{k: v for k, v in src.items() if v is not None},
        "resources": {"instanceCount": 1, "shmSize": "2g"},
    }
    assert p["computeId"] == template["properties"]["computeId"]
    assert p["experimentName"] == "churn-model"
    assert p["earlyTermination"] == template["properties"]["earlyTermination"]


def test_no_run_id_tag_without_run_id(template: dict[str, Any], workspace: Workspace) -> None:
    p = build(template, workspace, request(runId=None))["properties"]
    assert "polysync.runId" not in p["tags"]


def test_task_hub_tag_set_and_template_verdicts_dropped(
    template: dict[str, Any], workspace: Workspace
) -> None:
    template = copy.deepcopy(template)
    template["properties"]["tags"].update({"polysync.taskHub": "otherhub", "polysync.reconciled": "orphan"})
    tags = build_sweep_body(template, request(), workspace, instance_id="ps-abc", task_hub="hub1")[
        "properties"
    ]["tags"]
    assert tags["polysync.taskHub"] == "hub1"
    assert "polysync.reconciled" not in tags
    untagged = build(template, workspace)["properties"]["tags"]
    assert "polysync.taskHub" not in untagged  # a template's hub is never inherited


def test_search_space_inputs_as_single_choice(template: dict[str, Any], workspace: Workspace) -> None:
    space = build(template, workspace)["properties"]["searchSpace"]
    assert space["learning_rate"] == ["choice", [[0.01]]]
    assert space["batch_size"] == ["choice", [[32]]]  # Input&Output is sent
    assert space["new_flag"] == ["choice", [[True]]]  # not in the template: added
    assert "model" not in space  # Output is not sent
    assert space["dropout"] == ["uniform", [0.05, 0.5]]  # untouched
    assert space["optimizer"] == ["choice", [["adam", "sgd"]]]


def test_json_objects_sent_as_json_text(template: dict[str, Any], workspace: Workspace) -> None:
    req = parse_structured_request(
        {
            "externalId": "t",
            "parameters": [
                {"name": "layers", "value": [64, 32], "dataType": "JSON"},
                {"name": "cfg", "value": '{"a": {"b": 1}}', "dataType": "JSON"},
                {"name": "n", "value": "7", "dataType": "JSON"},
            ],
        }
    )
    space = build(template, workspace, req)["properties"]["searchSpace"]
    assert space["layers"] == ["choice", [["[64,32]"]]]
    assert space["cfg"] == ["choice", [['{"a":{"b":1}}']]]
    assert space["n"] == ["choice", [[7]]]


def test_defaults_for_sampling_and_limits(template: dict[str, Any], workspace: Workspace) -> None:
    p = build(template, workspace)["properties"]
    assert p["samplingAlgorithm"] == {"samplingAlgorithmType": "Random", "seed": 42, "rule": "Random"}
    assert p["limits"] == {
        "jobLimitsType": "Sweep",
        "maxTotalTrials": 10,
        "maxConcurrentTrials": 2,
        "timeout": "PT2H",
        "trialTimeout": "PT20M",
    }
    assert p["objective"] == {"goal": "Maximize", "primaryMetric": "accuracy"}  # template's lower case fixed


def test_attribute_overrides(template: dict[str, Any], workspace: Workspace) -> None:
    attrs = {
        "AI Foundry Compute Name": "gpu-cluster",
        "AI Foundry Environment Name": "torch-env:3",
        "AI Foundry Command": "python train.py --lr ${{search_space.learning_rate}}",
        "AI Foundry Objective Metric": "val_loss",
        "AI Foundry Objective Goal": "minimize",
        "AI Foundry Max Total Trials": 40,
        "AI Foundry Max Concurrent Trials": 8,
        "AI Foundry Sampling Algorithm": "Grid",
    }
    template["properties"]["searchSpace"] = {"optimizer": ["choice", [["adam", "sgd"]]]}
    p = build(template, workspace, request(attributes=attrs))["properties"]
    assert p["computeId"] == WS_ID + "/computes/gpu-cluster"
    assert p["trial"]["environmentId"] == WS_ID + "/environments/torch-env/versions/3"
    assert p["trial"]["command"] == attrs["AI Foundry Command"]
    assert p["trial"]["codeId"] == template["properties"]["trial"]["codeId"]
    assert p["objective"] == {"goal": "Minimize", "primaryMetric": "val_loss"}
    assert p["samplingAlgorithm"] == {"samplingAlgorithmType": "Grid"}  # seed/rule dropped: type changed
    assert (p["limits"]["maxTotalTrials"], p["limits"]["maxConcurrentTrials"]) == (40, 8)
    assert p["limits"]["timeout"] == "PT2H"


def test_grid_refuses_continuous_template_space(template: dict[str, Any], workspace: Workspace) -> None:
    with pytest.raises(TemplateError) as exc:
        build(template, workspace, request(attributes={"samplingAlgorithm": "Grid"}))
    assert exc.value.code == "GridNeedsChoice" and "dropout" in exc.value.message
    assert "AI Foundry Sampling Algorithm" in (exc.value.hint or "")


def test_bayesian_with_early_termination(template: dict[str, Any], workspace: Workspace) -> None:
    with pytest.raises(TemplateError) as exc:
        build(template, workspace, request(attributes={"samplingAlgorithm": "Bayesian"}))
    assert exc.value.status == 422
    del template["properties"]["earlyTermination"]
    p = build(template, workspace, request(attributes={"samplingAlgorithm": "bayesian"}))["properties"]
    assert p["samplingAlgorithm"] == {"samplingAlgorithmType": "Bayesian"}


@pytest.mark.parametrize(
    ("mutate", "code", "attr"),
    [
        (lambda p: p["trial"].pop("command"), "TemplateMissingCommand", "AI Foundry Command"),
        (
            lambda p: p["trial"].pop("environmentId"),
            "TemplateMissingEnvironment",
            "AI Foundry Environment Name",
        ),
        (lambda p: p.pop("objective"), "TemplateMissingObjective", "AI Foundry Objective Metric"),
        (lambda p: p["objective"].pop("goal"), "TemplateMissingObjective", "AI Foundry Objective Goal"),
    ],
)
def test_template_gaps_name_the_attribute(
    template: dict[str, Any], workspace: Workspace, mutate: Any, code: str, attr: str
) -> None:
    mutate(template["properties"])
    with pytest.raises(TemplateError) as exc:
        build(template, workspace)
    assert exc.value.code == code and attr in (exc.value.hint or "")


def test_template_gaps_filled_by_attributes(template: dict[str, Any], workspace: Workspace) -> None:
    template["properties"]["trial"].pop("command")
    template["properties"].pop("objective")
    attrs = {"command": "python t.py", "objectiveMetric": "acc", "objectiveGoal": "MAXIMIZE"}
    p = build(template, workspace, request(attributes=attrs))["properties"]
    assert p["trial"]["command"] == "python t.py"
    assert p["objective"] == {"primaryMetric": "acc", "goal": "Maximize"}


def test_not_a_sweep(template: dict[str, Any], workspace: Workspace) -> None:
    template["properties"]["jobType"] = "Pipeline"
    with pytest.raises(TemplateError) as exc:
        build(template, workspace)
    assert exc.value.code == "TemplateNotSweep" and "Pipeline" in exc.value.message
    with pytest.raises(TemplateError):
        build_sweep_body({"name": "x"}, request(), workspace, instance_id="i")


def test_logical_template_space_converted(template: dict[str, Any], workspace: Workspace) -> None:
    template["properties"]["searchSpace"] = {
        "momentum": {"type": "uniform", "min_value": 0.8, "max_value": 0.99},
        "layers": {"type": "choice", "values": [1, 2, 3]},
    }
    space = build(template, workspace)["properties"]["searchSpace"]
    assert space["momentum"] == ["uniform", [0.8, 0.99]]
    assert space["layers"] == ["choice", [[1, 2, 3]]]


def test_a_secret_goes_in_as_its_key_vault_identifier(template: dict[str, Any], workspace: Workspace) -> None:
    from polysync.request.parsing import parse_payload

    ref = "https://kv.vault.azure.net/secrets/ps-1-token-0123456789abcdef"
    req = parse_structured_request(
        {"externalId": "t", "parameters": [{"name": "token", "value": "pw-123", "dataType": "Secret"}]}
    )
    stored = parse_payload(req.to_payload({"token": ref}))
    body = build_sweep_body(template, stored, workspace, instance_id="i")
    assert body["properties"]["searchSpace"]["token"] == ["choice", [[ref]]]
    assert "pw-123" not in json.dumps(body)
    with pytest.raises(Exception, match="not been stored"):
        build_sweep_body(template, req, workspace, instance_id="i")


def test_a_connector_run_is_not_a_template(template: dict[str, Any], workspace: Workspace) -> None:
    run = copy.deepcopy(template)
    run["properties"]["tags"] = {"polysync.instanceId": "ps-someone"}
    with pytest.raises(TemplateError) as raised:
        build_sweep_body(run, request(), workspace, instance_id="i")
    assert raised.value.code == "TemplateIsARun" and raised.value.status == 400


def test_bad_environment_attribute_is_request_error(template: dict[str, Any], workspace: Workspace) -> None:
    with pytest.raises(RequestValidationError) as exc:
        build(template, workspace, request(attributes={"environmentName": "just a name"}))
    assert exc.value.errors[0].field == "attributes.AI Foundry Environment Name"


RECORDING = json.loads(
    (
        pathlib.Path(__file__).resolve().parents[2]
        / "recordings"
        / "azure-ai-ml_sweep_job_await_completion.json"
    ).read_text()
)


@pytest.mark.parametrize("entry", [0, 1], ids=["put-answer", "running-get"])
def test_recorded_service_state_is_not_copied(workspace: Workspace, entry: int) -> None:
    """A template as the real service returns it (tests/recordings: the azure-ai-ml sweep
    recording) carries service-owned state; none of it reaches the new job."""
    template = copy.deepcopy(RECORDING["Entries"][entry]["ResponseBody"])
    req = parse_structured_request(
        {"externalId": template["name"], "parameters": [{"name": "lr", "value": 0.05, "dataType": "Float"}]}
    )
    p = build(template, workspace, req)["properties"]
    assert not [k for k in p["tags"] if k.startswith("_aml_system_")]
    assert (
        "properties" not in p
    )  # user_agent, ContentSnapshotId, runTemplate, space_size, ... all service-owned
    assert p["samplingAlgorithm"] == {
        "samplingAlgorithmType": "Random",
        "rule": "Random",
    }  # no `logbase: null`
    assert "outputs" not in p or "default" not in p["outputs"]
    assert "status" not in p and "services" not in p and "isArchived" not in p
    for key in (
        "description",
        "identity",
        "componentId",
        "notificationSetting",
        "secretsConfiguration",
        "queueSettings",
        "earlyTermination",
    ):
        assert key not in p, key
    assert None not in p["trial"].values() and None not in p["limits"].values()
    assert p["trial"]["environmentId"] == template["properties"]["trial"]["environmentId"]
    assert p["searchSpace"]["lr"] == ["choice", [[0.05]]]
    assert p["searchSpace"]["conv_size"] == ["choice", [[2, 5, 7]]]
    json.dumps(p, allow_nan=False)


def test_best_trial_properties_of_a_finished_template_are_not_copied(workspace: Workspace) -> None:
    """A finished sweep's best-trial properties (azure-ai-ml reads `best_child_run_id`, the
    service also writes score, best_metric_status, best_data_container_id) are results, not
    definition."""
    template = copy.deepcopy(RECORDING["Entries"][1]["ResponseBody"])
    template["properties"]["status"] = "Completed"
    template["properties"]["properties"].update(
        best_child_run_id=f"{template['name']}_1",
        score="0.75",
        best_metric_status="Succeeded",
        best_data_container_id=f"dcid.{template['name']}_1",
        owner="ml-platform",
    )
    req = parse_structured_request({"externalId": template["name"]})
    assert build(template, workspace, req)["properties"]["properties"] == {"owner": "ml-platform"}


def test_an_empty_search_space_is_refused_before_anything_is_sent(
    template: dict[str, Any], workspace: Workspace
) -> None:
    """Never a PUT with `searchSpace: {}`: the service would refuse it, later and less clearly."""
    template["properties"]["searchSpace"] = {}
    with pytest.raises(TemplateError) as exc:
        build(template, workspace, request(parameters=[{"name": "model", "direction": "Output"}]))
    assert exc.value.code == "TemplateMissingSearchSpace"
    assert exc.value.message == (
        "The sweep has an empty search space: the template defines none and the run sends no Input parameters."
    )
    assert exc.value.hint == "Send at least one Input parameter, or define a search space on the template."
    # one Input parameter is enough
    space = build(
        template, workspace, request(parameters=[{"name": "lr", "value": "0.1", "dataType": "Float"}])
    )
    assert space["properties"]["searchSpace"] == {"lr": ["choice", [[0.1]]]}


def test_user_defined_services_of_the_template_are_kept(
    template: dict[str, Any], workspace: Workspace
) -> None:
    """The service's own endpoints (Studio, Tracking) are not copied; the user's (e.g. a
    Jupyter or SSH service on the trial) are, so the run behaves like its template."""
    template["properties"]["services"] = {
        "Studio": {"endpoint": "https://ml.azure.com/runs/x", "jobServiceType": "Studio"},
        "Tracking": {"endpoint": "azureml://x", "jobServiceType": "Tracking"},
        "my_jupyter": {"jobServiceType": "JupyterLab", "nodes": {"nodesValueType": "All"}},
    }
    p = build(template, workspace)["properties"]
    assert p["services"] == {
        "my_jupyter": {"jobServiceType": "JupyterLab", "nodes": {"nodesValueType": "All"}}
    }


def _drop(path: str) -> Any:
    def edit(p: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            p = p[key]
        p.pop(last)

    return edit


@pytest.mark.parametrize(
    ("edit", "attributes", "expected"),
    [
        (
            _drop("trial.command"),
            {},
            (
                "TemplateMissingCommand",
                "The template has no trial command and the run supplies none.",
                "Set the 'AI Foundry Command' attribute, or add a trial command to the template.",
            ),
        ),
        (
            _drop("trial.environmentId"),
            {},
            (
                "TemplateMissingEnvironment",
                "The template has no trial environment and the run supplies none.",
                "Set the 'AI Foundry Environment Name' attribute, or give the template's trial an environment.",
            ),
        ),
        (
            _drop("objective.primaryMetric"),
            {},
            (
                "TemplateMissingObjective",
                "The sweep needs an objective metric and neither the template nor the run gives one.",
                "Set the 'AI Foundry Objective Metric' attribute to the metric the trial logs (mlflow.log_metric).",
            ),
        ),
        (
            _drop("objective.goal"),
            {},
            (
                "TemplateMissingObjective",
                "The sweep needs an objective goal (Maximize or Minimize) and neither the template nor the run "
                "gives one.",
                "Set the 'AI Foundry Objective Goal' attribute to Maximize or Minimize.",
            ),
        ),
        (
            lambda p: None,
            {"samplingAlgorithm": "Grid"},
            (
                "GridNeedsChoice",
                "Grid sampling needs choice-only search spaces; not choice: dropout, learning_rate_decay.",
                "Set 'AI Foundry Sampling Algorithm' to Random or Bayesian, or use choices in the template.",
            ),
        ),
        (
            lambda p: None,
            {"samplingAlgorithm": "Bayesian"},
            (
                "BayesianNoEarlyTermination",
                "Bayesian sampling does not support an early termination policy, and the template has one.",
                "Set 'AI Foundry Sampling Algorithm' to Random or Grid, or remove the template's early "
                "termination policy.",
            ),
        ),
    ],
)
def test_each_template_gap_is_a_422_in_words_naming_the_attribute(
    template: dict[str, Any], workspace: Workspace, edit: Any, attributes: dict[str, Any], expected: Any
) -> None:
    edit(template["properties"])
    if expected[0] == "GridNeedsChoice":
        template["properties"]["searchSpace"]["learning_rate_decay"] = ["uniform", [0.1, 0.2]]
    with pytest.raises(TemplateError) as exc:
        build(template, workspace, request(attributes=attributes))
    assert (exc.value.code, exc.value.message, exc.value.hint, exc.value.status) == (*expected, 422)


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        (
            None,
            (
                "InvalidTemplate",
                "The template job has no properties.",
                "Set the External Id to the name of a Sweep job.",
                422,
            ),
        ),
        (
            {"jobType": "Command"},
            (
                "TemplateNotSweep",
                "The template job 'tpl' is a Command, not a Sweep job.",
                "Set the External Id to the name of a Sweep job (GET /api/templates lists them).",
                422,
            ),
        ),
        (
            {},
            (
                "TemplateNotSweep",
                "The template job 'tpl' is a job of unknown type, not a Sweep job.",
                "Set the External Id to the name of a Sweep job (GET /api/templates lists them).",
                422,
            ),
        ),
        (
            {"jobType": "Sweep", "tags": {"polysync.instanceId": "ps-other"}},
            (
                "TemplateIsARun",
                "The job 'tpl' was submitted by this connector for a run; it is not a template.",
                "Set the External Id to a template Sweep job (GET /api/templates lists them).",
                400,
            ),
        ),
    ],
)
def test_a_job_that_is_not_a_template_is_refused_in_words(
    workspace: Workspace, properties: Any, expected: Any
) -> None:
    job = {"name": "tpl"} if properties is None else {"name": "tpl", "properties": properties}
    with pytest.raises(TemplateError) as exc:
        build_sweep_body(job, request(), workspace, instance_id="i")
    assert (exc.value.code, exc.value.message, exc.value.hint, exc.value.status) == expected


def test_the_job_type_is_read_in_any_casing_and_sent_as_the_api_spells_it(
    template: dict[str, Any], workspace: Workspace
) -> None:
    template["properties"]["jobType"] = "sweep"
    assert build(template, workspace)["properties"]["jobType"] == "Sweep"


def test_bad_compute_and_environment_attributes_are_both_reported(
    template: dict[str, Any], workspace: Workspace
) -> None:
    """Both at once (a 400 listing every bad field), each naming the attribute and the fix."""
    other_workspace_compute = WS_ID.replace("ws-foundry", "other") + "/computes/c"
    attrs = {"computeName": other_workspace_compute, "environmentName": "just a name"}
    with pytest.raises(RequestValidationError) as exc:
        build(template, workspace, request(attributes=attrs))
    assert [(e.field, e.message) for e in exc.value.errors] == [
        (
            "attributes.AI Foundry Compute Name",
            "AI Foundry Compute Name must be a compute of the configured workspace: give its name, or its ARM id "
            "under this workspace",
        ),
        (
            "attributes.AI Foundry Environment Name",
            "AI Foundry Environment Name must be 'name:version', 'name@latest', an environment ARM id of this "
            "workspace or an azureml://registries/... reference",
        ),
    ]


def test_run_attributes_fill_a_template_without_a_trial(
    template: dict[str, Any], workspace: Workspace
) -> None:
    template["properties"]["trial"] = "junk"
    attrs = {"command": "python t.py", "environmentName": "sklearn-env:7"}
    p = build(template, workspace, request(attributes=attrs))["properties"]
    assert p["trial"] == {
        "command": "python t.py",
        "environmentId": workspace.environment_id("sklearn-env:7"),
    }


def test_the_run_limits_replace_the_templates_trial_counts_only(
    template: dict[str, Any], workspace: Workspace
) -> None:
    template["properties"]["limits"] = {"timeout": "PT1H", "maxTotalTrials": 99, "jobLimitsType": "Other"}
    limits = build(template, workspace)["properties"]["limits"]
    assert limits["timeout"] == "PT1H" and limits["jobLimitsType"] == "Sweep"
    template["properties"]["limits"] = "junk"
    assert set(build(template, workspace)["properties"]["limits"]) == {
        "jobLimitsType",
        "maxTotalTrials",
        "maxConcurrentTrials",
    }


def test_the_templates_sampling_settings_are_kept_for_the_same_algorithm(
    template: dict[str, Any], workspace: Workspace
) -> None:
    template["properties"]["samplingAlgorithm"] = {
        "samplingAlgorithmType": "random",
        "seed": 7,
        "rule": "Sobol",
    }
    p = build(template, workspace, request(attributes={"samplingAlgorithm": "Random"}))["properties"]
    assert p["samplingAlgorithm"] == {"samplingAlgorithmType": "Random", "seed": 7, "rule": "Sobol"}
    template["properties"]["samplingAlgorithm"] = {"seed": 7}
    p = build(template, workspace, request(attributes={"samplingAlgorithm": "Random"}))["properties"]
    assert p["samplingAlgorithm"] == {"samplingAlgorithmType": "Random"}


def test_a_wire_form_entry_with_a_type_key_is_copied_as_it_is(
    template: dict[str, Any], workspace: Workspace
) -> None:
    template["properties"]["searchSpace"] = {"raw": ["uniform", [0, 1]], "odd": {"kind": "x"}}
    space = build(template, workspace)["properties"]["searchSpace"]
    assert space["raw"] == ["uniform", [0, 1]] and space["odd"] == {"kind": "x"}


def test_without_a_run_id_a_templates_run_id_tag_is_not_carried_over(
    template: dict[str, Any], workspace: Workspace
) -> None:
    template["properties"]["tags"] = {"polysync.runId": "someone-elses", "team": "t"}
    p = build(template, workspace, request(runId=None))["properties"]
    assert "polysync.runId" not in p["tags"] and p["tags"]["team"] == "t"
