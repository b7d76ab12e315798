"""Guess a host's device type and OS from what the sweep saw, using a table of rules."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.discovery.ports import SERVICE_NAMES
from app.discovery.results import DeviceType

__all__ = ["RULES", "Facts", "Guess", "Rule", "classify", "port_evidence"]

_T = DeviceType


@dataclass(frozen=True, slots=True)
class Facts:
    """What the sweep learned about a host, as the rules see it (all strings sanitised)."""

    open_ports: frozenset[int] = frozenset()
    ssh_banner: str | None = None
    http_title: str | None = None
    http_server: str | None = None
    vendor: str | None = None
    names: tuple[str, ...] = ()  # reverse DNS and NetBIOS names
    netbios: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One piece of evidence and what it suggests.

    A rule fires when every port in ``ports_all`` is open, none in ``ports_none`` is, and
    (if ``field`` is set) ``pattern`` matches that fact. Its ``weight`` is added to the
    score of ``device_type`` and of ``os_guess``; the highest score wins, ties go to the
    rule listed first.

    Attributes:
        device_type: The type this evidence points to, if any.
        os_guess: The OS this evidence points to, if any.
        weight: How strongly (1 weak hint … 10 conclusive).
        ports_all: Ports that must all be open.
        ports_none: Ports that must all be closed.
        field: ``"ssh_banner"``, ``"http_title"``, ``"http_server"``, ``"vendor"``,
            ``"names"`` or ``"netbios"``.
        pattern: Regular expression searched in ``field`` (case-insensitive).
        note: Short explanation appended to the evidence.
    """

    device_type: DeviceType | None = None
    os_guess: str | None = None
    weight: int = 1
    ports_all: frozenset[int] = frozenset()
    ports_none: frozenset[int] = frozenset()
    field: str | None = None
    pattern: re.Pattern[str] | None = None
    note: str = ""


def _on_ports(
    device_type: DeviceType | None,
    os_guess: str | None,
    weight: int,
    ports: Iterable[int],
    unless: Iterable[int] = (),
    note: str = "",
) -> Rule:
    return Rule(device_type, os_guess, weight, frozenset(ports), frozenset(unless), note=note)


def _when(
    fact: str,
    pattern: str,
    device_type: DeviceType | None,
    os_guess: str | None,
    weight: int,
    note: str = "",
) -> Rule:
    return Rule(
        device_type, os_guess, weight, field=fact, pattern=re.compile(pattern, re.I), note=note
    )


_PRINTER_WORDS = (
    r"LaserJet|OfficeJet|DeskJet|PageWide|DesignJet|Brother|EPSON|Canon|Lexmark|Kyocera|"
    r"ECOSYS|Xerox|RICOH|Konica|bizhub|Sharp MX|OKI|Zebra|Printer|imageRUNNER|WorkCentre"
)
_PRINTER_SERVERS = r"HP HTTP Server|HP-ChaiSOE|Virata-EmWeb|KM-MFP|EPSON_Linux|Lexmark"
_EMBEDDED_SERVERS = r"RomPager|GoAhead|mini_httpd|uhttpd|Boa/"
_REDHAT_SERVERS = r"\((Red Hat|CentOS|Rocky|AlmaLinux|Fedora)"
_NETWORK_WORDS = (
    r"RouterOS|MikroTik|UniFi|EdgeOS|EdgeRouter|OpenWrt|LuCI|pfSense|OPNsense|FRITZ!Box|"
    r"Cisco|NETGEAR|TP-LINK|Omada|ZyXEL|Ubiquiti|DD-WRT|Fortinet|FortiGate|SonicWall|"
    r"Sophos|Aruba|Juniper|Draytek|Vigor|Switch|Router|Firewall|Access Point"
)
_NAS_WORDS = r"Synology|DiskStation|QNAP|TrueNAS|FreeNAS|unRAID|ReadyNAS|My Cloud|TerraMaster"
_BMC_WORDS = r"iDRAC|Integrated Lights-Out|iLO|IPMI|Supermicro|BMC"
_NETWORK_VENDORS = (
    r"Cisco|Ubiquiti|MikroTik|Routerboard|Juniper|Aruba|NETGEAR|TP-LINK|Zyxel|D-Link|"
    r"Fortinet|Ruckus|AVM|SonicWall|Palo Alto|Draytek"
)
_PRINTER_VENDORS = (
    r"Hewlett|HP Inc|Brother|Seiko Epson|Canon|Lexmark|Kyocera|Xerox|Ricoh|Konica|Sharp|Zebra"
)
_VM_VENDORS = r"VMware|QEMU|Xensource|Microsoft Corporation|Proxmox"
_NETWORK_NAMES = r"^(sw|switch|rtr|router|gw|gateway|fw|firewall|ap)[-_.0-9]"
_PRINTER_NAMES = r"^(printer|prn|mfp|NPI[0-9A-F]{6}|BRN|EPSON)"

