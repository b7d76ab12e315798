# PatchDesk script: choco
# Chocolatey, read-only, run directly over WinRM (choco works in a WinRM session; Ansible's
# win_chocolatey does the same). Prints ONE JSON document; the raw lines are parsed by
# PatchDesk (app/drivers/parsers/winapps.py), nothing is interpreted here:
#   outdated - choco outdated --limit-output (name|current|available|pinned per line;
#              exit 0 or, with useEnhancedExitCodes, 2 when something is outdated);
#   list     - choco list --limit-output (name|version; 'list -lo -r' before choco 2.0).
# choco.exe is looked for where its installer puts it ($env:ChocolateyInstall, else
# %ProgramData%\chocolatey); installed=false when it is not there. Windows PowerShell 5.1+.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$A = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($PatchDeskArgs)) | ConvertFrom-Json
if ($A.action -notin @('outdated', 'list')) { throw 'unknown action' }

$roots = @($env:ChocolateyInstall, (Join-Path $env:ProgramData 'chocolatey')) | Where-Object { $_ }
$choco = $null
foreach ($root in $roots) {
    $candidate = Join-Path $root 'bin\choco.exe'
    if (Test-Path -Path $candidate) { $choco = $candidate; break }
}

$result = [ordered]@{ schema = 1; action = $A.action; installed = [bool]$choco; path = $choco; version = $null; exit_code = $null; lines = @() }
if ($choco) {
    $result.version = [string](& $choco --version 2>$null | Select-Object -First 1)
    $major = 0
    if ($result.version -match '^(\d+)\.') { $major = [int]$Matches[1] }
    if ($A.action -eq 'outdated') {
        $lines = & $choco outdated --limit-output --no-progress 2>&1
    } elseif ($major -ge 2) {
        $lines = & $choco list --limit-output 2>&1
    } else {
        $lines = & $choco list --local-only --limit-output 2>&1
    }
    $result.exit_code = $LASTEXITCODE
    $result.lines = @($lines | ForEach-Object { [string]$_ } | Select-Object -First 5000)
}
$result | ConvertTo-Json -Depth 3 -Compress
