"""An app setting broken while a run's submit is in flight, on a stack of its own.

Why a module of its own: the app reads its settings from the process environment, so while two
LocalStacks live in one process every host's activities call the emulator started last. In
test_sweeps.py that module's stack stays up through its tests, and its sweep watcher untags the
jobs of that module's finished runs by re-PUTting them: such a PUT, landing in this test's emulator,
counted as a created job although this test's run never PUT. Here no other stack is alive, so the
emulator counts only this stack's calls."""

from __future__ import annotations

import os
import threading
from collections import Counter

import pytest

from devhost.emulator.routes import Request, Response, Route
from devhost.stack import LocalStack
from foundry.names import job_name_for
from runtime import services
from tests.e2e.helpers import failure_message, start, structured, wait_finished

TEMPLATE = "train-sweep-template"


def test_an_activity_failing_for_good_while_racing_a_cancel_ends_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
):
    """An app setting broken while submit_sweep's PUT is on the wire makes submit_sweep raise
    (inside task_any with the cancel waiter) when it reads the setting again to answer; the run
    ends Failed with the activity's own message, not the serialized .NET exception the extension
    attaches, nor an AttributeError from reading it.

    The setting can only be broken once start() has returned (the start route reads it to the
    end), and must be broken before submit_sweep's PUT of its job is answered (its only Azure ML
    call: there is no GET before it). The orchestration starts before the route answers, so the
    PUT may arrive before start() returns; slowing every call only bet that start() returns
    within the delay, which a loaded machine lost. So the emulator holds that PUT until the
    setting is broken."""
    with LocalStack.start(virtual=True, events=True) as stack:
        emulator = stack.emulator
        arrived, released = threading.Event(), threading.Event()
        dispatch = emulator.router.dispatch

        def hold_job_puts(request: Request, route: Route) -> Response:
            if route.kind == "put" and route.job != TEMPLATE:
                arrived.set()
                released.wait(30)
            return dispatch(request, route)

        monkeypatch.setattr(emulator.router, "dispatch", hold_job_puts)
        instance_id = start(stack, structured(TEMPLATE))
        job_name = job_name_for(instance_id, TEMPLATE)
        assert arrived.wait(30), f"submit_sweep never PUT its job: {dict(emulator.calls)}"
        os.environ["AZUREML_WORKSPACE_ID"] = "not-an-arm-id"  # LocalStack.stop restores it
        services.reset()
        released.set()

        view = wait_finished(stack, instance_id)
        assert view["status"] == "Failed" and view["runtimeStatus"] == "Failed"
        assert view["error"]["code"] == "ActivityFailed"
        assert view["error"]["message"].startswith("SettingError: AZUREML_WORKSPACE_ID must be")
        assert view["error"]["message"].endswith("(in activity submit_sweep)")
        message = failure_message(stack, instance_id)
        assert message.startswith("Failed: SettingError: AZUREML_WORKSPACE_ID")
        assert "$type" not in message and "has no attribute" not in message
        # The PUT held was submit's own and its only call; the template's GET the start route's.
        assert emulator.calls_for(TEMPLATE) == Counter({("get", 200): 1})
        assert emulator.calls_for(job_name) == Counter({("put", 201): 1})
