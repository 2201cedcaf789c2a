"""What the sweep watcher reads from a listing and whom it tells (foundry/watch.py)."""

from __future__ import annotations

import pytest

from foundry import tags as tag
from foundry.names import job_name_for
from foundry.watch import MAX_ENDING_CHARS, news_for_run, watched_jobs

INSTANCE = "ps-0123"
NAME = job_name_for(INSTANCE, "tmpl")


def job(status: str = "Running", *, name: str = NAME, **tags: str) -> dict:
    return {
        "name": name,
        "properties": {"status": status, "tags": {tag.INSTANCE: INSTANCE, tag.WATCH: "hub", **tags}},
    }


def test_only_this_task_hubs_jobs_named_for_their_instance_are_watched():
    clone = job(name="tmpl-copy")  # a Studio clone keeps the tags, not the name
    other = job(**{tag.WATCH: "other-hub"})
    bad = job(**{tag.INSTANCE: "../x"})
    listed = watched_jobs([job(), clone, other, bad, "junk", {"name": NAME}], "hub")
    assert [(j.name, j.instance_id, j.status) for j in listed] == [(NAME, INSTANCE, "Running")]


@pytest.mark.parametrize(
    ("last", "now", "events", "news"),
    [
        (None, "Running", False, True),  # first sight, no events: the run hears it here
        ("Running", "Running", False, False),  # no change: nothing to say
        ("Running", "Finalizing", False, True),
        (None, "Running", True, False),  # events on: progress comes by event
        ("Running", "Completed", True, True),  # an ending is repeated (the event may be lost)
        (None, "Failed", True, True),
        ("Running", "NotResponding", True, True),  # a stall too
        ("Completed", "Completed", True, False),  # told already
    ],
)
def test_news_for_the_run(last, now, events, news):
    (watched,) = watched_jobs([job(now)], "hub")
    assert news_for_run(watched, last, events=events) is news


def test_an_ending_carries_what_a_report_reads_and_nothing_else():
    resource = job("Failed")
    resource["properties"].update(
        error={"code": "UserError", "message": "boom"},
        outputs={"model": {"uri": "m://1"}},
        objective={"primaryMetric": "accuracy", "goal": "Maximize"},
        services={
            "Studio": {"endpoint": "https://ml.azure.com/runs/x"},
            "Tracking": {"endpoint": "azureml://t"},
        },
        properties={
            "best_child_run_id": "r_1",
            "score": "0.9",
            "azureml.runsource": "hyperdrive",
            "lastError": "e",
        },
        trial={"command": "python train.py", "environmentVariables": {"TOKEN": "not for the run's history"}},
    )
    (listed,) = watched_jobs([resource], "hub")
    ending = listed.ending()
    assert ending == {
        "name": NAME,
        "properties": {
            "status": "Failed",
            "error": {"code": "UserError", "message": "boom"},
            "outputs": {"model": {"uri": "m://1"}},
            "objective": {"primaryMetric": "accuracy"},
            "services": {"Studio": {"endpoint": "https://ml.azure.com/runs/x"}},
            "properties": {"best_child_run_id": "r_1", "score": "0.9", "lastError": "e"},
        },
    }


def test_no_ending_while_running_nor_past_the_size_bound():
    (running,) = watched_jobs([job("Running")], "hub")
    assert running.ending() is None
    huge = job("Failed")
    huge["properties"]["error"] = {"code": "E", "message": "x" * MAX_ENDING_CHARS}
    (listed,) = watched_jobs([huge], "hub")
    assert listed.ending() is None
