"""Credentials: the vault session, SSH credentials and pinned host keys of one site.

The shells reach :class:`app.remote.access.RemoteAccess` only through
:class:`CredentialService` (same method names), and take the errors they catch from here.
"""

from __future__ import annotations

from typing import Any

from app.core.credentials import Credential, CredentialKind, Scope, SudoMode, WinRMSettings
from app.core.hostkeys import PinnedKey
from app.core.models import Asset
from app.remote.access import RemoteAccess
from app.remote.ssh import (
    AuthenticationError,
    CommandTimeoutError,
    HostKeyChangedError,
    RemoteError,
    SudoError,
    UnreachableError,
    fetch_host_key,
)
from app.remote.vault import MIN_MASTER_PASSWORD, VaultLockedError, WrongMasterPasswordError
from app.remote.winrm import CertificateError, InsecureTransportError
from app.services.base import ServicePart

__all__ = [
    "MIN_MASTER_PASSWORD",
    "AuthenticationError",
    "CertificateError",
    "CommandTimeoutError",
    "CredentialKind",
    "CredentialService",
    "HostKeyChangedError",
    "InsecureTransportError",
    "RemoteError",
    "SudoError",
    "UnreachableError",
    "VaultLockedError",
    "WinRMSettings",
    "WrongMasterPasswordError",
]


class CredentialService(ServicePart):
    """The encrypted vault, the credentials in it and the SSH host keys pinned for the site.

    Every change is audited (names and fingerprints, never secrets).
    """

    _access: RemoteAccess | None = None

    @property
    def access(self) -> RemoteAccess:
        """The site's remote access (vault session, pinned keys, SSH connections); for the
        other services only."""
        if self._access is None:
            self._access = RemoteAccess(self.store, self.actor)
        return self._access

    @property
    def vault_exists(self) -> bool:
        """Whether this site has a vault yet."""
        return self.access.vault_exists

    @property
    def unlocked(self) -> bool:
        """Whether the vault is open in this session."""
        return self.access.unlocked

    def unlock(self, master_password: str, *, create: bool = False) -> None:
        """Open the vault (creating it on first use when ``create``).

        Raises:
            WrongMasterPasswordError: wrong password.
            UserError: no vault yet and ``create`` is false, or a too-short password.
        """
        self.access.unlock(master_password, create=create)

    def lock(self) -> None:
        """Forget the vault key and close every connection."""
        if self._access is not None:
            self._access.lock()

    def credentials(self) -> list[Credential]:
        """Every credential (no secrets)."""
        return self.access.credentials()

    def add_ssh_credential(
        self,
        name: str,
        username: str,
        *,
        password: str | None = None,
        key_file: str | None = None,
        key_passphrase: str | None = None,
        sudo_mode: SudoMode = SudoMode.PASSWORD,
        sudo_password: str | None = None,
        port: int | None = None,
        scopes: tuple[Scope, ...] = (),
        macos_owner: str = "",
        macos_owner_password: str | None = None,
    ) -> Credential:
        """Store an SSH credential (see :meth:`RemoteAccess.add_ssh_credential`).

        Raises:
            VaultLockedError, UserError (bad name/user, unreadable key file).
        """
        return self.access.add_ssh_credential(
            name, username, password=password, key_file=key_file,
            key_passphrase=key_passphrase, sudo_mode=sudo_mode, sudo_password=sudo_password,
            port=port, scopes=scopes, macos_owner=macos_owner,
            macos_owner_password=macos_owner_password)

    def add_winrm_credential(
        self,
        name: str,
        username: str,
        *,
        password: str,
        auth: str = "ntlm",
        https: bool = True,
        port: int | None = None,
        ca_file: str | None = None,
        allow_unencrypted: bool = False,
        skip_cert_hosts: tuple[str, ...] = (),
        scopes: tuple[Scope, ...] = (),
    ) -> Credential:
        """Store a WinRM credential (see :meth:`RemoteAccess.add_winrm_credential`): HTTPS
        with certificate validation by default; Basic over HTTP only with
        ``allow_unencrypted``; ``skip_cert_hosts`` is an audited per-host choice.

        Raises:
            VaultLockedError, UserError, InsecureTransportError (nothing stored or sent).
        """
        return self.access.add_winrm_credential(
            name, username, password=password, auth=auth, https=https, port=port,
            ca_file=ca_file, allow_unencrypted=allow_unencrypted,
            skip_cert_hosts=skip_cert_hosts, scopes=scopes)

    def delete_credential(self, name: str) -> None:
        """Remove a credential (audited)."""
        self.access.delete_credential(name)

    def credential_for(self, asset: Asset) -> Credential:
        """The SSH credential assigned to an asset.

        Raises:
            NotFoundError: none is assigned.
        """
        return self.access.credential_for(asset)

    def test_credential(self, name: str, asset: Asset) -> dict[str, Any]:
        """Log in to an asset with a credential and check sudo; returns what worked.

        Raises:
            RemoteError subclasses for the first thing that failed.
        """
        return self.access.test_credential(name, asset)

    def host_keys(self) -> list[dict[str, object]]:
        """Every pinned host key (host, port, type, fingerprint, who accepted it)."""
        return self.access.host_keys.all()

    def fetch_host_key(self, host: str, port: int = 22) -> PinnedKey:
        """The key a host presents now (to compare with a fingerprint a person checked)."""
        return fetch_host_key(host, port)

    def accept_host_key(self, host: str, port: int, key_type: str, key_b64: str) -> None:
        """Replace a host's pinned keys with a new one after a person checked it (audited)."""
        self.access.accept_host_key(host, port, key_type, key_b64)
