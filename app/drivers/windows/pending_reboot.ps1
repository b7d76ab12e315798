# PatchDesk script: pending_reboot
# Prints ONE JSON document with the four pending-reboot signals (tech-notes 3.2): the WUA
# SystemInfo flag, CBS RebootPending, WindowsUpdate RebootRequired and
# PendingFileRenameOperations. Each alone is noisy (CBS lingers after a reboot; installers
# set PendingFileRenameOperations), so the caller weighs them.
# Read-only; Windows PowerShell 5.1+.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$warnings = @()

$wua = $null
try {
    $wua = [bool](New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired
} catch {
    $warnings += ('WUA SystemInfo unavailable: {0}' -f $_.Exception.Message)
}

$cbs = Test-Path -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending'
$wu = Test-Path -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'

$sessionManager = Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -ErrorAction SilentlyContinue
$renames = @($sessionManager.PendingFileRenameOperations | Where-Object { $_ })

$os = Get-CimInstance -ClassName Win32_OperatingSystem

[ordered]@{
    schema                    = 1
    wua_reboot_required       = $wua
    cbs_reboot_pending        = [bool]$cbs
    wu_reboot_required        = [bool]$wu
    pending_file_renames      = $renames.Count
    last_boot                 = $os.LastBootUpTime.ToUniversalTime().ToString('o')
    warnings                  = $warnings
} | ConvertTo-Json -Depth 3 -Compress
