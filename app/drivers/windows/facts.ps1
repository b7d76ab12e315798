# PatchDesk script: facts
# Prints ONE JSON document describing the host. Read-only; Windows PowerShell 5.1+.
# What to read and why: tech-notes 4.2 (Vuls scanner/windows.go for the CurrentVersion
# registry values, Ansible setup.ps1 for BIOS/CIM). Windows 11 still says "Windows 10" in
# ProductName: the build number (>= 22000) is what tells them apart (os_info#322).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$cv = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cs = Get-CimInstance -ClassName Win32_ComputerSystem
$bios = Get-CimInstance -ClassName Win32_BIOS

$interfaces = @(
    Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter 'IPEnabled = TRUE' |
        ForEach-Object {
            [ordered]@{
                name      = $_.Description
                mac       = $_.MACAddress
                addresses = @($_.IPAddress)
            }
        }
)

$disks = @(
    Get-CimInstance -ClassName Win32_LogicalDisk -Filter 'DriveType = 3' |
        ForEach-Object {
            [ordered]@{
                mount      = $_.DeviceID
                filesystem = $_.FileSystem
                size       = [int64]$_.Size
                free       = [int64]$_.FreeSpace
            }
        }
)

# Interactive users: the owners of explorer.exe (quser's text is localized).
$users = @(
    Get-CimInstance -ClassName Win32_Process -Filter "Name = 'explorer.exe'" |
        ForEach-Object {
            $owner = Invoke-CimMethod -InputObject $_ -MethodName GetOwner
            if ($owner.ReturnValue -eq 0) { '{0}\{1}' -f $owner.Domain, $owner.User }
        } |
        Sort-Object -Unique
)

[ordered]@{
    schema            = 1
    hostname          = $env:COMPUTERNAME
    product_name      = $cv.ProductName
    caption           = $os.Caption
    edition_id        = $cv.EditionID
    installation_type = $cv.InstallationType
    display_version   = $cv.DisplayVersion
    release_id        = $cv.ReleaseId
    current_build     = $cv.CurrentBuildNumber
    ubr               = $cv.UBR
    version           = $os.Version
    architecture      = $os.OSArchitecture
    part_of_domain    = [bool]$cs.PartOfDomain
    domain            = $cs.Domain
    workgroup         = $cs.Workgroup
    manufacturer      = $cs.Manufacturer
    model             = $cs.Model
    serial            = $bios.SerialNumber
    memory_total      = [int64]$cs.TotalPhysicalMemory
    cpu_count         = [int]$cs.NumberOfLogicalProcessors
    last_boot         = $os.LastBootUpTime.ToUniversalTime().ToString('o')
    interfaces        = $interfaces
    disks             = $disks
    logged_on_users   = $users
} | ConvertTo-Json -Depth 5 -Compress
