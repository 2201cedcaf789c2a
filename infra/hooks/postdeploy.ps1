# azd postdeploy hook (Windows): same as postdeploy.sh. Subscribes the app's Event Grid function
# to the Foundry workspace's system topic (infra/eventgrid.bicep) after the code is deployed.
$ErrorActionPreference = 'Stop'

if ($env:SWEEP_EVENTS_ENABLED -eq 'false') {
    Write-Host 'postdeploy: SWEEP_EVENTS_ENABLED is false (polling only): no Event Grid subscription.'
    exit 0
}

$template = Join-Path $PSScriptRoot '..' 'eventgrid.bicep'
$required = @('AZURE_ENV_NAME', 'AZURE_FUNCTION_APP_ID', 'FOUNDRY_WORKSPACE_SUBSCRIPTION_ID',
    'FOUNDRY_WORKSPACE_RESOURCE_GROUP', 'EVENTGRID_SYSTEM_TOPIC_NAME', 'EVENTGRID_SUBSCRIPTION_NAME')
foreach ($name in $required) {
    if (-not [Environment]::GetEnvironmentVariable($name)) {
        Write-Error "postdeploy: $name is not set; run 'azd provision' first."
    }
}
if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
    Write-Error 'postdeploy: the Azure CLI (az) is required to create the Event Grid subscription.'
}
az account show --output none 2>$null
if ($LASTEXITCODE -ne 0) {
    Write-Error "postdeploy: run 'az login' (the Azure CLI is signed in separately from azd)."
}

Write-Host "postdeploy: Event Grid subscription $env:EVENTGRID_SUBSCRIPTION_NAME on $env:EVENTGRID_SYSTEM_TOPIC_NAME -> azureml_events"
$maxAttempts = if ($env:EVENTGRID_DEPLOY_ATTEMPTS) { [int]$env:EVENTGRID_DEPLOY_ATTEMPTS } else { 6 }
for ($attempt = 1; ; $attempt++) {
    az deployment group create `
        --name "polysync-eventgrid-$env:AZURE_ENV_NAME" `
        --subscription $env:FOUNDRY_WORKSPACE_SUBSCRIPTION_ID `
        --resource-group $env:FOUNDRY_WORKSPACE_RESOURCE_GROUP `
        --template-file $template `
        --parameters systemTopicName=$env:EVENTGRID_SYSTEM_TOPIC_NAME `
                     functionAppId=$env:AZURE_FUNCTION_APP_ID `
                     subscriptionName=$env:EVENTGRID_SUBSCRIPTION_NAME `
        --only-show-errors --output none
    if ($LASTEXITCODE -eq 0) {
        Write-Host 'postdeploy: Event Grid subscription is in place.'
        exit 0
    }
    if ($attempt -ge $maxAttempts) {
        Write-Error "postdeploy: giving up after $attempt attempts; rerun 'azd hooks run postdeploy'."
    }
    Write-Warning "postdeploy: attempt $attempt failed; retrying in 30 s."
    Start-Sleep -Seconds 30
}
