"""Validation and normalisation of the values users type: IPs, MACs, host names, dates."""

from __future__ import annotations

import ipaddress
import re
from datetime import date

_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def normalize_ip(text: str) -> str:
    """Return the canonical text form of an IPv4 or IPv6 address.

    Raises:
        ValueError: with a short reason if ``text`` is not an IP address.
    """
    value = text.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a valid IPv4 or IPv6 address") from None


def normalize_mac(text: str) -> str:
    """Return a MAC address as lower-case ``aa:bb:cc:dd:ee:ff``.

    Accepts colon, dash, dot (Cisco) and bare hex forms.

    Raises:
        ValueError: if ``text`` is not a 48-bit MAC address.
    """
    value = text.strip()
    bare = re.sub(r"[:\-.\s]", "", value).lower()
    if not _MAC_HEX.match(bare):
        raise ValueError(f"'{value}' is not a valid MAC address (expected 6 hex octets)")
    return ":".join(bare[i : i + 2] for i in range(0, 12, 2))


def validate_hostname(text: str) -> str:
    """Check a host name (RFC 1123 labels; underscores tolerated as Windows uses them).

    Raises:
        ValueError: if the name is empty, too long or has invalid characters.
    """
    value = text.strip().rstrip(".")
    if not value:
        raise ValueError("host name is empty")
    if len(value) > 253:
        raise ValueError(f"host name is {len(value)} characters long (at most 253)")
    for label in value.split("."):
        if not _HOST_LABEL.match(label):
            raise ValueError(
                f"'{value}' is not a valid host name (letters, digits, '-', '_' and dots; "
                "no label may start or end with '-')"
            )
    return value


def parse_date(text: str) -> date | None:
    """Parse an ISO date (YYYY-MM-DD); empty text means no date.

    Raises:
        ValueError: if the text is not an ISO date.
    """
    value = text.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10]) if len(value) >= 10 else date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a date (expected YYYY-MM-DD)") from None


def split_list(text: str) -> list[str]:
    """Split a user-typed list on commas, semicolons or whitespace; drop empties."""
    return [part for part in re.split(r"[,;\s]+", text.strip()) if part]
