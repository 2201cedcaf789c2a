"""Event payloads, activity outcomes and the customStatus budget, as pure functions."""

from __future__ import annotations

import json

from contracts import CancelSignal
from orchestrators.signals import decode_payload


def test_event_payloads_are_read_as_dicts_or_json_strings():
    data = {"jobName": "j", "runStatus": "Completed"}
    assert decode_payload(data) == data  # a sendEventPostUri caller's object
    assert decode_payload(json.dumps(data)) == data  # the Python client's raise_event on Azure
    assert decode_payload(json.dumps(json.dumps(data))) == data
    for junk in (None, 3, "not json", json.dumps([1, 2]), json.dumps("text")):
        assert decode_payload(junk) == {}
    assert cancel_reason(json.dumps({"reason": "stop it"})) == "stop it"
    assert cancel_reason({"reason": "x" * 900}) == "x" * 500
    assert cancel_reason("null") is None


def cancel_reason(raw):
    """The reason a run reads from a `cancel` event's payload, as delivered."""
    return CancelSignal.from_dict(decode_payload(raw)).reason
