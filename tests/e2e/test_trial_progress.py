"""Trial progress in customStatus and the status route, end to end: the orchestration reads
the sweep's trials from the emulator's run-history children listing (the call azure-ai-ml's
`jobs.list(parent_job_name=...)` makes: `RunOperations.get_run_children` ->
`GET /history/v1.0/.../runs/{id}/children`), once per status poll, and shows the counts while
the sweep runs and when it ends. Virtual time, clock stepped by the test."""

from __future__ import annotations

import requests

from devhost.stack import LocalStack
from tests.e2e.helpers import custom_status, start, status, structured, wait_finished


def _children(stack: LocalStack, job_name: str) -> list[dict]:
    """The trials as run history lists them (what the SDK would see right now)."""
    emu = stack.emulator
    url = f"{emu.arm_endpoint}/history/v1.0{emu.workspace_id}/runs/{job_name}/children"
    answer = requests.get(url, headers={"Authorization": f"Bearer {emu.token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


def _step_until(stack: LocalStack, instance_id: str, predicate, steps: int = 400) -> dict:
    for _ in range(steps):
        assert stack.clock.wait_quiet()
        custom = custom_status(stack, instance_id)
        if predicate(custom):
            return custom
        stack.clock.advance(15)
    raise AssertionError(f"never reached; last customStatus: {custom_status(stack, instance_id)}")


def _mid_run(custom: dict) -> bool:
    trials = custom.get("trials") or {}
    return trials.get("running", 0) > 0 and 0 < trials.get("total", 0) and trials.get("done", 0) > 0


def test_custom_status_counts_the_trials_mid_run_and_at_the_end():
    with LocalStack.start(virtual=True, events=False) as stack:
        stack.clock.auto = False
        instance_id = start(stack, structured(runId="trials-progress"))
        custom = _step_until(stack, instance_id, _mid_run)
        job_name = custom["jobName"]
        trials = custom["trials"]
        # As read at the last poll; the clock has not moved since, so run history agrees now.
        runs = _children(stack, job_name)
        assert trials["total"] == len(runs) == 10  # the template's maxTotalTrials
        assert trials["done"] == sum(r["status"] == "Completed" for r in runs)
        assert trials["running"] == sum(r["status"] == "Running" for r in runs) == 2  # maxConcurrentTrials
        assert trials["failed"] == trials["cancelled"] == 0
        assert trials["asOf"] == custom["updatedAt"]
        assert trials["best"] is None  # the service names the best trial when the sweep ends
        # The status route shows what customStatus holds.
        assert status(stack, instance_id)["trials"] == trials

        stack.clock.auto = True
        view = wait_finished(stack, instance_id)
        assert view["status"] == "Success"
        final = view["trials"]
        assert (final["total"], final["done"], final["running"], final["queued"]) == (10, 10, 0, 0)
        assert final["best"] == {"trial": view["bestTrial"]["runId"], "score": view["bestTrial"]["score"]}
        # One listing per status poll once the sweep runs, never more.
        listings = sum(
            n for (kind, _), n in stack.emulator.calls_for(job_name).items() if kind == "runhistory"
        )
        gets = sum(n for (kind, _), n in stack.emulator.calls_for(job_name).items() if kind == "get")
        assert 0 < listings < gets, stack.emulator.calls_for(job_name)


def test_failed_trials_are_counted_in_the_failed_run():
    with LocalStack.start(virtual=True, events=False) as stack:
        view = wait_finished(stack, start(stack, structured("train-sweep-fails-trials")))
        assert view["status"] == "Failed"
        trials = view["trials"]
        assert trials["failed"] == trials["total"] > 0 and trials["done"] == 0


def test_the_setting_turns_the_listing_off():
    with LocalStack.start(virtual=True, events=False, settings={"SWEEP_TRIAL_PROGRESS": "false"}) as stack:
        view = wait_finished(stack, start(stack, structured(runId="no-trials")))
        assert view["status"] == "Success" and view["trials"] is None
        assert stack.emulator.calls["runhistory"] == 0
