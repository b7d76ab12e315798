# PatchDesk script: reboot
# Restart notices and scheduled restarts; ONE JSON document per action:
#   notify   - msg.exe * /TIME:<s> <text> to every session (msg.exe is absent on Home
#              editions: then nothing is sent and sent=false says so);
#   schedule - shutdown.exe /r /t <seconds> /c <text> /d p:2:17 (planned, OS hotfix): Windows
#              shows the comment to logged-on users and restarts when the time is up;
#   cancel   - shutdown.exe /a (aborts a scheduled restart; exit 1116 = none was scheduled).
# The text comes as a script parameter ($PatchDeskArgs, base64 JSON), never on a command
# line cmd.exe would read; it is passed to the programs as one argument.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$A = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($PatchDeskArgs)) | ConvertFrom-Json
$text = [string]$A.message
if ($text.Length -gt 500) { $text = $text.Substring(0, 500) }
$text = $text -replace '"', "'"

switch ($A.action) {
    'notify' {
        $sent = $false
        $code = $null
        if (Get-Command -Name msg.exe -ErrorAction SilentlyContinue) {
            $proc = Start-Process -FilePath 'msg.exe' -ArgumentList @('*', ('/TIME:{0}' -f [int]$A.seconds), ('"{0}"' -f $text)) -NoNewWindow -Wait -PassThru
            $code = $proc.ExitCode
            $sent = $code -eq 0
        }
        [ordered]@{ schema = 1; action = 'notify'; sent = $sent; exit_code = $code } | ConvertTo-Json -Compress
    }
    'schedule' {
        $seconds = [Math]::Max(0, [Math]::Min(315360000, [int]$A.seconds))
        $proc = Start-Process -FilePath 'shutdown.exe' -ArgumentList @('/r', '/t', $seconds, '/c', ('"{0}"' -f $text), '/d', 'p:2:17') -NoNewWindow -Wait -PassThru
        [ordered]@{ schema = 1; action = 'schedule'; exit_code = $proc.ExitCode; seconds = $seconds } | ConvertTo-Json -Compress
    }
    'cancel' {
        $proc = Start-Process -FilePath 'shutdown.exe' -ArgumentList @('/a') -NoNewWindow -Wait -PassThru
        [ordered]@{ schema = 1; action = 'cancel'; exit_code = $proc.ExitCode } | ConvertTo-Json -Compress
    }
    default { throw 'unknown action' }
}
