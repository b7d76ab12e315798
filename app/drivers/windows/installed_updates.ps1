# PatchDesk script: installed_updates
# Prints ONE JSON document: CBS hotfixes (Get-HotFix) and the Windows Update Agent's
# install history. Get-HotFix lists only CBS-serviced updates (MS docs for
# Win32_QuickFixEngineering; PowerShell-Docs#4311), hence the WUA history beside it.
# Reading the history works from a WinRM logon; searching and installing do not (see
# wua_task.ps1). Read-only; Windows PowerShell 5.1+.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$warnings = @()

$hotfixes = @(
    Get-HotFix | ForEach-Object {
        $installedOn = $null
        if ($_.InstalledOn) { $installedOn = $_.InstalledOn.ToString('yyyy-MM-dd') }
        [ordered]@{
            kb           = $_.HotFixID
            description  = $_.Description
            installed_on = $installedOn
        }
    }
)

$history = @()
try {
    $searcher = (New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher()
    $count = $searcher.GetTotalHistoryCount()
    if ($count -gt 0) {
        # Operation 1 = installation, 2 = uninstallation (IUpdateHistoryEntry).
        $history = @(
            $searcher.QueryHistory(0, $count) | ForEach-Object {
                [ordered]@{
                    title       = $_.Title
                    update_id   = $_.UpdateIdentity.UpdateID
                    operation   = [int]$_.Operation
                    result_code = [int]$_.ResultCode
                    hresult     = [int64]$_.HResult
                    date        = $_.Date.ToUniversalTime().ToString('o')
                }
            }
        )
    }
} catch {
    $warnings += ('WUA history unavailable: {0}' -f $_.Exception.Message)
}

[ordered]@{
    schema   = 1
    hotfixes = $hotfixes
    history  = $history
    warnings = $warnings
} | ConvertTo-Json -Depth 4 -Compress
