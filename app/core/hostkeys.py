"""SSH host keys as data: a pinned key and its OpenSSH-style fingerprint."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass


def fingerprint(key_b64: str) -> str:
    """OpenSSH-style SHA256 fingerprint of a base64 public key blob."""
    digest = hashlib.sha256(base64.b64decode(key_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True, slots=True)
class PinnedKey:
    """A host key the site trusts."""

    key_type: str
    key_b64: str

    @property
    def fingerprint(self) -> str:
        """SHA256 fingerprint."""
        return fingerprint(self.key_b64)
