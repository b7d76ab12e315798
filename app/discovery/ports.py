"""TCP port profiles for the discovery sweep and the parser for user-typed port lists."""

from __future__ import annotations

import re
from types import MappingProxyType

__all__ = ["DEFAULT_PORTS", "PROFILES", "SERVICE_NAMES", "PortError", "parse_ports"]

# Service names as nmap-services spells them
# (https://github.com/nmap/nmap/blob/db4aefddfa348ec815ffa83a109c97e05db88766/nmap-services),
# used in evidence strings such as "port 9100/tcp open (jetdirect)".
SERVICE_NAMES: MappingProxyType[int, str] = MappingProxyType(
    {
        21: "ftp",
        22: "ssh",
        23: "telnet",
        25: "smtp",
        53: "domain",
        80: "http",
        110: "pop3",
        111: "rpcbind",
        135: "msrpc",
        139: "netbios-ssn",
        143: "imap",
        389: "ldap",
        443: "https",
        445: "microsoft-ds",
        465: "smtps",
        515: "printer",
        548: "afp",
        554: "rtsp",
        587: "submission",
        631: "ipp",
        636: "ldapssl",
        993: "imaps",
        995: "pop3s",
        1433: "ms-sql-s",
        1883: "mqtt",
        2049: "nfs",
        3306: "mysql",
        3389: "ms-wbt-server",
        5000: "upnp",
        5001: "commplex-link",
        5432: "postgresql",
        5900: "vnc",
        5985: "wsman",
        5986: "wsmans",
        6379: "redis",
        8000: "http-alt",
        8006: "wpl-analytics",
        8080: "http-proxy",
        8443: "https-alt",
        9100: "jetdirect",
        62078: "iphone-sync",
    }
)

#: Ports that tell device classes apart (tech-notes §5.3): management channels first,
#: then Windows, printers, Apple, web UIs and legacy network-gear telnet.
DEFAULT_PORTS: tuple[int, ...] = (
    22,
    80,
    443,
    445,
    139,
    135,
    3389,
    5985,
    5986,
    9100,
    631,
    548,
    5900,
    8080,
    8443,
    23,
)

#: Named port profiles. The first port of each profile is also a liveness probe.
PROFILES: MappingProxyType[str, tuple[int, ...]] = MappingProxyType(
    {
        "default": DEFAULT_PORTS,
        "quick": (22, 80, 443, 445, 3389),
        "windows": (445, 135, 139, 3389, 5985, 5986, 22, 80, 443),
        "printers": (9100, 631, 515, 80, 443, 8080),
        "full-ish": (
            *DEFAULT_PORTS,
            21,
            25,
            53,
            110,
            111,
            143,
            389,
            465,
            515,
            554,
            587,
            636,
            993,
            995,
            1433,
            1883,
            2049,
            3306,
            5000,
            5001,
            5432,
            6379,
            8000,
            8006,
            62078,
        ),
    }
)

_SEPARATORS_RE = re.compile(r"[\s,;]+")


class PortError(ValueError):
    """A port list the user typed is invalid.

    Attributes:
        token: The offending piece of input ("" when the input as a whole is the problem).
        reason: Why it is invalid, phrased for the user.
    """

    def __init__(self, token: str, reason: str) -> None:
        self.token = token
        self.reason = reason
        super().__init__(f"invalid port {token!r}: {reason}" if token else reason)


def parse_ports(text: str) -> list[int]:
    """Parse a port list such as ``"22,80,8000-8010"`` or a profile name such as ``"quick"``.

    Tokens are separated by commas, semicolons or spaces; each is a port, an inclusive
    ``START-END`` range, or the name of a profile in :data:`PROFILES`.

    Args:
        text: The port list.

    Returns:
        The ports in the order given, without duplicates (the first is used as a liveness
        probe, so order matters).

    Raises:
        PortError: A token is not a port, range or profile name, a port is outside
            1–65535, a range is reversed, or nothing was given.
    """
    ports: dict[int, None] = {}
    for token in _SEPARATORS_RE.split(text.strip()):
        if not token:
            continue
        if token.lower() in PROFILES:
            ports.update(dict.fromkeys(PROFILES[token.lower()]))
            continue
        start_text, dash, end_text = token.partition("-")
        start = _port_number(start_text, token)
        end = _port_number(end_text, token) if dash else start
        if end < start:
            raise PortError(token, f"range end {end} is before start {start}")
        ports.update(dict.fromkeys(range(start, end + 1)))
    if not ports:
        raise PortError("", "no ports given")
    return list(ports)


def _port_number(text: str, token: str) -> int:
    if not text.isascii() or not text.isdigit():
        profiles = ", ".join(PROFILES)
        raise PortError(
            token, f"{text or token!r} is not a port number, range or profile ({profiles})"
        )
    number = int(text)
    if not 1 <= number <= 65535:
        raise PortError(token, f"port {number} is out of range 1–65535")
    return number
