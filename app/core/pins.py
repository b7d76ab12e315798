"""Personal PINs (or passphrases) that prove a named person's approval ([12].8).

Only a salted scrypt hash is kept in the site: ``scrypt$N$r$p$salt$hash`` (hex). The
parameters read back from a site file are checked before use, as the vault's are.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from app.core.errors import FieldError

PIN_MIN = 4
PIN_MAX = 256
_N, _R, _P = 2**14, 8, 1  # interactive: ~30 ms per try, 16 MiB
_KEY = 32


def check_pin(pin: str) -> list[FieldError]:
    """Problems with a new PIN (empty: fine)."""
    if len(pin) < PIN_MIN:
        return [FieldError("pin", f"must be at least {PIN_MIN} characters")]
    if len(pin) > PIN_MAX:
        return [FieldError("pin", f"must be at most {PIN_MAX} characters")]
    if pin != pin.strip():
        return [FieldError("pin", "must not start or end with spaces")]
    return []


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """The stored form of a PIN (a fresh random salt unless given)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_KEY,
                            maxmem=64 * 1024 * 1024)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` is the one ``stored`` was made from (constant-time compare); False
    for a stored value that is malformed or has parameters outside the safe bounds."""
    try:
        kind, n_text, r_text, p_text, salt_hex, hash_hex = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(hash_hex)
    except ValueError:
        return False
    if (kind != "scrypt" or not 2**14 <= n <= 2**20 or n & (n - 1) or not 1 <= r <= 32
            or not 1 <= p <= 4 or len(salt) < 16 or len(expected) != _KEY):
        return False
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_KEY,
                            maxmem=256 * 1024 * 1024)
    return hmac.compare_digest(digest, expected)
