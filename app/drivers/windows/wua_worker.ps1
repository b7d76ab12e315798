# PatchDesk script: wua_worker
# Runs INSIDE the scheduled task started by wua_task.ps1 (as SYSTEM), never over WinRM.
# Searches with the Windows Update Agent and, for operation 'install', downloads and
# installs the approved KBs. Writes JSON lines of progress and, last, ONE JSON result
# document into the job folder. The install flow and per-update fields follow
# ansible.windows win_updates.ps1 (read as reference, not copied) and MS wuapi docs:
# ResultCode 0 NotStarted, 1 InProgress, 2 Succeeded, 3 SucceededWithErrors, 4 Failed,
# 5 Aborted; RebootBehavior 0 never, 1 always, 2 can request.
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

function Get-KbList($Update) {
    return @($Update.KBArticleIDs | ForEach-Object { 'KB{0}' -f $_ })
}

function ConvertTo-UpdateInfo($Update) {
    return [ordered]@{
        update_id             = $Update.Identity.UpdateID
        revision              = [int]$Update.Identity.RevisionNumber
        title                 = $Update.Title
        kbs                   = Get-KbList $Update
        msrc_severity         = $Update.MsrcSeverity
        categories            = @($Update.Categories | ForEach-Object { $_.Name })
        cves                  = @($Update.CveIDs)
        max_download_size     = [int64]$Update.MaxDownloadSize
        reboot_behavior       = [int]$Update.InstallationBehavior.RebootBehavior
        is_uninstallable      = [bool]$Update.IsUninstallable
        is_downloaded         = [bool]$Update.IsDownloaded
        browse_only           = [bool]$Update.BrowseOnly
    }
}

$params = Get-Content -Path (Join-Path $JobDir 'params.json') -Raw -Encoding UTF8 | ConvertFrom-Json
$result = [ordered]@{ schema = 1; operation = $params.operation; ok = $false }
try {
    Write-JobEvent 'searching' @{}
    $session = New-Object -ComObject Microsoft.Update.Session
    $session.ClientApplicationID = 'PatchDesk'
    $searcher = $session.CreateUpdateSearcher()
    $search = $searcher.Search("IsInstalled=0 and Type='Software' and IsHidden=0")
    $result.search_result_code = [int]$search.ResultCode
    $updates = @($search.Updates | ForEach-Object { $_ })
    Write-JobEvent 'searched' @{ count = $updates.Count }
    if ($params.operation -eq 'search') {
        $result.updates = @($updates | ForEach-Object { ConvertTo-UpdateInfo $_ })
    } else {
        $wanted = @($params.kbs)
        $selected = New-Object -ComObject Microsoft.Update.UpdateColl
        foreach ($update in $updates) {
            $matching = @(Get-KbList $update | Where-Object { $wanted -contains $_ })
            if ($matching.Count -gt 0) {
                if (-not $update.EulaAccepted) { $update.AcceptEula() }
                [void]$selected.Add($update)
            }
        }
        Write-JobEvent 'selected' @{ count = $selected.Count }
        $installed = @()
        if ($selected.Count -gt 0) {
            $downloader = $session.CreateUpdateDownloader()
            $downloader.Updates = $selected
            Write-JobEvent 'downloading' @{}
            $download = $downloader.Download()
            Write-JobEvent 'downloaded' @{ result_code = [int]$download.ResultCode }
            $installer = $session.CreateUpdateInstaller()
            $installer.Updates = $selected
            $installer.AllowSourcePrompts = $false
            $installer.ClientApplicationID = 'PatchDesk'
            Write-JobEvent 'installing' @{}
            $install = $installer.Install()
            $result.install_result_code = [int]$install.ResultCode
            $result.reboot_required = [bool]$install.RebootRequired
            for ($i = 0; $i -lt $selected.Count; $i++) {
                $one = $install.GetUpdateResult($i)
                $installed += [ordered]@{
                    kbs             = Get-KbList $selected.Item($i)
                    title           = $selected.Item($i).Title
                    result_code     = [int]$one.ResultCode
                    hresult         = [int64]$one.HResult
                    reboot_required = [bool]$one.RebootRequired
                }
            }
        }
        $result.installed = $installed
    }
    $result.reboot_pending = [bool](New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired
    $result.ok = $true
} catch {
    $result.error = $_.Exception.Message
    $result.hresult = [int64]$_.Exception.HResult
} finally {
    Write-JobEvent 'finished' @{ ok = $result.ok }
    [IO.File]::WriteAllText($resultFile, ($result | ConvertTo-Json -Depth 5 -Compress), $utf8)
}
