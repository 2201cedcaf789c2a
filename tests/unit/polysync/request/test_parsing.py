from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundry.errors import RequestValidationError
from polysync.request.models import Attributes, RunRequest
from polysync.request.parsing import parse_flat_request, parse_payload, parse_structured_request
from polysync.request.types import DataType, Direction

SECRET = "s3cr3t-Value-never-shown"


def fields(exc: pytest.ExceptionInfo[RequestValidationError]) -> list[str]:
    return [e.field for e in exc.value.errors]


# ----------------------------------------------------------------- enums


# ----------------------------------------------------------------- coercion table


def test_output_value_ignored_and_not_required() -> None:
    r = parse_structured_request(
        {
            "externalId": "t",
            "parameters": [{"name": "m", "direction": "Output", "dataType": "Int", "value": "x"}],
        }
    )
    assert r.parameters[0].value is None and r.outputs() == r.parameters and r.inputs() == []


def test_input_value_required() -> None:
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request({"externalId": "t", "parameters": [{"name": "m", "dataType": "Int"}]})
    assert fields(exc) == ["parameters[0].value"]
    assert "required" in exc.value.errors[0].message


# ----------------------------------------------------------------- structured shape


def test_structured_request_full() -> None:
    r = parse_structured_request(
        {
            "externalId": "train-sweep-template",
            "runId": "run-7",
            "attributes": {
                "AI Foundry Compute Name": "cpu-cluster",
                "objectiveGoal": "minimize",
                "AI Foundry Max Total Trials": "8",
                "samplingAlgorithm": "grid",
                "AI Foundry Objective Metric": "loss",
            },
            "parameters": [
                {"name": "lr", "value": "0.1", "dataType": "Float"},
                {"name": "io", "value": 1, "dataType": "Int", "direction": "InputOutput"},
                {"name": "model", "direction": "Output"},
            ],
        }
    )
    assert r.name == "train-sweep-template"  # defaults to externalId
    assert r.run_id == "run-7"
    a = r.attributes
    assert (a.compute_name, a.objective_goal, a.max_total_trials, a.max_concurrent_trials) == (
        "cpu-cluster",
        "Minimize",
        8,
        2,
    )
    assert a.sampling_algorithm == "Grid" and a.objective_metric == "loss"
    assert [p.name for p in r.inputs()] == ["lr", "io"]
    assert [p.name for p in r.outputs()] == ["io", "model"]
    assert r.parameters[0].data_type is DataType.STRING or r.parameters[0].value == 0.1
    assert r.parameters[0].value == 0.1


def test_attribute_defaults_and_concurrency_clamp() -> None:
    a = Attributes()
    assert (a.max_total_trials, a.max_concurrent_trials, a.sampling_algorithm) == (10, 2, "Random")
    assert attributes({"maxTotalTrials": 1}).max_concurrent_trials == 1
    assert attributes({"AI Foundry Objective Goal": "MAXIMIZE"}).objective_goal == "Maximize"
    assert attributes({"AI Foundry Compute Name": "  "}).compute_name is None


def attributes(raw: dict[str, Any]) -> Attributes:
    """Attributes by any accepted spelling, read as a request carries them."""
    return parse_structured_request({"externalId": "t", "attributes": raw}).attributes


def test_every_bad_field_is_listed_at_once() -> None:
    body = {
        "externalId": "../etc",
        "runId": ["x"],
        "surprise": 1,
        "attributes": {
            "AI Foundry Objective Goal": "sideways",
            "AI Foundry Max Total Trials": 5000,
            "AI Foundry Max Concurrent Trials": 0,
            "AI Foundry Sampling Algorithm": "Sobol",
            "Colour": "red",
        },
        "parameters": [
            {"name": "ok", "value": 1, "dataType": "Int"},
            {"name": "2bad", "value": 1},
            {"name": "f", "value": "x", "dataType": "Float"},
            "not an object",
            {"name": "d", "value": 1, "dataType": "Decimal", "direction": "Sideways"},
            {"name": "ok", "value": 2, "dataType": "Int"},
            {"name": "e", "value": 1, "extra": True},
        ],
    }
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request(body)
    assert set(fields(exc)) == {
        "externalId",
        "runId",
        "surprise",
        "attributes.AI Foundry Objective Goal",
        "attributes.AI Foundry Max Total Trials",
        "attributes.AI Foundry Max Concurrent Trials",
        "attributes.AI Foundry Sampling Algorithm",
        "attributes.Colour",
        "parameters[1].name",
        "parameters[2].value",
        "parameters[3]",
        "parameters[4].dataType",
        "parameters[4].direction",
        "parameters[5].name",
        "parameters[6].extra",
    }
    messages = {e.field: e.message for e in exc.value.errors}
    assert "Maximize or Minimize" in messages["attributes.AI Foundry Objective Goal"]
    assert "duplicate" in messages["parameters[5].name"]
    assert "AI Foundry Compute Name" in messages["attributes.Colour"]


