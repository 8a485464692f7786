// ADLS Gen2 storage account for the lake: hierarchical namespace, HTTPS + TLS 1.2 only, no anonymous access,
// blob and container soft delete, and one private `lake` container (bronze/, silver/, gold/, _runs/ inside).
//
// One container rather than one per layer: the pipeline's Lake keeps every layer and the run folders under one
// root (LAKE_ROOT = abfss://lake@<account>.dfs.core.windows.net/), a publish marks a run complete across layers
// with one `_runs/<run_id>/_SUCCESS`, and access is granted on the whole account anyway (one identity writes all
// layers). Per-layer containers would need three roots and would split a run's atomic unit.

@description('Storage account name (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object

@description('Replication: LRS for dev; ZRS keeps the lake readable through a zone outage.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param skuName string

@description('Name of the one container that holds the whole lake.')
param containerName string

@description('Days a deleted blob or container can be restored.')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int

@description('Account-key (Shared Key) access. Off in prod: the VM and Databricks use Entra ID identities.')
param allowSharedKeyAccess bool

@description('Staging blobs of a publish that was never resumed are deleted after this many days.')
@minValue(1)
param stagingExpiryDays int

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    isHnsEnabled: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: allowSharedKeyAccess
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    accessTier: 'Hot'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // Databricks serverless and the operator's laptop reach the account over the internet; identities, not
      // networks, are the boundary here. Private endpoints are the next step for a locked-down prod (README).
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    // Blob versioning is not available with a hierarchical namespace; soft delete is the undo here.
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource lakeContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobServices
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          enabled: true
          name: 'expire-abandoned-publish-staging'
          type: 'Lifecycle'
          definition: {
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: stagingExpiryDays
                }
              }
            }
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${containerName}/_staging/'
              ]
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    lakeContainer
  ]
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output dfsEndpoint string = storage.properties.primaryEndpoints.dfs
output containerName string = lakeContainer.name
