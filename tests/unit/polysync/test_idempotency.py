"""A reused runId: the same request is the same run; a different one is named field by field."""

from __future__ import annotations

import copy

from polysync.idempotency import request_differences
from polysync.request.parsing import parse_structured_request

REF = "https://kv.vault.azure.net/secrets/ps-abc-token-0123456789abcdef"


def payload(**changes) -> dict:
    body = {
        "externalId": "tmpl",
        "name": "Nightly",
        "runId": "r-1",
        "attributes": {"AI Foundry Max Total Trials": 4},
        "parameters": [
            {"name": "lr", "value": 0.1, "dataType": "Float"},
            {"name": "token", "value": "s3cret", "dataType": "Secret"},
        ],
        **changes,
    }
    request = parse_structured_request(body)
    return request.to_payload({"token": REF})


def test_the_same_request_differs_in_nothing() -> None:
    assert request_differences(payload(), payload()) == []


def test_each_difference_is_named_as_a_caller_names_it() -> None:
    other = payload(name="Weekly", attributes={"maxTotalTrials": 5})
    assert request_differences(payload(), other) == ["name", "attributes.AI Foundry Max Total Trials"]
    changed = copy.deepcopy(payload())
    changed["parameters"][0]["value"] = 0.2
    assert request_differences(payload(), changed) == ["parameters.lr"]


def test_secrets_differ_through_their_key_vault_names_never_their_values() -> None:
    other = copy.deepcopy(payload())
    other["parameters"][1]["value"] = REF.replace("0123456789abcdef", "fedcba9876543210")
    assert request_differences(payload(), other) == ["parameters.token"]


def test_an_unreadable_stored_request_is_a_difference() -> None:
    assert request_differences(None, payload()) == ["request"]
