"""The Event Grid subscription delivers only what the app acts on, and devhost filters as the
deployed subscription does: the advanced filters in infra/eventgrid.bicep and devhost/eventgrid.py
are the same list, and each key is one Event Grid can address."""

from __future__ import annotations

import json
from pathlib import Path

from devhost.eventgrid import delivered, subscription_filters
from foundry import tags as tag
from tests.infra import sources as src

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def _deployed() -> list[dict]:
    resource = src.the_resource("eventgrid.bicep", "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    return src.body(resource)["properties"]["filter"]["advancedFilters"]


def test_devhost_applies_the_filters_the_bicep_deploys():
    deployed = [(f["operatorType"], f["key"], tuple(f["values"])) for f in _deployed()]
    # the task hub is the Bicep parameter `taskHubName` (what the postdeploy hook passes)
    emulated = [(f.operator_type, f.key, f.values) for f in subscription_filters("taskHubName")]
    assert deployed == emulated


def test_every_filter_key_is_addressable():
    """Event Grid keys are dot paths with no escape for a dot inside a key (event-filtering.md,
    "Limitations": keys with a `.` in them are not supported), and advanced filters are limited to
    25 per subscription with 25 values across them."""
    filters = _deployed()
    assert len(filters) <= 25 and sum(len(f["values"]) for f in filters) <= 25
    for f in filters:
        assert f["key"].startswith("data.")
    assert "." not in tag.WATCH  # the tag key a filter addresses as data.runTags.<key>


def test_the_filters_drop_trials_and_other_runs_and_keep_the_apps_sweeps():
    """Judged on the documented sample (a child run: runType null, no tags: dropped) and on
    the same event made to look like this app's watched sweep (kept)."""
    sample = json.loads((RECORDINGS / "eventgrid_run_status_changed.json").read_text())[0]
    filters = subscription_filters("hub")
    assert not delivered(sample, filters)
    ours = {**sample, "data": {**sample["data"], "runType": "hyperdrive", "runTags": {tag.WATCH: "hub"}}}
    assert delivered(ours, filters)
    other_hub = {**ours, "data": {**ours["data"], "runTags": {tag.WATCH: "other"}}}
    trial = {**ours, "data": {**ours["data"], "runType": "azureml.scriptrun"}}
    untagged = {**ours, "data": {**ours["data"], "runTags": {"polysync.instanceId": "ps-1"}}}
    assert not any(delivered(e, filters) for e in (other_hub, trial, untagged))
    # string comparison is case-insensitive (event-filtering.md, StringIn)
    shouting = {**ours, "data": {**ours["data"], "runType": "HyperDrive"}}
    assert delivered(shouting, filters)
