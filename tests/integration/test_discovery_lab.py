"""`patchdesk scan` of the lab /24, run inside the lab's client namespace (no route out).

The lab (tests/lab) has Debian hosts with real sshd, a printer-like and a Windows-like box,
and a firewalled box that drops every probe. Besides those, three lab addresses answer as
well: the bridge namespace serving the apt repository (.1), the scanning client itself
(.250) and the root namespace's leg into the lab (.254).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lab.lab import Lab

PATCHDESK = str(Path(sys.executable).with_name("patchdesk"))

pytestmark = pytest.mark.lab


def scan(lab: Lab, site: Path, *extra: str) -> dict[str, Any]:
    proc = lab.client_run([PATCHDESK, "--site", str(site), "scan", str(lab.subnet), "--json",
                           *extra], timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(json.loads(proc.stdout))


def infrastructure(lab: Lab) -> set[str]:
    return {lab.repo_ip, lab.client_ip, lab.root_ip}


def test_scan_finds_exactly_the_lab_hosts(lab: Lab, tmp_path: Path) -> None:
    result = scan(lab, tmp_path / "lab.pdsite")
    hosts = {h["ip"]: h for h in result["hosts"]}
    expected = {lab.host(n).ip: lab.host(n) for n in lab.host_names()}
    assert set(hosts) == set(expected) | infrastructure(lab)
    for ip, info in expected.items():
        host = hosts[ip]
        assert host["mac"] == info.mac, info.name
        assert all(isinstance(p, int) for p in host["open_ports"])
        assert host["evidence"], info.name
        if info.kind == "debian":
            assert 22 in host["open_ports"]
            assert host["device_type"] in ("linux host", "server")
            assert host["os_guess"] == "Debian"
            assert host["ssh_banner"].startswith("SSH-2.0-OpenSSH")
        elif info.kind == "printer":
            assert {9100, 631, 80} <= set(host["open_ports"])
            assert host["device_type"] == "printer"
        elif info.kind == "windows":
            assert {135, 139, 445, 3389, 5985} <= set(host["open_ports"])
            assert host["device_type"] in ("windows host", "server", "workstation")
            assert host["os_guess"] == "Windows"
            assert info.netbios_name in host["names"]
        elif info.kind == "firewalled":
            assert host["open_ports"] == []
            assert "neighbour" in host["alive_reason"]
    assert result["summary"]["new"] == len(hosts)


def test_second_scan_reports_exactly_one_gone_and_one_new(lab: Lab, lab_host, tmp_path: Path
                                                          ) -> None:
    site = tmp_path / "diff.pdsite"
    leaving = lab_host(name="leaver", ip="60")
    first = scan(lab, site)
    assert leaving.ip in {h["ip"] for h in first["hosts"]}

    lab.remove_host("leaver", forget_neighbours=False)  # its ARP entry stays, as on a LAN
    arriving = lab_host(name="arriver", ip="61")  # a new address and so a new MAC
    # A rescan normally comes minutes later, when the client's ARP entries for the leaver
    # (and the firewalled host, which answers nothing but ARP) have gone STALE: the scanner
    # must re-check them rather than trust them, as it would in real life.
    age_neighbour_entries(lab, [leaving.ip, lab.host("fw1").ip])
    second = scan(lab, site)
    diff = second["diff"]
    assert diff["new"] == [arriving.ip]
    assert [(g["label"], g["ips"]) for g in diff["gone"]] == [
        (_label(first, leaving.ip), [leaving.ip])]
    assert diff["changed"] == []
    assert second["summary"]["gone"] == 1


def age_neighbour_entries(lab: Lab, ips: list[str]) -> None:
    """Put the client's ARP entries for ``ips`` into STALE, as minutes of quiet would."""
    entries = {e["dst"]: e for e in json.loads(
        lab.client_run(["ip", "-j", "-4", "neigh", "show"], check=True).stdout or "[]")}
    for ip in ips:
        entry = entries[ip]
        lab.client_run(["ip", "neigh", "replace", ip, "lladdr", entry["lladdr"], "dev",
                        entry["dev"], "nud", "stale"], check=True)
    states = {e["dst"]: e.get("state", []) for e in json.loads(
        lab.client_run(["ip", "-j", "-4", "neigh", "show"], check=True).stdout or "[]")}
    assert all(states[ip] == ["STALE"] for ip in ips), states


def _label(result: dict[str, Any], ip: str) -> str:
    host = next(h for h in result["hosts"] if h["ip"] == ip)
    return str(host["names"][0]) if host["names"] else ip