#: The rules, most specific first. Port meanings: tech-notes §5.3; SSH banner tags:
#: nmap-service-probes lines 3560-3599 (tech-notes §5.8).
RULES: tuple[Rule, ...] = (
    # SSH banners: the distro tag in OpenSSH's version string is near-conclusive.
    _when("ssh_banner", r"OpenSSH_for_Windows", _T.WINDOWS_HOST, "Windows", 10),
    _when("ssh_banner", r"\bUbuntu", _T.LINUX_HOST, "Ubuntu", 10),
    _when("ssh_banner", r"Raspbian", _T.LINUX_HOST, "Raspberry Pi OS", 10),
    _when("ssh_banner", r"\bDebian", _T.LINUX_HOST, "Debian", 10),
    _when("ssh_banner", r"FreeBSD", _T.SERVER, "FreeBSD", 10),
    _when("ssh_banner", r"ROSSSH", _T.NETWORK_DEVICE, "MikroTik RouterOS", 10),
    _when("ssh_banner", r"Cisco", _T.NETWORK_DEVICE, "Cisco IOS", 10),
    _when("ssh_banner", r"dropbear", _T.NETWORK_DEVICE, "Linux (embedded)", 4),
    # HTTP Server headers.
    _when("http_server", r"Microsoft-IIS", _T.SERVER, "Windows", 6),
    _when("http_server", r"Microsoft-HTTPAPI", None, "Windows", 3),
    _when("http_server", r"\(Debian\)", None, "Debian", 6),
    _when("http_server", r"\(Ubuntu\)", None, "Ubuntu", 6),
    _when("http_server", _REDHAT_SERVERS, None, "Red Hat family", 6),
    _when("http_server", _PRINTER_SERVERS, _T.PRINTER, "printer firmware", 6),
    _when("http_server", _EMBEDDED_SERVERS, _T.NETWORK_DEVICE, None, 2),
    # Web UI titles.
    _when("http_title", _PRINTER_WORDS, _T.PRINTER, "printer firmware", 7),
    _when("http_title", _NAS_WORDS, _T.NAS, None, 7),
    _when("http_title", _NETWORK_WORDS, _T.NETWORK_DEVICE, None, 6),
    _when("http_title", r"Proxmox", _T.SERVER, "Proxmox VE (Debian)", 7),
    _when("http_title", r"ESXi|VMware", _T.SERVER, "VMware ESXi", 7),
    _when("http_title", _BMC_WORDS, _T.SERVER, None, 5, "out-of-band management"),
    # Ports (tech-notes §5.3).
    _on_ports(_T.PHONE, "iOS", 8, [62078]),
    _on_ports(_T.PRINTER, "printer firmware", 8, [9100]),
    _on_ports(_T.PRINTER, None, 4, [515]),
    _on_ports(_T.PRINTER, None, 3, [631], note="IPP"),
    _on_ports(_T.SERVER, "Windows", 6, [5985], note="WinRM is on by default only on servers"),
    _on_ports(_T.SERVER, "Windows", 6, [5986], note="WinRM over HTTPS"),
    _on_ports(_T.WORKSTATION, "Windows", 6, [3389], [5985, 5986], "RDP without WinRM"),
    _on_ports(None, "Windows", 3, [3389], note="RDP"),
    _on_ports(_T.WINDOWS_HOST, "Windows", 2, [135], note="MS RPC"),
    _on_ports(_T.WINDOWS_HOST, None, 1, [445], note="SMB: Windows, Samba or a NAS"),
    _on_ports(_T.WINDOWS_HOST, None, 1, [139]),
    _on_ports(_T.MAC, "macOS", 3, [548], note="AFP"),
    _on_ports(_T.MAC, None, 1, [5900], note="Screen Sharing/VNC"),
    _on_ports(_T.LINUX_HOST, None, 1, [22], note="SSH: Linux/Unix likely"),
    _on_ports(_T.NETWORK_DEVICE, None, 2, [23], [135, 445, 3389], "telnet"),
    # MAC vendors (weak: vendors make many kinds of device).
    _when("vendor", r"^Apple", _T.MAC, "macOS", 3),
    _when("vendor", r"Raspberry Pi", _T.LINUX_HOST, "Linux", 4),
    _when("vendor", r"Synology|QNAP", _T.NAS, None, 6),
    _when("vendor", _NETWORK_VENDORS, _T.NETWORK_DEVICE, None, 4),
    _when("vendor", _PRINTER_VENDORS, _T.PRINTER, None, 2),
    _when("vendor", _VM_VENDORS, _T.SERVER, None, 2, "virtual machine"),
    # Names that OS installers generate by default, and common naming schemes.
    _when("names", r"^WIN-[A-Z0-9]{8,}", _T.SERVER, "Windows", 5),
    _when("names", r"^(DESKTOP|LAPTOP)-[A-Z0-9]{5,}", _T.WORKSTATION, "Windows", 5),
    _when("names", r"MacBook|iMac|Mac-?mini|Mac-?Pro|Mac-?Studio", _T.MAC, "macOS", 5),
    _when("names", r"iPhone|iPad", _T.PHONE, "iOS", 5),
    _when("names", r"^(android|Galaxy|Pixel)[-_]", _T.PHONE, "Android", 5),
    _when("names", _PRINTER_NAMES, _T.PRINTER, None, 3),
    _when("names", _NETWORK_NAMES, _T.NETWORK_DEVICE, None, 2),
    Rule(_T.WINDOWS_HOST, None, 1, field="netbios", note="answers NetBIOS: Windows or Samba"),
    # A workgroup PC shares files (SMB + NetBIOS) but has no WinRM, RDP or SSH by default;
    # Samba servers and NAS boxes nearly always show SSH or a web UI beside SMB.
    Rule(None, "Windows", 2, frozenset({445}), frozenset({22, 80, 443, 548, 5000, 5001, 8080}),
         field="netbios", note="SMB and NetBIOS without SSH or a web UI"),
)

