"""Tags the connector writes on Azure ML jobs: the contract between the Sweep body
builder, the Event Grid intake, idempotent submit and the orphan reconciler.
Kept free of heavy imports so every layer can use it at cold start."""

INSTANCE = "polysync.instanceId"  # which orchestration owns the job
RUN_ID = "polysync.runId"  # Polysync's idempotency key, when sent
TEMPLATE = "polysync.template"  # the template the job was copied from
TASK_HUB = "polysync.taskHub"  # the reconciler only touches its own task hub's jobs
RECONCILED = "polysync.reconciled"  # why the reconciler cancelled an orphan


def is_connector_run(job: object) -> bool:
    """Was this job submitted by the connector (a run, never a template)?"""
    props = job.get("properties") if isinstance(job, dict) else None
    tags = props.get("tags") if isinstance(props, dict) else None
    return isinstance(tags, dict) and INSTANCE in tags
