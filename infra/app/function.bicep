// Flex Consumption (FC1, Linux) function app running the Python v2 Durable Functions app.
// Every app setting the code reads (docs/architecture.md) is set here, by the same name;
// tests/infra/test_bicep.py checks that.
param name string
param planName string
param location string
param tags object = {}

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

@description('Blob URL of the deployment container (https://<account>.blob.<suffix>/<container>).')
param deploymentContainerUrl string

param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string

param applicationInsightsConnectionString string

@description('Versionless Key Vault secret URI of WEBHOOK_SECRET, or empty to leave signatures off.')
param webhookSecretUri string = ''

@description('Versionless Key Vault secret URI of INSTANCE_ID_KEY (created by the postprovision hook).')
param instanceIdKeyUri string

@description('RUN_SECRETS_VAULT_URL: https://<vault>.vault.azure.net/ of the run-secrets vault, or empty.')
param runSecretsVaultUrl string = ''

@description('ARM id of the Foundry / Azure ML workspace.')
param foundryWorkspaceId string

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

param taskHubName string
param sweepPollFloorSeconds int
param sweepPollCapSeconds int
param sweepEventPollFloorSeconds int
param sweepEventPollCapSeconds int
param sweepPollsPerGeneration int
param sweepStalledLimitSeconds int
param sweepWatchPeriodSeconds int
param sweepSafetyPollFloorSeconds int
param sweepSafetyPollCapSeconds int
param sweepOutageLimitSeconds int
param sweepEventsEnabled bool
param sweepTrialProgress bool
param sweepTrialProgressSeconds int
param templateCacheSeconds int
param reconcileSchedule string
param runSecretsTtlHours int
param sweepAllowCodeOverrides bool

@description('Always-ready instances for the `durable` function group; 0 scales to zero.')
@minValue(0)
@maxValue(10)
param durableAlwaysReadyInstances int = 0

@description('Durable Functions maxQueuePollingInterval, in seconds (1..30).')
@minValue(1)
@maxValue(30)
param durableMaxQueuePollingIntervalSeconds int = 10

// environment().resourceManager ends with '/'; the code appends paths that start with '/'.
var resourceManager = environment().resourceManager
var armEndpoint = endsWith(resourceManager, '/') ? substring(resourceManager, 0, length(resourceManager) - 1) : resourceManager

// Microsoft's Durable-on-Flex guidance: one always-ready instance for the `durable` group.
var durableAlwaysReady = [
  {
    name: 'durable'
    instanceCount: durableAlwaysReadyInstances
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy is not offered in every Flex region; pay-per-use single-zone is the chosen trade-off.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Polysync calls the HTTP starter over the internet (function key; optional HMAC signature).
  // checkov:skip=CKV_AZURE_17: Polysync authenticates with a function key, not a client certificate.
  // checkov:skip=CKV_AZURE_212: scale to zero is the default here (durableAlwaysReadyInstances = 0); the parameter adds an always-ready instance for the durable group when latency matters more than its baseline cost.
  // checkov:skip=CKV_AZURE_213: a health-check ping would keep an instance awake and billed; Flex scales on demand.
  // checkov:skip=CKV_AZURE_78: Flex Consumption rejects siteConfig.ftpsState (Microsoft's Flex deprecations table: "FTPS not supported"); FTP is off through basicPublishingCredentialsPolicies/ftp below.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      appSettings: [
        // Host storage (Durable Functions' Azure Storage provider) with the user-assigned identity.
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storageBlobEndpoint
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storageQueueEndpoint
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storageTableEndpoint
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        // Application Insights with Entra auth (local auth is disabled on the component).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // What the code reads (docs/architecture.md, foundry/settings.py).
        {
          name: 'AZUREML_WORKSPACE_ID'
          value: foundryWorkspaceId
        }
        {
          name: 'AZUREML_ARM_ENDPOINT'
          value: armEndpoint
        }
        {
          name: 'AZUREML_TENANT_ID'
          value: tenant().tenantId
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        {
          name: 'TASKHUB_NAME'
          value: taskHubName
        }
        {
          name: 'SWEEP_POLL_FLOOR_SECONDS'
          value: string(sweepPollFloorSeconds)
        }
        {
          name: 'SWEEP_POLL_CAP_SECONDS'
          value: string(sweepPollCapSeconds)
        }
        {
          name: 'SWEEP_EVENT_POLL_FLOOR_SECONDS'
          value: string(sweepEventPollFloorSeconds)
        }
        {
          name: 'SWEEP_EVENT_POLL_CAP_SECONDS'
          value: string(sweepEventPollCapSeconds)
        }
        {
          name: 'SWEEP_POLLS_PER_GENERATION'
          value: string(sweepPollsPerGeneration)
        }
        {
          name: 'SWEEP_STALLED_LIMIT_SECONDS'
          value: string(sweepStalledLimitSeconds)
        }
        {
          name: 'SWEEP_WATCH_PERIOD_SECONDS'
          value: string(sweepWatchPeriodSeconds)
        }
        {
          name: 'SWEEP_SAFETY_POLL_FLOOR_SECONDS'
          value: string(sweepSafetyPollFloorSeconds)
        }
        {
          name: 'SWEEP_SAFETY_POLL_CAP_SECONDS'
          value: string(sweepSafetyPollCapSeconds)
        }
        {
          name: 'SWEEP_OUTAGE_LIMIT_SECONDS'
          value: string(sweepOutageLimitSeconds)
        }
        {
          name: 'SWEEP_EVENTS_ENABLED'
          value: sweepEventsEnabled ? 'true' : 'false'
        }
        {
          name: 'SWEEP_TRIAL_PROGRESS'
          value: sweepTrialProgress ? 'true' : 'false'
        }
        {
          name: 'SWEEP_TRIAL_PROGRESS_SECONDS'
          value: string(sweepTrialProgressSeconds)
        }
        {
          name: 'TEMPLATE_CACHE_SECONDS'
          value: string(templateCacheSeconds)
        }
        {
          name: 'RECONCILE_SCHEDULE'
          value: reconcileSchedule
        }
        {
          // Empty means "unset": start routes then accept unsigned bodies (Polysync cannot sign).
          name: 'WEBHOOK_SECRET'
          value: empty(webhookSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${webhookSecretUri})'
        }
        {
          // Key of the keyed hash that makes instance ids (issue 11); generated once by the hook.
          name: 'INSTANCE_ID_KEY'
          value: '@Microsoft.KeyVault(SecretUri=${instanceIdKeyUri})'
        }
        {
          // Vault where Secret parameters are written for the run (issue 11); empty: refused.
          name: 'RUN_SECRETS_VAULT_URL'
          value: runSecretsVaultUrl
        }
        {
          name: 'RUN_SECRETS_TTL_HOURS'
          value: string(runSecretsTtlHours)
        }
        {
          name: 'SWEEP_ALLOW_CODE_OVERRIDES'
          value: sweepAllowCodeOverrides ? 'true' : 'false'
        }
        {
          // host.json override (AzureFunctionsJobHost__<path>): how long an idle Durable queue waits between polls.
          name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval'
          value: '00:00:${padLeft(string(durableMaxQueuePollingIntervalSeconds), 2, '0')}'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: (durableAlwaysReadyInstances > 0) ? durableAlwaysReady : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// azd deploys with an Entra token (OneDeploy), so basic (publishing profile) auth can be off.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
