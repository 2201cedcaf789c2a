from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundry.errors import RequestValidationError
from polysync.request.models import Attributes, Parameter, RunRequest
from polysync.request.parsing import parse_flat_request, parse_payload, parse_structured_request
from polysync.request.types import DataType, Direction

SECRET = "s3cr3t-Value-never-shown"


def fields(exc: pytest.ExceptionInfo[RequestValidationError]) -> list[str]:
    return [e.field for e in exc.value.errors]


# ----------------------------------------------------------------- enums


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("string", DataType.STRING),
        ("SECRET", DataType.SECRET),
        ("int", DataType.INT),
        ("Integer", DataType.INT),
        ("float", DataType.FLOAT),
        ("bool", DataType.BOOL),
        ("json", DataType.JSON),
    ],
)
def test_data_type_case_insensitive(raw: str, expected: DataType) -> None:
    assert DataType.parse(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("input", Direction.INPUT),
        ("OUTPUT", Direction.OUTPUT),
        ("Input&Output", Direction.INPUT_OUTPUT),
        ("InputOutput", Direction.INPUT_OUTPUT),
        ("input & output", Direction.INPUT_OUTPUT),
    ],
)
def test_direction_aliases(raw: str, expected: Direction) -> None:
    assert Direction.parse(raw) is expected


@pytest.mark.parametrize("raw", ["OU/TPUT", "In put", "input&&output", "outin", "", "Inputs"])
def test_direction_refuses_words_with_separators_spliced_in(raw: str) -> None:
    """Found by the start-route fuzz: stripping every separator read "OU/TPUT" as Output."""
    with pytest.raises(ValueError, match="direction must be"):
        Direction.parse(raw)


@pytest.mark.parametrize("raw", ["St/ring", "st ring", "In-t"])
def test_data_type_refuses_words_with_separators_spliced_in(raw: str) -> None:
    with pytest.raises(ValueError, match="dataType must be"):
        DataType.parse(raw)


# ----------------------------------------------------------------- coercion table

COERCION = [
    ("Float", "0.01", 0.01),
    ("Float", 3, 3.0),
    ("Float", " 1e-3 ", 0.001),
    ("Int", "42", 42),
    ("Int", "3.0", 3),
    ("Int", 7.0, 7),
    ("Int", -5, -5),
    ("Bool", "true", True),
    ("Bool", "1", True),
    ("Bool", "yes", True),
    ("Bool", "No", False),
    ("Bool", 0, False),
    ("Bool", False, False),
    ("String", "x", "x"),
    ("String", 5, "5"),
    ("String", True, "true"),
    ("JSON", '{"a": [1, 2]}', {"a": [1, 2]}),
    ("JSON", [1, "two"], [1, "two"]),
    ("JSON", {"k": None}, {"k": None}),
    ("JSON", None, None),
    ("JSON", 3.5, 3.5),
]


@pytest.mark.parametrize(("dtype", "raw", "expected"), COERCION)
def test_coercion_table(dtype: str, raw: Any, expected: Any) -> None:
    p = Parameter(name="p", dataType=dtype, value=raw)
    got = p.typed_value()
    assert got == expected and type(got) is type(expected)


BAD = [
    ("Int", "3.5"),
    ("Int", 3.5),
    ("Int", True),
    ("Int", "abc"),
    ("Int", 2**70),
    ("Int", [1]),
    ("Float", "abc"),
    ("Float", True),
    ("Float", float("nan")),
    ("Float", "inf"),
    ("Float", 10**400),
    ("Bool", "maybe"),
    ("Bool", 2),
    ("Bool", [True]),
    ("String", {"a": 1}),
    ("String", None),
    ("Secret", ["x"]),
    ("JSON", "not json {"),
    ("JSON", float("inf")),
]


@pytest.mark.parametrize(("dtype", "raw"), BAD)
def test_coercion_errors_name_the_value_field(dtype: str, raw: Any) -> None:
    body = {"externalId": "t", "parameters": [{"name": "p", "dataType": dtype, "value": raw}]}
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request(body)
    assert fields(exc) == ["parameters[0].value"]
    assert dtype in exc.value.errors[0].message or "JSON" in exc.value.errors[0].message


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
    r = parse_flat_request("tpl", {"runId": "body", "x": 1}, name="N", run_id="query")
    assert (r.run_id, r.name) == ("query", "N")
    r2 = parse_flat_request("tpl", {})
    assert (r2.run_id, r2.name, r2.parameters) == (None, "tpl", [])


