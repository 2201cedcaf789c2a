// Polysync Foundry sweep connector: Azure Durable Functions (Python v2) on Flex Consumption,
// next to an existing Foundry / Azure ML workspace. Deployed by `azd up` (see docs/deploy.md).
// Plain resources only (no registry modules), so the files parse and lint offline.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Region of the function app (must offer Flex Consumption).')
param location string

@minLength(1)
@description('Full ARM id of the Foundry / Azure ML workspace: /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<name>.')
param foundryWorkspaceId string

@description('Existing Event Grid system topic on the workspace to reuse (same resource group as the workspace); empty: create one.')
param eventGridSystemTopicName string = ''

@secure()
@minLength(32)
@description('SECRET_SEALING_KEY: keep it stable (sealed orchestration inputs need it). `azd env set SECRET_SEALING_KEY "$(openssl rand -base64 32)"`.')
param secretSealingKey string

@secure()
@description('WEBHOOK_SECRET: when set, start routes require X-Signature-256. Leave empty for Polysync (it does not sign).')
param webhookSecret string = ''

@description('Resource group for the app; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Flex Consumption instance memory (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption maximum instance count (40..1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Durable task hub name (letters and digits, 3..45, starts with a letter).')
@minLength(3)
@maxLength(45)
param taskHubName string = 'polysyncsweeps'

param sweepPollFloorSeconds int = 15
param sweepPollCapSeconds int = 120
param sweepEventPollFloorSeconds int = 3600
param sweepEventPollCapSeconds int = 28800
param sweepPollsPerGeneration int = 1
param sweepStalledLimitSeconds int = 3600

@description('Wait on Azure ML Event Grid events (false: polling only, and the postdeploy hook creates no subscription).')
param sweepEventsEnabled bool = true

@description('NCRONTAB for the orphan reconciler.')
param reconcileSchedule string = '0 */10 * * * *'

var tags = {
  'azd-env-name': environmentName
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
// /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{name}
var workspaceIdParts = split(foundryWorkspaceId, '/')
var workspaceSubscriptionId = workspaceIdParts[2]
var workspaceResourceGroupName = workspaceIdParts[4]
var workspaceName = workspaceIdParts[8]
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    principalId: identity.outputs.principalId
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    secretSealingKey: secretSealingKey
    webhookSecret: webhookSecret
  }
}

module functionApp 'app/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    secretSealingKeyUri: keyVault.outputs.secretSealingKeyUri
    webhookSecretUri: keyVault.outputs.webhookSecretUri
    foundryWorkspaceId: foundryWorkspaceId
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    taskHubName: taskHubName
    sweepPollFloorSeconds: sweepPollFloorSeconds
    sweepPollCapSeconds: sweepPollCapSeconds
    sweepEventPollFloorSeconds: sweepEventPollFloorSeconds
    sweepEventPollCapSeconds: sweepEventPollCapSeconds
    sweepPollsPerGeneration: sweepPollsPerGeneration
    sweepStalledLimitSeconds: sweepStalledLimitSeconds
    sweepEventsEnabled: sweepEventsEnabled
    reconcileSchedule: reconcileSchedule
  }
}

// Role on the workspace + its Event Grid system topic, in the workspace's own resource group.
module workspaceAccess 'app/workspace.bicep' = {
  name: 'polysync-workspace-${resourceToken}'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
  params: {
    workspaceName: workspaceName
    principalId: identity.outputs.principalId
    existingSystemTopicName: eventGridSystemTopicName
    newSystemTopicName: 'evgt-${workspaceName}'
    tags: tags
  }
}

// azd stores these in .azure/<env>/.env; infra/hooks/postdeploy.* read them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_ID string = functionApp.outputs.id
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output FOUNDRY_WORKSPACE_SUBSCRIPTION_ID string = workspaceSubscriptionId
output FOUNDRY_WORKSPACE_RESOURCE_GROUP string = workspaceResourceGroupName
output EVENTGRID_SYSTEM_TOPIC_NAME string = workspaceAccess.outputs.systemTopicName
output EVENTGRID_SUBSCRIPTION_NAME string = 'polysync-${resourceToken}'
output SWEEP_EVENTS_ENABLED string = sweepEventsEnabled ? 'true' : 'false'
