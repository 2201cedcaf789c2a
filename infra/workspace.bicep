// Everything this app needs on the Foundry / Azure ML workspace side, deployed into the
// workspace's resource group by infra/hooks/deploy_hooks.py (azd `postprovision`), NOT by
// main.bicep: azd tracks main.bicep's deployment, and azd <= 1.23 deletes every resource group
// that deployment touched on `azd down` (Azure/azure-dev#2916). Kept out of it, no azd version
// can take the customer's workspace resource group down with the app. See docs/deploy.md.
//
// - AzureML Data Scientist for the app identity on the workspace (submit, read, cancel jobs);
// - the workspace's Event Grid system topic, unless one exists (one system topic per source);
// - access to the workspace's Key Vault for run secrets (app/run-secrets-vault.bicep).
// The event subscription itself is infra/eventgrid.bicep, deployed after the code (postdeploy).
targetScope = 'resourceGroup'

@description('Name of the Foundry / Azure ML workspace (in this resource group).')
param workspaceName string

@description('Principal id of the function app\'s user-assigned identity (main.bicep output AZURE_FUNCTION_APP_PRINCIPAL_ID).')
param appPrincipalId string

@description('Create the system topic (false: the workspace already has one, named systemTopicName).')
param createSystemTopic bool

@description('Name of the system topic to create (3..50 letters, digits, hyphens; the hook derives it from the workspace).')
@minLength(3)
@maxLength(50)
param systemTopicName string

@description('ARM id of the Key Vault that holds run secrets (the workspace\'s associated vault); empty: no run secrets.')
param runSecretsVaultId string = ''

@description('Whether that vault authorizes with Azure RBAC (true) or access policies (false); the hook reads it.')
param runSecretsVaultUsesRbac bool = true

@description('Principal ids of the workspace compute identities that read run secrets in training scripts.')
param computePrincipalIds array = []

param tags object = {}

var azureMLDataScientist = 'f6c7c914-8db3-469d-8ca1-694a8f32e121'
// Deploy-time constant parts of the vault id (a module scope must be known when the deployment starts).
var vaultIdParts = split(empty(runSecretsVaultId) ? '${resourceGroup().id}/providers/Microsoft.KeyVault/vaults/none' : runSecretsVaultId, '/')

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
}

resource dataScientist 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, appPrincipalId, azureMLDataScientist)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', azureMLDataScientist)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (createSystemTopic) {
  name: systemTopicName
  location: workspace.location
  tags: tags
  properties: {
    source: workspace.id
    topicType: 'Microsoft.MachineLearningServices.Workspaces'
  }
}

module runSecretsVault 'app/run-secrets-vault.bicep' = if (!empty(runSecretsVaultId)) {
  name: 'polysync-run-secrets-${uniqueString(workspace.id, appPrincipalId)}'
  scope: resourceGroup(vaultIdParts[2], vaultIdParts[4])
  params: {
    vaultName: vaultIdParts[8]
    appPrincipalId: appPrincipalId
    computePrincipalIds: computePrincipalIds
    usesRbac: runSecretsVaultUsesRbac
  }
}

output systemTopicName string = systemTopicName