def test_flat_errors_name_keys() -> None:
    with pytest.raises(RequestValidationError) as exc:
        parse_flat_request("../t", {"bad-key": 1, "nothing": None, "AI Foundry Max Total Trials": "lots"})
    assert set(fields(exc)) == {"template", "bad-key", "nothing", "AI Foundry Max Total Trials"}


# ----------------------------------------------------------------- secrets


def secret_request() -> RunRequest:
    return parse_structured_request(
        {
            "externalId": "t",
            "parameters": [
                {"name": "pw", "value": SECRET, "dataType": "secret"},
                {"name": "n", "value": 1, "dataType": "Int"},
            ],
        }
    )


def test_secret_hidden_everywhere() -> None:
    r = secret_request()
    p = r.parameters[0]
    for text in (
        repr(r),
        str(r),
        repr(p),
        str(p),
        str(r.model_dump()),
        r.model_dump_json(),
        json.dumps(r.model_dump(mode="json")),
    ):
        assert SECRET not in text
    assert [value for _, _, value in r.secret_inputs()] == [SECRET]


def test_secret_not_in_validation_errors() -> None:
    body = {
        "externalId": "../x",
        "parameters": [{"name": "pw", "value": SECRET, "dataType": "Secret", "direction": "bogus"}],
    }
    with pytest.raises(RequestValidationError) as exc:
        parse_structured_request(body)
    assert SECRET not in json.dumps(exc.value.to_dict()) and SECRET not in str(exc.value)
    with pytest.raises(Exception) as exc2:
        Parameter(name="pw", dataType="Secret", direction="bogus", value=SECRET)
    assert SECRET not in str(exc2.value)


REF = "https://kv.vault.azure.net/secrets/ps-abc-pw-0123456789abcdef"


def test_payload_carries_the_key_vault_identifier_never_the_value() -> None:
    request = secret_request()
    assert [(p.name, v) for _, p, v in request.secret_inputs()] == [("pw", SECRET)]
    payload = request.to_payload({"pw": REF})
    text = json.dumps(payload)
    assert SECRET not in text and REF in text
    back = parse_payload(json.loads(text))
    assert back.parameters[0].is_reference and back.secret_inputs() == []
    assert back.parameters[0].typed_value() == REF
    assert back.to_payload() == payload  # re-serialising needs nothing more
    assert back.parameters[1].typed_value() == 1


def test_secret_not_stored_is_refused() -> None:
    with pytest.raises(RequestValidationError) as exc:
        secret_request().to_payload(None)
    assert fields(exc) == ["parameters[0].value"]
    assert "Key Vault" in exc.value.errors[0].message and "pw" in exc.value.errors[0].message
    assert SECRET not in json.dumps(exc.value.to_dict())
    with pytest.raises(Exception, match="not been stored"):
        secret_request().parameters[0].typed_value()


def test_a_payload_marking_a_value_as_a_secret_reference_must_hold_one() -> None:
    payload = secret_request().to_payload({"pw": REF})
    payload["parameters"][0]["value"] = "plain text, not an identifier"
    with pytest.raises(RequestValidationError):
        parse_payload(payload)


def test_payload_without_secrets_is_plain_json() -> None:
    r = parse_structured_request(
        {
            "externalId": "t",
            "name": "N",
            "runId": "r",
            "attributes": {"computeName": "c", "maxTotalTrials": 4},
            "parameters": [
                {"name": "j", "value": {"a": 1}, "dataType": "JSON"},
                {"name": "o", "direction": "Output"},
            ],
        }
    )
    payload = r.to_payload(None)
    assert payload["attributes"] == {
        "computeName": "c",
        "maxTotalTrials": 4,
        "maxConcurrentTrials": 2,
        "samplingAlgorithm": "Random",
    }
    assert payload["parameters"][1] == {"name": "o", "dataType": "String", "direction": "Output"}
    again = parse_payload(json.loads(json.dumps(payload)))
    assert again == r


def test_from_payload_rejects_fake_sealed_flag() -> None:
    with pytest.raises(RequestValidationError):
        parse_payload(
            {
                "externalId": "t",
                "parameters": [{"name": "pw", "dataType": "Secret", "value": "plain", "sealed": True}],
            }
        )
    with pytest.raises(RequestValidationError):  # users cannot smuggle `sealed` into a request
        parse_structured_request(
            {
                "externalId": "t",
                "parameters": [{"name": "pw", "dataType": "Secret", "value": "sealed:v1:x", "sealed": True}],
            }
        )


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