def test_concurrent_above_total() -> None:
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request(
            {"externalId": "t", "attributes": {"maxTotalTrials": 3, "maxConcurrentTrials": 4}}
        )
    assert fields(exc) == ["attributes.maxConcurrentTrials"]
    assert "must not exceed" in exc.value.errors[0].message


def test_attribute_given_twice() -> None:
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request(
            {"externalId": "t", "attributes": {"computeName": "a", "AI Foundry Compute Name": "b"}}
        )
    assert "given twice" in exc.value.errors[0].message


@pytest.mark.parametrize("body", [None, [], "x", 3, True])
def test_non_object_bodies(body: Any) -> None:
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request(body)
    assert fields(exc) == ["body"]
    with pytest.raises(RequestValidationError):
        parse_flat_request("t", body)


def test_deep_and_huge_bodies_are_refused() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request({"externalId": "t", "x": deep})
    assert "deeper" in exc.value.errors[0].message
    with pytest.raises(RequestValidationError):
        parse_flat_request("t", {"p": "x" * (64 * 1024 + 1)})
    many = [{"name": f"p{i}", "value": i, "dataType": "Int"} for i in range(501)]
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request({"externalId": "t", "parameters": many})
    assert fields(exc) == ["parameters"]
    with pytest.raises(RequestValidationError) as exc:
        parse_flat_request("t", {f"p{i}": i for i in range(501)})
    assert "500" in exc.value.errors[0].message


# ----------------------------------------------------------------- flat shape


def test_flat_request_infers_types_and_splits_attributes() -> None:
    body = {
        "learning_rate": 0.02,
        "batch_size": 64,
        "use_gpu": True,
        "optimizer": "adam",
        "layers": [64, 32],
        "AI Foundry Objective Metric": "accuracy",
        "objectiveGoal": "maximize",
        "runId": "r-1",
        "name": "Nightly",
        "template": "tpl",
    }
    r = parse_flat_request("tpl", body)
    types = {p.name: p.data_type for p in r.parameters}
    assert types == {
        "learning_rate": DataType.FLOAT,
        "batch_size": DataType.INT,
        "use_gpu": DataType.BOOL,
        "optimizer": DataType.STRING,
        "layers": DataType.JSON,
    }
    assert all(p.direction is Direction.INPUT for p in r.parameters)
    assert r.attributes.objective_metric == "accuracy" and r.attributes.objective_goal == "Maximize"
    assert (r.external_id, r.run_id, r.name) == ("tpl", "r-1", "Nightly")


def test_flat_kwargs_win_and_defaults() -> None:
    r = parse_flat_request("tpl", {"name": "body", "x": 1}, name="N", run_id="query")
    assert (r.run_id, r.name) == ("query", "N")
    assert parse_flat_request("tpl", {"runId": "same"}, run_id="same").run_id == "same"
    assert parse_flat_request("tpl", {"runId": "body"}).run_id == "body"
    r2 = parse_flat_request("tpl", {})
    assert (r2.run_id, r2.name, r2.parameters) == (None, "tpl", [])


def test_a_run_id_that_differs_between_query_and_body_is_refused() -> None:
    """The runId is the idempotency key: silently preferring one would start (or find) another run
    than the caller meant."""
    with pytest.raises(RequestValidationError) as caught:
        parse_flat_request("tpl", {"runId": "run-from-body", "x": 1}, run_id="run-from-query")
    (error,) = caught.value.errors
    assert error.field == "runId" and "different values" in error.message
    assert "run-from" not in error.message  # never quotes a value


