// soundtrack-lake on Azure: the lake's storage account (ADLS Gen2), the pipeline VM with a managed identity,
// Log Analytics for run metrics, and Key Vault for the API tokens. Deploy into an existing resource group:
//   az deployment group create -g <rg> -f infrastructure/main.bicep -p infrastructure/params/dev.bicepparam
// The outputs are what the pipeline's .env needs (output `dotenv` prints them as .env lines).
targetScope = 'resourceGroup'

@description('Environment: names, sizes and protections differ between dev and prod (params/*.bicepparam).')
@allowed([
  'dev'
  'prod'
])
param environmentName string

@description('Short workload name used in every resource name (lowercase letters and digits).')
@minLength(3)
@maxLength(8)
param workload string = 'sndlake'

param location string = resourceGroup().location

@description('Tags on every resource.')
param tags object = {}

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param storageSku string = 'Standard_LRS'

@description('Days a deleted blob or container can be restored.')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int = 7

@description('Shared Key (account key) access to storage; off in prod, where every client uses Entra ID.')
param allowSharedKeyAccess bool = false

@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionDays int = 90

@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@minValue(1)
param logDailyQuotaGb int = 1

@description('VM size; Standard_B2ms (2 vCPU, 8 GiB) runs the sample and nightly deltas.')
param vmSize string = 'Standard_B2ms'

@minValue(30)
param osDiskSizeGb int = 64

param adminUsername string = 'azureuser'

@description('OpenSSH public key for adminUsername (params files read it from VM_ADMIN_SSH_PUBLIC_KEY).')
param adminSshPublicKey string

@description('Address range allowed to SSH in, e.g. 203.0.113.7/32 (params files read SSH_SOURCE_CIDR).')
param sshSourceAddressPrefix string

@description('Git URL the VM clones (HTTPS for a public repo; a private one needs a deploy key, see README).')
param repoUrl string

param repoRef string = 'main'

@description('Five cron fields for the nightly run, in the VM time zone (UTC).')
param cronSchedule string = '15 2 * * *'

@description('Object id of a Databricks service principal / access connector to give lake write access; empty = none.')
param databricksPrincipalId string = ''

@description('Object id of the user or group that sets API tokens in Key Vault; empty = none.')
param secretsOfficerPrincipalId string = ''

// Naming convention: <abbreviation>-<workload>-<environment>[-<role>][-<suffix>] with the Cloud Adoption
// Framework abbreviations; storage accounts allow no dashes, and storage and Key Vault names are global, so they
// carry a suffix derived from the resource group (stable across redeployments).
var suffix = take(uniqueString(subscription().id, resourceGroup().id, workload, environmentName), 6)
var base = '${workload}-${environmentName}'
var names = {
  storageAccount: 'st${workload}${environmentName}${suffix}'
  keyVault: 'kv-${base}-${suffix}'
  logAnalytics: 'log-${base}'
  dataCollectionEndpoint: 'dce-${base}'
  dataCollectionRule: 'dcr-${base}'
  virtualNetwork: 'vnet-${base}'
  subnet: 'snet-${base}-pipeline'
  networkSecurityGroup: 'nsg-${base}-pipeline'
  publicIp: 'pip-${base}-vm'
  networkInterface: 'nic-${base}-vm'
  virtualMachine: 'vm-${base}'
  osDisk: 'osdisk-${base}-vm'
}
var lakeContainerName = 'lake'
var allTags = union(tags, {
  workload: workload
  environment: environmentName
})

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storageAccount
    location: location
    tags: allTags
    skuName: storageSku
    containerName: lakeContainerName
    softDeleteRetentionDays: softDeleteRetentionDays
    allowSharedKeyAccess: allowSharedKeyAccess
    stagingExpiryDays: 7
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    workspaceName: names.logAnalytics
    dataCollectionEndpointName: names.dataCollectionEndpoint
    dataCollectionRuleName: names.dataCollectionRule
    location: location
    tags: allTags
    retentionInDays: logRetentionDays
    dailyQuotaGb: logDailyQuotaGb
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyVault'
  params: {
    name: names.keyVault
    location: location
    tags: allTags
    softDeleteRetentionDays: keyVaultSoftDeleteRetentionDays
  }
}

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    virtualNetworkName: names.virtualNetwork
    subnetName: names.subnet
    networkSecurityGroupName: names.networkSecurityGroup
    publicIpName: names.publicIp
    location: location
    tags: allTags
    sshSourceAddressPrefix: sshSourceAddressPrefix
  }
}

// .env lines of the VM (non-secret only); setup.sh writes them into the repo's .env on first boot.
var pipelineEnv = {
  AZURE_STORAGE_ACCOUNT: storage.outputs.name
  PUBLISH_CONTAINER: lakeContainerName
  LOG_ANALYTICS_ENDPOINT: monitoring.outputs.ingestionEndpoint
  LOG_ANALYTICS_RULE_ID: monitoring.outputs.ruleImmutableId
  LOG_ANALYTICS_STREAM: monitoring.outputs.streamName
  KEY_VAULT_NAME: keyVault.outputs.name
}
var bootstrapEnv = join(concat([
  'REPO_URL=\'${repoUrl}\''
  'REPO_REF=\'${repoRef}\''
  'REPO_DIR=\'/opt/soundtrack-lake\''
  'RUN_USER=\'soundtrack\''
  'CRON_SCHEDULE=\'${cronSchedule}\''
], map(items(pipelineEnv), kv => '${kv.key}=\'${kv.value}\'')), '\n')

module vm 'modules/vm.bicep' = {
  name: 'vm'
  params: {
    name: names.virtualMachine
    networkInterfaceName: names.networkInterface
    osDiskName: names.osDisk
    location: location
    tags: allTags
    subnetId: network.outputs.subnetId
    publicIpId: network.outputs.publicIpId
    vmSize: vmSize
    adminUsername: adminUsername
    adminSshPublicKey: adminSshPublicKey
    osDiskSizeGb: osDiskSizeGb
    bootstrapEnv: bootstrapEnv
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    vmPrincipalId: vm.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    dataCollectionRuleName: monitoring.outputs.ruleName
    databricksPrincipalId: databricksPrincipalId
    secretsOfficerPrincipalId: secretsOfficerPrincipalId
  }
}

output storageAccountName string = storage.outputs.name
output lakeRoot string = 'abfss://${lakeContainerName}@${storage.outputs.name}.dfs.core.windows.net/'
output blobEndpoint string = storage.outputs.blobEndpoint
output publishContainer string = lakeContainerName
output logAnalyticsEndpoint string = monitoring.outputs.ingestionEndpoint
output logAnalyticsRuleId string = monitoring.outputs.ruleImmutableId
output logAnalyticsStream string = monitoring.outputs.streamName
output logAnalyticsWorkspaceId string = monitoring.outputs.workspaceCustomerId
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output vmName string = vm.outputs.name
output vmPrincipalId string = vm.outputs.principalId
output vmPublicIp string = network.outputs.publicIpAddress
@description('The pipeline .env lines for a workstation or the VM (no secrets): paste into .env.')
output dotenv string = join(map(items(pipelineEnv), kv => '${kv.key}=${kv.value}'), '\n')
