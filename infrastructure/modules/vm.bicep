// The Linux VM that runs the nightly pipeline from cron. It has a system-assigned managed identity (roles are
// granted in roles.bicep, each on one resource), SSH keys only, and cloud-init that clones the repo and runs
// infrastructure/vm/setup.sh (Java, venv via `make sync`, `make cron-install`, logrotate).

param name string
param networkInterfaceName string
param osDiskName string
param location string
param tags object
param subnetId string
param publicIpId string

@description('2 vCPU / 8 GiB runs the sample and a nightly delta; size up for full dumps (Spark local[*] uses every core).')
param vmSize string

param adminUsername string

@description('OpenSSH public key of the operator (ssh-ed25519 ... or ssh-rsa ...). Password login is disabled.')
param adminSshPublicKey string

@description('OS disk size: the OS, the venv (~1.5 GB), the local lake and Spark scratch space.')
@minValue(30)
param osDiskSizeGb int

@description('KEY=\'value\' lines for /etc/soundtrack-lake/bootstrap.env (repo, run user, non-secret settings).')
param bootstrapEnv string

var cloudInit = replace(loadTextContent('../vm/cloud-init.yaml'), '__BOOTSTRAP_ENV_B64__', base64(bootstrapEnv))

resource nic 'Microsoft.Network/networkInterfaces@2024-05-01' = {
  name: networkInterfaceName
  location: location
  tags: tags
  properties: {
    ipConfigurations: [
      {
        name: 'ipconfig1'
        properties: {
          privateIPAllocationMethod: 'Dynamic'
          subnet: {
            id: subnetId
          }
          publicIPAddress: {
            id: publicIpId
          }
        }
      }
    ]
  }
}

resource vm 'Microsoft.Compute/virtualMachines@2024-07-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    hardwareProfile: {
      vmSize: vmSize
    }
    osProfile: {
      computerName: name
      adminUsername: adminUsername
      customData: base64(cloudInit)
      linuxConfiguration: {
        disablePasswordAuthentication: true
        ssh: {
          publicKeys: [
            {
              path: '/home/${adminUsername}/.ssh/authorized_keys'
              keyData: adminSshPublicKey
            }
          ]
        }
      }
    }
    storageProfile: {
      imageReference: {
        publisher: 'Canonical'
        offer: 'ubuntu-24_04-lts'
        sku: 'server'
        version: 'latest'
      }
      osDisk: {
        name: osDiskName
        createOption: 'FromImage'
        diskSizeGB: osDiskSizeGb
        deleteOption: 'Delete'
        managedDisk: {
          storageAccountType: 'StandardSSD_LRS'
        }
      }
    }
    networkProfile: {
      networkInterfaces: [
        {
          id: nic.id
          properties: {
            deleteOption: 'Delete'
          }
        }
      ]
    }
    securityProfile: {
      securityType: 'TrustedLaunch'
      uefiSettings: {
        secureBootEnabled: true
        vTpmEnabled: true
      }
    }
    diagnosticsProfile: {
      bootDiagnostics: {
        enabled: true
      }
    }
  }
}

output name string = vm.name
output principalId string = vm.identity.principalId
