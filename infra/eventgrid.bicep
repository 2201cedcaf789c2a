// Event Grid subscription: the workspace's system topic -> the app's `azureml_events` function.
// Deployed by the postdeploy hook (infra/hooks/deploy_hooks.py) AFTER `azd deploy`, into the system topic's resource group:
// Event Grid validates an AzureFunction destination when the subscription is created, and fails
// with "Destination endpoint not found" while the function is not deployed yet.
targetScope = 'resourceGroup'

@description('Name of the workspace\'s system topic (found or created by the postprovision hook).')
param systemTopicName string

@description('Resource id of the function app (main.bicep output AZURE_FUNCTION_APP_ID).')
param functionAppId string

@description('Event Grid function of the app (triggers/: @app.event_grid_trigger on `azureml_events`).')
param functionName string = 'azureml_events'

@description('The app\'s Durable task hub (main.bicep output TASKHUB_NAME): only runs tagged polysyncWatch=<task hub> are delivered.')
param taskHubName string

@description('Event subscription name (3..64 letters, digits, hyphens); one per app on the workspace.')
@minLength(3)
@maxLength(64)
param subscriptionName string = 'polysync-sweeps'

@description('Delivery attempts before an event is dropped (events are hints: the orchestrations also poll).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an undelivered event is retried.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: subscriptionName
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    // Only what the app acts on (each delivery is an execution): sweeps, not their trials
    // (another runType), of runs this task hub watches (devhost/eventgrid.py applies the same;
    // docs/performance.md). A filter key cannot address a tag name with a dot in it.
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.RunStatusChanged'
        'Microsoft.MachineLearningServices.RunCompleted'
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.runType'
          values: [
            'hyperdrive'
          ]
        }
        {
          operatorType: 'StringIn'
          key: 'data.runTags.polysyncWatch'
          values: [
            taskHubName
          ]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
  }
}

output subscriptionName string = eventSubscription.name
