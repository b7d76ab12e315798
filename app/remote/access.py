"""Remote access for one site: the vault session, credentials, pinned keys, transports.

Unlock the vault once per session; then :meth:`RemoteAccess.transport_for` gives an SSH
transport for an asset with the most specific credential assigned to it. Every change to
credentials or host keys is audited (names and fingerprints, never secrets).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from app.core.credentials import (
    Credential,
    CredentialKind,
    Scope,
    SudoMode,
    credential_for,
)
from app.core.errors import NotFoundError, UserError
from app.core.hostkeys import PinnedKey
from app.core.models import Asset
from app.remote.ssh import SshCredential, SshTransport
from app.remote.vault import VaultKey, VaultLockedError, create_vault, unlock_vault
from app.store.credentials import CredentialRepo
from app.store.db import SiteDB
from app.store.remote import HostKeyRepo
from app.store.repos import AuditRepo

#: What the audit log's first sealing key is bound to in the vault.
_AUDIT_SEAL_BINDING = '{"name":"patchdesk-audit-seal"}'


class RemoteAccess:
    """Credentials and connections of one open site."""

    #: A person accepted new SSH host keys for this session: a password credential may
    #: then make first contact (``--accept-new-host-keys``; set per instance) ([12].10).
    accept_new_host_keys: bool = False

    def __init__(self, store: SiteDB, actor: str) -> None:
        self.store = store
        self.actor = actor
        self._key: VaultKey | None = None
        self._pool: dict[tuple[str, int, str], SshTransport] = {}
        self._pool_lock = threading.Lock()
        self.host_keys = HostKeyRepo(store, actor)

    # vault ---------------------------------------------------------------------------
    @property
    def vault_exists(self) -> bool:
        """Whether this site has a vault yet."""
        return CredentialRepo(self.store.db()).vault_header() is not None

    @property
    def unlocked(self) -> bool:
        """Whether the vault is open in this session."""
        return self._key is not None

    def unlock(self, master_password: str, *, create: bool = False) -> None:
        """Open the vault (creating it on first use when ``create``).

        Raises:
            WrongMasterPasswordError: wrong password.
            UserError: no vault yet and ``create`` is false, or a too-short password.
        """
        repo = CredentialRepo(self.store.db())
        header = repo.vault_header()
        if header is None:
            if not create:
                raise UserError("This site has no credential vault yet; add a credential "
                                "to create it.")
            header, key = create_vault(master_password)
            with self.store.atomic() as db:
                CredentialRepo(db).save_vault_header(header)
                AuditRepo(db).append(self.actor, "vault.create", "vault", "")
            self._key = key
            self._start_audit_seal(key)
            return
        self._key = unlock_vault(header, master_password)
        self._reseal_legacy(self._key)
        self._start_audit_seal(self._key)

    def _start_audit_seal(self, key: VaultKey) -> None:
        """Seal the audit log from the next row on, if it is not sealed yet (a new vault,
        or a site from before sealing existed): its first key goes into the vault."""
        if AuditRepo(self.store.db()).sealed_first_key() is not None:
            return
        with self.store.atomic() as db:
            repo = AuditRepo(db)
            first = repo.start_seal(lambda data: key.seal(data, _AUDIT_SEAL_BINDING))
            repo.append(self.actor, "audit.sealed", "audit", "", {"first_sealed_row": first})

    def audit_first_key(self) -> tuple[bytes, int] | None:
        """``(k_0, first sealed row)`` of the audit log, or None when the vault is locked or
        the log is not sealed.

        Raises:
            UserError: the sealed first key is damaged or was replaced.
        """
        if self._key is None:
            return None
        blob = AuditRepo(self.store.db()).sealed_first_key()
        if blob is None:
            return None
        data = self._key.open(blob, _AUDIT_SEAL_BINDING)
        return bytes.fromhex(str(data["k0"])), int(data["first"])

    def _reseal_legacy(self, key: VaultKey) -> None:
        """Re-seal secrets sealed by an older PatchDesk (bound to the name only) so they are
        bound to every public field of their credential from now on (audited)."""
        resealed = []
        for cred in CredentialRepo(self.store.db()).all():
            sealed = CredentialRepo(self.store.db()).sealed_secret(cred.name)
            if not sealed:
                continue
            try:
                secrets, legacy = key.open_any(sealed, cred.binding(), legacy_name=cred.name)
            except UserError:
                continue  # damaged or changed in the file: it fails, named, when it is used
            if legacy:
                with self.store.atomic() as db:
                    CredentialRepo(db).replace_sealed(cred.name, key.seal(secrets,
                                                                          cred.binding()))
                resealed.append(cred.name)
        if resealed:
            with self.store.atomic() as db:
                AuditRepo(db).append(self.actor, "vault.reseal", "vault", "",
                                     {"credentials": resealed})

    def lock(self) -> None:
        """Forget the vault key and close every connection."""
        self._key = None
        self.close_all()

    def _require_key(self) -> VaultKey:
        if self._key is None:
            raise VaultLockedError("The credential vault is locked; unlock it with the "
                                   "site's master password.")
        return self._key

    # credentials ---------------------------------------------------------------------
    def credentials(self) -> list[Credential]:
        """Every credential (no secrets)."""
        return CredentialRepo(self.store.db()).all()

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
    ) -> Credential:
        """Store an SSH credential; the key file's content is sealed into the vault so the
        site file stays portable.

        Raises:
            VaultLockedError, UserError (bad name/user, unreadable key file).
        """
        key = self._require_key()
        name = name.strip()
        if not name or len(name) > 64:
            raise UserError("A credential needs a name of 1–64 characters.")
        if not username.strip():
            raise UserError("An SSH credential needs a user name.")
        if not (password or key_file):
            raise UserError("Give a password or an SSH key for the credential.")
        key_pem = None
        if key_file:
            try:
                key_pem = Path(key_file).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                raise UserError(f"Cannot read the SSH key {key_file}: "
                                f"{exc.strerror or exc}") from None
        if sudo_mode is SudoMode.PASSWORD and sudo_password is None:
            sudo_password = password
        secrets = {"password": password, "key_pem": key_pem, "key_passphrase": key_passphrase,
                   "sudo_password": sudo_password}
        cred = Credential(
            name=name, kind=CredentialKind.SSH, username=username.strip(), port=port,
            key_path=str(key_file or ""), sudo_mode=sudo_mode,
            scopes=scopes or (Scope.parse("all"),), has_password=bool(password),
            has_key=bool(key_pem), has_sudo_password=bool(sudo_password))
        with self.store.atomic() as db:
            stored = CredentialRepo(db).add(cred, key.seal(secrets, cred.binding()))
            AuditRepo(db).append(self.actor, "credential.add", "credential", name, {
                "kind": "ssh", "username": cred.username, "scopes": [str(s) for s in
                                                                      cred.scopes],
                "sudo_mode": str(sudo_mode), "key": bool(key_pem),
                "password": bool(password)})
        return stored

    def delete_credential(self, name: str) -> None:
        """Remove a credential (audited)."""
        with self.store.atomic() as db:
            CredentialRepo(db).delete(name)
            AuditRepo(db).append(self.actor, "credential.delete", "credential", name)
        self.close_all()

    def ssh_credential(self, cred: Credential) -> SshCredential:
        """Open a credential's secrets into an in-memory SSH credential."""
        key = self._require_key()
        sealed = CredentialRepo(self.store.db()).sealed_secret(cred.name)
        secrets: dict[str, Any] = key.open(sealed, cred.binding()) if sealed else {}
        return SshCredential(
            username=cred.username,
            password=secrets.get("password"),
            key_pem=secrets.get("key_pem"),
            key_passphrase=secrets.get("key_passphrase"),
            sudo_mode=str(cred.sudo_mode),
            sudo_password=secrets.get("sudo_password"),
        )

    def credential_for(self, asset: Asset) -> Credential:
        """The SSH credential assigned to an asset.

        Raises:
            NotFoundError: none is assigned.
        """
        cred = credential_for(asset, self.credentials())
        if cred is None:
            raise NotFoundError(f"{asset.label}: no SSH credential is assigned to this asset.")
        return cred

    # transports ----------------------------------------------------------------------
    def transport_for(self, asset: Asset, cred: Credential | None = None) -> SshTransport:
        """A connected-on-demand SSH transport to the asset, reused per host and user."""
        if not asset.primary_ip and not asset.hostname:
            raise UserError(f"{asset.label}: the asset has no IP or host name to connect to.")
        cred = cred or self.credential_for(asset)
        host = asset.primary_ip or asset.hostname
        port = cred.port or 22
        pool_key = (host, port, cred.name)
        with self._pool_lock:
            transport = self._pool.get(pool_key)
            if transport is None:
                transport = SshTransport(host, self.ssh_credential(cred), self.host_keys,
                                         port=port, actor=self.actor,
                                         accept_new=self.accept_new_host_keys)
                self._pool[pool_key] = transport
        return transport

    def close_all(self) -> None:
        """Close every pooled connection."""
        with self._pool_lock:
            pool, self._pool = self._pool, {}
        for transport in pool.values():
            transport.close()

    def test_credential(self, name: str, asset: Asset) -> dict[str, Any]:
        """Log in to an asset with a credential and check sudo; returns what worked.

        Raises:
            RemoteError subclasses for the first thing that failed.
        """
        cred = next((c for c in self.credentials() if c.name == name), None)
        if cred is None:
            raise NotFoundError(f"No credential named '{name}'.")
        transport = SshTransport(asset.primary_ip or asset.hostname, self.ssh_credential(cred),
                                 self.host_keys, port=cred.port or 22, actor=self.actor,
                                 accept_new=self.accept_new_host_keys)
        try:
            login = transport.run(["id", "-un"], timeout=20)
            root = transport.run(["id", "-u"], sudo=True, timeout=20)
        finally:
            transport.close()
        result = {"asset": asset.label, "credential": name, "login": login.ok,
                  "user": login.stdout.strip(), "sudo": root.ok and root.stdout.strip() == "0"}
        with self.store.atomic() as db:
            AuditRepo(db).append(self.actor, "credential.test", "credential", name,
                                 {"asset": asset.label, "login": result["login"],
                                  "sudo": result["sudo"]})
        return result

    # host keys -----------------------------------------------------------------------
    def accept_host_key(self, host: str, port: int, key_type: str, key_b64: str) -> None:
        """Replace a host's pinned keys with a new one after a person checked it (audited)."""
        self.host_keys.pin(host, port, PinnedKey(key_type, key_b64), accepted_by=self.actor,
                           replace=True)
        with self._pool_lock:
            stale = [k for k in self._pool if k[0] == host and k[1] == port]
            for pool_key in stale:
                self._pool.pop(pool_key).close()

