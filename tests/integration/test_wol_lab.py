"""Wake-on-LAN before pre-flight: a host that is off gets the magic packet (6 × FF + 16 ×
MAC, UDP 9) on the lab subnet's broadcast, sent from inside the lab's client namespace
(nothing leaves the lab) and heard by a UDP listener in a lab host's namespace."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.deployment import Gates, PackagePin, Stage
from app.core.models import Asset
from app.remote.wol import broadcast_for, magic_packet
from app.services import SiteService
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

LISTEN = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9))
s.settimeout(60)
print("ready", flush=True)
data, peer = s.recvfrom(2048)
print(data.hex(), peer[0], flush=True)
"""

WAKE = """
import sys
from app.services import SiteService
site = SiteService.open(sys.argv[1], actor="tech")
dep = site.deployments.get(int(sys.argv[2]))
print(site.deployments.wake_hosts(dep, list(dep.targets)))
site.close()
"""


def test_host_off_at_window_start_gets_a_magic_packet(lab: Lab, lab_host,
                                                      tmp_path: Path) -> None:
    rx = lab_host(name="wolrx")
    net = ipaddress.ip_network(f"{rx.ip}/24", strict=False)
    sleeper_ip = str(net.network_address + 199)  # no host there: "off"
    mac = "02:99:00:00:aa:c7"
    path = tmp_path / "wol.pdsite"
    site = SiteService.open(path, create=True, actor="tech")
    try:
        asset = site.add_asset(Asset(hostname="sleeper", ips=(sleeper_ip,), macs=(mac,)))
        dep = site.deployments.plan([PackagePin("pd-tools", "2.1-1")],
                                    [(asset, Stage.PRODUCTION)], Gates())
        site.update_settings(wol_wait=2)
    finally:
        site.close()
    listener = subprocess.Popen(["ip", "netns", "exec", rx.netns, sys.executable, "-c", LISTEN],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "ready"
        started = time.monotonic()
        woke = lab.client_run([sys.executable, "-c", WAKE, str(path), str(dep.id)],
                              timeout=60)
        assert woke.returncode == 0, woke.stderr[-2000:]
        assert woke.stdout.strip() == "[]"  # nothing came up: it says so
        out, _ = listener.communicate(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait(10)
    data, sender = out.split()
    assert bytes.fromhex(data) == magic_packet(mac)
    assert len(bytes.fromhex(data)) == 102
    assert sender == lab.client_ip  # sent from inside the lab's client namespace
    assert time.monotonic() - started >= 2  # it waited before pre-flight
    site = SiteService.open(path)
    try:
        log = [x["message"] for x in site.deployment_log(dep.id)]
        assert f"sleeper: off at the window's start; Wake-on-LAN sent to {mac} via " \
               f"{broadcast_for(sleeper_ip)}" in log
        assert "sleeper: still off after 2 s" in log
        assert "deploy.wake" in [e.action for e in site.audit_events(limit=10)]
    finally:
        site.close()


def test_magic_packet_layout() -> None:
    packet = magic_packet("02-99-00-00-AA-C7")
    assert packet[:6] == b"\xff" * 6 and packet[6:] == bytes.fromhex("029900" "00aac7") * 16
    with pytest.raises(ValueError, match="not a MAC"):
        magic_packet("02:99:00:00:aa")
    assert broadcast_for("10.99.3.17") == "10.99.3.255"
