"""The request as the input carries it, read without pydantic at every poll and at the end."""

from __future__ import annotations

from contracts import OutputParameter, StatusQuery
from polysync.request.parsing import parse_structured_request
from polysync.request.payload import secret_references, status_query
from tests.unit.test_contracts import REQUEST


def test_the_status_query_holds_the_outputs_and_the_metric():
    assert status_query("tmpl-abc", REQUEST) == StatusQuery(
        "tmpl-abc",
        (
            OutputParameter("batch", echo=8),
            OutputParameter("model"),
            OutputParameter("key", secret=True, echo="https://v/secrets/s"),
        ),
        "f1",
    )
    assert status_query("j", {"externalId": "t"}) == StatusQuery("j")


def test_secret_references_are_the_key_vault_identifiers():
    assert secret_references(REQUEST) == ["https://v/secrets/s"]


def test_it_reads_what_to_payload_writes():
    request = parse_structured_request(
        {
            "externalId": "t",
            "attributes": {"AI Foundry Objective Metric": "acc"},
            "parameters": [
                {"name": "n", "value": "3", "dataType": "Int", "direction": "Input&Output"},
                {"name": "out", "direction": "Output"},
                {"name": "lr", "value": 0.1, "dataType": "Float"},
            ],
        }
    )
    query = status_query("j", request.to_payload())
    assert query == StatusQuery("j", (OutputParameter("n", echo=3), OutputParameter("out")), "acc")
    assert [o.name for o in query.outputs] == [p.name for p in request.outputs()]
