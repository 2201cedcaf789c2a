"""The attacks of issue 11, repeated as a caller holding a function key would try them
against devhost (the app, the Azure ML emulator and the Key Vault emulator over loopback).
Each is refused with nothing started, and nothing leaks: every check searches the answers,
the captured logs, every instance's history and customStatus, and every job body the
Azure ML emulator stores."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time

import pytest
import requests

from contracts import WATCHER
from devhost.stack import LocalStack
from foundry.names import INSTANCE_PREFIX
from tests.e2e.helpers import custom_status, structured, wait_finished, wait_for, wait_until
from tests.reliability.strategies import deep
from tests.reliability.test_secrets import leaks
from triggers.http.signing import sign
from triggers.reconciler import GRACE, RECONCILED_TAG

SECRET = "attack-probe-s3cret-4d2f"


@pytest.fixture(scope="module")
def stack():
    with LocalStack.start(virtual=True, events=True) as s:
        yield s


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def everything(stack: LocalStack, logs, answers: list[requests.Response]) -> list[str]:
    """Every place a value could surface."""
    texts = [a.text for a in answers]
    texts += [r.getMessage() for r in logs.records]
    for instance_id in stack.host.instances():
        status = stack.host.get_status(instance_id, show_history=True, show_input=True)
        texts.append(json.dumps(status, default=str))
        texts.append(json.dumps(stack.host.history(instance_id), default=str))
    texts += [json.dumps(job) for job in stack.emulator.jobs()]
    texts.append(stack.get("templates").text)
    return texts


def secret_run(stack: LocalStack, template: str = "train-sweep-template", **overrides) -> tuple[str, dict]:
    body = structured(template, **overrides)
    body["parameters"].append(
        {"name": "api_token", "value": SECRET, "dataType": "Secret", "direction": "Input"}
    )
    answer = stack.post("sweeps", body)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"], body


def started(stack: LocalStack) -> tuple[int, int]:
    """(instances, jobs created) once every started run has submitted or ended: a snapshot
    taken while a PUT is on its way would blame the next request for it."""
    runs = [
        i for i in stack.host.instances() if stack.host.get_status(i, show_input=False)["name"] != WATCHER
    ]
    for instance_id in runs:
        wait_for(
            lambda i=instance_id: stack.host.get_status(i, show_input=False),
            lambda st: (
                st["runtimeStatus"] not in ("Pending",)
                and (st["runtimeStatus"] != "Running" or bool((st.get("customStatus") or {}).get("jobName")))
            ),
            60,
            "status",
        )
    return len(runs), stack.emulator.calls["put_created"]


# ---------------------------------------------------------------- 1. Secret values readable by anyone


def test_1_secret_values_are_in_no_job_no_template_and_a_run_is_no_template(stack, logs):
    instance_id, _ = secret_run(stack, runId="attack-1")
    view = wait_finished(stack, instance_id)
    assert view["status"] == "Success"
    job = stack.emulator.job(view["jobName"])
    assert leaks(SECRET, [json.dumps(job)]) == []  # the search space holds the Key Vault identifier

    templates = stack.get("templates").json()["value"]
    assert view["jobName"] not in {t["externalId"] for t in templates}  # runs are not templates
    assert not any(leaks(SECRET, [json.dumps(t)]) for t in templates)

    # the run used as a template by a second caller: refused, no job submitted
    before = stack.emulator.calls["put_created"]
    reuse = stack.post(
        f"sweeps/{view['jobName']}", {"AI Foundry Command": "echo ${{search_space.api_token}}"}
    )
    assert reuse.status_code == 400, reuse.text  # the start route reads the template first
    assert reuse.json()["error"]["code"] == "TemplateIsARun"
    assert stack.emulator.calls["put_created"] == before
    assert leaks(SECRET, everything(stack, logs, [reuse])) == []
    assert SECRET not in stack.keyvault.all_values()  # the first run's end erased it


# ---------------------------------------------------------------- 3. idempotency returns someone else's run


def test_3_a_reused_run_id_with_another_request_is_a_409_that_reveals_nothing(stack, logs):
    first = stack.post("sweeps", structured("train-sweep-forever", runId="attack-3"))
    assert first.status_code == 202
    first_id = first.json()["id"]
    before = started(stack)
    other = structured("train-sweep-forever", runId="attack-3", name="someone else")
    other["parameters"][0]["value"] = "0.5"
    answer = stack.post("sweeps", other)
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "RunIdReused"
    assert {e["field"] for e in error["errors"]} == {"name", "parameters.learning_rate"}
    assert first_id not in answer.text and "statusQueryGetUri" not in answer.text
    assert started(stack) == before
    # the same request again is the same run
    again = stack.post("sweeps", structured("train-sweep-forever", runId="attack-3"))
    assert again.status_code == 202 and again.json()["id"] == first_id


def test_3_instance_ids_cannot_be_computed_from_template_and_run_id(stack):
    first = stack.post("sweeps", structured("train-sweep-forever", runId="attack-3b"))
    real_id = first.json()["id"]
    guessed = INSTANCE_PREFIX + hashlib.sha256(b"train-sweep-forever\nattack-3b").hexdigest()[:40]
    assert guessed != real_id
    assert stack.post(f"sweeps/{guessed}/cancel").status_code == 404
    assert stack.get(f"sweeps/{guessed}").status_code == 404
    assert stack.get(f"sweeps/{real_id}").json()["runtimeStatus"] in ("Pending", "Running")
    assert stack.post(f"sweeps/{real_id}/cancel").status_code == 202  # tidy up


# ---------------------------------------------------------------- 4. signed starts replayed


def test_4_a_captured_signed_start_cannot_start_anything_new():
    secret = "whsec-attack-4"
    with LocalStack.start(virtual=True, events=True, settings={"WEBHOOK_SECRET": secret}) as s:
        raw = json.dumps({"learning_rate": 0.02}).encode()
        ts = str(int(time.time()))
        path = "/api/sweeps/train-sweep-template"
        headers = {
            "X-Signature-Timestamp": ts,
            "X-Signature-256": sign(secret, ts, "POST", path, {}, raw),
            **s.key_header,
        }
        first = requests.post(s.url("sweeps/train-sweep-template"), data=raw, headers=headers, timeout=30)
        assert first.status_code == 202, first.text
        before = started(s)
        replays = [
            requests.post(
                s.url("sweeps/train-sweep-template"),
                params={"runId": f"r{i}"},
                data=raw,
                headers=headers,
                timeout=30,
            )
            for i in range(3)
        ] + [
            requests.post(s.url("sweeps/train-sweep-long"), data=raw, headers=headers, timeout=30),
            requests.post(
                s.url("sweeps/train-sweep-template"),
                params={"name": "x"},
                data=raw,
                headers=headers,
                timeout=30,
            ),
        ]
        assert [r.status_code for r in replays] == [401] * 5
        same = [
            requests.post(s.url("sweeps/train-sweep-template"), data=raw, headers=headers, timeout=30)
            for _ in range(3)
        ]
        assert {r.status_code for r in same} == {202}
        assert {r.json()["id"] for r in same} == {first.json()["id"]}  # runId derived from the signature
        assert started(s) == before


# ---------------------------------------------------------------- 5. ids not tied to the workspace


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        (
            "AI Foundry Compute Name",
            "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/other/providers/"
            "Microsoft.MachineLearningServices/workspaces/other/computes/gpu-cluster",
        ),
        ("AI Foundry Environment Name", "/subscriptions/../../anything?x=1#y"),
        (
            "AI Foundry Environment Name",
            "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/other/providers/"
            "Microsoft.MachineLearningServices/workspaces/other/environments/e/versions/1",
        ),
    ],
)
def test_5_compute_and_environment_must_stay_in_the_workspace(stack, attribute, value):
    before = started(stack)
    body = structured()
    body["attributes"][attribute] = value
    for answer in (stack.post("sweeps", body), stack.post("sweeps/train-sweep-template", {attribute: value})):
        assert answer.status_code == 400, answer.text
        fields = [e["field"] for e in answer.json()["error"]["errors"]]
        assert any(attribute in f for f in fields), fields
    assert started(stack) == before


# ---------------------------------------------------------------- 6. reconciler cancels jobs it never started


def test_6_a_studio_clone_of_a_finished_run_is_never_cancelled(stack, logs):
    answer = stack.post("sweeps", structured(runId="attack-6"))
    view = wait_finished(stack, answer.json()["id"])
    clone = copy.deepcopy(stack.emulator.job(view["jobName"]))  # tags included, as Studio clones
    clone["name"] = "clone-" + view["jobName"]
    clone["id"] = clone["id"].rsplit("/", 1)[0] + "/" + clone["name"]
    clone["properties"]["status"] = "Running"
    clone["systemData"] = {"createdAt": stack.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    stack.emulator.add_job(clone)
    stack.clock.advance(GRACE.total_seconds() + 120)
    stack.host.fire_timer_trigger("reconcile_orphans", wait=True)
    assert stack.emulator.job(clone["name"])["properties"]["status"] == "Running"
    assert not [k for k in stack.emulator.calls_for(clone["name"]) if k[0] == "cancel"]
    assert RECONCILED_TAG not in stack.emulator.job(clone["name"])["properties"]["tags"]


# ---------------------------------------------------------------- 7. bad text and nesting


@pytest.mark.parametrize(
    "body",
    [
        {**structured(), "runId": "a\ud800b"},
        {
            **structured(),
            "parameters": [{"name": "tok", "value": "a\ud800b", "dataType": "Secret", "direction": "Input"}],
        },
        {**structured(), "name": "new\x00line"},
    ],
)
def test_7_lone_surrogates_and_control_characters_are_a_400(stack, body, logs):
    before = started(stack)
    answer = stack.post("sweeps", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["errors"]
    assert started(stack) == before
    assert not [r for r in logs.records if r.levelno >= logging.ERROR]


def test_7_a_control_character_in_the_query_run_id_is_a_400(stack):
    """(Bytes that are not UTF-8 in a query string decode to U+FFFD, valid text, on the host.)"""
    before = started(stack)
    answer = requests.post(
        stack.url("sweeps/train-sweep-template") + "?runId=a%00b",
        json={"learning_rate": 0.1},
        headers=stack.key_header,
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    assert started(stack) == before


def test_7_one_nesting_limit_for_both_body_shapes(stack):
    """32 levels of value pass both routes and the run succeeds (no later failure in
    submit_sweep); 33 are a 400 on both routes, before anything starts."""
    flat = stack.post("sweeps/train-sweep-template", {"cfg": deep(32), "learning_rate": 0.1})
    assert flat.status_code == 202, flat.text
    body = structured()
    body["parameters"].append({"name": "cfg", "value": deep(32), "dataType": "JSON", "direction": "Input"})
    nested = stack.post("sweeps", body)
    assert nested.status_code == 202, nested.text
    for answer in (flat, nested):
        assert wait_finished(stack, answer.json()["id"])["status"] == "Success"
    before = started(stack)
    body["parameters"][-1]["value"] = deep(33)
    refused = [stack.post("sweeps/train-sweep-template", {"cfg": deep(33)}), stack.post("sweeps", body)]
    assert [a.status_code for a in refused] == [400, 400]
    assert started(stack) == before


# ---------------------------------------------------------------- cancel storms


def test_a_cancel_storm_sends_one_azure_ml_cancel(stack):
    answer = stack.post("sweeps", structured("train-sweep-forever", runId="storm"))
    instance_id = answer.json()["id"]
    view = wait_until(stack, instance_id, lambda v: v.get("azureStatus") == "Running")
    results: list[int] = []

    def cancel() -> None:
        results.append(stack.post(f"sweeps/{instance_id}/cancel", {"reason": "storm"}).status_code)

    threads = [threading.Thread(target=cancel) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(
        lambda: custom_status(stack, instance_id), lambda c: c.get("cancelRequested"), 30, "customStatus"
    )
    for _ in range(10):
        cancel()
    assert set(results) <= {200, 202} and len(results) == 20
    assert wait_finished(stack, instance_id)["status"] == "Cancelled"
    cancels = sum(
        n for (kind, _status), n in stack.emulator.calls_for(view["jobName"]).items() if kind == "cancel"
    )
    assert cancels == 1
