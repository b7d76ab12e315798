"""Nmap XML reports (real `nmap -oX` captures of the lab) read into scan records ([16])."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.discovery.nmapxml import NmapXmlError, parse_nmap_xml

DATA = Path(__file__).resolve().parents[1] / "data" / "nmap" / "debian-12-nmap-7.93"


def test_connect_scan_hosts_macs_and_ports() -> None:
    report = parse_nmap_xml((DATA / "lab-sT.xml").read_bytes())
    assert report.version == "7.93" and "-sT" in report.args and report.started is not None
    hosts = {h.ip: h for h in report.hosts}
    assert len(hosts) == 10 and report.skipped == 0
    deb1 = hosts["10.99.1.10"]
    assert deb1.mac == "02:99:00:00:01:0a"  # normalised from nmap's upper case
    assert deb1.open_ports == [22]
    assert deb1.device_type in ("linux host", "server")
    printer = next(h for h in hosts.values() if 9100 in h.open_ports)
    assert {631, 80, 9100} <= set(printer.open_ports)
    assert printer.device_type == "printer"
    windows = next(h for h in hosts.values() if 3389 in h.open_ports)
    assert {135, 139, 445, 5985} <= set(windows.open_ports)
    assert windows.os_guess == "Windows"


def test_service_scan_brings_banners_titles_and_evidence() -> None:
    report = parse_nmap_xml((DATA / "lab-sV.xml").read_bytes())
    hosts = {h.ip: h for h in report.hosts}
    deb1 = hosts["10.99.1.10"]
    assert deb1.ssh_banner is not None and deb1.ssh_banner.startswith("SSH-2.0-OpenSSH_9.2p1")
    assert deb1.os_guess == "Debian"
    assert any(e.startswith("nmap: 22/tcp ssh OpenSSH") for e in deb1.evidence)
    printer = next(h for h in hosts.values() if 9100 in h.open_ports)
    assert printer.http_title == "HP LaserJet Pro M404dn"
    assert printer.http_server is not None and printer.http_server.startswith("HP HTTP Server")


@pytest.mark.parametrize(("data", "message"), [
    (b"not xml at all", "not well-formed"),
    (b"<?xml version='1.0'?><html><body/></html>", "not an Nmap XML report"),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]>"
     b"<nmaprun>&b;</nmaprun>", "entities"),
])
def test_hostile_or_foreign_files_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(NmapXmlError, match=message):
        parse_nmap_xml(data)


def test_hostile_strings_are_sanitised_and_bad_numbers_skipped() -> None:
    data = (b"<nmaprun scanner='nmap' args='nmap x' version='7.93'><host>"
            b"<status state='up' reason='arp-response'/>"
            b"<address addr='10.0.0.9' addrtype='ipv4'/>"
            b"<address addr='zz:zz' addrtype='mac'/>"
            b"<hostnames><hostname name='evil&#x9;\xe2\x80\xaename' type='PTR'/>"
            b"</hostnames><ports>"
            b"<port protocol='tcp' portid='99999'><state state='open'/></port>"
            b"<port protocol='tcp' portid='abc'><state state='open'/></port>"
            b"<port protocol='udp' portid='53'><state state='open'/></port>"
            b"<port protocol='tcp' portid='22'><state state='open'/></port>"
            b"</ports></host><host><status state='down'/>"
            b"<address addr='10.0.0.8' addrtype='ipv4'/></host></nmaprun>")
    report = parse_nmap_xml(data)
    [host] = report.hosts
    assert report.skipped == 1
    assert host.open_ports == [22] and host.mac is None
    assert host.hostnames == ["evil name"]
    assert host.alive_reason == "nmap: arp-response"
