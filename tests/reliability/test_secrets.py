"""Secrets kept: a Secret parameter's value, the Azure ML and Key Vault tokens,
INSTANCE_ID_KEY and WEBHOOK_SECRET never appear in logs, customStatus, status
answers, errors, Durable status (history + input), orchestration output, the
templates route or the job definition Azure ML stores. The Secret value goes to
the workspace's Key Vault only, and leaves it when the run ends.

The secret is ASCII on purpose: a non-ASCII one is written `\\u00f6` in JSON answers,
and a plain `in` over the raw text could then never find it (that hid a leak).
Every text is searched raw, JSON-decoded and for the value's JSON escapes."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests

from devhost.stack import LocalStack
from tests.e2e.helpers import structured, wait_finished, wait_until
from triggers.http.signing import sign

SECRET = "pa55-Word-7c1e9a2b"
WEBHOOK = "whsec-9d8c7b6a"


def leaks(value: str, texts: list[str]) -> list[str]:
    """The texts that hold `value`: raw, as JSON writes it (escaped or not), or anywhere in
    a JSON document once decoded."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    found = []
    for text in texts:
        if any(form in text for form in forms):
            found.append(text[:200])
            continue
        try:
            decoded = json.loads(text)
        except (ValueError, TypeError):
            continue
        if _holds(decoded, value):
            found.append(text[:200])
    return found


def _holds(node: Any, value: str) -> bool:
    if isinstance(node, str):
        return value in node
    if isinstance(node, dict):
        return any(_holds(k, value) or _holds(v, value) for k, v in node.items())
    if isinstance(node, list):
        return any(_holds(v, value) for v in node)
    return False


def test_the_leak_search_finds_escaped_and_nested_values():
    """The checker itself can fail: it finds a value however JSON wrote it."""
    assert leaks("pö-1", [json.dumps({"a": "pö-1"})])  # written as p\\u00f6-1
    assert leaks('a"b', [json.dumps(["x", 'a"b'])])
    assert leaks("s", [json.dumps({"k": ["s"]})]) and not leaks("zz", ['{"k": "s"}'])


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


def post_signed(stack: LocalStack, path: str, body) -> requests.Response:
    import time

    raw = json.dumps(body).encode()
    ts = str(int(time.time()))
    headers = {
        "X-Signature-Timestamp": ts,
        "X-Signature-256": sign(WEBHOOK, ts, "POST", "/api/" + path, {}, raw),
        **stack.key_header,
    }
    return requests.post(stack.url(path), data=raw, headers=headers, timeout=30)


def _durable_everything(stack: LocalStack, instance_id: str, payload_urls: dict) -> list[str]:
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
    return parts


def _forbidden(stack: LocalStack) -> dict[str, str]:
    return {
        "secret parameter": SECRET,
        "Azure ML token": stack.emulator.token,
        "Key Vault token": stack.keyvault.token,
        "instance id key": stack.env["INSTANCE_ID_KEY"],
        "webhook secret": WEBHOOK,
    }


def test_no_secret_anywhere_in_a_run_that_uses_one(stack, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # root: every logger, every thread of the stack
    texts: list[str] = []
    runs = []
    for template, overrides in (
        ("train-sweep-template", {"runId": "secret-success"}),
        ("train-sweep-fails-trials", {"runId": "secret-fail"}),
        ("train-sweep-forever", {"runId": "secret-cancel"}),
    ):
        answer = post_signed(stack, "sweeps", _secret_body(template, **overrides))
        assert answer.status_code == 202, answer.text
        texts.append(answer.text)
        runs.append(answer.json())
    forever = runs[2]["id"]
    texts.append(json.dumps(wait_until(stack, forever, lambda v: v.get("azureStatus") == "Running")))
    # while the run is going, the value is in Key Vault, under a name scoped to the run
    assert SECRET in stack.keyvault.all_values()
    cancel = post_signed(stack, f"sweeps/{forever}/cancel", {"reason": "done"})
    assert cancel.status_code == 202, cancel.text
    texts.append(cancel.text)

    job_names = []
    for payload in runs:
        view = wait_finished(stack, payload["id"])
        job_names.append(view["jobName"])
        texts.append(json.dumps(view))
        texts += _durable_everything(stack, payload["id"], payload)
        status = stack.host.get_status(payload["id"])
        texts.append(json.dumps(status["output"], default=str))
        texts.append(json.dumps(status["customStatus"], default=str))
    statuses = {json.loads(t)["status"] for t in texts if t.startswith('{"instanceId"')}
    assert {"Success", "Failed", "Cancelled"} <= statuses

    # the job definitions Azure ML stores carry the Key Vault identifier only
    for name in job_names:
        job = json.dumps(stack.emulator.job(name))
        texts.append(job)
        assert stack.env["RUN_SECRETS_VAULT_URL"] + "/secrets/" in job

    # a bad request that carries the Secret in the wrong place: the 400 quotes no value
    bad = _secret_body()
    bad["parameters"][-1]["dataType"] = "Int"
    bad["attributes"]["AI Foundry Objective Goal"] = SECRET
    bad_answer = post_signed(stack, "sweeps", bad)
    assert bad_answer.status_code == 400
    texts.append(bad_answer.text)
    unsigned = requests.post(stack.url("sweeps"), json=_secret_body(), headers=stack.key_header, timeout=30)
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
    assert len(caplog.records) > 50  # the capture really saw the runs...
    assert "api_token" in "\n".join(texts)  # ...and the Durable input
    for what, value in _forbidden(stack).items():
        assert not leaks(value, texts), f"{what} leaked"

    # every run's end erased (deleted and purged) its secret
    assert SECRET not in stack.keyvault.all_values()
    assert stack.keyvault.deleted_names() == []


def test_the_orchestration_input_holds_the_key_vault_identifier(stack):
    answer = post_signed(stack, "sweeps", _secret_body(runId="ref-input"))
    instance_id = answer.json()["id"]
    wait_finished(stack, instance_id)
    data = stack.host.get_status(instance_id, show_input=True)["input"]
    data = json.loads(data) if isinstance(data, str) else data
    params = {p["name"]: p for p in data["request"]["parameters"]}
    assert params["api_token"]["keyVaultSecret"] is True
    assert params["api_token"]["value"].startswith(
        stack.env["RUN_SECRETS_VAULT_URL"] + f"/secrets/{instance_id}-"
    )


def test_reprs_hide_keys_and_tokens():
    from foundry.auth import StaticTokenCredential
    from runtime.settings import Settings

    settings = Settings.from_env(
        {
            "INSTANCE_ID_KEY": "k-123456",
            "WEBHOOK_SECRET": "w-123456",
            "AZUREML_STATIC_TOKEN": "t-123456",
            "RUN_SECRETS_VAULT_STATIC_TOKEN": "v-123456",
        }
    )
    text = repr(settings) + repr(StaticTokenCredential("v-123456"))
    for value in ("k-123456", "w-123456", "t-123456", "v-123456"):
        assert value not in text
