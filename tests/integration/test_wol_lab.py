"""Wake-on-LAN before pre-flight: a host that is off gets the magic packet (6 × FF + 16 ×
MAC, UDP 9) on the lab subnet's broadcast, sent from inside the lab's client namespace
(nothing leaves the lab) and heard by a UDP listener in a lab host's namespace."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import threading
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


def test_deploy_wakes_a_host_that_is_off_then_installs(lab: Lab, lab_host,
                                                       tmp_path: Path) -> None:
    """The whole path: `deploy run` (in the client namespace) finds the target off, sends
    the magic packet; a "NIC" listening in another lab namespace powers the host on when
    the packet for its MAC arrives; pre-flight waits for it and the install goes through."""
    target, nic = lab_host(name="wolh"), lab_host(name="wolnic")
    path = tmp_path / "wake.pdsite"
    master = "lab master password"
    site = SiteService.open(path, create=True, actor="tech")
    try:
        site.remote.unlock(master, create=True)
        site.remote.add_ssh_credential("office", "admin", password="labpass")
        site.add_asset(Asset(hostname="wolh", ips=(target.ip,), macs=(target.mac,)))
        dep = site.plan_deployment(["pd-tools=2.1-1"], ["wolh"])
        site.update_settings(wol_wait=90)
    finally:
        site.close()
    lab.stop_host("wolh")
    listener = subprocess.Popen(["ip", "netns", "exec", nic.netns, sys.executable, "-c",
                                 LISTEN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    heard: list[str] = []

    def power_on_when_woken() -> None:
        assert listener.stdout is not None
        listener.stdout.readline()  # "ready"
        line = listener.stdout.readline().split()
        if line and bytes.fromhex(line[0]) == magic_packet(target.mac):
            heard.append(line[0])
            lab.start_host("wolh")

    nic_thread = threading.Thread(target=power_on_when_woken, daemon=True)
    nic_thread.start()
    try:
        env = {**os.environ, "PATCHDESK_MASTER_PASSWORD": master}
        run = lab.client_run([str(Path(sys.executable).with_name("patchdesk")), "--site",
                              str(path), "deploy", "run", str(dep.id), "--yes", "--json",
                              "--accept-new-host-keys"],
                             env=env, timeout=400)
        nic_thread.join(60)
    finally:
        if listener.poll() is None:
            listener.kill()
        listener.wait(10)
        if listener.stdout is not None:
            listener.stdout.close()
        if listener.stderr is not None:
            listener.stderr.close()
    assert heard, "the NIC never heard a magic packet for the host"
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    data = json.loads(run.stdout)
    assert data["phase"] == "done"
    assert data["targets"][0]["verified"] == "installed"
    log = [x["message"] for x in data["log"]]
    assert any(m.startswith("wolh: off at the window's start; Wake-on-LAN sent to "
                            f"{target.mac}") for m in log)
    assert "wolh: awake after Wake-on-LAN" in log
    assert log.index("wolh: awake after Wake-on-LAN") < log.index("pre-flight checks started")
    out = lab.exec("wolh", ["dpkg-query", "-W", "-f=${Version}", "pd-tools"])
    assert out.stdout.strip() == "2.1-1"
