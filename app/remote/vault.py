"""The credential vault: secrets encrypted at rest with a key derived from a master password.

scrypt (n=2^15, r=8, p=1) turns the master password and a per-site random salt into a
256-bit key (parameters read from a file are range-checked first); each secret is sealed
with AES-256-GCM under a fresh 96-bit nonce and bound, as associated data, to its
credential's public fields (name, kind, user, port, sudo mode, scopes, options — see
``Credential.binding``), so a blob cannot be swapped between rows and a credential's scope
or target cannot be changed in the file without its secret failing to open. Blobs sealed
before that binding existed (bound to the name only) still open and are re-sealed.
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

    def seal(self, secrets: dict[str, Any], binding: str) -> bytes:
        """Encrypt a credential's secrets, bound to ``Credential.binding()``."""
        nonce = os.urandom(12)
        plain = json.dumps(secrets, sort_keys=True).encode("utf-8")
        return _V2 + nonce + AESGCM(self.key).encrypt(nonce, plain, _aad_v2(binding))

    def open(self, blob: bytes, binding: str) -> dict[str, Any]:
        """Decrypt a credential's secrets sealed with :meth:`seal`.

        Raises:
            UserError: the blob was altered, belongs to another credential, or the
                credential's public fields were changed since it was sealed.
        """
        plain = self._decrypt(blob[len(_V2):], _aad_v2(binding)) if blob[:3] == _V2 else None
        if plain is None:
            raise UserError(f"the stored secret of credential '{_name_of(binding)}' is damaged "
                            "or was moved from another credential (or the credential's user, "
                            "port or scope was changed in the site file)")
        return dict(json.loads(plain))

    def open_any(self, blob: bytes, binding: str, *,
                 legacy_name: str) -> tuple[dict[str, Any], bool]:
        """Like :meth:`open`, also accepting a blob sealed by an older PatchDesk (bound to
        the name only); returns the secrets and whether the blob was such a legacy one."""
        if blob[:3] == _V2:
            plain = self._decrypt(blob[len(_V2):], _aad_v2(binding))
            if plain is not None:
                return dict(json.loads(plain)), False
        plain = self._decrypt(blob, _aad_v1(legacy_name))
        if plain is None:
            return self.open(blob, binding), False  # raises the user-facing error
        return dict(json.loads(plain)), True

    def _decrypt(self, blob: bytes, aad: bytes) -> bytes | None:
        try:
            return AESGCM(self.key).decrypt(blob[:12], blob[12:], aad)
        except (InvalidTag, ValueError):
            return None


#: Prefix of blobs bound to ``Credential.binding()`` (older blobs start with their nonce).
_V2 = b"PD2"


def _aad_v1(name: str) -> bytes:
    return f"patchdesk:credential:{name}".encode()


def _aad_v2(binding: str) -> bytes:
    return b"patchdesk:credential-v2:" + binding.encode("utf-8")


def _name_of(binding: str) -> str:
    try:
        return str(json.loads(binding)["name"])
    except (ValueError, KeyError, TypeError):
        return binding


#: Accepted scrypt parameters: n a power of two in [2^10, 2^20], r in [1, 32], p in [1, 16],
#: at most 1 GiB of memory (128·r·n). A file outside these is damaged or crafted (n=3 made
#: hashlib raise; a huge p froze the unlock for hours).
_N_RANGE = (2**10, 2**20)
_R_RANGE = (1, 32)
_P_RANGE = (1, 16)
_MAX_MEM = 1 << 30


def check_params(params: object) -> dict[str, int]:
    """The scrypt parameters if they are sane.

    Raises:
        UserError: a parameter is missing, not an integer, or out of range.
    """
    bad = UserError("the vault header's key-derivation parameters are damaged or crafted "
                    f"({params!r:.80}); the vault cannot be opened safely")
    if not isinstance(params, dict) or set(params) != {"n", "r", "p"}:
        raise bad
    values = {k: params[k] for k in ("n", "r", "p")}
    if not all(type(v) is int for v in values.values()):
        raise bad
    n, r, p = values["n"], values["r"], values["p"]
    if not (_N_RANGE[0] <= n <= _N_RANGE[1] and n & (n - 1) == 0
            and _R_RANGE[0] <= r <= _R_RANGE[1] and _P_RANGE[0] <= p <= _P_RANGE[1]
            and 128 * r * n <= _MAX_MEM):
        raise bad
    return values


def _derive(password: str, salt: bytes, params: dict[str, int]) -> bytes:
    # hashlib's scrypt (OpenSSL) gives the same key as cryptography's Scrypt but releases
    # the GIL while it works, so unlocking on a worker thread never freezes the GUI.
    checked = check_params(params)
    n, r, p = checked["n"], checked["r"], checked["p"]
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
