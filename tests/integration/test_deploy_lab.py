"""Deployments against the lab's real Debian hosts: rings, approval, halting on a failing
maintainer script, rollback from kept packages, and resuming after SIGKILL without ever
running apt twice on a host (proved from each host's /var/log/apt/history.log)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.deployment import Gates, HostState, Phase, Stage
from app.core.models import Asset
from app.services import SiteService
from tests.lab.lab import HostInfo, Lab

MASTER = "lab master password"
PATCHDESK = str(Path(sys.executable).with_name("patchdesk"))

pytestmark = pytest.mark.lab


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "deploy.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    service.people.add("J. Smith", "4711-blue")  # approvals are proved by PIN ([12].8)
    yield service
    service.close()


def hosts(lab_host, site: SiteService, names: list[str]) -> list[HostInfo]:
    made = [lab_host(name=name) for name in names]
    for info in made:
        site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
    return made


def version(lab: Lab, host: str, package: str) -> str:
    out = lab.exec(host, ["dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", package])
    return out.stdout.strip()


def install_commands(lab: Lab, host: str, package: str) -> int:
    """How many apt runs on the host installed this package (its apt history log)."""
    text = lab.read_file(host, "/var/log/apt/history.log")
    return sum(1 for line in text.splitlines()
               if line.startswith("Commandline:") and f" {package}=" in line)


def test_rings_approval_and_verification(lab: Lab, lab_host, site: SiteService) -> None:
    test, pilot, p1, p2 = hosts(lab_host, site, ["dtest", "dpilot", "dprod1", "dprod2"])
    site.assess_assets()
    dep = site.plan_deployment(["pd-openssl"], ["all"], test_ring=["dtest"], pilot=["dpilot"],
                               gates=Gates(wave_size=1))
    assert {t.label: t.stage for t in dep.targets} == {
        "dtest": Stage.TEST, "dpilot": Stage.PILOT, "dprod1": Stage.PRODUCTION,
        "dprod2": Stage.PRODUCTION}
    dep = site.deployer.run(dep.id)  # stops for the named approval
    assert dep.phase is Phase.AWAITING_APPROVAL
    assert version(lab, "dtest", "pd-openssl") == "1.0-2 ii"
    assert version(lab, "dpilot", "pd-openssl") == "1.0-1 ii"  # nothing past the test ring
    site.deployer.approve(dep.id, "J. Smith", "test ring looks fine")
    dep = site.deployer.run(dep.id)
    assert dep.phase is Phase.DONE
    assert {t.label: (t.state, t.verified) for t in dep.targets} == dict.fromkeys(
        ("dtest", "dpilot", "dprod1", "dprod2"), (HostState.SUCCEEDED, "installed"))
    for info in (test, pilot, p1, p2):
        assert version(lab, info.name, "pd-openssl") == "1.0-2 ii"
    # Verification re-assessed: nothing is missing pd-openssl any more.
    assert not [p for p in site.patches() if p.package == "pd-openssl"]
    actions = [e.action for e in site.audit_events(object_type="deployment",
                                                   object_id=str(dep.id))]
    for step in ("deploy.plan", "deploy.approve", "deploy.install_start",
                 "deploy.install_done", "deploy.verified"):
        assert step in actions


def test_failing_maintainer_script_halts_at_the_test_ring_and_rolls_back(
        lab: Lab, lab_host, site: SiteService) -> None:
    hosts(lab_host, site, ["btest", "bpilot", "bprod"])
    dep = site.plan_deployment(["pd-broken=1.1-1"], ["bpilot", "bprod"], test_ring=["btest"],
                               pilot=["bpilot"])
    dep = site.deployer.run(dep.id, approve_as="J. Smith")
    assert dep.phase is Phase.HALTED
    assert "test host(s) failed" in dep.halt_reason
    states = {t.label: t.state for t in dep.targets}
    assert states == {"btest": HostState.FAILED, "bpilot": HostState.PENDING,
                      "bprod": HostState.PENDING}
    assert version(lab, "btest", "pd-broken").startswith("1.1-1 i")  # half-configured
    assert version(lab, "bpilot", "pd-broken") == "1.0-1 ii"
    assert version(lab, "bprod", "pd-broken") == "1.0-1 ii"

    # The repository drops the old version: rollback must use the package kept on the host.
    lab.republish(drop=[("pd-broken", "1.0-1")])
    try:
        dep = site.deployer.rollback(dep.id)
    finally:
        lab.republish(restore=[("pd-broken", "1.0-1")])
    assert dep.phase is Phase.ROLLED_BACK
    assert dep.target(site.find_assets("btest")[0].id or 0).state is HostState.ROLLED_BACK
    assert version(lab, "btest", "pd-broken") == "1.0-1 ii"
    assert "deploy.rollback_done" in [e.action for e in site.audit_events(limit=20)]


def test_sigkill_mid_production_then_resume_never_installs_twice(
        lab: Lab, lab_host, site: SiteService, tmp_path: Path) -> None:
    names = ["ktest", "kpilot", "kp1", "kp2", "kp3"]
    hosts(lab_host, site, names)
    dep = site.plan_deployment(["pd-tools=2.1-1"], ["kp1", "kp2", "kp3"], test_ring=["ktest"],
                               pilot=["kpilot"], gates=Gates(wave_size=1, concurrency=1))
    path = site.path
    site.close()
    env = {**os.environ, "PATCHDESK_MASTER_PASSWORD": MASTER}
    proc = subprocess.Popen([PATCHDESK, "--site", str(path), "--accept-new-host-keys",
                             "deploy", "run", str(dep.id), "--approve-as", "J. Smith",
                             "--pin-stdin", "--json"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    proc.stdin.write(b"4711-blue\n")
    proc.stdin.close()
    try:
        # Wait until a production host is mid-install (its job started), then kill -9.
        deadline = time.monotonic() + 180
        reader = SiteService.open(path)
        while time.monotonic() < deadline:
            current = reader.deployment(dep.id)
            running = [t for t in current.targets
                       if t.stage is Stage.PRODUCTION and t.state is HostState.RUNNING]
            if running:
                break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.05)
        else:
            pytest.fail("production never started")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = reader.deployment(dep.id)
        reader.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
    assert killed_at.phase is Phase.PRODUCTION
    assert any(t.state is HostState.RUNNING for t in killed_at.targets)

    resumed = subprocess.run([PATCHDESK, "--site", str(path), "deploy", "resume",
                              str(dep.id), "--json"], capture_output=True, text=True,
                             env=env, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = json.loads(resumed.stdout)
    assert final["phase"] == "done"
    assert {t["label"]: t["verified"] for t in final["targets"]} == dict.fromkeys(
        names, "installed")
    for name in names:
        assert version(lab, name, "pd-tools") == "2.1-1 ii"
        assert install_commands(lab, name, "pd-tools") == 1, name
    service = SiteService.open(path)
    actions = [e.action for e in service.audit_events(object_type="deployment",
                                                      object_id=str(dep.id))]
    service.close()
    assert actions.count("deploy.install_start") == len(names)
    assert actions.count("deploy.install_done") == len(names)


# A stand-in for systemd's shutdown(8), which the lab's minimal hosts lack: it records the
# request and broadcasts the notice like the real one. The reboot itself is simulated by the
# test (lab.simulate_reboot restarts the host's processes; its kernel is the machine's).
SHUTDOWN_SHIM = """#!/bin/sh
for arg; do message=$arg; done
echo "$*" > /run/pd-shutdown-request
echo "$message" | wall
"""


def test_reboot_notice_reaches_logged_in_users_and_host_is_rechecked(
        lab: Lab, lab_host, site: SiteService, tmp_path: Path) -> None:
    import threading

    import paramiko

    info = hosts(lab_host, site, ["rboot"])[0]
    lab.exec("rboot", ["sh", "-c", "cat > /usr/local/sbin/shutdown; "
                                   "chmod 755 /usr/local/sbin/shutdown"],
             input=SHUTDOWN_SHIM, check=True)
    known = tmp_path / "known_hosts"
    known.write_text("\n".join(lab.known_hosts_lines("rboot")) + "\n")
    user = paramiko.SSHClient()
    user.load_host_keys(str(known))
    user.set_missing_host_key_policy(paramiko.RejectPolicy())
    user.connect(info.ip, username="nopw", password="labpass", look_for_keys=False,
                 allow_agent=False, timeout=10)
    session = user.invoke_shell()  # a logged-in terminal session (utmp entry on a pty)
    try:
        dep = site.plan_deployment(["pd-kernel=5.1-1"], ["rboot"],
                                   gates=Gates(reboot_lead_minutes=1),
                                   override_reason="lab test: one minute of notice")
        result: dict[str, object] = {}
        runner = threading.Thread(target=lambda: result.update(
            dep=site.deployer.run(dep.id)), daemon=True)
        runner.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            probe = lab.exec("rboot", "cat /run/pd-shutdown-request 2>/dev/null")
            if probe.stdout.strip():
                break
            time.sleep(0.2)
        assert probe.stdout.startswith("-r +1 "), probe.stdout
        seen = b""
        while time.monotonic() < deadline and b"restarts in 1 minutes" not in seen:
            if session.recv_ready():
                seen += session.recv(65536)
            else:
                time.sleep(0.1)
        assert b"PatchDesk: this computer restarts in 1 minutes" in seen
        lab.simulate_reboot("rboot")
        runner.join(120)
        assert not runner.is_alive()
    finally:
        user.close()
    done = result["dep"]
    assert isinstance(done, type(dep))
    assert done.phase is Phase.DONE
    target = done.targets[0]
    assert target.state is HostState.SUCCEEDED
    assert target.reboot.startswith("done (boot marker changed")
    assert target.verified == "installed"
    assert lab.exec("rboot", "test -e /var/run/reboot-required").returncode == 1
    log = " ".join(line["message"] for line in site.deployment_log(done.id))
    assert "reboot scheduled in 1 min; users notified" in log
    assert "back after reboot" in log