_FIELD_LABELS = {
    "ssh_banner": "SSH banner",
    "http_title": "HTTP title",
    "http_server": "HTTP server",
    "vendor": "MAC vendor",
    "names": "name",
}


@dataclass(slots=True)
class Guess:
    """The outcome of :func:`classify`.

    Attributes:
        device_type: The winning :class:`DeviceType`.
        os_guess: The winning OS, or None.
        evidence: One string per rule that fired, in rule order.
    """

    device_type: DeviceType = DeviceType.UNKNOWN
    os_guess: str | None = None
    evidence: list[str] = field(default_factory=list)


def port_evidence(port: int) -> str:
    """``"port 9100/tcp open (jetdirect)"``; ports without a well-known name get no suffix."""
    name = SERVICE_NAMES.get(port)
    return f"port {port}/tcp open ({name})" if name else f"port {port}/tcp open"


def classify(facts: Facts, rules: Sequence[Rule] = RULES) -> Guess:
    """Score every rule against the facts and pick the best device type and OS.

    Args:
        facts: What is known about the host.
        rules: The rule table (tests may pass their own).

    Returns:
        The guess with one evidence string per rule that fired.
    """
    type_scores: dict[DeviceType, int] = {}
    os_scores: dict[str, int] = {}
    guess = Guess()
    for rule in rules:
        matched = _match(rule, facts)
        if matched is None:
            continue
        if rule.device_type is not None:
            type_scores[rule.device_type] = type_scores.get(rule.device_type, 0) + rule.weight
        if rule.os_guess is not None:
            os_scores[rule.os_guess] = os_scores.get(rule.os_guess, 0) + rule.weight
        guess.evidence.append(_evidence(rule, matched))
    if type_scores:
        # max() keeps the first of equal scores, and dicts keep rule order: ties go to the
        # rule listed first.
        guess.device_type = max(type_scores, key=lambda key: type_scores[key])
    if os_scores:
        guess.os_guess = max(os_scores, key=lambda key: os_scores[key])
    return guess


def _match(rule: Rule, facts: Facts) -> str | None:
    """Return what matched (for the evidence), or None if the rule does not fire."""
    if not rule.ports_all <= facts.open_ports or rule.ports_none & facts.open_ports:
        return None
    if rule.field is None:
        return " + ".join(port_evidence(port) for port in sorted(rule.ports_all))
    if rule.field == "netbios":
        return "NetBIOS" if facts.netbios else None
    values: Iterable[str | None] = (
        facts.names if rule.field == "names" else (getattr(facts, rule.field),)
    )
    for value in values:
        if value and (rule.pattern is None or rule.pattern.search(value)):
            return f"{_FIELD_LABELS.get(rule.field, rule.field)}: {value}"
    return None


def _evidence(rule: Rule, matched: str) -> str:
    conclusion = ", ".join(
        part for part in (rule.device_type and rule.device_type.value, rule.os_guess) if part
    )
    text = f"{matched} → {conclusion}" if conclusion else matched
    return f"{text} ({rule.note})" if rule.note else text
