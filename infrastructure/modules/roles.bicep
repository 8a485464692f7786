// Role assignments, each scoped to the one resource it is about (never the resource group or subscription):
// - the VM identity: Storage Blob Data Contributor on the storage account (publish, abfss:// lake),
//   Key Vault Secrets User on the vault (read API tokens), Monitoring Metrics Publisher on the DCR (ship metrics);
// - optionally a Databricks service principal / access connector: Storage Blob Data Contributor on the account;
// - optionally the operator: Key Vault Secrets Officer on the vault, to set the API tokens.

param vmPrincipalId string
param storageAccountName string
param keyVaultName string
param dataCollectionRuleName string

@description('Object id of the Databricks service principal or access connector identity; empty = none.')
param databricksPrincipalId string

@description('Object id of the user or group that sets the API tokens in Key Vault; empty = none.')
param secretsOfficerPrincipalId string

// Built-in role definition ids (the same in every tenant).
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource rule 'Microsoft.Insights/dataCollectionRules@2023-03-11' existing = {
  name: dataCollectionRuleName
}

resource vmLakeWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, vmPrincipalId, storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: vmPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource vmSecretsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, vmPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: vmPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource vmMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(rule.id, vmPrincipalId, monitoringMetricsPublisher)
  scope: rule
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: vmPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource databricksLakeWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(databricksPrincipalId)) {
  name: guid(storage.id, databricksPrincipalId, storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: databricksPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsOfficerPrincipalId)) {
  name: guid(vault.id, secretsOfficerPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: secretsOfficerPrincipalId
  }
}
