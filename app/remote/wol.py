"""Wake-on-LAN: the magic packet (6 × 0xFF, then the MAC 16 times) over UDP broadcast."""

from __future__ import annotations

import ipaddress
import re
import socket

_MAC = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$", re.IGNORECASE)
WOL_PORT = 9


def magic_packet(mac: str) -> bytes:
    """The 102-byte magic packet for a MAC (``aa:bb:cc:dd:ee:ff``, ``-`` or no separator).

    Raises:
        ValueError: not a MAC address.
    """
    if not _MAC.fullmatch(mac.strip()):
        raise ValueError(f"'{mac}' is not a MAC address")
    raw = bytes.fromhex(re.sub(r"[:-]", "", mac.strip()))
    return b"\xff" * 6 + raw * 16


def broadcast_for(ip: str, prefix: int = 24) -> str:
    """The directed broadcast address of a host's subnet (``10.0.5.7`` → ``10.0.5.255``)."""
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).broadcast_address)


def send_magic_packet(mac: str, broadcast: str, port: int = WOL_PORT, count: int = 3) -> None:
    """Send the magic packet ``count`` times (UDP is lossy) to a broadcast address."""
    packet = magic_packet(mac)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        for _ in range(max(1, count)):
            sock.sendto(packet, (broadcast, port))
