# PatchDesk script: wua_worker
# Runs INSIDE the scheduled task started by wua_task.ps1 (as SYSTEM), never over WinRM.
# Searches with the Windows Update Agent and, for operation 'install', downloads and
# installs the approved KBs; for operation 'uninstall' removes each given KB where that is
# possible: wusa.exe /uninstall for a standalone update, DISM /Remove-Package for a
# combined servicing-stack + cumulative package (wusa refuses those); a KB that is not
# installed or whose package Windows marks permanent is reported as not removable. Writes JSON lines of progress and, last, ONE JSON result
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

function Remove-Kb([string]$Kb) {
    # ResultCode 2 removed, 4 failed; method says how. wusa exit codes: 0 done, 3010 done and
    # a restart is needed, 2359303 (0x240007) not installed; DISM: 0 done, 3010 restart.
    $number = $Kb.Substring(2)
    $packages = @(Get-WindowsPackage -Online | Where-Object { $_.PackageName -like ('*{0}*' -f $number) -or ($_.PackageName -like 'Package_for_RollupFix*' -and (Get-WindowsPackage -Online -PackageName $_.PackageName).Description -like ('*{0}*' -f $Kb)) })
    $combined = @($packages | Where-Object { $_.PackageName -like 'Package_for_RollupFix*' })
    $entry = [ordered]@{ kbs = @($Kb); title = $Kb; result_code = 4; hresult = 0; reboot_required = $false; method = 'none' }
    if ($packages.Count -eq 0) {
        $entry.hresult = [int64]0x80240017
        return $entry
    }
    if ($combined.Count -gt 0) {
        $entry.method = 'dism'
        $proc = Start-Process -FilePath 'dism.exe' -ArgumentList @('/Online', '/Remove-Package', ('/PackageName:{0}' -f $combined[0].PackageName), '/Quiet', '/NoRestart') -NoNewWindow -Wait -PassThru
    } else {
        $entry.method = 'wusa'
        $proc = Start-Process -FilePath 'wusa.exe' -ArgumentList @('/uninstall', ('/kb:{0}' -f $number), '/quiet', '/norestart') -NoNewWindow -Wait -PassThru
    }
    if ($proc.ExitCode -eq 0 -or $proc.ExitCode -eq 3010) {
        $entry.result_code = 2
        $entry.reboot_required = $proc.ExitCode -eq 3010
    } else {
        $entry.hresult = [int64]$proc.ExitCode
    }
    return $entry
}

$params = Get-Content -Path (Join-Path $JobDir 'params.json') -Raw -Encoding UTF8 | ConvertFrom-Json
$result = [ordered]@{ schema = 1; operation = $params.operation; ok = $false }
try {
    if ($params.operation -eq 'uninstall') {
        $removed = @()
        foreach ($kb in @($params.kbs)) {
            Write-JobEvent 'uninstalling' @{ kb = $kb }
            $removed += Remove-Kb $kb
        }
        $result.installed = $removed
        $result.reboot_required = [bool](@($removed | Where-Object { $_.reboot_required }).Count -gt 0)
        $result.ok = $true
        return
    }
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
