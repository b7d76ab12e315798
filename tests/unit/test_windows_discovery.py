"""Discovery marks Windows hosts (WinRM 5985/5986, MS RPC 135, SMB 445, RDP 3389, NetBIOS),
the inventory records them as Windows, and assess then reaches them over WinRM ([9])."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.core.credentials import CredentialKind, access_kind
from app.core.inventory_merge import Observation, apply_observation
from app.core.models import AssetKind, OsFamily
from app.discovery.fingerprint import Facts, classify

NOW = datetime(2026, 12, 5, tzinfo=UTC)


@pytest.mark.parametrize(("ports", "netbios", "names", "family", "kind", "access"), [
    # Server 2022: WinRM on by default, RDP, SMB, RPC.
    ({135, 139, 445, 3389, 5985}, True, (), OsFamily.WINDOWS, AssetKind.SERVER,
     CredentialKind.WINRM),
    # WinRM over HTTPS only.
    ({5986}, False, (), OsFamily.WINDOWS, AssetKind.SERVER, CredentialKind.WINRM),
    # A Windows 11 desk PC with RDP on and no WinRM (clients have it off by default).
    ({135, 445, 3389}, False, (), OsFamily.WINDOWS, AssetKind.WORKSTATION,
     CredentialKind.WINRM),
    # A workgroup PC sharing files: SMB + NetBIOS, nothing else.
    ({139, 445}, True, ("FRONTDESK-PC",), OsFamily.WINDOWS, AssetKind.WORKSTATION,
     CredentialKind.WINRM),
    # An installer-named server with only RPC and SMB open.
    ({135, 445}, False, ("WIN-4J2K9QX7LMA",), OsFamily.WINDOWS, AssetKind.SERVER,
     CredentialKind.WINRM),
    # Samba on Linux: SMB + NetBIOS beside SSH is not taken for Windows.
    ({22, 139, 445}, True, ("fileserver",), OsFamily.UNKNOWN, AssetKind.WORKSTATION,
     CredentialKind.SSH),
    # A NAS with its web UI: not Windows either.
    ({139, 445, 5000}, True, ("DiskStation",), OsFamily.UNKNOWN, AssetKind.WORKSTATION,
     CredentialKind.SSH),
])
def test_windows_hosts_are_marked_and_assessed_over_winrm(
        ports: set[int], netbios: bool, names: tuple[str, ...], family: OsFamily,
        kind: AssetKind, access: CredentialKind) -> None:
    guess = classify(Facts(open_ports=frozenset(ports), netbios=netbios, names=names))
    asset = apply_observation(None, Observation(
        "192.0.2.10", hostnames=names, open_ports=tuple(sorted(ports)),
        device_type=str(guess.device_type), os_guess=guess.os_guess), NOW)
    assert asset.os_family is family, guess.evidence
    assert asset.kind is kind, guess.evidence
    assert access_kind(asset, []) is access
