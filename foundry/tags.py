"""Tags the connector writes on Azure ML jobs: the contract between the Sweep body
builder, the Event Grid intake, idempotent submit and the orphan reconciler.
Kept free of heavy imports so every layer can use it at cold start."""

INSTANCE = "polysync.instanceId"  # which orchestration owns the job
RUN_ID = "polysync.runId"  # Polysync's idempotency key, when sent
TEMPLATE = "polysync.template"  # the template the job was copied from
TASK_HUB = "polysync.taskHub"  # the reconciler only touches its own task hub's jobs
RECONCILED = "polysync.reconciled"  # why the reconciler cancelled an orphan
# The job is being watched (value: the task hub): set at submit, removed by the sweep watcher once
# the run knows the job ended, so the watcher's list holds active jobs only. No dot in the key:
# an Event Grid advanced filter key cannot address a key that contains one (`data.runTags.<key>`).
WATCH = "polysyncWatch"
