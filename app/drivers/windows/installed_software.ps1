# PatchDesk script: installed_software
# Prints ONE JSON document: the programs in the machine-wide Uninstall keys, 64-bit and
# 32-bit (WOW6432Node) views (tech-notes 4.2, Vuls scanner/windows.go). Entries without a
# DisplayName, system components and child entries of another product are skipped, as
# "Programs and Features" does. Read-only; Windows PowerShell 5.1+.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$views = @(
    @{ path = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*'; arch = 'native' }
)
if ([Environment]::Is64BitOperatingSystem) {
    $views += @{ path = 'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*'; arch = 'x86' }
}

$software = @(
    foreach ($view in $views) {
        Get-ItemProperty -Path $view.path -ErrorAction SilentlyContinue |
            Where-Object { $_.DisplayName -and -not $_.SystemComponent -and -not $_.ParentKeyName } |
            ForEach-Object {
                [ordered]@{
                    name         = $_.DisplayName
                    version      = $_.DisplayVersion
                    publisher    = $_.Publisher
                    arch         = $view.arch
                    install_date = $_.InstallDate
                    key          = $_.PSChildName
                }
            }
    }
)

[ordered]@{
    schema   = 1
    software = $software
} | ConvertTo-Json -Depth 4 -Compress
