// Key Vault for the API tokens (TMDB, Discogs, PostgreSQL password). Access is Azure RBAC only (no access
// policies); soft delete and purge protection keep a deleted token recoverable. The template creates no secret:
// operators set them with `az keyvault secret set` (infrastructure/README.md), named after the setting with '-'
// for '_' (TMDB-BEARER-TOKEN), and the VM reads them at run time (scripts_spark/azure_auth.py exec-with-secrets).

@description('Key Vault name (3-24 letters, digits and dashes, globally unique).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object

@description('Days a deleted vault or secret stays recoverable (7-90; cannot be changed after creation).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionDays int

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForTemplateDeployment: false
    enabledForDiskEncryption: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
