"""Read the operating system's neighbour (ARP) table: IP → MAC for on-link hosts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

from app.discovery.oui import normalise_mac

__all__ = [
    "CONFIRMED_STATES",
    "UNCONFIRMED_STATES",
    "NeighbourCache",
    "parse_arp_an",
    "parse_ip_neigh_json",
    "parse_ip_neigh_states",
    "parse_proc_net_arp",
    "read_neighbour_states",
    "read_neighbour_table",
]

#: A function returning the current neighbour table; tests pass fakes.
NeighbourSource = Callable[[], Mapping[str, str]]

_ATF_COM = 0x2  # "completed entry" flag in /proc/net/arp (include/uapi/linux/if_arp.h)
# `ip neigh` states whose lladdr proves the host answered ARP recently enough.
_RESOLVED_STATES = {"REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP"}
_PROC_NET_ARP = "/proc/net/arp"
#: Neighbour states that prove the host answered ARP just now (or is configured).
CONFIRMED_STATES = frozenset({"REACHABLE", "PERMANENT", "NOARP"})
#: States that only say the host answered *some time ago*: a device that left the network
#: minutes ago is still STALE. The kernel re-checks such an entry when our probe uses it
#: (DELAY for 5 s, then PROBE: unicast ARP) and ends in REACHABLE or FAILED (ip-neighbour(8),
#: Documentation/networking/ip-sysctl.rst "delay_first_probe_time", "ucast_solicit").
UNCONFIRMED_STATES = frozenset({"STALE", "DELAY", "PROBE"})
# A variable, not an inline check, so type checkers keep the other branch reachable.
_IS_LINUX = sys.platform.startswith("linux")
_IS_WINDOWS = sys.platform == "win32"


def parse_proc_net_arp(text: str) -> dict[str, str]:
    """Complete entries (flags & 0x2) of ``/proc/net/arp``."""
    table: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        try:
            flags = int(fields[2], 16)
        except ValueError:
            continue
        mac = normalise_mac(fields[3])
        if flags & _ATF_COM and mac:
            table[fields[0]] = mac
    return table


def parse_ip_neigh_json(text: str) -> dict[str, str]:
    """Resolved entries of ``ip -j neigh`` (Linux, iproute2)."""
    try:
        entries = json.loads(text)
    except ValueError:
        return {}
    table: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        states = entry.get("state") or []
        mac = normalise_mac(str(entry.get("lladdr") or ""))
        if mac and isinstance(states, list) and _RESOLVED_STATES.intersection(states):
            table[str(entry.get("dst"))] = mac
    return table


def parse_ip_neigh_states(text: str) -> dict[str, str]:
    """IPv4 address → the most telling state word of each ``ip -j neigh`` entry."""
    try:
        entries = json.loads(text)
    except ValueError:
        return {}
    table: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        states = [str(s) for s in entry.get("state") or [] if isinstance(s, str)]
        if states:
            table[str(entry.get("dst"))] = states[0]
    return table


def read_neighbour_states() -> dict[str, str] | None:
    """IPv4 neighbour states (Linux ``ip -j neigh``); None where states cannot be read."""
    if not _IS_LINUX:
        return None
    output = _run(["ip", "-j", "-4", "neigh", "show"])
    return None if output is None else parse_ip_neigh_states(output)


_ARP_AN_RE = re.compile(
    r"\((\d+\.\d+\.\d+\.\d+)\) at ([0-9a-fA-F:.-]+)"  # BSD/macOS: ? (10.0.0.1) at 0:1b:…
    r"|^\s*(\d+\.\d+\.\d+\.\d+)\s+([0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5})\s",  # Windows arp -a
    re.MULTILINE,
)


def parse_arp_an(text: str) -> dict[str, str]:
    """Entries of BSD/macOS ``arp -an`` or Windows ``arp -a`` (``incomplete`` skipped)."""
    table: dict[str, str] = {}
    for match in _ARP_AN_RE.finditer(text):
        ip = match.group(1) or match.group(3)
        mac = normalise_mac(match.group(2) or match.group(4))
        if ip and mac:
            table[ip] = mac
    return table


def read_neighbour_table() -> dict[str, str]:
    """The current IPv4 neighbour table of this machine (empty if it cannot be read)."""
    if _IS_LINUX:
        try:
            with open(_PROC_NET_ARP, encoding="ascii", errors="replace") as handle:
                return parse_proc_net_arp(handle.read())
        except OSError:
            output = _run(["ip", "-j", "-4", "neigh", "show"])
            return parse_ip_neigh_json(output) if output else {}
    argv = ["arp", "-a"] if _IS_WINDOWS else ["arp", "-an"]
    output = _run(argv)
    return parse_arp_an(output) if output else {}


#: Environment variables never handed to a child process (the CLI's master password).
_SECRET_WORDS = ("PASSWORD", "PASSPHRASE", "SECRET", "TOKEN")


def child_env() -> dict[str, str]:
    """This process's environment without anything that looks like a secret."""
    return {k: v for k, v in os.environ.items()
            if not any(word in k.upper() for word in _SECRET_WORDS)}


def _run(argv: list[str]) -> str | None:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=3.0,
                                   check=False, env=child_env())
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout if completed.returncode == 0 else None


class NeighbourCache:
    """A neighbour table re-read at most every ``max_age`` seconds.

    The sweep asks once per silent host; re-reading ``/proc/net/arp`` thousands of times
    (or spawning ``arp`` on other systems) would cost more than the probes.
    """

    def __init__(self, source: NeighbourSource = read_neighbour_table, max_age: float = 0.25):
        self._source = source
        self._max_age = max_age
        self._table: Mapping[str, str] = {}
        self._read_at = float("-inf")

    def lookup(self, ip: str) -> str | None:
        """The MAC for ``ip``, re-reading the table if the cached copy is older than allowed."""
        now = time.monotonic()
        if ip not in self._table and now - self._read_at >= self._max_age:
            self._table = self._source()
            self._read_at = now
        return normalise_mac(self._table.get(ip))
