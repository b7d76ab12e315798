"""An Nmap XML report made by real ``nmap -oX`` inside the lab reads back with the same
hosts, MACs and open ports as PatchDesk's own scan of the lab ([16])."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from app.discovery import DEFAULT_PORTS
from app.discovery.nmapxml import parse_nmap_xml
from tests.lab.lab import Lab

PATCHDESK = str(Path(sys.executable).with_name("patchdesk"))

pytestmark = pytest.mark.lab


def test_nmap_xml_of_the_lab_matches_our_own_scan(lab: Lab, tmp_path: Path) -> None:
    nmap = shutil.which("nmap")
    assert nmap, "nmap is installed by tests/lab/apt-packages.txt"
    ports = ",".join(str(p) for p in DEFAULT_PORTS)
    # as root on the LAN nmap finds hosts by ARP (so it knows their MACs), then connects
    proc = lab.client_run([nmap, "-n", "-sT", "-p", ports, "-T4", "-oX", "-",
                           str(lab.subnet)], timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = parse_nmap_xml(proc.stdout.encode())

    ours = lab.client_run([PATCHDESK, "--site", str(tmp_path / "lab.pdsite"), "scan",
                           str(lab.subnet), "--json"], timeout=240)
    assert ours.returncode == 0, ours.stderr[-2000:]
    scanned = {h["ip"]: h for h in json.loads(ours.stdout)["hosts"]}
    imported = {h.ip: h for h in report.hosts}
    # the same live addresses of the lab's own hosts and services (other tests of the same
    # session may add a throwaway host between the two scans: those are not compared)
    known = {lab.host(n).ip for n in lab.host_names()} | {lab.repo_ip, lab.client_ip,
                                                          lab.root_ip}
    assert set(imported) & known == set(scanned) & known == known
    for name in lab.host_names():
        info = lab.host(name)
        host = imported[info.ip]
        assert host.mac == info.mac == scanned[info.ip]["mac"], name
        assert host.open_ports == scanned[info.ip]["open_ports"], name
        assert host.vendor is not None or info.mac.startswith("02:"), name
    assert "nmap" in report.args and report.version

    # imported into the site our scan made: the same hosts, nothing new, MACs and ports kept
    xml = tmp_path / "lab.xml"
    xml.write_text(proc.stdout, encoding="utf-8")
    done = lab.client_run([PATCHDESK, "--site", str(tmp_path / "lab.pdsite"), "--json",
                           "import", "nmap", str(xml)], timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    merged = json.loads(done.stdout)
    assert {h["ip"] for h in merged["hosts"]} & known == known
    assert merged["summary"]["new"] == 0
    # a throwaway host of an earlier test (still in the kernel's neighbour table as
    # REACHABLE for a few seconds) may be in our scan and not in nmap's: only those "go"
    assert not {ip for g in merged["diff"]["gone"] for ip in g["ips"]} & known
    for host in (h for h in merged["hosts"] if h["ip"] in known):
        assert host["mac"] == scanned[host["ip"]]["mac"], host["ip"]
        assert host["open_ports"] == scanned[host["ip"]]["open_ports"], host["ip"]
        assert host["asset_id"] is not None
