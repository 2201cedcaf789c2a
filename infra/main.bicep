// Polysync Foundry sweep connector: Azure Durable Functions (Python v2) on Flex Consumption,
// next to an existing Foundry / Azure ML workspace. Deployed by `azd up` (see docs/deploy.md).
// Plain resources only (no registry modules), so the files parse and lint offline.
//
// This is the deployment azd tracks, and `azd down` deletes every resource group it created
// resources in. So it creates resources in the app's resource group ONLY: everything on the
// workspace side (role assignments, the Event Grid system topic, run-secret vault access) is
// infra/workspace.bicep, deployed by the postprovision hook (infra/hooks/deploy_hooks.py).
// The workspace is only read here (its keyVault), which creates nothing.
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

@description('ARM id of the Key Vault for run secrets (issue 11); empty: the workspace\'s associated vault; \'none\': no run secrets (Secret parameters are refused).')
param workspaceKeyVaultId string = ''

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

@description('Sweep watcher period: every running sweep\'s job is listed this often (one paged list for all of them) and its run told what changed; 0 turns the watcher off (docs/performance.md).')
param sweepWatchPeriodSeconds int = 30

@description('A watched run\'s own safety poll, first interval (doubling to the cap): it only matters when the watcher is down.')
param sweepSafetyPollFloorSeconds int = 14400

@description('A watched run\'s own safety poll, longest interval.')
param sweepSafetyPollCapSeconds int = 86400

@description('How long a run waits out Azure ML being unreachable (throttled, 5xx) before it ends Failed and leaves the job running.')
param sweepOutageLimitSeconds int = 86400

@description('Wait on Azure ML Event Grid events (false: polling only, and the postdeploy hook creates no subscription).')
param sweepEventsEnabled bool = true

@description('SWEEP_TRIAL_PROGRESS: trial counts in customStatus, read from run history (false: off).')
param sweepTrialProgress bool = true

@description('SWEEP_TRIAL_PROGRESS_SECONDS: each run lists its sweep\'s trials (run history, not ARM) at most this often until the sweep ends, besides each status change and the end (0: only after its status GETs).')
@minValue(0)
@maxValue(432000)
param sweepTrialProgressSeconds int = 300

@description('TEMPLATE_CACHE_SECONDS: the start route reuses a template definition it read for this long (a job definition cannot change; edits of a template\'s tags or description, or a template recreated, are seen after at most this); 0: every start reads its template.')
@minValue(0)
@maxValue(3600)
param templateCacheSeconds int = 60

@description('NCRONTAB for the orphan reconciler.')
param reconcileSchedule string = '0 */10 * * * *'

@description('RUN_SECRETS_TTL_HOURS: expiry of each run secret in the run-secrets vault; the reconciler erases expired ones whatever became of the run.')
@minValue(1)
param runSecretsTtlHours int = 168

@description('SWEEP_ALLOW_CODE_OVERRIDES: false refuses the Command and Environment attributes (runs keep the template\'s own code).')
param sweepAllowCodeOverrides bool = true

@description('Always-ready instances for the `durable` function group (0: scale to zero, the default). 1 removes the cold start before Durable work (orchestrations, activities, timers) at a fixed baseline charge; docs/deploy.md has both figures.')
@minValue(0)
@maxValue(10)
param durableAlwaysReadyInstances int = 0

@description('Longest wait (seconds) between polls of an idle Durable control/work-item queue (host.json maxQueuePollingInterval). Microsoft recommends <= 10 on Flex Consumption; lower is faster after idle, and costs more storage transactions while an instance is up.')
@minValue(1)
@maxValue(30)
param durableMaxQueuePollingIntervalSeconds int = 10

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
var runSecretsEnabled = toLower(workspaceKeyVaultId) != 'none'

// Read only (no deployment, no resource in the workspace's group): the vault the workspace uses.
resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
}

var runSecretsVaultId = runSecretsEnabled ? (empty(workspaceKeyVaultId) ? (workspace.properties.?keyVault ?? '') : workspaceKeyVaultId) : ''
// https://<vault>.vault.azure.net/ (the cloud's Key Vault DNS suffix, as the vault's own vaultUri).
var runSecretsVaultUrl = empty(runSecretsVaultId) ? '' : 'https://${last(split(runSecretsVaultId, '/'))}${environment().suffixes.keyvaultDns}/'

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
    webhookSecretUri: keyVault.outputs.webhookSecretUri
    instanceIdKeyUri: keyVault.outputs.instanceIdKeyUri
    runSecretsVaultUrl: runSecretsVaultUrl
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
    sweepWatchPeriodSeconds: sweepWatchPeriodSeconds
    sweepSafetyPollFloorSeconds: sweepSafetyPollFloorSeconds
    sweepSafetyPollCapSeconds: sweepSafetyPollCapSeconds
    sweepOutageLimitSeconds: sweepOutageLimitSeconds
    sweepEventsEnabled: sweepEventsEnabled
    sweepTrialProgress: sweepTrialProgress
    sweepTrialProgressSeconds: sweepTrialProgressSeconds
    templateCacheSeconds: templateCacheSeconds
    reconcileSchedule: reconcileSchedule
    runSecretsTtlHours: runSecretsTtlHours
    sweepAllowCodeOverrides: sweepAllowCodeOverrides
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    durableMaxQueuePollingIntervalSeconds: durableMaxQueuePollingIntervalSeconds
  }
}

// azd stores these in .azure/<env>/.env and passes them to the hooks (infra/hooks/deploy_hooks.py).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_ID string = functionApp.outputs.id
// The Event Grid subscription delivers only events of runs tagged with this task hub (eventgrid.bicep).
output TASKHUB_NAME string = taskHubName
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ID string = keyVault.outputs.id
output AZURE_FUNCTION_APP_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_RESOURCE_TOKEN string = resourceToken
output INSTANCE_ID_KEY_SECRET_NAME string = keyVault.outputs.instanceIdKeySecretName
// App settings that are Key Vault references; the postdeploy hook waits until each resolves.
output KEY_VAULT_REFERENCE_SETTINGS string = empty(keyVault.outputs.webhookSecretUri) ? 'INSTANCE_ID_KEY' : 'INSTANCE_ID_KEY,WEBHOOK_SECRET'
output FOUNDRY_WORKSPACE_ID string = foundryWorkspaceId
output FOUNDRY_WORKSPACE_NAME string = workspaceName
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output FOUNDRY_WORKSPACE_SUBSCRIPTION_ID string = workspaceSubscriptionId
output FOUNDRY_WORKSPACE_RESOURCE_GROUP string = workspaceResourceGroupName
output RUN_SECRETS_VAULT_ID string = runSecretsVaultId
output EVENTGRID_SUBSCRIPTION_NAME string = 'polysync-${resourceToken}'
output SWEEP_EVENTS_ENABLED string = sweepEventsEnabled ? 'true' : 'false'
