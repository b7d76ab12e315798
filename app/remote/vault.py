"""The credential vault: secrets encrypted at rest with a key derived from a master password.

scrypt (n=2^15, r=8, p=1) turns the master password and a per-site random salt into a
256-bit key; each secret is sealed with AES-256-GCM under a fresh 96-bit nonce and bound to
its credential's name as associated data, so sealed blobs cannot be swapped between rows.
A sealed known constant (the verifier) tells a wrong master password from a damaged vault.
Unlocked keys live only in memory, in a :class:`VaultKey`, for the session.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.core.credentials import KDF_NAME, VaultHeader
from app.core.errors import UserError

DEFAULT_PARAMS = {"n": 2**15, "r": 8, "p": 1}
_VERIFIER = b"patchdesk-vault-v1"
_VERIFIER_AAD = b"patchdesk:verifier"
MIN_MASTER_PASSWORD = 8


class VaultLockedError(UserError):
    """A secret was needed but the vault is locked."""


class WrongMasterPasswordError(UserError):
    """The master password does not open this site's vault."""


@dataclass(frozen=True, slots=True)
class VaultKey:
    """An unlocked vault key (kept in memory only; repr hides it)."""

    key: bytes = field(repr=False)

    def seal(self, secrets: dict[str, Any], name: str) -> bytes:
        """Encrypt a credential's secrets, bound to its name."""
        nonce = os.urandom(12)
        plain = json.dumps(secrets, sort_keys=True).encode("utf-8")
        return nonce + AESGCM(self.key).encrypt(nonce, plain, _aad(name))

    def open(self, blob: bytes, name: str) -> dict[str, Any]:
        """Decrypt a credential's secrets.

        Raises:
            UserError: the blob was altered or belongs to another credential.
        """
        try:
            plain = AESGCM(self.key).decrypt(blob[:12], blob[12:], _aad(name))
        except (InvalidTag, ValueError):
            raise UserError(f"the stored secret of credential '{name}' is damaged or was "
                            "moved from another credential") from None
        data = json.loads(plain)
        return dict(data)


def _aad(name: str) -> bytes:
    return f"patchdesk:credential:{name}".encode()


def _derive(password: str, salt: bytes, params: dict[str, int]) -> bytes:
    # hashlib's scrypt (OpenSSL) gives the same key as cryptography's Scrypt but releases
    # the GIL while it works, so unlocking on a worker thread never freezes the GUI.
    n, r, p = params["n"], params["r"], params["p"]
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * r * n + 1024 * 1024, dklen=32)


def create_vault(master_password: str,
                 params: dict[str, int] | None = None) -> tuple[VaultHeader, VaultKey]:
    """Make a new vault for a site.

    Raises:
        UserError: the master password is too short.
    """
    if len(master_password) < MIN_MASTER_PASSWORD:
        raise UserError(f"the master password needs at least {MIN_MASTER_PASSWORD} characters")
    params = dict(params or DEFAULT_PARAMS)
    salt = os.urandom(16)
    key = _derive(master_password, salt, params)
    nonce = os.urandom(12)
    verifier = nonce + AESGCM(key).encrypt(nonce, _VERIFIER, _VERIFIER_AAD)
    return VaultHeader(salt, params, verifier), VaultKey(key)


def unlock_vault(header: VaultHeader, master_password: str) -> VaultKey:
    """Derive the key and check it against the verifier.

    Raises:
        WrongMasterPasswordError: the password does not open this vault.
    """
    if header.kdf != KDF_NAME:
        raise UserError(f"unknown vault key derivation '{header.kdf}'")
    key = _derive(master_password, header.salt, header.params)
    try:
        plain = AESGCM(key).decrypt(header.verifier[:12], header.verifier[12:],
                                    _VERIFIER_AAD)
    except InvalidTag:
        raise WrongMasterPasswordError("wrong master password for this site's vault") from None
    if plain != _VERIFIER:
        raise WrongMasterPasswordError("wrong master password for this site's vault")
    return VaultKey(key)
