"""A template as the service returns it carries the service's own state (examples/workspace's
train-sweep-template is shaped like the recorded service answers in tests/recordings). What the
connector PUTs for a new run - seen exactly as sent, `WorkspaceEmulator.submitted` - carries
none of it."""

from __future__ import annotations

import json

from devhost.stack import LocalStack
from tests.e2e.helpers import start, structured, wait_finished


def test_the_new_jobs_put_carries_no_service_state_of_the_template():
    with LocalStack.start(virtual=True, events=True) as stack:
        template = stack.emulator.job("train-sweep-template")["properties"]
        assert any(k.startswith("_aml_system_") for k in template["tags"])  # the premise
        view = wait_finished(stack, start(stack, structured("train-sweep-template")), timeout=120)
        assert view["status"] == "Success"
        sent = stack.emulator.submitted(view["jobName"])["properties"]
        text = json.dumps(sent)
        assert "_aml_system_" not in text
        assert not {"status", "services", "isArchived"} & set(sent)
        for key in (
            "best_child_run_id",
            "score",
            "best_data_container_id",
            "user_agent",
            "ContentSnapshotId",
            "runTemplate",
            "space_size",
            "azureml.runsource",
            "primary_metric_config",
        ):
            assert key not in sent.get("properties", {}), key
        assert "logbase" not in sent["samplingAlgorithm"]
        assert "default" not in sent["outputs"] and "uri" not in sent["outputs"]["model"]
        assert None not in sent.values()
        # the service bound this run's outputs to its own folders
        created = stack.emulator.job(view["jobName"])["properties"]["outputs"]
        assert created["model"]["uri"].endswith(f"/azureml/{view['jobName']}/model/")
        assert created["default"]["uri"].endswith(f"dcid.{view['jobName']}")
