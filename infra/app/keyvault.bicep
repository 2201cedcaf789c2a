// Key Vault (RBAC mode, purge protection) holding the secrets the app reads: INSTANCE_ID_KEY and
// WEBHOOK_SECRET (when set). The app settings are Key Vault references resolved with the
// user-assigned identity (Key Vault Secrets User on this vault).
//
// INSTANCE_ID_KEY (the key of the keyed hash that makes instance ids) is NOT created here: Bicep
// has no secret it could generate once and keep (newGuid() changes on every deployment, and
// uniqueString() is a hash of values anyone can know). The postprovision hook creates it with a
// CSPRNG only when the secret does not exist yet, so it is stable across redeploys and never
// leaves Azure (not in .azure/<env>/.env, not in a deployment's parameters).
param name string
param location string
param tags object = {}

@description('Principal id of the function app identity.')
param principalId string

@secure()
@description('Value of WEBHOOK_SECRET; empty: no secret is stored and the app setting stays empty (signatures off).')
param webhookSecret string = ''

@description('Soft-delete retention (7..90). Purge protection keeps a deleted vault name reserved this long.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 7

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var instanceIdKeySecretName = 'instance-id-key'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Flex Consumption without VNet integration resolves Key Vault references over the public endpoint; access is RBAC-only.
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: public network access is needed without VNet integration.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource webhookSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(webhookSecret)) {
  // checkov:skip=CKV_AZURE_114: contentType is set below; checkov does not look inside conditional (`if`) resources.
  // checkov:skip=CKV_AZURE_41: an expiry would silently break the Key Vault reference; rotate by re-provisioning (docs/deploy.md).
  parent: vault
  name: 'webhook-secret'
  properties: {
    value: webhookSecret
    contentType: 'text/plain'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
output id string = vault.id
output instanceIdKeySecretName string = instanceIdKeySecretName
// vaultUri ends with '/'. The hook creates this secret; the reference resolves once it exists.
output instanceIdKeyUri string = '${vault.properties.vaultUri}secrets/${instanceIdKeySecretName}'
// Versionless URIs: the platform picks up a new secret version without a redeploy (within 24 h, or on restart).
output webhookSecretUri string = empty(webhookSecret) ? '' : webhookSecretSecret.properties.secretUri
