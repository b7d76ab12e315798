"""Credentials as data (never their secrets) and which credential applies to which asset."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from app.core.models import Asset, StrEnum


class CredentialKind(StrEnum):
    """Transport a credential is for."""

    SSH = "ssh"
    WINRM = "winrm"
    SMTP = "smtp"  # the notification mail server (options: host, port, sender, recipients)


class SudoMode(StrEnum):
    """How an SSH credential becomes root."""

    PASSWORD = "password"  # noqa: S105 - sudo with the stored sudo password (on stdin)
    NOPASSWD = "nopasswd"  # sudo -n (a NOPASSWD rule)
    ROOT = "root"  # the user is root already


class ScopeKind(StrEnum):
    """What a credential is assigned to, from most to least specific."""

    ASSET = "asset"
    TAG = "tag"
    RING = "ring"
    ALL = "all"


_SPECIFICITY = {ScopeKind.ASSET: 0, ScopeKind.TAG: 1, ScopeKind.RING: 2, ScopeKind.ALL: 3}


@dataclass(frozen=True, slots=True)
class Scope:
    """One assignment: an asset id, a tag, a ring, or the whole site."""

    kind: ScopeKind
    value: str = ""

    def matches(self, asset: Asset) -> bool:
        """Whether this assignment covers the asset."""
        if self.kind is ScopeKind.ALL:
            return True
        if self.kind is ScopeKind.ASSET:
            return str(asset.id) == self.value
        if self.kind is ScopeKind.TAG:
            return self.value.lower() in (t.lower() for t in asset.tags)
        return str(asset.ring) == self.value

    def __str__(self) -> str:
        return str(self.kind) if self.kind is ScopeKind.ALL else f"{self.kind}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse ``all``, ``asset:12``, ``tag:dmz`` or ``ring:pilot``.

        Raises:
            ValueError: naming the accepted forms.
        """
        kind_text, _, value = text.strip().partition(":")
        try:
            kind = ScopeKind(kind_text.lower())
        except ValueError:
            raise ValueError(f"'{text}' is not a scope (all, asset:ID, tag:NAME, "
                             "ring:NAME)") from None
        if kind is ScopeKind.ALL:
            return cls(kind)
        if not value:
            raise ValueError(f"scope '{text}' needs a value after ':'")
        return cls(kind, value)


@dataclass(frozen=True, slots=True)
class Credential:
    """A stored credential's public part; its secrets stay sealed in the vault."""

    name: str
    kind: CredentialKind
    username: str
    port: int | None = None
    key_path: str = ""
    sudo_mode: SudoMode = SudoMode.PASSWORD
    scopes: tuple[Scope, ...] = ()
    has_password: bool = False
    has_key: bool = False
    has_sudo_password: bool = False
    options: dict[str, str] = field(default_factory=dict)
    id: int | None = None
    created_at: datetime | None = None

    def binding(self) -> str:
        """What a sealed secret is bound to: every public field that decides where and how
        the secret is used (name, kind, user, port, sudo mode, scopes, options). Changing
        any of them in the site file — say, widening the scope to "all" — makes the sealed
        secret fail to open instead of going to hosts it was never meant for."""
        return json.dumps({
            "name": self.name, "kind": str(self.kind), "username": self.username,
            "port": self.port, "sudo_mode": str(self.sudo_mode),
            "scopes": sorted(str(s) for s in self.scopes),
            "options": {str(k): str(v) for k, v in sorted(self.options.items())},
        }, sort_keys=True, separators=(",", ":"))


WINRM_AUTHS = ("ntlm", "kerberos", "basic")


