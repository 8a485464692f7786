// Development: smallest sizes, local redundancy, account keys allowed (Azurite-style key access for quick
// experiments with `make publish`), a short soft-delete window.
//   export VM_ADMIN_SSH_PUBLIC_KEY="$(cat ~/.ssh/id_ed25519.pub)" SSH_SOURCE_CIDR="$(curl -s ifconfig.me)/32"
//   export REPO_URL=https://github.com/<org>/soundtrack-lake.git
//   az deployment group create -g rg-sndlake-dev -f infrastructure/main.bicep -p infrastructure/params/dev.bicepparam
using '../main.bicep'

param environmentName = 'dev'
param storageSku = 'Standard_LRS'
param softDeleteRetentionDays = 7
param allowSharedKeyAccess = true
param keyVaultSoftDeleteRetentionDays = 7
param logRetentionDays = 30
param logDailyQuotaGb = 1
param vmSize = 'Standard_B2ms'
param osDiskSizeGb = 64
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
