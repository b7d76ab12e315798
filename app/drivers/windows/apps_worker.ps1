# PatchDesk script: apps_worker
# Runs INSIDE the scheduled task started by wua_task.ps1 (as SYSTEM), never over WinRM:
# winget cannot run in a WinRM session ("A specified logon session does not exist",
# microsoft/winget-cli#256) and is not on SYSTEM's PATH, so winget.exe is resolved under
# C:\Program Files\WindowsApps\Microsoft.DesktopAppInstaller_*_x64__8wekyb3d8bbwe (the
# documented workaround, winget-cli#4422; the newest version wins). Best effort.
#   apps_search  - what winget knows, in machine-readable forms only: the
#                  Microsoft.WinGet.Client module's Get-WinGetPackage objects where the
#                  module loads (it fails as SYSTEM under Windows PowerShell 5.1,
#                  winget-cli#3409 - then null), `winget export --include-versions` (JSON)
#                  and the raw `winget upgrade` table (searched by PatchDesk for the
#                  exported ids only; its localized words are never read);
#   apps_install - per package {manager, id, version}: choco upgrade ID --version V -y
#                  (or choco install ID --version V --allow-downgrade -y for a rollback),
#                  winget install --id ID --exact --version V --scope machine --silent
#                  with the agreements accepted; exit code and the last lines per package.
# Writes JSON lines of progress and, last, ONE JSON result document into the job folder.
param(
    [Parameter(Mandatory = $true)][string]$JobDir
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$progressFile = Join-Path $JobDir 'progress.jsonl'
$resultFile = Join-Path $JobDir 'result.json'
$utf8 = New-Object System.Text.UTF8Encoding $false

function Write-JobEvent([string]$Stage, [hashtable]$Data) {
    $entry = [ordered]@{ ts = (Get-Date).ToUniversalTime().ToString('o'); stage = $Stage }
    if ($Data) { foreach ($key in $Data.Keys) { $entry[$key] = $Data[$key] } }
    [IO.File]::AppendAllText($progressFile, (($entry | ConvertTo-Json -Compress) + "`n"), $utf8)
}

function Find-Winget {
    $pattern = Join-Path $env:ProgramFiles 'WindowsApps\Microsoft.DesktopAppInstaller_*_x64__8wekyb3d8bbwe\winget.exe'
    $found = @(Resolve-Path -Path $pattern -ErrorAction SilentlyContinue | ForEach-Object { $_.Path })
    if ($found.Count -eq 0) { return $null }
    return ($found | Sort-Object { [version](($_ -split '_')[1]) } -Descending | Select-Object -First 1)
}

function Find-Choco {
    foreach ($root in @($env:ChocolateyInstall, (Join-Path $env:ProgramData 'chocolatey'))) {
        if ($root -and (Test-Path -Path (Join-Path $root 'bin\choco.exe'))) { return (Join-Path $root 'bin\choco.exe') }
    }
    return $null
}

function Invoke-Tool([string]$Exe, [string[]]$Arguments) {
    $output = & $Exe @Arguments 2>&1 | ForEach-Object { [string]$_ }
    return [ordered]@{ exit_code = $LASTEXITCODE; tail = @($output | Select-Object -Last 20) }
}

$params = Get-Content -Path (Join-Path $JobDir 'params.json') -Raw -Encoding UTF8 | ConvertFrom-Json
$result = [ordered]@{ schema = 1; operation = $params.operation; ok = $false }
try {
    $winget = Find-Winget
    $result.winget_path = $winget
    if ($params.operation -eq 'apps_search') {
        Write-JobEvent 'searching' @{}
        $result.module = $null
        try {
            Import-Module Microsoft.WinGet.Client -ErrorAction Stop
            $result.module = @(Get-WinGetPackage | ForEach-Object {
                [ordered]@{ Id = $_.Id; Name = $_.Name; InstalledVersion = $_.InstalledVersion; AvailableVersions = @($_.AvailableVersions | Select-Object -First 1); IsUpdateAvailable = [bool]$_.IsUpdateAvailable; Source = $_.Source }
            })
        } catch {
            $result.module_error = $_.Exception.Message
        }
        if ($winget) {
            $export = Join-Path $JobDir 'winget-export.json'
            $run = Invoke-Tool $winget @('export', '--output', $export, '--include-versions', '--accept-source-agreements', '--disable-interactivity')
            $result.export_exit = $run.exit_code
            $result.export = $null
            if (Test-Path -Path $export) { $result.export = Get-Content -Path $export -Raw -Encoding UTF8 }
            $table = & $winget upgrade --include-unknown --accept-source-agreements --disable-interactivity 2>&1 | ForEach-Object { [string]$_ }
            $result.upgrade_exit = $LASTEXITCODE
            $result.upgrade = (@($table | Select-Object -First 5000) -join "`n")
        }
        $result.ok = $true
        return
    }
    if ($params.operation -ne 'apps_install') { throw 'invalid operation' }
    $choco = Find-Choco
    $done = @()
    foreach ($pkg in @($params.packages)) {
        if ($pkg.id -notmatch '^[A-Za-z0-9][A-Za-z0-9._+,\-]{0,127}$' -or $pkg.version -notmatch '^[0-9A-Za-z][0-9A-Za-z.+_\-]{0,63}$') { throw 'invalid package' }
        Write-JobEvent 'installing' @{ package = $pkg.id }
        $entry = [ordered]@{ manager = $pkg.manager; id = $pkg.id; version = $pkg.version; exit_code = $null; tail = @() }
        if ($pkg.manager -eq 'choco' -and $choco) {
            if ($pkg.downgrade) {
                $run = Invoke-Tool $choco @('install', $pkg.id, '--version', $pkg.version, '--allow-downgrade', '-y', '--no-progress', '--limit-output')
            } else {
                $run = Invoke-Tool $choco @('upgrade', $pkg.id, '--version', $pkg.version, '-y', '--no-progress', '--limit-output')
            }
        } elseif ($pkg.manager -eq 'winget' -and $winget) {
            $run = Invoke-Tool $winget @('install', '--id', $pkg.id, '--exact', '--version', $pkg.version, '--scope', 'machine', '--silent', '--accept-package-agreements', '--accept-source-agreements', '--disable-interactivity')
        } else {
            $run = [ordered]@{ exit_code = -1; tail = @(('{0} is not installed' -f $pkg.manager)) }
        }
        $entry.exit_code = $run.exit_code
        $entry.tail = $run.tail
        $done += $entry
    }
    $result.installed = $done
    $result.ok = $true
} catch {
    $result.error = $_.Exception.Message
} finally {
    Write-JobEvent 'finished' @{ ok = $result.ok }
    [IO.File]::WriteAllText($resultFile, ($result | ConvertTo-Json -Depth 5 -Compress), $utf8)
}