@dataclass(frozen=True, slots=True)
class WinRMSettings:
    """How a WinRM credential connects, read from its options (all public, all bound to
    the sealed password through :meth:`Credential.binding`).

    Attributes:
        auth: ``ntlm``, ``kerberos`` or ``basic``.
        https: HTTPS (5986, certificate validated) rather than HTTP (5985, NTLM/Kerberos
            message encryption).
        ca_sealed: the CA certificate that validates the hosts is sealed in the vault.
        ca_name: where that CA came from (shown only).
        allow_unencrypted: the user's explicit choice to let Basic travel without TLS.
        skip_cert_hosts: hosts (addresses or names) whose certificate is NOT validated —
            an explicit, audited choice per host.
    """

    auth: str = "ntlm"
    https: bool = True
    ca_sealed: bool = False
    ca_name: str = ""
    allow_unencrypted: bool = False
    skip_cert_hosts: tuple[str, ...] = ()

    def to_options(self) -> dict[str, str]:
        """The credential options that store these settings."""
        options = {"auth": self.auth, "transport": "https" if self.https else "http"}
        if self.ca_sealed:
            options["ca"] = "sealed"
            options["ca_name"] = self.ca_name
        if self.allow_unencrypted:
            options["allow_unencrypted"] = "true"
        if self.skip_cert_hosts:
            options["skip_cert_hosts"] = ",".join(self.skip_cert_hosts)
        return options

    @classmethod
    def from_options(cls, options: dict[str, str]) -> WinRMSettings:
        """Read the settings back (unknown auth falls back to nothing: it is refused)."""
        return cls(
            auth=options.get("auth", "ntlm"),
            https=options.get("transport", "https") != "http",
            ca_sealed=options.get("ca") == "sealed",
            ca_name=options.get("ca_name", ""),
            allow_unencrypted=options.get("allow_unencrypted") == "true",
            skip_cert_hosts=tuple(h for h in options.get("skip_cert_hosts", "").split(",")
                                  if h),
        )

    def skips_cert(self, *hosts: str) -> bool:
        """Whether certificate validation was explicitly switched off for this host."""
        wanted = {h.lower() for h in hosts if h}
        return any(h.lower() in wanted for h in self.skip_cert_hosts)

    def describe(self, port: int | None = None) -> str:
        """``NTLM over HTTPS port 5986`` and the like."""
        scheme = "HTTPS" if self.https else "HTTP"
        return f"{self.auth.upper() if self.auth != 'kerberos' else 'Kerberos'} over " \
               f"{scheme} port {port or (5986 if self.https else 5985)}"


#: Ports that say "this host speaks WinRM" (HTTP, HTTPS).
WINRM_PORTS = frozenset({5985, 5986})


def access_kind(asset: Asset, credentials: Iterable[Credential]) -> CredentialKind:
    """Which transport (and so which driver) assesses an asset.

    In order: the asset's OS family (Windows → WinRM, anything else known → SSH); then
    what discovery saw (WinRM open and SSH closed → WinRM); then the credentials assigned
    (a WinRM one assigned more specifically than any SSH one — say to the asset's tag
    while SSH is site-wide — → WinRM). Everything else is SSH.
    """
    family = str(asset.os_family)
    if family == "windows":
        return CredentialKind.WINRM
    if family not in ("unknown", "other"):
        return CredentialKind.SSH
    ports = set(asset.open_ports)
    if ports & WINRM_PORTS and 22 not in ports:
        return CredentialKind.WINRM
    creds = list(credentials)
    winrm = _best(asset, creds, CredentialKind.WINRM)
    ssh = _best(asset, creds, CredentialKind.SSH)
    if winrm is not None and (ssh is None or winrm[0] < ssh[0]):
        return CredentialKind.WINRM
    return CredentialKind.SSH


def credential_for(asset: Asset, credentials: Iterable[Credential],
                   kind: CredentialKind = CredentialKind.SSH) -> Credential | None:
    """The most specific credential of ``kind`` assigned to the asset (asset > tag > ring >
    site); ties go to the oldest credential."""
    best = _best(asset, credentials, kind)
    return best[2] if best else None


def _best(asset: Asset, credentials: Iterable[Credential],
          kind: CredentialKind) -> tuple[int, int, Credential] | None:
    best: tuple[int, int, Credential] | None = None
    for cred in credentials:
        if cred.kind is not kind:
            continue
        for scope in cred.scopes:
            if scope.matches(asset):
                rank = (_SPECIFICITY[scope.kind], cred.id or 0)
                if best is None or rank < best[:2]:
                    best = (*rank, cred)
    return best


KDF_NAME = "scrypt"


@dataclass(frozen=True, slots=True)
class VaultHeader:
    """What the site stores to re-derive and check the key (no secret in it)."""

    salt: bytes
    params: dict[str, int]
    verifier: bytes
    kdf: str = KDF_NAME