@pytest.mark.parametrize(
    ("value", "kind"), [(123, "a number"), (True, "a boolean"), ([], "a list"), ({}, "an object")]
)
def test_a_template_name_of_the_wrong_type_must_be_text(value: Any, kind: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        parse_structured_request({"externalId": value})
    (error,) = caught.value.errors
    assert error.field == "externalId"
    assert error.message == f"externalId must be text (an Azure ML job name), not {kind}."


def test_a_missing_template_name_is_required() -> None:
    with pytest.raises(RequestValidationError) as caught:
        parse_structured_request({"parameters": []})
    assert caught.value.errors[0].message == "externalId is required: give an Azure ML job name."


def test_flat_errors_name_keys() -> None:
    with pytest.raises(RequestValidationError) as exc:
        parse_flat_request("../t", {"bad-key": 1, "nothing": None, "AI Foundry Max Total Trials": "lots"})
    assert set(fields(exc)) == {"template", "bad-key", "nothing", "AI Foundry Max Total Trials"}


# ----------------------------------------------------------------- secrets


REF = "https://kv.vault.azure.net/secrets/ps-abc-pw-0123456789abcdef"


# ----------------------------------------------------------------- fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=15,
)
param_items = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b", "1x", "lr"]) | st.text(max_size=5)},
    optional={
        "value": json_values,
        "dataType": st.sampled_from(["String", "secret", "Int", "FLOAT", "Bool", "json", "Nope"])
        | json_values,
        "direction": st.sampled_from(["Input", "Output", "InputOutput", "x"]),
    },
)
structured_bodies = st.fixed_dictionaries(
    {},
    optional={
        "externalId": st.sampled_from(["tpl", "../x", ""]) | json_values,
        "name": json_values,
        "runId": json_values,
        "attributes": st.dictionaries(
            st.sampled_from(
                [
                    "AI Foundry Max Total Trials",
                    "maxConcurrentTrials",
                    "objectiveGoal",
                    "AI Foundry Compute Name",
                    "nope",
                ]
            ),
            json_values,
        )
        | json_values,
        "parameters": st.lists(param_items | json_values, max_size=6) | json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(structured_bodies, json_values))
def test_fuzz_structured_only_request_or_validation_error(body: Any) -> None:
    try:
        r = parse_structured_request(body)
    except RequestValidationError as exc:
        assert exc.errors and json.dumps(exc.to_dict())
        return
    assert isinstance(r, RunRequest)
    json.dumps(r.to_payload({p.name: REF for _, p, _ in r.secret_inputs()}), allow_nan=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.text(max_size=12), json_values, max_size=8) | json_values,
    st.text(max_size=12) | st.sampled_from(["tpl"]),
)
def test_fuzz_flat_only_request_or_validation_error(body: Any, template: str) -> None:
    try:
        r = parse_flat_request(template, body)
    except RequestValidationError as exc:
        assert exc.errors
        return
    assert isinstance(r, RunRequest)
    payload = r.to_payload(None)
    assert parse_payload(json.loads(json.dumps(payload, allow_nan=False))) == r


def test_flat_body_attribute_typo_answers_like_the_structured_body() -> None:
    """`"AI Foundry Max Trials": 5` is a misspelt attribute, not a sweep parameter: the flat body
    answers as the structured one does (unknown attribute, the known ones listed)."""
    with pytest.raises(RequestValidationError) as exc:
        parse_flat_request("tpl", {"AI Foundry Max Trials": 5, "lr": 0.1})
    (error,) = exc.value.errors
    assert error.field == "AI Foundry Max Trials"
    assert "unknown attribute; known attributes:" in error.message
    assert "AI Foundry Max Total Trials" in error.message
    with pytest.raises(RequestValidationError) as structured:
        parse_structured_request({"externalId": "tpl", "attributes": {"AI Foundry Max Trials": 5}})
    assert structured.value.errors[0].message == error.message


def test_a_bad_parameter_value_names_the_parameter() -> None:
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request(
            {
                "externalId": "tpl",
                "parameters": [{"name": "learning_rate", "value": "fast", "dataType": "Float"}],
            }
        )
    (error,) = exc.value.errors
    assert error.field == "parameters[0].value"
    assert error.message.startswith("parameter 'learning_rate': ")
