# PatchDesk script: deploy_state
# Prints ONE JSON document with what a deployment checks before installing and while it
# waits for a restart (docs/platforms.md, Windows deployment):
#   - whether this logon holds an elevated administrator token (a local account of a
#     workgroup machine is filtered to a standard token over the network unless
#     LocalAccountTokenFilterPolicy=1: MS "User Account Control and WMI"), and that value;
#   - free space on the system drive; the Windows Update service's status and start type;
#   - the pending-reboot registry signals (CBS RebootPending, WU RebootRequired);
#   - a restart already scheduled: a User32 event 1074 (restart initiated) since the last
#     boot, or an UpdateOrchestrator reboot task due in the future;
#   - the servicing stack busy (TiWorker.exe running or CBS SessionsPending Exclusive);
#   - the last boot time (the boot marker) and whether msg.exe exists (not on Home).
# Read-only; Windows PowerShell 5.1+.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$warnings = @()
$identity = [Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object Security.Principal.WindowsPrincipal $identity
$elevated = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
$system = Get-CimInstance -ClassName Win32_ComputerSystem
$policy = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' -ErrorAction SilentlyContinue
$filterPolicy = $null
if ($policy -and $null -ne $policy.LocalAccountTokenFilterPolicy) { $filterPolicy = [int]$policy.LocalAccountTokenFilterPolicy }
$localAccount = $identity.Name.Split('\')[0] -eq $env:COMPUTERNAME

$drive = Get-CimInstance -ClassName Win32_LogicalDisk -Filter ("DeviceID='{0}'" -f $env:SystemDrive)
$service = Get-Service -Name wuauserv -ErrorAction SilentlyContinue
$serviceStatus = 'Missing'
$startType = 'Missing'
if ($service) {
    $serviceStatus = [string]$service.Status
    $startType = [string]$service.StartType
}

$cbs = Test-Path -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending'
$wu = Test-Path -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$boot = $os.LastBootUpTime

$scheduled = @()
try {
    $events = @(Get-WinEvent -FilterHashtable @{ LogName = 'System'; Id = 1074; StartTime = $boot } -MaxEvents 5 -ErrorAction SilentlyContinue)
    foreach ($event in $events) { $scheduled += ('restart initiated {0}' -f $event.TimeCreated.ToUniversalTime().ToString('o')) }
} catch {
    $warnings += ('System event log unreadable: {0}' -f $_.Exception.Message)
}
$orchestrator = @(Get-ScheduledTask -TaskPath '\Microsoft\Windows\UpdateOrchestrator\' -ErrorAction SilentlyContinue | Where-Object { $_.TaskName -like 'Reboot*' })
foreach ($task in $orchestrator) {
    $info = $task | Get-ScheduledTaskInfo -ErrorAction SilentlyContinue
    if ($info -and $info.NextRunTime -and $info.NextRunTime -gt (Get-Date)) {
        $scheduled += ('Windows Update restart {0}' -f $info.NextRunTime.ToUniversalTime().ToString('o'))
    }
}

$sessions = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\SessionsPending' -ErrorAction SilentlyContinue
$exclusive = 0
if ($sessions -and $null -ne $sessions.Exclusive) { $exclusive = [int]$sessions.Exclusive }
$tiworker = @(Get-Process -Name TiWorker -ErrorAction SilentlyContinue).Count -gt 0

[ordered]@{
    schema                = 1
    user                  = $identity.Name
    elevated              = [bool]$elevated
    local_account         = [bool]$localAccount
    part_of_domain        = [bool]$system.PartOfDomain
    token_filter_policy   = $filterPolicy
    system_drive          = $env:SystemDrive
    system_drive_free     = [int64]$drive.FreeSpace
    wuauserv_status       = $serviceStatus
    wuauserv_start_type   = $startType
    cbs_reboot_pending    = [bool]$cbs
    wu_reboot_required    = [bool]$wu
    restart_scheduled     = $scheduled
    servicing_busy        = [bool]($tiworker -or $exclusive -gt 0)
    last_boot             = $boot.ToUniversalTime().ToString('o')
    msg_available         = [bool](Get-Command -Name msg.exe -ErrorAction SilentlyContinue)
    warnings              = $warnings
} | ConvertTo-Json -Depth 3 -Compress
