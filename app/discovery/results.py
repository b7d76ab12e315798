"""Result records of a discovery scan: one per live host, one per scan."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["DeviceType", "HostResult", "ScanResult"]


class DeviceType(StrEnum):
    """What kind of device a host looks like; the value is the display string."""

    SERVER = "server"
    WORKSTATION = "workstation"
    WINDOWS_HOST = "windows host"
    LINUX_HOST = "linux host"
    MAC = "mac"
    PRINTER = "printer"
    NETWORK_DEVICE = "network device"
    NAS = "nas"
    PHONE = "phone or tablet"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class HostResult:
    """Everything the sweep learned about one live host.

    Every string that came from the network is already sanitised (no control characters,
    length-capped).

    Attributes:
        ip: The address that answered.
        mac: Lower-case colon form from the neighbour table or NetBIOS, if known.
        vendor: IEEE OUI organisation for ``mac``, or ``"private (randomised) MAC"``.
        hostnames: Names from reverse DNS, NetBIOS and the target list, deduplicated.
        netbios_name: The NetBIOS workstation name, if the host answered NBSTAT.
        open_ports: Open TCP ports, ascending.
        ssh_banner: First line the SSH server sent.
        http_title: ``<title>`` of the web UI.
        http_server: ``Server:`` header of the web UI.
        device_type: A :class:`DeviceType` value.
        os_guess: ``"Debian"``, ``"Windows"``, ``"printer firmware"``… or None.
        evidence: Human-readable reasons for the liveness, names and guesses.
        alive_reason: Why the host counts as alive, e.g. ``"port 22/tcp open"``.
        rtt_ms: Fastest TCP connect round trip, if any port answered.
    """

    ip: str
    mac: str | None = None
    vendor: str | None = None
    hostnames: list[str] = field(default_factory=list)
    netbios_name: str | None = None
    open_ports: list[int] = field(default_factory=list)
    ssh_banner: str | None = None
    http_title: str | None = None
    http_server: str | None = None
    device_type: str = DeviceType.UNKNOWN.value
    os_guess: str | None = None
    evidence: list[str] = field(default_factory=list)
    alive_reason: str = ""
    rtt_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (plain str/int/float/list/None values)."""
        return {
            "ip": self.ip,
            "mac": self.mac,
            "vendor": self.vendor,
            "hostnames": list(self.hostnames),
            "netbios_name": self.netbios_name,
            "open_ports": list(self.open_ports),
            "ssh_banner": self.ssh_banner,
            "http_title": self.http_title,
            "http_server": self.http_server,
            "device_type": str(self.device_type),
            "os_guess": self.os_guess,
            "evidence": list(self.evidence),
            "alive_reason": self.alive_reason,
            "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The outcome of one sweep.

    Attributes:
        hosts: Live hosts, ordered by address.
        started: When the scan started (timezone-aware, UTC).
        finished: When it ended (UTC), also when cancelled.
        targets_count: Addresses scanned, including those resolved from host names.
        cancelled: Whether the scan was cancelled; ``hosts`` then holds what was complete.
        unresolved: Host names from the target list that did not resolve.
    """

    hosts: list[HostResult]
    started: datetime
    finished: datetime
    targets_count: int
    cancelled: bool = False
    unresolved: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Seconds the scan took."""
        return (self.finished - self.started).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "hosts": [host.to_dict() for host in self.hosts],
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "targets_count": self.targets_count,
            "cancelled": self.cancelled,
            "unresolved": list(self.unresolved),
        }


def ip_sort_key(ip: str) -> tuple[int, int]:
    """Sort key ordering IPv4 before IPv6, numerically."""
    address = ipaddress.ip_address(ip)
    return (address.version, int(address))
