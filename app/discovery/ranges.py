"""Parse scan targets (CIDR, ranges, single IPs, host names, exclusions) and find local subnets."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeAlias

import netaddr

__all__ = [
    "MAX_TARGETS",
    "PublicRangeError",
    "RangeError",
    "RangeTooLargeError",
    "TargetSet",
    "local_subnets",
    "parse_targets",
]

#: The largest target set scanned without explicit confirmation: a /16.
MAX_TARGETS = 65_536

#: The most addresses one scan may cover even when confirmed: a /12 (1,048,576). Beyond
#: that (``0.0.0.0/0``, a /8) the scan is refused outright: split it.
HARD_MAX_TARGETS = 1 << 20

#: Address blocks that are not on the public Internet: private (RFC 1918), loopback,
#: link-local, shared/CGNAT (RFC 6598), documentation (RFC 5737/3849), benchmarking,
#: IPv6 unique-local and link-local. Anything else needs an explicit "public" choice.
NON_PUBLIC_BLOCKS = (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "100.64.0.0/10", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15",
    "::1/128", "fc00::/7", "fe80::/10", "2001:db8::/32",
)

#: IPv6 is accepted for single hosts and tiny networks only: sweeping a /64 is pointless.
_MIN_IPV6_PREFIX = 120

# RFC 1123 host name labels; underscores are tolerated because real LANs have them
# (Windows machine names, SRV-style names) and a scanner should not be stricter than DNS.
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_SEPARATORS_RE = re.compile(r"[\s,;]+")
# "10.0.0.5 - 10.0.0.40" → "10.0.0.5-10.0.0.40": people type spaces around the dash.
_SPACED_DASH_RE = re.compile(r"(?<=[0-9a-fA-F.:])\s*-\s*(?=[0-9])")
_SPACED_BANG_RE = re.compile(r"!\s+")
_IPV4_LIKE_RE = re.compile(r"^[0-9.]+$")


class RangeError(ValueError):
    """A target specification the user typed is invalid.

    Attributes:
        token: The offending piece of input ("" when the input as a whole is the problem).
        reason: Why it is invalid, phrased for the user.
    """

    def __init__(self, token: str, reason: str, message: str | None = None) -> None:
        self.token = token
        self.reason = reason
        if message is None:
            message = f"invalid target {token!r}: {reason}" if token else reason
        super().__init__(message)


class RangeTooLargeError(RangeError):
    """The targets add up to more addresses than may be scanned without confirmation.

    Attributes:
        count: How many addresses the input describes.
    """

    def __init__(self, token: str, count: int) -> None:
        self.count = count
        reason = (
            f"the targets cover {count:,} addresses, more than the {MAX_TARGETS:,} (a /16) "
            "scanned without confirmation; narrow the range or confirm the large scan"
        )
        message = f"{reason} (largest target: {token})" if token else reason
        super().__init__(token, reason, message[0].upper() + message[1:])


class PublicRangeError(RangeError):
    """The targets include public Internet addresses and that was not explicitly allowed.

    Attributes:
        count: How many public addresses the targets include.
    """

    def __init__(self, token: str, count: int) -> None:
        self.count = count
        reason = (f"the targets include {count:,} public Internet address"
                  f"{'es' if count != 1 else ''}; scanning them needs its own explicit "
                  "choice (only scan networks you are allowed to)")
        message = f"{reason} (first: {token})" if token else reason
        super().__init__(token, reason, message[0].upper() + message[1:])


def check_limits(targets: TargetSet, *, allow_public: bool = False) -> None:
    """The limits no confirmation lifts, and the one that needs its own: applied to a parsed
    target set before scanning.

    Raises:
        RangeTooLargeError: more than :data:`HARD_MAX_TARGETS` addresses (never allowed).
        PublicRangeError: public addresses among the targets and not ``allow_public``.
    """
    if targets.count > HARD_MAX_TARGETS:
        exc = RangeTooLargeError("", targets.count)
        exc.reason = (f"the targets cover {targets.count:,} addresses; at most "
                      f"{HARD_MAX_TARGETS:,} (a /12) can be scanned at once: split the range")
        exc.args = (exc.reason[0].upper() + exc.reason[1:],)
        raise exc
    if allow_public:
        return
    public = targets._ipset - netaddr.IPSet(NON_PUBLIC_BLOCKS)
    if public.size:
        first = next(iter(public.iter_cidrs()))
        raise PublicRangeError(str(first.network if first.size == 1 else first),
                               int(public.size))


@dataclass(frozen=True, slots=True)
class TargetSet:
    """The addresses and host names one scan covers.

    Addresses are deduplicated and iterated in ascending order, IPv4 before IPv6, without
    ever materialising the whole list. Host names are kept as typed and resolved by the
    scanner.

    Attributes:
        hostnames: Host names to resolve at scan time, in input order, deduplicated.
    """

    _ipset: netaddr.IPSet
    hostnames: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """The number of IP addresses (host names not included)."""
        return int(self._ipset.size)

    def __iter__(self) -> Iterator[str]:
        for ip_range in self._ipset.iter_ipranges():
            first, last = int(ip_range.first), int(ip_range.last)
            if ip_range.version == 4:
                # inet_ntoa is several times faster than building IPAddress objects.
                for value in range(first, last + 1):
                    yield socket.inet_ntoa(value.to_bytes(4, "big"))
            else:
                for value in range(first, last + 1):
                    yield str(ipaddress.IPv6Address(value))

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, str):
            return False
        try:
            return ip in self._ipset
        except (netaddr.AddrFormatError, ValueError, TypeError):
            return False

    def __bool__(self) -> bool:
        return bool(self.hostnames) or self.count > 0

    def cidrs(self) -> list[str]:
        """The address set as the fewest CIDR blocks (for display and for nmap)."""
        return [str(cidr) for cidr in self._ipset.iter_cidrs()]

    @classmethod
    def from_addresses(cls, ips: Iterable[str], hostnames: Iterable[str] = ()) -> TargetSet:
        """Build a set from already validated addresses (used by the scanner for names)."""
        return cls(netaddr.IPSet(list(ips)), tuple(dict.fromkeys(hostnames)))


# --- parsing -----------------------------------------------------------------------------


def parse_targets(text: str, exclude: str = "", allow_large: bool = False) -> TargetSet:
    """Parse what a user typed as scan targets.

    Accepted tokens, separated by commas, semicolons, spaces or new lines:

    * ``192.168.1.0/24`` — a network. For prefixes up to /30 the network and broadcast
      addresses are left out (they are not hosts on a LAN, and probing the broadcast
      address only produces noise); /31 and /32 keep every address (RFC 3021). A host
      address with a prefix (``192.168.1.7/24``) means its network, as in nmap.
    * ``10.0.0.5-10.0.0.40`` or ``10.0.0.5-40`` — an inclusive range.
    * ``10.0.0.5`` — one address; ``fe80::1`` — one IPv6 address. IPv6 networks are
      accepted only from /120 (256 addresses) up; IPv6 ranges are not supported.
    * ``nas01``, ``printer.example.lan`` — host names, resolved when the scan starts.
    * ``!10.0.0.1``, ``!10.0.0.0/28``, ``!nas01`` — exclusions, anywhere in the list.

    Args:
        text: The targets.
        exclude: More exclusions, same syntax (the ``!`` is optional here).
        allow_large: Accept more than :data:`MAX_TARGETS` addresses.

    Returns:
        The targets with exclusions applied.

    Raises:
        RangeError: A token is invalid, nothing was given, or everything is excluded.
        RangeTooLargeError: More than :data:`MAX_TARGETS` addresses and not ``allow_large``.
    """
    include_tokens: list[str] = []
    exclude_tokens: list[str] = []
    for token in _tokens(text):
        if token.startswith("!"):
            exclude_tokens.append(token[1:])
        else:
            include_tokens.append(token)
    exclude_tokens.extend(token.removeprefix("!") for token in _tokens(exclude))

    if not include_tokens:
        raise RangeError("", "no targets given")

    included = netaddr.IPSet()
    names: dict[str, None] = {}
    largest_token, largest_size = "", 0
    for token in include_tokens:
        parsed = _parse_token(token, drop_network_broadcast=True)
        if isinstance(parsed, str):
            names.setdefault(parsed, None)
            continue
        for block in parsed:
            included.add(block)
        size = sum(int(block.size) for block in parsed)
        if size > largest_size:
            largest_token, largest_size = token, size

    excluded = netaddr.IPSet()
    excluded_names: set[str] = set()
    for token in exclude_tokens:
        if not token:
            raise RangeError("!", "an exclusion needs an address, range or name after '!'")
        parsed = _parse_token(token, drop_network_broadcast=False)
        if isinstance(parsed, str):
            excluded_names.add(parsed)
        else:
            for block in parsed:
                excluded.add(block)

    result_set = included - excluded if excluded.size else included
    hostnames = tuple(name for name in names if name not in excluded_names)
    if not result_set.size and not hostnames:
        raise RangeError("", "every target is excluded")
    if int(result_set.size) > MAX_TARGETS and not allow_large:
        raise RangeTooLargeError(largest_token, int(result_set.size))
    return TargetSet(result_set, hostnames)


def _tokens(text: str) -> list[str]:
    text = _SPACED_DASH_RE.sub("-", text)
    text = _SPACED_BANG_RE.sub("!", text)
    return [token for token in _SEPARATORS_RE.split(text) if token]


Block: TypeAlias = "netaddr.IPNetwork | netaddr.IPRange"


def _parse_token(token: str, *, drop_network_broadcast: bool) -> list[Block] | str:
    """Parse one token into address blocks, or return it normalised as a host name."""
    if "/" in token:
        return _parse_cidr(token, drop_network_broadcast)
    if "-" in token and (_IPV4_LIKE_RE.match(token.replace("-", "")) or ":" in token):
        return _parse_range(token)
    if _IPV4_LIKE_RE.match(token):
        return [netaddr.IPNetwork(_parse_ipv4(token, token))]
    if ":" in token:
        return [netaddr.IPNetwork(_parse_ipv6(token, token))]
    return _parse_hostname(token)


def _parse_ipv4(text: str, token: str) -> netaddr.IPAddress:
    try:
        return netaddr.IPAddress(str(ipaddress.IPv4Address(text)))
    except ValueError as exc:
        raise RangeError(token, f"not a valid IPv4 address ({exc})") from None


def _parse_ipv6(text: str, token: str) -> netaddr.IPAddress:
    if "%" in text:
        raise RangeError(token, "IPv6 zone ids (the '%' suffix) are not supported")
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        raise RangeError(token, "not a valid IP, range or host name") from None
    if address.ipv4_mapped is not None:
        return netaddr.IPAddress(str(address.ipv4_mapped))
    return netaddr.IPAddress(str(address))


def _parse_cidr(token: str, drop_network_broadcast: bool) -> list[Block]:
    address_text, _, prefix_text = token.partition("/")
    is_v6 = ":" in address_text
    max_prefix = 128 if is_v6 else 32
    if not prefix_text.isdigit() or not prefix_text.isascii():
        raise RangeError(token, f"prefix length {prefix_text!r} is not a number")
    prefix = int(prefix_text)
    if prefix > max_prefix:
        raise RangeError(token, f"prefix length {prefix} is out of range 0–{max_prefix}")
    address = _parse_ipv6(address_text, token) if is_v6 else _parse_ipv4(address_text, token)
    if is_v6 and prefix < _MIN_IPV6_PREFIX:
        raise RangeError(
            token,
            f"IPv6 networks larger than /{_MIN_IPV6_PREFIX} (256 addresses) cannot be swept; "
            "give single IPv6 addresses instead",
        )
    network = netaddr.IPNetwork(f"{address}/{prefix}").cidr
    if drop_network_broadcast and network.version == 4 and prefix <= 30:
        return [netaddr.IPRange(network.first + 1, network.last - 1)]
    return [network]


def _parse_range(token: str) -> list[Block]:
    start_text, _, end_text = token.partition("-")
    if ":" in token:
        raise RangeError(token, "IPv6 ranges are not supported; give single IPv6 addresses")
    if not start_text or not end_text or "-" in end_text:
        raise RangeError(token, "a range is START-END, e.g. 10.0.0.5-10.0.0.40 or 10.0.0.5-40")
    start = _parse_ipv4(start_text, token)
    if "." in end_text:
        end = _parse_ipv4(end_text, token)
    else:
        octet = int(end_text)
        if octet > 255:
            raise RangeError(token, f"range end {end_text} is not an octet (0–255)")
        end = netaddr.IPAddress((int(start) & 0xFFFFFF00) | octet)
    if end < start:
        raise RangeError(token, f"range end {end} is before start {start}")
    return [netaddr.IPRange(start, end)]


def _parse_hostname(token: str) -> str:
    name = token.rstrip(".") if token.endswith(".") and len(token) > 1 else token
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise RangeError(token, "not a valid IP, range or host name")
    return name.lower()


# --- local subnets -----------------------------------------------------------------------

_COMMAND_TIMEOUT = 3.0
_IS_LINUX = sys.platform.startswith("linux")


def local_subnets() -> list[str]:
    """The IPv4 subnets this machine's interfaces are on, e.g. ``["192.168.1.0/24"]``.

    Loopback, link-local (169.254/16) and /32 addresses are skipped. On Linux this reads
    ``ip -j addr`` and falls back to ``/proc/net/route``; on macOS/BSD ``ifconfig``;
    elsewhere it takes the address the default route would use and assumes a /24.

    Returns:
        CIDR strings, deduplicated, in interface order (empty if nothing was found).
    """
    subnets: list[str] = []
    if _IS_LINUX:
        output = _run_quietly(["ip", "-j", "addr", "show"])
        subnets = parse_ip_addr_json(output) if output else []
        if not subnets:
            try:
                with open("/proc/net/route", encoding="ascii", errors="replace") as handle:
                    subnets = parse_proc_net_route(handle.read())
            except OSError:
                subnets = []
    else:
        output = _run_quietly(["ifconfig", "-a"])
        subnets = parse_ifconfig(output) if output else []
    return subnets or _default_route_guess()


def _run_quietly(argv: list[str]) -> str | None:
    try:
        completed = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=_COMMAND_TIMEOUT,
            check=False,
            env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout if completed.returncode == 0 else None


def _usable(network: ipaddress.IPv4Network) -> bool:
    return not (
        network.prefixlen >= 32
        or network.is_loopback
        or network.is_link_local
        or network.is_multicast
        or network.is_unspecified
    )


def _dedupe(networks: Iterable[ipaddress.IPv4Network]) -> list[str]:
    return list(dict.fromkeys(str(network) for network in networks if _usable(network)))


def parse_ip_addr_json(text: str) -> list[str]:
    """Subnets from ``ip -j addr`` output (interfaces that are up, not loopback)."""
    try:
        interfaces = json.loads(text)
    except ValueError:
        return []
    networks: list[ipaddress.IPv4Network] = []
    if not isinstance(interfaces, list):
        return []
    for interface in interfaces:
        if not isinstance(interface, dict):
            continue
        flags = interface.get("flags") or []
        if "LOOPBACK" in flags or "UP" not in flags:
            continue
        for info in interface.get("addr_info") or []:
            if not isinstance(info, dict) or info.get("family") != "inet":
                continue
            if info.get("scope") == "host":
                continue
            try:
                networks.append(
                    ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
                )
            except (KeyError, ValueError):
                continue
    return _dedupe(networks)


_RTF_UP, _RTF_GATEWAY = 0x1, 0x2


def parse_proc_net_route(text: str) -> list[str]:
    """Directly connected subnets from ``/proc/net/route`` (hex, host byte order)."""
    networks: list[ipaddress.IPv4Network] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8 or fields[0] == "lo":
            continue
        try:
            destination = int(fields[1], 16).to_bytes(4, "little")
            flags = int(fields[3], 16)
            mask = int(fields[7], 16).to_bytes(4, "little")
        except (ValueError, OverflowError):
            continue
        if not flags & _RTF_UP or flags & _RTF_GATEWAY or mask == b"\0\0\0\0":
            continue
        try:
            networks.append(
                ipaddress.IPv4Network(
                    f"{socket.inet_ntoa(destination)}/{socket.inet_ntoa(mask)}", strict=False
                )
            )
        except ValueError:
            continue
    return _dedupe(networks)


_IFCONFIG_INET_RE = re.compile(
    r"\binet (?:addr:)?(\d+\.\d+\.\d+\.\d+)\s+.*?"
    r"(?:netmask|Mask:)\s*(0x[0-9a-fA-F]{8}|\d+\.\d+\.\d+\.\d+)"
)


def parse_ifconfig(text: str) -> list[str]:
    """Subnets from BSD/macOS (``netmask 0xffffff00``) or net-tools ``ifconfig`` output."""
    networks: list[ipaddress.IPv4Network] = []
    for match in _IFCONFIG_INET_RE.finditer(text):
        address, mask = match.groups()
        if mask.startswith("0x"):
            mask = socket.inet_ntoa(int(mask, 16).to_bytes(4, "big"))
        try:
            networks.append(ipaddress.IPv4Network(f"{address}/{mask}", strict=False))
        except ValueError:
            continue
    return _dedupe(networks)


def _default_route_guess() -> list[str]:
    # connect() on a UDP socket only selects a route and source address; it sends nothing.
    # 192.0.2.1 is TEST-NET-1 (RFC 5737), so no real host is ever involved.
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
    except OSError:
        return []
    return _dedupe([ipaddress.IPv4Network(f"{address}/24", strict=False)])
