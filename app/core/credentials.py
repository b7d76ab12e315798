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


def credential_for(asset: Asset, credentials: Iterable[Credential],
                   kind: CredentialKind = CredentialKind.SSH) -> Credential | None:
    """The most specific credential of ``kind`` assigned to the asset (asset > tag > ring >
    site); ties go to the oldest credential."""
    best: tuple[int, int, Credential] | None = None
    for cred in credentials:
        if cred.kind is not kind:
            continue
        for scope in cred.scopes:
            if scope.matches(asset):
                rank = (_SPECIFICITY[scope.kind], cred.id or 0)
                if best is None or rank < best[:2]:
                    best = (*rank, cred)
    return best[2] if best else None


KDF_NAME = "scrypt"


@dataclass(frozen=True, slots=True)
class VaultHeader:
    """What the site stores to re-derive and check the key (no secret in it)."""

    salt: bytes
    params: dict[str, int]
    verifier: bytes
    kdf: str = KDF_NAME
