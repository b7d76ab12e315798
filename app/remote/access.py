"""Remote access for one site: the vault session, credentials, pinned keys, transports.

Unlock the vault once per session; then :meth:`RemoteAccess.transport_for` gives an SSH
transport for an asset with the most specific credential assigned to it, and
:meth:`RemoteAccess.winrm_transport_for` a WinRM one for a Windows host
(:meth:`RemoteAccess.access_kind` says which an asset needs). Every change to credentials
or host keys is audited (names and fingerprints, never secrets).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from app.core.credentials import (
    WINRM_AUTHS,
    Credential,
    CredentialKind,
    Scope,
    SudoMode,
    WinRMSettings,
    access_kind,
    credential_for,
)
from app.core.errors import NotFoundError, UserError
from app.core.hostkeys import PinnedKey
from app.core.models import Asset
from app.remote.ssh import SshCredential, SshTransport
from app.remote.vault import VaultKey, VaultLockedError, create_vault, unlock_vault
from app.remote.winrm import InsecureTransportError, WinRMCredential, WinRMTransport
from app.store.credentials import CredentialRepo
from app.store.db import SiteDB
from app.store.remote import HostKeyRepo
from app.store.repos import AuditRepo

log = logging.getLogger(__name__)

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
        self._ca_dir: Path | None = None  # CA files of WinRM credentials, this session only

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
        with self._pool_lock:
            ca_dir, self._ca_dir = self._ca_dir, None
        if ca_dir is not None:
            shutil.rmtree(ca_dir, ignore_errors=True)

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
        macos_owner: str = "",
        macos_owner_password: str | None = None,
    ) -> Credential:
        """Store an SSH credential; the key file's content is sealed into the vault so the
        site file stays portable. ``macos_owner`` (a public option) and its password (a
        sealed secret) are a Mac's volume owner, for Apple-silicon installs.

        Raises:
            VaultLockedError, UserError (bad name/user, unreadable key file).
        """
        key = self._require_key()
        name = _credential_name(name)
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
        if bool(macos_owner.strip()) != bool(macos_owner_password):
            raise UserError("A Mac volume owner needs both the user name and the password.")
        if macos_owner.strip() and not re.match(r"^[a-z_][a-z0-9_.-]{0,31}$",
                                                macos_owner.strip()):
            raise UserError(f"'{macos_owner}' is not a macOS user name.")
        secrets = {"password": password, "key_pem": key_pem, "key_passphrase": key_passphrase,
                   "sudo_password": sudo_password}
        if macos_owner_password:
            secrets["macos_owner_password"] = macos_owner_password
        cred = Credential(
            name=name, kind=CredentialKind.SSH, username=username.strip(), port=port,
            key_path=str(key_file or ""), sudo_mode=sudo_mode,
            scopes=scopes or (Scope.parse("all"),), has_password=bool(password),
            has_key=bool(key_pem), has_sudo_password=bool(sudo_password),
            options={"macos_owner": macos_owner.strip()} if macos_owner.strip() else {})
        with self.store.atomic() as db:
            stored = CredentialRepo(db).add(cred, key.seal(secrets, cred.binding()))
            AuditRepo(db).append(self.actor, "credential.add", "credential", name, {
                "kind": "ssh", "username": cred.username, "scopes": [str(s) for s in
                                                                      cred.scopes],
                "sudo_mode": str(sudo_mode), "key": bool(key_pem),
                "password": bool(password),
                **({"macos_owner": cred.options["macos_owner"]}
                   if cred.options.get("macos_owner") else {})})
        return stored

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
        """Store a WinRM credential: the password and the CA certificate's content are
        sealed into the vault (the site file stays portable, and nobody can swap the CA in
        the file); the connection settings are public options bound to them.

        Raises:
            VaultLockedError, UserError (bad name/user/auth/port, unreadable CA file),
            InsecureTransportError: Basic over plain HTTP without ``allow_unencrypted``
                (nothing is stored, nothing is sent).
        """
        key = self._require_key()
        name = _credential_name(name)
        if not username.strip():
            raise UserError("A WinRM credential needs a user name.")
        if not password:
            raise UserError("A WinRM credential needs a password.")
        if auth not in WINRM_AUTHS:
            raise UserError(f"Unknown WinRM authentication '{auth}' (use "
                            f"{', '.join(WINRM_AUTHS)}).")
        if port is not None and not 0 < port < 65536:
            raise UserError(f"Port {port} is not a TCP port.")
        if ca_file and not https:
            raise UserError("A CA file only applies to HTTPS; leave out --winrm-http.")
        ca_pem = None
        if ca_file:
            try:
                ca_pem = Path(ca_file).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"Cannot read the CA file {ca_file}: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None
            if "-----BEGIN CERTIFICATE-----" not in ca_pem:
                raise UserError(f"{ca_file} is not a PEM certificate file.")
        skip = tuple(dict.fromkeys(h.strip() for h in skip_cert_hosts if h.strip()))
        if skip and not https:
            raise UserError("Skipping certificate validation only applies to HTTPS.")
        settings = WinRMSettings(auth=auth, https=https, ca_sealed=ca_pem is not None,
                                 ca_name=Path(ca_file).name if ca_file else "",
                                 allow_unencrypted=allow_unencrypted, skip_cert_hosts=skip)
        # The transport's check before connecting, made before storing: Basic without
        # protection is refused here. (Kerberos without its libraries on this machine is
        # stored, and refused with the fix when used.)
        try:
            WinRMCredential(username.strip(), password, auth=auth, https=https,
                            allow_unencrypted=allow_unencrypted).check()
        except InsecureTransportError:
            raise
        except UserError:
            pass
        cred = Credential(
            name=name, kind=CredentialKind.WINRM, username=username.strip(), port=port,
            scopes=scopes or (Scope.parse("all"),), has_password=True,
            options=settings.to_options())
        with self.store.atomic() as db:
            stored = CredentialRepo(db).add(cred, key.seal(
                {"password": password, "ca_pem": ca_pem}, cred.binding()))
            AuditRepo(db).append(self.actor, "credential.add", "credential", name, {
                "kind": "winrm", "username": cred.username,
                "scopes": [str(s) for s in cred.scopes], "auth": auth,
                "transport": "https" if https else "http", "port": port,
                "ca": settings.ca_name or None, "allow_unencrypted": allow_unencrypted,
                # The explicit choice not to validate these hosts' certificates.
                "skip_cert_validation_for": list(skip)})
        return stored

    def add_smtp_credential(self, name: str, username: str, password: str | None, *,
                            host: str, port: int = 587, sender: str = "",
                            recipients: tuple[str, ...] = (), cafile: str = "") -> Credential:
        """Store the notification mail server's login (password sealed in the vault; the
        server, sender and recipients are its options). Audited.

        Raises:
            VaultLockedError, UserError (no name, host or recipients).
        """
        key = self._require_key()
        if not name.strip() or not host.strip():
            raise UserError("An SMTP credential needs a name and a server.")
        if not recipients:
            raise UserError("Give at least one recipient for notifications.")
        cred = Credential(
            name=name.strip(), kind=CredentialKind.SMTP, username=username.strip(), port=port,
            scopes=(Scope.parse("all"),), has_password=bool(password),
            options={"host": host.strip(), "sender": sender.strip(),
                     "recipients": ",".join(r.strip() for r in recipients),
                     "cafile": cafile})
        with self.store.atomic() as db:
            stored = CredentialRepo(db).add(cred, key.seal({"password": password},
                                                           cred.binding()))
            AuditRepo(db).append(self.actor, "credential.add", "credential", cred.name, {
                "kind": "smtp", "username": cred.username, "host": host, "port": port,
                "recipients": list(recipients), "password": bool(password)})
        return stored

    def secret_password(self, cred: Credential) -> str | None:
        """The sealed password of any credential (the vault must be unlocked)."""
        key = self._require_key()
        sealed = CredentialRepo(self.store.db()).sealed_secret(cred.name)
        secrets: dict[str, Any] = key.open(sealed, cred.binding()) if sealed else {}
        value = secrets.get("password")
        return str(value) if value else None

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
            macos_owner=str(cred.options.get("macos_owner", "")),
            macos_owner_password=secrets.get("macos_owner_password"),
        )

    def winrm_credential(self, cred: Credential, host: str = "",
                         *names: str) -> WinRMCredential:
        """Open a WinRM credential's secrets into an in-memory :class:`WinRMCredential` for
        one host (its CA goes to a session-only file: requests needs a path)."""
        key = self._require_key()
        if cred.kind is not CredentialKind.WINRM:
            raise UserError(f"Credential '{cred.name}' is not a WinRM credential.")
        sealed = CredentialRepo(self.store.db()).sealed_secret(cred.name)
        secrets: dict[str, Any] = key.open(sealed, cred.binding()) if sealed else {}
        settings = WinRMSettings.from_options(cred.options)
        ca_path = None
        if secrets.get("ca_pem"):
            ca_path = self._ca_file(str(secrets["ca_pem"]))
        return WinRMCredential(
            username=cred.username, password=str(secrets.get("password") or ""),
            auth=settings.auth, https=settings.https, port=cred.port, ca_file=ca_path,
            skip_cert_validation=settings.https and settings.skips_cert(host, *names),
            allow_unencrypted=settings.allow_unencrypted)

    def _ca_file(self, pem: str) -> str:
        with self._pool_lock:
            if self._ca_dir is None:
                self._ca_dir = Path(tempfile.mkdtemp(prefix="patchdesk-ca-"))
            path = self._ca_dir / (hashlib.sha256(pem.encode()).hexdigest()[:32] + ".pem")
            if not path.exists():
                path.write_text(pem, encoding="utf-8")
        return str(path)

    def credential_for(self, asset: Asset,
                       kind: CredentialKind = CredentialKind.SSH) -> Credential:
        """The credential of ``kind`` assigned to an asset.

        Raises:
            NotFoundError: none is assigned.
        """
        cred = credential_for(asset, self.credentials(), kind)
        if cred is None:
            what = "WinRM" if kind is CredentialKind.WINRM else "SSH"
            raise NotFoundError(f"{asset.label}: no {what} credential is assigned to this "
                                "asset.")
        return cred

    def access_kind(self, asset: Asset) -> CredentialKind:
        """Whether the asset is reached over SSH or WinRM (see
        :func:`app.core.credentials.access_kind`)."""
        return access_kind(asset, self.credentials())

    def access_port(self, asset: Asset) -> int:
        """The TCP port the asset is reached on: its SSH credential's (22), or for a host
        reached over WinRM the WinRM one's (5986 HTTPS, 5985 HTTP)."""
        kind = self.access_kind(asset)
        cred = self.credential_for(asset, kind)
        if kind is CredentialKind.WINRM:
            return cred.port or (5986 if WinRMSettings.from_options(cred.options).https
                                 else 5985)
        return cred.port or 22

    # transports ----------------------------------------------------------------------
    def transport_for(self, asset: Asset,
                      cred: Credential | None = None) -> SshTransport | WinRMTransport:
        """A connected-on-demand SSH transport to the asset, reused per host and user; for
        a Windows host reached over WinRM (:meth:`access_kind`, no credential given) its
        WinRM transport, so the deployment engine reaches both alike."""
        if not asset.primary_ip and not asset.hostname:
            raise UserError(f"{asset.label}: the asset has no IP or host name to connect to.")
        if cred is None and self.access_kind(asset) is CredentialKind.WINRM:
            return self.winrm_transport_for(asset)
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

    def winrm_transport_for(self, asset: Asset, cred: Credential | None = None,
                            **options: Any) -> WinRMTransport:
        """A WinRM transport to a Windows asset (a shell per call; nothing is pooled).

        Raises:
            NotFoundError: no WinRM credential is assigned.
            InsecureTransportError: the credential would expose the password.
        """
        if not asset.primary_ip and not asset.hostname:
            raise UserError(f"{asset.label}: the asset has no IP or host name to connect to.")
        cred = cred or self.credential_for(asset, CredentialKind.WINRM)
        host = asset.primary_ip or asset.hostname
        winrm_cred = self.winrm_credential(cred, host, asset.hostname, *asset.ips)
        if winrm_cred.skip_cert_validation:
            log.warning("%s: the certificate is not validated (credential '%s' skips it "
                        "for this host by an audited choice)", host, cred.name)
        return WinRMTransport(host, winrm_cred, **options)

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
        if cred.kind is CredentialKind.WINRM:
            return self._test_winrm(cred, asset)
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

    def _test_winrm(self, cred: Credential, asset: Asset) -> dict[str, Any]:
        """Log in over WinRM and run ``hostname``; says which auth and transport worked."""
        settings = WinRMSettings.from_options(cred.options)
        transport = self.winrm_transport_for(asset, cred, retries=0)
        wc = transport.credential
        result: dict[str, Any] = {"asset": asset.label, "credential": cred.name, "kind": "winrm",
                  "auth": wc.auth, "transport": "https" if wc.https else "http",
                  "port": wc.effective_port,
                  "encryption": ("TLS" if wc.https else
                                 "none (Basic, explicitly allowed)" if wc.auth == "basic"
                                 else f"{wc.auth.upper()} message encryption"),
                  "certificate": ("not validated (explicit choice for this host)"
                                  if wc.skip_cert_validation else
                                  f"validated against {settings.ca_name or 'the system CAs'}"
                                  if wc.https else "n/a"),
                  "described": settings.describe(cred.port)}
        try:
            res = transport.run(["hostname"], timeout=30)
        except Exception as exc:
            with self.store.atomic() as db:
                AuditRepo(db).append(self.actor, "credential.test", "credential", cred.name,
                                     {"asset": asset.label, "login": False,
                                      "error": getattr(exc, "kind", type(exc).__name__)})
            raise
        result.update({"login": res.ok, "user": cred.username,
                       "hostname": res.stdout.strip()[:64], "sudo": None})
        with self.store.atomic() as db:
            AuditRepo(db).append(self.actor, "credential.test", "credential", cred.name,
                                 {"asset": asset.label, "login": res.ok, "auth": wc.auth,
                                  "transport": result["transport"],
                                  "certificate": result["certificate"]})
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


def _credential_name(name: str) -> str:
    """A credential's name, trimmed.

    Raises:
        UserError: empty or longer than 64 characters.
    """
    name = name.strip()
    if not name or len(name) > 64:
        raise UserError("A credential needs a name of 1–64 characters.")
    return name
