# azd hook launcher (Windows): `hook.ps1 postprovision|postdeploy` runs infra/hooks/deploy_hooks.py,
# the one implementation both shells share (see that file and docs/deploy.md).
param([Parameter(Mandatory = $true)][ValidateSet('postprovision', 'postdeploy')][string]$Hook)
$ErrorActionPreference = 'Stop'
$script = Join-Path $PSScriptRoot 'deploy_hooks.py'
foreach ($candidate in @('py', 'python3', 'python')) {
    $command = Get-Command $candidate -ErrorAction SilentlyContinue
    if (-not $command) { continue }
    $launch = if ($candidate -eq 'py') { @('-3') } else { @() }
    & $command.Source @launch -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>$null
    if ($LASTEXITCODE -ne 0) { continue }
    & $command.Source @launch $script $Hook
    exit $LASTEXITCODE
}
Write-Error "${Hook}: Python 3.10 or later is required to run infra/hooks/deploy_hooks.py."
exit 1
