"""Secrets kept: a Secret parameter's value, the Azure ML token and the sealing key
never appear in logs, customStatus, status answers, errors, Durable status
(history + input) or orchestration output. The Secret does reach Azure ML, in the
sweep's search space (that is where it is meant to go)."""

from __future__ import annotations

import json
import logging

import pytest
import requests

from devhost.stack import LocalStack
from tests.e2e.helpers import structured, wait_finished, wait_until

SECRET = "pa55-Wörd-7c1e9a2b"
WEBHOOK = "whsec-9d8c7b6a"


@pytest.fixture(scope="module")
def stack():
    with LocalStack.start(virtual=True, events=True, settings={"WEBHOOK_SECRET": WEBHOOK}) as s:
        yield s


def _secret_body(template: str = "train-sweep-template", **overrides) -> dict:
    body = structured(template, **overrides)
    body["parameters"].append(
        {"name": "api_token", "value": SECRET, "dataType": "Secret", "direction": "Input"}
    )
    return body


def _post_signed(stack: LocalStack, path: str, body) -> requests.Response:
    from app.signing import sign

    raw = json.dumps(body).encode()
    return requests.post(
        stack.url(path), data=raw, headers={"X-Signature-256": sign(WEBHOOK, raw)}, timeout=30
    )


def _start(stack: LocalStack, body: dict) -> str:
    answer = _post_signed(stack, "sweeps", body)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def _durable_everything(stack: LocalStack, instance_id: str, payload_urls: dict) -> str:
    parts = [
        json.dumps(stack.host.get_status(instance_id, show_history=True, show_input=True), default=str),
        json.dumps(stack.host.history(instance_id), default=str),
        requests.get(
            payload_urls["statusQueryGetUri"] + "&showHistory=true&showHistoryOutput=true", timeout=30
        ).text,
    ]
    try:
        parts.append(json.dumps(stack.host.history(instance_id, previous_generation=True), default=str))
    except Exception:  # noqa: BLE001 - no previous generation
        pass
    return "\n".join(parts)


def _forbidden(stack: LocalStack) -> dict[str, str]:
    return {
        "secret parameter": SECRET,
        "emulator token": stack.emulator.token,
        "sealing key": stack.env["SECRET_SEALING_KEY"],
        "webhook secret": WEBHOOK,
    }


def test_no_secret_anywhere_in_a_run_that_uses_one(stack, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # root: every logger, every thread of the stack
    texts: list[str] = []

    # a successful run, a failing run and a cancelled run, each with the Secret
    runs = []
    for template, overrides in (
        ("train-sweep-template", {"runId": "secret-success"}),
        ("train-sweep-fails-trials", {"runId": "secret-fail"}),
        ("train-sweep-forever", {"runId": "secret-cancel"}),
    ):
        answer = _post_signed(stack, "sweeps", _secret_body(template, **overrides))
        assert answer.status_code == 202, answer.text
        texts.append(answer.text)
        runs.append((template, answer.json()))
    forever = runs[2][1]["id"]
    texts.append(json.dumps(wait_until(stack, forever, lambda v: v.get("azureStatus") == "Running")))
    cancel = requests.post(stack.url(f"sweeps/{forever}/cancel"), json={"reason": "done"}, timeout=30)
    texts.append(cancel.text)

    for _template, payload in runs:
        view = wait_finished(stack, payload["id"])
        texts.append(json.dumps(view))
        texts.append(_durable_everything(stack, payload["id"], payload))
        texts.append(json.dumps(stack.host.get_status(payload["id"])["output"], default=str))
        texts.append(json.dumps(stack.host.get_status(payload["id"])["customStatus"], default=str))
    statuses = {view["status"] for view in (json.loads(t) for t in texts if t.startswith('{"instanceId"'))}
    assert {"Success", "Failed", "Cancelled"} <= statuses

    # a bad request that carries the Secret in the wrong place: the 400 quotes no value
    bad = _secret_body()
    bad["parameters"][-1]["dataType"] = "Int"
    bad["attributes"]["AI Foundry Objective Goal"] = SECRET
    bad_answer = _post_signed(stack, "sweeps", bad)
    assert bad_answer.status_code == 400
    texts.append(bad_answer.text)
    unsigned = requests.post(stack.url("sweeps"), json=_secret_body(), timeout=30)
    assert unsigned.status_code == 401
    texts.append(unsigned.text)

    # templates route and Durable list-all management API
    texts.append(stack.get("templates").text)
    texts.append(
        requests.get(stack.host.base_url + "/runtime/webhooks/durabletask/instances", timeout=30).text
    )

    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    texts += [r.getMessage() for r in caplog.records]
    texts += [caplog.text]
    everything = "\n".join(texts)
    assert len(caplog.records) > 50  # the capture really saw the runs...
    assert "sealed:v1:" in everything and "api_token" in everything  # ...and the Durable input
    for what, value in _forbidden(stack).items():
        assert value not in everything, f"{what} leaked"

    # ...and the Secret did reach Azure ML, in the search space of the sweep it belongs to
    job_name = wait_finished(stack, runs[0][1]["id"])["jobName"]
    assert stack.emulator.job(job_name)["properties"]["searchSpace"]["api_token"] == ["choice", [[SECRET]]]


def test_secret_is_sealed_in_the_orchestration_input(stack):
    instance_id = _start(stack, _secret_body(runId="sealed-input"))
    wait_finished(stack, instance_id)
    data = stack.host.get_status(instance_id, show_input=True)["input"]
    data = json.loads(data) if isinstance(data, str) else data
    params = {p["name"]: p for p in data["request"]["parameters"]}
    assert params["api_token"]["value"].startswith("sealed:v1:")
    assert params["api_token"]["sealed"] is True


def test_without_a_sealing_key_secret_parameters_are_refused(monkeypatch):
    """No key, no Secret: refuse rather than store it in clear."""
    from foundry.errors import FoundryError
    from foundry.models import parse_structured_request

    request = parse_structured_request(_secret_body())
    with pytest.raises(FoundryError) as raised:
        request.to_payload(None)
    assert SECRET not in str(raised.value) and SECRET not in json.dumps(raised.value.to_dict())


def test_reprs_hide_keys_and_tokens():
    from foundry.secrets import Sealer
    from foundry.settings import Settings

    settings = Settings.from_env(
        {"SECRET_SEALING_KEY": "k-123456", "WEBHOOK_SECRET": "w-123456", "AZUREML_STATIC_TOKEN": "t-123456"}
    )
    text = repr(settings) + repr(Sealer("k-123456"))
    for value in ("k-123456", "w-123456", "t-123456"):
        assert value not in text
