// Access to the Key Vault that holds run secrets (issue 11: each Secret Input is written there as a
// secret scoped to the run, and the training script reads it with its compute identity).
// Deployed by ../workspace.bicep into the vault's resource group (usually the workspace's).
//
// RBAC vaults get role assignments; vaults in access-policy mode (older Azure ML workspaces
// create theirs that way, and RBAC assignments do nothing there) get equivalent access policies.
param vaultName string

@description('Principal id of the function app identity: writes, reads and deletes run secrets.')
param appPrincipalId string

@description('Principal ids of the workspace compute identities: read run secrets.')
param computePrincipalIds array = []

@description('The vault authorizes with Azure RBAC (enableRbacAuthorization).')
param usesRbac bool = true

// Azure built-in roles (docs/deploy.md lists them; tests/infra checks them).
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource appSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (usesRbac) {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource computeSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in (usesRbac ? computePrincipalIds : []): {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

var appPolicy = [
  {
    tenantId: tenant().tenantId
    objectId: appPrincipalId
    permissions: {
      secrets: [
        'get'
        'list'
        'set'
        'delete'
      ]
    }
  }
]
var computePolicies = [for principalId in computePrincipalIds: {
  tenantId: tenant().tenantId
  objectId: principalId
  permissions: {
    secrets: [
      'get'
    ]
  }
}]

// 'add' merges these entries into the vault's existing policies (it never replaces them).
resource accessPolicies 'Microsoft.KeyVault/vaults/accessPolicies@2023-07-01' = if (!usesRbac) {
  parent: vault
  name: 'add'
  properties: {
    accessPolicies: concat(appPolicy, computePolicies)
  }
}
