"""MAC address normalisation and vendor lookup in netaddr's bundled IEEE OUI registry."""

from __future__ import annotations

import functools
import re

import netaddr

from app.discovery.sanitise import sanitise

__all__ = ["PRIVATE_MAC", "is_locally_administered", "normalise_mac", "vendor_for"]

#: What :func:`vendor_for` says for locally administered (often randomised) addresses.
PRIVATE_MAC = "private (randomised) MAC"

_HEX_RE = re.compile(r"[0-9a-fA-F]+")


def normalise_mac(text: str | None) -> str | None:
    """Return a MAC in lower-case colon form, or None if it is not a usable unicast MAC.

    Accepts ``aa:bb:cc:dd:ee:ff``, ``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff``,
    ``aabbccddeeff`` and the short octets macOS ``arp`` prints (``0:1b:63:4:5:e6``).
    All-zero, broadcast and multicast addresses give None.
    """
    if not text:
        return None
    text = text.strip()
    parts = text.replace("-", ":").split(":")
    if len(parts) == 6 and all(1 <= len(part) <= 2 and _HEX_RE.fullmatch(part) for part in parts):
        octets = bytes(int(part, 16) for part in parts)
    else:
        digits = text.replace(".", "").replace(":", "").replace("-", "")
        if len(digits) != 12 or not _HEX_RE.fullmatch(digits):
            return None
        octets = bytes.fromhex(digits)
    if octets == b"\0" * 6 or octets[0] & 0x01:  # zero, or group bit: multicast/broadcast
        return None
    return ":".join(f"{octet:02x}" for octet in octets)


def is_locally_administered(mac: str) -> bool:
    """Whether the U/L bit is set: the address was assigned locally (e.g. randomised Wi-Fi)."""
    return bool(int(mac[:2], 16) & 0x02)


@functools.lru_cache(maxsize=4096)
def vendor_for(mac: str | None) -> str | None:
    """The IEEE registrant of a MAC's OUI, from netaddr's offline copy of ``oui.txt``.

    Args:
        mac: A MAC in any form :func:`normalise_mac` accepts.

    Returns:
        The organisation name; :data:`PRIVATE_MAC` for locally administered addresses
        (they carry no vendor, tech-notes §5.6); None when unknown.
    """
    normalised = normalise_mac(mac)
    if normalised is None:
        return None
    if is_locally_administered(normalised):
        return PRIVATE_MAC
    try:
        org = netaddr.EUI(normalised).oui.registration().org
    except (netaddr.NotRegisteredError, netaddr.AddrFormatError, IndexError, ValueError):
        return None
    return sanitise(str(org))
