"""A sweep's trial counts from its child runs, judged on the wire form azure-ai-ml itself
reads: pages built with the SDK's run-history models (`PaginatedRunList` of `Run`,
azure-ai-ml `_restclient/runhistory/models`) and serialized as the service sends them."""

from __future__ import annotations

from typing import Any

from azure.ai.ml._restclient.runhistory.models import PaginatedRunList, Run

from foundry.trials import count_trials, progress


def _page(*statuses: str, parent: str = "sw-1") -> list[dict[str, Any]]:
    runs = [
        Run(
            run_id=f"{parent}_{k}",
            parent_run_id=parent,
            root_run_id=parent,
            status=status,
            run_type="azureml.scriptrun",
            token="run-token-never-copied",  # a Run carries one: it must not travel further
            tags={"hyperparameters": '{"lr": 0.1}'},
            properties={"azureml.runsource": "azureml.scriptrun"},
        )
        for k, status in enumerate(statuses)
    ]
    wire = PaginatedRunList(value=runs, continuation_token=None, next_link=None).as_dict()
    assert wire["value"][0]["runId"] == f"{parent}_0" and "status" in wire["value"][0]  # the SDK's keys
    return wire["value"]


def test_every_status_lands_in_one_bucket():
    runs = _page(
        "Completed", "Completed", "Running", "Finalizing", "Queued", "NotStarted", "Preparing",
        "Starting", "Failed", "NotResponding", "Canceled", "CancelRequested",
    )  # fmt: skip
    counts = count_trials(runs)
    assert counts == {
        "total": 12, "done": 2, "running": 2, "queued": 4, "failed": 2, "cancelled": 2, "partial": False,
    }  # fmt: skip
    assert sum(counts[k] for k in ("done", "running", "queued", "failed", "cancelled")) == counts["total"]


def test_lower_case_unknown_and_missing_statuses():
    runs = [{"runId": "a", "status": "completed"}, {"runId": "b", "status": "Brewing"}, {"runId": "c"}]
    assert count_trials(runs) | {"partial": False} == {
        "total": 3, "done": 1, "running": 0, "queued": 2, "failed": 0, "cancelled": 0, "partial": False,
    }  # fmt: skip


def test_a_trial_listed_on_two_pages_counts_once_and_a_capped_listing_says_so():
    runs = _page("Completed", "Running") + _page("Running")  # sw-1_0 again, as pages shift
    counts = count_trials(runs, complete=False)
    assert (counts["total"], counts["done"], counts["running"], counts["partial"]) == (2, 1, 1, True)


def test_the_summary_is_counts_best_and_time_only():
    counts = count_trials(_page("Completed", "Running", "Failed"))
    best = {"runId": "sw-1_0", "score": 0.93, "metricStatus": "Succeeded"}
    summary = progress(counts, best, "2026-01-01T00:00:00Z")
    assert summary == {
        "total": 3, "done": 1, "running": 1, "queued": 0, "failed": 1, "cancelled": 0,
        "best": {"trial": "sw-1_0", "score": 0.93}, "asOf": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    assert "run-token-never-copied" not in repr(summary)
    assert progress(count_trials([], complete=False), None, "t")["partial"] is True
