"""Which transport assesses an asset, and WinRM credential settings as stored options."""

from __future__ import annotations

import pytest

from app.core.credentials import (
    Credential,
    CredentialKind,
    Scope,
    WinRMSettings,
    access_kind,
)
from app.core.models import Asset, OsFamily


def cred(name: str, kind: CredentialKind, scope: str, id: int) -> Credential:
    return Credential(name, kind, "admin", scopes=(Scope.parse(scope),), id=id)


SSH_ALL = cred("linux", CredentialKind.SSH, "all", 1)
WINRM_ALL = cred("windows", CredentialKind.WINRM, "all", 2)
WINRM_TAG = cred("windows-tag", CredentialKind.WINRM, "tag:windows", 3)


@pytest.mark.parametrize(("asset", "creds", "kind"), [
    # The OS family decides first.
    (Asset(os_family=OsFamily.WINDOWS), [SSH_ALL], CredentialKind.WINRM),
    (Asset(os_family=OsFamily.LINUX, open_ports=(5985,)), [WINRM_ALL], CredentialKind.SSH),
    (Asset(os_family=OsFamily.MACOS), [WINRM_TAG], CredentialKind.SSH),
    # Then what discovery saw: WinRM open and no SSH.
    (Asset(open_ports=(135, 445, 5985)), [SSH_ALL], CredentialKind.WINRM),
    (Asset(open_ports=(5986,)), [], CredentialKind.WINRM),
    (Asset(open_ports=(22, 5985)), [SSH_ALL], CredentialKind.SSH),  # OpenSSH on Windows
    # Then the credentials: a WinRM one assigned more specifically than any SSH one.
    (Asset(), [WINRM_ALL], CredentialKind.WINRM),
    (Asset(tags=("windows",)), [SSH_ALL, WINRM_TAG], CredentialKind.WINRM),
    (Asset(tags=("linux",)), [SSH_ALL, WINRM_TAG], CredentialKind.SSH),
    (Asset(), [SSH_ALL, WINRM_ALL], CredentialKind.SSH),  # a tie stays SSH
    (Asset(), [], CredentialKind.SSH),
])
def test_access_kind(asset: Asset, creds: list[Credential], kind: CredentialKind) -> None:
    assert access_kind(asset, creds) is kind


def test_settings_round_trip_through_the_options() -> None:
    settings = WinRMSettings(auth="basic", https=False, allow_unencrypted=True)
    assert settings.to_options() == {"auth": "basic", "transport": "http",
                                     "allow_unencrypted": "true"}
    assert WinRMSettings.from_options(settings.to_options()) == settings
    assert settings.describe() == "BASIC over HTTP port 5985"
    https = WinRMSettings(ca_sealed=True, ca_name="lab-ca.pem",
                          skip_cert_hosts=("10.0.0.5", "srv01"))
    assert WinRMSettings.from_options(https.to_options()) == https
    assert https.describe(15986) == "NTLM over HTTPS port 15986"
    assert WinRMSettings(auth="kerberos").describe() == "Kerberos over HTTPS port 5986"
    assert https.skips_cert("SRV01") and https.skips_cert("", "10.0.0.5")
    assert not https.skips_cert("10.0.0.6", "srv02")
    # Defaults: NTLM over HTTPS, nothing dangerous.
    assert WinRMSettings.from_options({}) == WinRMSettings()
