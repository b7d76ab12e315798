"""Read an Nmap XML report (``nmap -oX``) into the sweep's :class:`HostResult` records.

A technician often arrives with an Nmap scan already made; importing it gives the same
inventory merge and scan history as PatchDesk's own sweep. The file is untrusted input:
no DTD or entity is accepted, sizes are capped, every string is sanitised, and anything
that does not parse is reported with where it was.

Element and attribute names follow Nmap's DTD (``docs/nmap.dtd`` in the Nmap sources):
``nmaprun/host/{status,address,hostnames/hostname,ports/port/{state,service,script},
os/osmatch}``.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.discovery.fingerprint import Facts, classify
from app.discovery.oui import normalise_mac, vendor_for
from app.discovery.results import HostResult
from app.discovery.sanitise import sanitise

__all__ = ["MAX_NMAP_XML", "NmapReport", "NmapXmlError", "parse_nmap_xml"]

#: The largest report read (a /16 with services is a few tens of MB).
MAX_NMAP_XML = 200 * 1024 * 1024


class NmapXmlError(ValueError):
    """The file is not an Nmap XML report PatchDesk can read."""


@dataclass(frozen=True, slots=True)
class NmapReport:
    """What one ``nmap -oX`` run found.

    Attributes:
        args: the command line Nmap recorded.
        version: Nmap's version.
        started: when the run started (UTC), if recorded.
        hosts: one record per host that was up, in file order.
        skipped: how many hosts were listed but not up.
        ports: the TCP ports the run probed (its ``scaninfo``), when recorded.
        down: the addresses listed as not up.
    """

    args: str
    version: str
    started: datetime | None
    hosts: list[HostResult] = field(default_factory=list)
    skipped: int = 0
    ports: tuple[int, ...] = ()
    down: tuple[str, ...] = ()


def parse_nmap_xml(data: bytes) -> NmapReport:
    """Parse an Nmap XML report.

    Raises:
        NmapXmlError: too large, a DTD with entities, not XML, or not an Nmap report.
    """
    if len(data) > MAX_NMAP_XML:
        raise NmapXmlError(f"the file is larger than {MAX_NMAP_XML // (1024 * 1024)} MB")
    if b"<!entity" in data.lower():
        raise NmapXmlError("the file declares XML entities; Nmap never writes them")
    try:
        root = ET.fromstring(data)  # noqa: S314 - entities refused above; no external DTDs
    except ET.ParseError as exc:
        raise NmapXmlError(f"not well-formed XML ({exc})") from None
    if root.tag != "nmaprun":
        raise NmapXmlError(f"not an Nmap XML report (root element <{root.tag[:40]}>)")
    started = None
    start = root.get("start", "")
    if start.isdigit():
        started = datetime.fromtimestamp(int(start), UTC)
    report = NmapReport(args=sanitise(root.get("args"), 500) or "",
                        version=sanitise(root.get("version"), 40) or "", started=started)
    skipped = 0
    down: list[str] = []
    for host in root.iter("host"):
        status = host.find("status")
        if status is not None and status.get("state") != "up":
            skipped += 1
            down += [a for a in (_ip(e.get("addr", "")) for e in host.findall("address")
                                 if e.get("addrtype") in ("ipv4", "ipv6")) if a]
            continue
        reason = sanitise(status.get("reason")) if status is not None else None
        result = _host(host, f"nmap: {reason or 'up'}")
        if result is not None:
            report.hosts.append(result)
    ports: set[int] = set()
    for info in root.iter("scaninfo"):
        if info.get("protocol") == "tcp":
            ports |= _port_list(info.get("services", ""))
    return NmapReport(report.args, report.version, report.started, report.hosts, skipped,
                      tuple(sorted(ports)), tuple(down))


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _port_list(text: str) -> set[int]:
    """Nmap's ``services`` list (``22-23,80,8000-8010``); malformed items are skipped."""
    out: set[int] = set()
    for item in text.split(","):
        low, _, high = item.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            continue
        if 0 < first <= last < 65536:
            out.update(range(first, last + 1))
    return out


def _host(host: ET.Element, alive_reason: str) -> HostResult | None:
    ip, mac, vendor = None, None, None
    for address in host.findall("address"):
        kind, value = address.get("addrtype", ""), address.get("addr", "")
        if kind in ("ipv4", "ipv6") and ip is None:
            try:
                ip = str(ipaddress.ip_address(value))
            except ValueError:
                continue
        elif kind == "mac":
            mac = normalise_mac(value)
            vendor = sanitise(address.get("vendor"))
    if ip is None:
        return None
    if mac and not vendor:
        vendor = vendor_for(mac)
    names: list[str] = []
    for hostname in host.iter("hostname"):
        name = sanitise(hostname.get("name"), 253)
        if name and name not in names:
            names.append(name)
    ports: list[int] = []
    evidence: list[str] = []
    banner = title = server = None
    for port in host.iter("port"):
        state = port.find("state")
        if port.get("protocol") != "tcp" or state is None or state.get("state") != "open":
            continue
        try:
            number = int(port.get("portid", ""))
        except ValueError:
            continue
        if not 0 < number < 65536:
            continue
        ports.append(number)
        service = port.find("service")
        if service is not None:
            described = " ".join(filter(None, (sanitise(service.get(key)) for key in
                                               ("name", "product", "version", "extrainfo"))))
            if described:
                evidence.append(f"nmap: {number}/tcp {described}")
        for script in port.findall("script"):
            script_id, output = script.get("id", ""), sanitise(script.get("output"))
            if script_id == "banner" and output and output.startswith("SSH-"):
                banner = output
            elif script_id == "http-title" and output:
                title = sanitise(_elem(script, "title") or output)
            elif script_id == "http-server-header" and output:
                server = output
    os_guess = None
    best = max(host.iter("osmatch"), key=lambda m: _int(m.get("accuracy")), default=None)
    if best is not None and best.get("name"):
        os_guess = sanitise(best.get("name"), 80)
        evidence.append(f"nmap OS match: {os_guess} ({_int(best.get('accuracy'))} %)")
    guess = classify(Facts(open_ports=frozenset(ports), ssh_banner=banner, http_title=title,
                           http_server=server, vendor=vendor, names=tuple(names)))
    return HostResult(
        ip=ip, mac=mac, vendor=vendor, hostnames=names, open_ports=sorted(set(ports)),
        ssh_banner=banner, http_title=title, http_server=server,
        device_type=str(guess.device_type), os_guess=os_guess or guess.os_guess,
        evidence=[*evidence, *guess.evidence], alive_reason=alive_reason)


def _elem(script: ET.Element, key: str) -> str | None:
    for elem in script.iter("elem"):
        if elem.get("key") == key:
            return elem.text
    return None


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
