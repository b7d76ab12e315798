# PatchDesk script: wua_task
# Runs the Windows Update Agent through a one-shot scheduled task as SYSTEM, because WUA
# refuses its searcher/downloader/installer to a remote (WinRM) logon with E_ACCESSDENIED
# (MS "Using WUA From a Remote Computer"; PSWindowsUpdate#60, #65; the same pattern as
# ansible.windows win_updates' ephemeral task). One action per call, each printing ONE
# JSON document:
#   start   - create %ProgramData%\PatchDesk\job-<id> (Administrators and SYSTEM only),
#             write the worker script and its parameters there, register and start the task;
#             a job whose folder exists already is only re-attached (already=true): a
#             resumed deployment never starts the same install twice;
#   poll    - progress lines (JSON lines written by the worker) after an offset, the task
#             state, and the result document once the worker wrote it;
#   cleanup - unregister the task and remove the folder (always called, even after errors).
# Parameters come as base64 JSON in $PatchDeskArgs (never interpolated into script text).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$A = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($PatchDeskArgs)) | ConvertFrom-Json
if ($A.job_id -notmatch '^[0-9a-f]{32}$') { throw 'invalid job id' }

$taskPath = '\PatchDesk\'
$taskName = 'PatchDesk-{0}' -f $A.job_id
$jobDir = Join-Path (Join-Path $env:ProgramData 'PatchDesk') ('job-{0}' -f $A.job_id)
$progressFile = Join-Path $jobDir 'progress.jsonl'
$resultFile = Join-Path $jobDir 'result.json'
$utf8 = New-Object System.Text.UTF8Encoding $false

function New-JobFolder {
    # Only SYSTEM (S-1-5-18) and Administrators (S-1-5-32-544), inheritance cut: the job's
    # files list what is missing on this machine.
    New-Item -ItemType Directory -Path $jobDir -Force | Out-Null
    $acl = New-Object System.Security.AccessControl.DirectorySecurity
    $acl.SetAccessRuleProtection($true, $false)
    foreach ($sid in @('S-1-5-18', 'S-1-5-32-544')) {
        $identity = New-Object System.Security.Principal.SecurityIdentifier $sid
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule(
            $identity, 'FullControl', 'ContainerInherit, ObjectInherit', 'None', 'Allow')
        $acl.AddAccessRule($rule)
    }
    Set-Acl -Path $jobDir -AclObject $acl
}

switch ($A.action) {
    'start' {
        if ($A.operation -notin @('search', 'install', 'uninstall')) { throw 'invalid operation' }
        $already = Test-Path -Path (Join-Path $jobDir 'params.json')
        if (-not $already) {
            New-JobFolder
            $worker = Join-Path $jobDir 'worker.ps1'
            [IO.File]::WriteAllBytes($worker, [Convert]::FromBase64String($A.worker))
            $params = [ordered]@{ operation = $A.operation; kbs = @($A.kbs) } | ConvertTo-Json -Compress
            [IO.File]::WriteAllText((Join-Path $jobDir 'params.json'), $params, $utf8)
            $argument = '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{0}" -JobDir "{1}"' -f $worker, $jobDir
            $action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument $argument
            $principal = New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -LogonType ServiceAccount -RunLevel Highest
            $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -ExecutionTimeLimit (New-TimeSpan -Hours 4)
            Register-ScheduledTask -TaskName $taskName -TaskPath $taskPath -Action $action -Principal $principal -Settings $settings -Force | Out-Null
            Start-ScheduledTask -TaskName $taskName -TaskPath $taskPath
        }
        [ordered]@{
            schema  = 1
            action  = 'start'
            job_id  = $A.job_id
            started = $true
            already = [bool]$already
        } | ConvertTo-Json -Compress
    }
    'poll' {
        $lines = @()
        if (Test-Path -Path $progressFile) {
            $lines = @(Get-Content -Path $progressFile -Encoding UTF8 | Select-Object -Skip ([int]$A.offset))
        }
        $task = Get-ScheduledTask -TaskName $taskName -TaskPath $taskPath -ErrorAction SilentlyContinue
        $state = 'Missing'
        if ($task) { $state = [string]$task.State }
        $result = $null
        if (Test-Path -Path $resultFile) { $result = Get-Content -Path $resultFile -Raw -Encoding UTF8 }
        [ordered]@{
            schema     = 1
            action     = 'poll'
            job_id     = $A.job_id
            task_state = $state
            progress   = $lines
            result     = $result
        } | ConvertTo-Json -Depth 3 -Compress
    }
    'cleanup' {
        Unregister-ScheduledTask -TaskName $taskName -TaskPath $taskPath -Confirm:$false -ErrorAction SilentlyContinue
        if (Test-Path -Path $jobDir) { Remove-Item -Path $jobDir -Recurse -Force }
        [ordered]@{
            schema  = 1
            action  = 'cleanup'
            job_id  = $A.job_id
            removed = -not (Test-Path -Path $jobDir)
        } | ConvertTo-Json -Compress
    }
    default { throw 'unknown action' }
}
