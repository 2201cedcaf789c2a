"""Bad input: thousands of malformed bodies on both start routes of a running
LocalStack (and many more on the pure parsers) get a 4xx naming the field, never
a 5xx, and start nothing. Malformed Event Grid events are dropped with a log line.
Names from requests are validated before they can enter a URL."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost.stack import LocalStack
from foundry.errors import RequestValidationError
from foundry.names import validate_instance_id, validate_job_name
from polysync.request.parsing import parse_flat_request, parse_structured_request
from tests.reliability.strategies import (
    VALID_TEMPLATE,
    bad_job_names,
    deep,
    flat_bad,
    json_values,
    structured_bad,
)

HTTP = settings(
    max_examples=1000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
PURE = settings(
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.fixture(scope="module")
def stack():
    with LocalStack.start(virtual=True, events=True) as s:
        yield s


@pytest.fixture(scope="module")
def session(stack):
    with requests.Session() as s:
        s.headers.update(stack.key_header)
        yield s


def _fields(answer: requests.Response) -> list[str]:
    error = answer.json()["error"]
    assert error.get("code") and error.get("message")
    errors = error.get("errors") or []
    assert errors, error
    fields = [e["field"] for e in errors]
    assert all(isinstance(f, str) and f for f in fields), errors
    return fields


def _check(stack: LocalStack, session: requests.Session, path: str, body, expected: str) -> None:
    before = len(stack.host.instances())
    raw = json.dumps(body).encode()
    answer = session.post(stack.url(path), data=raw, headers={"Content-Type": "application/json"}, timeout=30)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:500])
    fields = _fields(answer)
    assert any(expected in f for f in fields), (expected, fields)
    assert len(stack.host.instances()) == before


@HTTP
@given(case=structured_bad)
def test_structured_route_fuzz(stack, session, case):
    body, expected = case
    _check(stack, session, "sweeps", body, expected)


@HTTP
@given(case=flat_bad)
def test_flat_route_fuzz(stack, session, case):
    body, expected = case
    _check(stack, session, f"sweeps/{VALID_TEMPLATE}", body, expected)


@settings(max_examples=150, deadline=None, database=None)
@given(name=bad_job_names.filter(lambda n: "/" not in n and "\\" not in n and n not in ("", ".", "..")))
def test_flat_route_bad_template_names(stack, session, name):
    before = len(stack.host.instances())
    answer = session.post(stack.url("sweeps/" + quote(name, safe="")), json={"lr": 0.1}, timeout=30)
    assert 400 <= answer.status_code < 500, (name, answer.status_code)
    if answer.status_code == 400:
        assert any("template" in f for f in _fields(answer))
    assert len(stack.host.instances()) == before


@pytest.mark.parametrize("name", ["../x", "..%2Fx", "a/b", "..", ".", "%2e%2e", "x%3Fapi-version%3D1"])
def test_path_tricks_in_the_template_route_start_nothing(stack, name):
    before, created = len(stack.host.instances()), stack.emulator.calls["put_created"]
    answer = requests.post(
        stack.url("sweeps/") + name, json={"lr": 0.1}, headers=stack.key_header, timeout=30
    )
    assert 400 <= answer.status_code < 500
    assert len(stack.host.instances()) == before
    assert stack.emulator.calls["put_created"] == created


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b'{"externalId": "a"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"NaN",
        b'{"externalId": NaN}',
        b"x" * 1_000_001,
    ],
)
@pytest.mark.parametrize("path", ["sweeps", f"sweeps/{VALID_TEMPLATE}"])
def test_unparseable_and_oversized_bodies(stack, path, raw):
    before = len(stack.host.instances())
    answer = requests.post(stack.url(path), data=raw, headers=stack.key_header, timeout=30)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert _fields(answer)
    assert len(stack.host.instances()) == before


@pytest.mark.parametrize("path", ["sweeps/{}", "sweeps/{}/cancel"])
@pytest.mark.parametrize("bad", ["bad id", "a" * 101, "%2E%2E", "x%3Fy", "-x", "ü", "\ud800", "a\x00b"])
def test_bad_instance_ids_are_400(stack, path, bad):
    """Every invalid id that reaches the route is a 400 naming instanceId (`..` itself never
    reaches it: HTTP clients collapse dot segments, so it is sent percent-encoded here)."""
    segment = bad if bad.startswith("%") else quote(bad, safe="", errors="surrogatepass")
    url = stack.url(path.format(segment))
    keyed = {"headers": stack.key_header, "timeout": 30}
    answer = requests.post(url, **keyed) if path.endswith("cancel") else requests.get(url, **keyed)
    assert answer.status_code == 400, answer.text
    assert any("instanceId" in f for f in _fields(answer))


# ---------------------------------------------------------------- pure parsers, for volume


@PURE
@given(case=structured_bad)
def test_structured_parser_names_the_field(case):
    body, expected = case
    with pytest.raises(RequestValidationError) as raised:
        parse_structured_request(body)
    assert any(expected in e.field for e in raised.value.errors)


@PURE
@given(case=flat_bad)
def test_flat_parser_names_the_field(case):
    body, expected = case
    with pytest.raises(RequestValidationError) as raised:
        parse_flat_request(VALID_TEMPLATE, body)
    assert any(expected in e.field for e in raised.value.errors)


@settings(PURE, max_examples=1000)
@given(body=json_values, template=st.one_of(st.just(VALID_TEMPLATE), st.text(max_size=300)))
def test_parsers_only_ever_raise_validation_errors(body, template):
    for parse in (lambda: parse_structured_request(body), lambda: parse_flat_request(template, body)):
        try:
            parse()
        except RequestValidationError as exc:
            assert exc.errors and all(e.field for e in exc.errors)


@PURE
@given(name=st.text(max_size=300))
def test_a_name_that_passes_validation_is_url_safe(name):
    try:
        validate_job_name(name)
    except RequestValidationError:
        return
    assert quote(name, safe="") == name and ".." not in name and len(name) <= 255
    try:
        validate_instance_id(name)
    except RequestValidationError:
        return
    assert len(name) <= 100


def test_nothing_from_a_request_changes_the_arm_path(stack):
    """The client builds every job URL from the configured workspace plus a validated,
    quoted name: bad names raise before any request is made."""
    from runtime import services

    client = services.client()
    prefix = client.jobs_url()
    assert prefix.endswith(services.settings().workspace.jobs_path + "/jobs")
    calls = sum(stack.emulator.calls.values())
    for bad in ("../x", "a/b", "x?y=1", "x#y", "..", "a" * 256, "%2e%2e"):
        with pytest.raises(RequestValidationError):
            client.jobs_url(bad)
        with pytest.raises(RequestValidationError):
            client.get_job(bad)
        with pytest.raises(RequestValidationError):
            client.cancel_job(bad)
    assert sum(stack.emulator.calls.values()) == calls
    assert client.jobs_url("ok-name_1") == prefix + "/ok-name_1"


# ---------------------------------------------------------------- Event Grid


MALFORMED_EVENTS = [
    {},
    {"id": 1, "data": None},
    {"eventType": "Microsoft.MachineLearningServices.RunStatusChanged", "data": "oops"},
    {"eventType": "Microsoft.MachineLearningServices.RunStatusChanged", "data": [1, 2]},
    {"id": "x", "topic": "/subscriptions/other", "eventType": "Something.Else", "data": {}},
    {"id": "z", "eventType": "Microsoft.MachineLearningServices.RunStatusChanged", "data": {"runTags": "x"}},
    {"id": "d", "eventType": "Microsoft.MachineLearningServices.RunStatusChanged", "data": deep(50)},
]


def test_malformed_event_grid_events_are_dropped_with_a_log_line(stack, caplog):
    for event in [
        *MALFORMED_EVENTS,
        {
            "id": "bad-instance",
            "topic": stack.emulator.workspace_id,
            "subject": "experiments/e/runs/r",
            "eventType": "Microsoft.MachineLearningServices.RunStatusChanged",
            "eventTime": "2026-01-05T09:00:00Z",
            "dataVersion": "2",
            "data": {"runId": "r", "runStatus": "Running", "runTags": {"polysync.instanceId": "../../x"}},
        },
    ]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="triggers.events"):
            stack.host.deliver_event_grid(event, wait=True)
        lines = [r for r in caplog.records if r.name == "triggers.events"]
        assert lines, f"no log line for {str(event)[:80]}"
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], str(event)[:80]


def test_an_event_the_worker_cannot_decode_never_reaches_the_trigger(stack, caplog):
    """The Python worker decodes the trigger's argument with azure-functions'
    `EventGridEventInConverter.decode` before the function runs; an unparseable
    `eventTime` fails there (the invocation fails, Event Grid retries or dead-letters)."""
    event = {
        "id": "y",
        "eventType": "Microsoft.MachineLearningServices.RunStatusChanged",
        "eventTime": "not a time",
    }
    with caplog.at_level(logging.INFO):
        stack.host.deliver_event_grid(event, wait=True)
    assert not [r for r in caplog.records if r.name == "triggers.events"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR and "azureml_events" in r.getMessage()]


@settings(max_examples=300, deadline=None, database=None)
@given(
    event=st.dictionaries(
        st.sampled_from(["id", "topic", "subject", "eventType", "eventTime", "data", "dataVersion"]),
        json_values,
    )
)
def test_event_grid_parser_fuzz_never_raises(stack, event):
    from foundry.events import parse_run_event
    from runtime import services

    parsed, why = parse_run_event(event, services.settings().workspace)
    assert parsed is not None or why
