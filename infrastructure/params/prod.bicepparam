// Production: zone-redundant lake, Entra ID only (no account keys), 30 days to undo a deletion, a VM sized for
// full dumps, longer metric retention.
//   az deployment group create -g rg-sndlake-prod -f infrastructure/main.bicep -p infrastructure/params/prod.bicepparam
using '../main.bicep'

param environmentName = 'prod'
param storageSku = 'Standard_ZRS'
param softDeleteRetentionDays = 30
param allowSharedKeyAccess = false
param keyVaultSoftDeleteRetentionDays = 90
param logRetentionDays = 90
param logDailyQuotaGb = 2
param vmSize = 'Standard_D4s_v5'
param osDiskSizeGb = 128
param adminSshPublicKey = readEnvironmentVariable('VM_ADMIN_SSH_PUBLIC_KEY')
param sshSourceAddressPrefix = readEnvironmentVariable('SSH_SOURCE_CIDR')
param repoUrl = readEnvironmentVariable('REPO_URL')
param repoRef = readEnvironmentVariable('REPO_REF', 'main')
param cronSchedule = '15 2 * * *'
param secretsOfficerPrincipalId = readEnvironmentVariable('SECRETS_OFFICER_OBJECT_ID', '')
param databricksPrincipalId = readEnvironmentVariable('DATABRICKS_PRINCIPAL_OBJECT_ID', '')
param tags = {
  costCenter: 'data-platform'
}
