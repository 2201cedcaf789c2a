#!/bin/sh
# azd postdeploy hook: subscribe the app's Event Grid function to the Foundry workspace's
# system topic (infra/eventgrid.bicep). It runs after `azd deploy` because Event Grid checks
# that the destination function exists when the subscription is created. Idempotent.
# Needs the Azure CLI signed in (`az login`: azd's sign-in is separate) to the same tenant.
set -eu

if [ "${SWEEP_EVENTS_ENABLED:-true}" = "false" ]; then
    echo "postdeploy: SWEEP_EVENTS_ENABLED is false (polling only): no Event Grid subscription."
    exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
template="$here/../eventgrid.bicep"

for name in AZURE_ENV_NAME AZURE_FUNCTION_APP_ID FOUNDRY_WORKSPACE_SUBSCRIPTION_ID \
    FOUNDRY_WORKSPACE_RESOURCE_GROUP EVENTGRID_SYSTEM_TOPIC_NAME EVENTGRID_SUBSCRIPTION_NAME; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then
        echo "postdeploy: $name is not set; run 'azd provision' first." >&2
        exit 1
    fi
done

if ! command -v az >/dev/null 2>&1; then
    echo "postdeploy: the Azure CLI (az) is required to create the Event Grid subscription." >&2
    exit 1
fi
if ! az account show --output none 2>/dev/null; then
    echo "postdeploy: run 'az login' (the Azure CLI is signed in separately from azd)." >&2
    exit 1
fi

echo "postdeploy: Event Grid subscription $EVENTGRID_SUBSCRIPTION_NAME on $EVENTGRID_SYSTEM_TOPIC_NAME -> azureml_events"
attempt=1
max_attempts=${EVENTGRID_DEPLOY_ATTEMPTS:-6}
while :; do
    # The function can take a minute to be listed after a deploy: retry "Destination endpoint not found".
    if az deployment group create \
        --name "polysync-eventgrid-$AZURE_ENV_NAME" \
        --subscription "$FOUNDRY_WORKSPACE_SUBSCRIPTION_ID" \
        --resource-group "$FOUNDRY_WORKSPACE_RESOURCE_GROUP" \
        --template-file "$template" \
        --parameters \
            systemTopicName="$EVENTGRID_SYSTEM_TOPIC_NAME" \
            functionAppId="$AZURE_FUNCTION_APP_ID" \
            subscriptionName="$EVENTGRID_SUBSCRIPTION_NAME" \
        --only-show-errors --output none; then
        echo "postdeploy: Event Grid subscription is in place."
        exit 0
    fi
    if [ "$attempt" -ge "$max_attempts" ]; then
        echo "postdeploy: giving up after $attempt attempts; rerun 'azd hooks run postdeploy'." >&2
        exit 1
    fi
    echo "postdeploy: attempt $attempt failed; retrying in 30 s." >&2
    attempt=$((attempt + 1))
    sleep 30
done
