"""RunRequest and Secret values: never shown, and in the payload only as their Key Vault identifier."""

from __future__ import annotations

import json

import pytest

from foundry.errors import RequestValidationError
from polysync.request.models import Parameter, RunRequest
from polysync.request.parsing import parse_payload, parse_structured_request

REF = "https://kv.vault.azure.net/secrets/ps-abc-pw-0123456789abcdef"

SECRET = "s3cr3t-Value-never-shown"


def fields(exc: pytest.ExceptionInfo[RequestValidationError]) -> list[str]:
    return [e.field for e in exc.value.errors]


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
