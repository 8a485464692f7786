// Log Analytics for the run metrics: a workspace, the custom table SoundtrackLakeRuns_CL, and the data collection
// endpoint + rule through which scripts_spark/ship_metrics.py posts each run's metrics.json (Logs Ingestion API).
// The columns below are the stream's contract: they equal ship_metrics.STREAM_COLUMNS (a test keeps them equal).

param workspaceName string
param dataCollectionEndpointName string
param dataCollectionRuleName string
param location string
param tags object

@description('Days Log Analytics keeps the rows (30 is included in the per-GB price).')
@minValue(30)
@maxValue(730)
param retentionInDays int

@description('Daily ingestion cap in GB: a runaway loop cannot run up the bill (a nightly run sends a few KB).')
@minValue(1)
param dailyQuotaGb int

var tableName = 'SoundtrackLakeRuns_CL'
var streamName = 'Custom-${tableName}'
var columns = [
  {
    name: 'TimeGenerated'
    type: 'datetime'
  }
  {
    name: 'RunId'
    type: 'string'
  }
  {
    name: 'RunStatus'
    type: 'string'
  }
  {
    name: 'Step'
    type: 'string'
  }
  {
    name: 'Metric'
    type: 'string'
  }
  {
    name: 'Value'
    type: 'real'
  }
  {
    name: 'Text'
    type: 'string'
  }
  {
    name: 'Host'
    type: 'string'
  }
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    workspaceCapping: {
      dailyQuotaGb: dailyQuotaGb
    }
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource runsTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: tableName
  properties: {
    plan: 'Analytics'
    retentionInDays: retentionInDays
    schema: {
      name: tableName
      columns: columns
    }
  }
}

resource endpoint 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: dataCollectionEndpointName
  location: location
  tags: tags
  properties: {
    networkAcls: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource rule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: dataCollectionRuleName
  location: location
  tags: tags
  properties: {
    dataCollectionEndpointId: endpoint.id
    streamDeclarations: {
      '${streamName}': {
        columns: columns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'lakeWorkspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          streamName
        ]
        destinations: [
          'lakeWorkspace'
        ]
        transformKql: 'source'
        outputStream: streamName
      }
    ]
  }
  dependsOn: [
    runsTable
  ]
}

output workspaceName string = workspace.name
output workspaceCustomerId string = workspace.properties.customerId
output ingestionEndpoint string = endpoint.properties.logsIngestion.endpoint
output ruleName string = rule.name
output ruleImmutableId string = rule.properties.immutableId
output streamName string = streamName
output tableName string = tableName
