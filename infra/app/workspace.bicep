// Deployed into the Foundry / Azure ML workspace's resource group (often not the app's):
// the AzureML Data Scientist role for the app identity, scoped to the workspace, and the
// workspace's Event Grid system topic (reused when one exists: one system topic per source).
// The event subscription itself is in ../eventgrid.bicep, deployed after the code (see docs/deploy.md).
param workspaceName string

@description('Principal id of the function app identity.')
param principalId string

@description('Name of an existing system topic on the workspace to reuse; empty: create one.')
param existingSystemTopicName string = ''

@description('Name of the system topic created when none is reused.')
param newSystemTopicName string

param tags object = {}

var azureMLDataScientist = 'f6c7c914-8db3-469d-8ca1-694a8f32e121'
var createSystemTopic = empty(existingSystemTopicName)

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
}

resource dataScientist 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, azureMLDataScientist)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', azureMLDataScientist)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (createSystemTopic) {
  name: newSystemTopicName
  location: workspace.location
  tags: tags
  properties: {
    source: workspace.id
    topicType: 'Microsoft.MachineLearningServices.Workspaces'
  }
}

output systemTopicName string = createSystemTopic ? newSystemTopicName : existingSystemTopicName
