"""``patchdesk import nmap``: a real ``nmap -oX`` capture of the lab is stored as a scan
with its diff and merged into the inventory like PatchDesk's own sweep ([16])."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.cli import main
from app.discovery.nmapxml import parse_nmap_xml
from app.services import SiteService
from app.services.discovery import nmap_networks

DATA = Path(__file__).resolve().parents[1] / "data" / "nmap" / "debian-12-nmap-7.93"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_import_matches_the_capture_and_a_second_import_shows_the_diff(tmp_path: Path) -> None:
    capture = DATA / "lab-sT.xml"
    parsed = {h.ip: h for h in parse_nmap_xml(capture.read_bytes()).hosts}
    site = str(tmp_path / "lab.pdsite")
    code, text = run("--site", site, "--json", "import", "nmap", str(capture))
    assert code == 0, text
    first = json.loads(text)
    assert first["targets"] == "nmap: lab-sT.xml"
    assert first["addresses"] == 256  # the /24 on nmap's command line
    assert 22 in first["ports"] and 9100 in first["ports"] and len(first["ports"]) == 16
    hosts = {h["ip"]: h for h in first["hosts"]}
    assert set(hosts) == set(parsed)
    for ip, host in hosts.items():
        assert host["mac"] == parsed[ip].mac and host["open_ports"] == parsed[ip].open_ports
        assert host["change"] == "new"
    assert first["summary"]["new"] == len(parsed) and first["summary"]["gone"] == 0

    service = SiteService.open(Path(site), actor="t")
    try:
        assets = {a.ips[0]: a for a in service.assets()}
        assert set(assets) == set(parsed)
        for ip, host in parsed.items():
            assert (assets[ip].macs[0] if assets[ip].macs else None) == host.mac
            assert list(assets[ip].open_ports) == host.open_ports
        events = [e for e in service.audit_events() if e.action == "scan.import_nmap"]
        assert len(events) == 1 and events[0].details["new"] == len(parsed)
    finally:
        service.close()

    # The same network a day later: one host gone, one with an extra open port.
    tree = ET.parse(capture)  # noqa: S314 - our own capture
    root = tree.getroot()
    up = [h for h in root.iter("host") if h.find("address").get("addr") == "10.99.1.10"]
    root.remove(up[0])
    changed = next(h for h in root.iter("host")
                   if h.find("address").get("addr") == "10.99.1.11")
    port = ET.SubElement(changed.find("ports"), "port", protocol="tcp", portid="443")
    ET.SubElement(port, "state", state="open", reason="syn-ack")
    later = tmp_path / "later.xml"
    tree.write(later)
    code, text = run("--site", site, "--json", "import", "nmap", str(later))
    assert code == 0, text
    second = json.loads(text)
    assert second["summary"]["new"] == 0
    assert [g["ips"] for g in second["diff"]["gone"]] == [["10.99.1.10"]]
    assert [c["ip"] for c in second["diff"]["changed"]] == ["10.99.1.11"]
    assert "open_ports" in second["diff"]["changed"][0]["changes"]
    code, text = run("--site", site, "scans", "show", str(second["scan_id"]))
    assert code == 0 and "not seen" in text and "changed  10.99.1.11" in text


def test_no_merge_records_only(tmp_path: Path) -> None:
    site = str(tmp_path / "s.pdsite")
    code, text = run("--site", site, "--json", "import", "nmap", "--no-merge",
                     str(DATA / "lab-sV.xml"))
    assert code == 0 and json.loads(text)["merged"] is False
    service = SiteService.open(Path(site), actor="t")
    assert service.assets() == []
    service.close()


@pytest.mark.parametrize("content", [b"<nope/>", b"not xml", b""])
def test_bad_files_are_refused(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(content)
    code, _ = run("--site", str(tmp_path / "s.pdsite"), "import", "nmap", str(bad))
    assert code == 1
    assert run("--site", str(tmp_path / "s.pdsite"), "import", "nmap",
               str(tmp_path / "missing.xml"))[0] == 1


def test_target_networks_from_the_command_line() -> None:
    assert [str(n) for n in nmap_networks("nmap -p 22,80 -oX - 10.0.0.0/24 10.0.1.5")] == [
        "10.0.0.0/24", "10.0.1.5/32"]
    assert nmap_networks("nmap -oX - printer.local") == []
    assert nmap_networks("nmap -p 22 -oX -") == []
