// Network for the pipeline VM: one VNet and subnet, an NSG that lets SSH in from one address range only,
// and a static public IP for outbound access (PyPI, the git remote, Azure APIs) and the operator's SSH.

param virtualNetworkName string
param subnetName string
param networkSecurityGroupName string
param publicIpName string
param location string
param tags object

@description('Address range allowed to SSH to the VM (e.g. your office egress IP as 203.0.113.7/32).')
param sshSourceAddressPrefix string

// A /24 holds the one VM with room to spare; change only if it overlaps a network you peer with.
var addressPrefix = '10.60.0.0/24'
var subnetPrefix = '10.60.0.0/27'

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: networkSecurityGroupName
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'allow-ssh-from-operator'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: sshSourceAddressPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '22'
        }
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: virtualNetworkName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: subnetName
        properties: {
          addressPrefix: subnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          serviceEndpoints: [
            {
              service: 'Microsoft.Storage'
            }
            {
              service: 'Microsoft.KeyVault'
            }
          ]
        }
      }
    ]
  }
}

resource publicIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: publicIpName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

output subnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, subnetName)
output publicIpId string = publicIp.id
output publicIpAddress string = publicIp.properties.ipAddress
