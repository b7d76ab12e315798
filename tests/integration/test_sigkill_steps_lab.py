"""SIGKILL of the deploying process at every persisted step of a deployment (pre-flight,
install, reboot wait, verification, rollback), then ``deploy resume`` from the CLI: no host
is lost, none is patched twice (each host's own /var/log/apt/history.log), the audit chain
stays valid (``audit verify`` with the seals checked) ([12], issue 15, "prove it under faults").

The kill comes from the outside, at a moment read from the site file itself: the test polls
the deployment the running ``patchdesk deploy run`` writes and sends SIGKILL as soon as the
step it waits for is persisted. No hook in the product is involved.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.deployment import Deployment, Gates, HostState, Phase
from app.core.models import Asset
from app.services import SiteService
from tests.lab.lab import Lab

MASTER = "lab master password"
PIN = "4711-blue"
PATCHDESK = str(Path(sys.executable).with_name("patchdesk"))
ENV = {**os.environ, "PATCHDESK_MASTER_PASSWORD": MASTER}

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# systemd's shutdown(8) stand-in (the lab's minimal hosts lack it): records the request.
SHUTDOWN_SHIM = "#!/bin/sh\necho \"$*\" > /run/pd-shutdown-request\n"


@pytest.fixture
def site_path(tmp_path: Path) -> Path:
    service = SiteService.open(tmp_path / "kill.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    service.people.add("J. Smith", PIN)
    path = service.path
    service.close()
    return path


def apt_runs(lab: Lab, host: str, needle: str) -> int:
    """How many apt runs on the host had ``needle`` on their command line."""
    text = lab.read_file(host, "/var/log/apt/history.log")
    return sum(1 for line in text.splitlines()
               if line.startswith("Commandline:") and needle in line)


def cli(path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PATCHDESK, "--site", str(path), *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, check=False)


def kill_when(path: Path, argv: list[str], dep_id: int, reached: Callable[
        [Deployment, list[str]], bool], tmp_path: Path, stdin: str = "") -> Deployment:
    """Start ``patchdesk ARGV``, SIGKILL it as soon as ``reached(deployment, log)`` holds
    in the site file, and return the deployment as the kill left it."""
    out = (tmp_path / "killed.out").open("wb")
    proc = subprocess.Popen([PATCHDESK, "--site", str(path), *argv], stdin=subprocess.PIPE,
                            stdout=out, stderr=subprocess.STDOUT, env=ENV)
    assert proc.stdin is not None
    proc.stdin.write(stdin.encode())
    proc.stdin.close()
    reader = SiteService.open(path)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            dep = reader.deployment(dep_id)
            log = [str(entry["message"]) for entry in reader.deployment_log(dep_id)]
            if reached(dep, log):
                proc.send_signal(signal.SIGKILL)
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended (exit {proc.returncode}) before the step: "
                            + (tmp_path / "killed.out").read_text()[-3000:])
            time.sleep(0.02)
        else:
            pytest.fail("the step was never reached")
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        return reader.deployment(dep_id)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        out.close()
        reader.close()


def plan(path: Path, names: list[str], package: str, **gates: object) -> int:
    service = SiteService.open(path, actor="tech")
    try:
        service.remote.unlock(MASTER)
        dep = service.plan_deployment([package], names, gates=Gates(concurrency=1, **gates),
                                      override_reason="lab test of a killed run")
        return dep.id
    finally:
        service.close()


def add_hosts(lab_host, path: Path, names: list[str]) -> None:
    service = SiteService.open(path, actor="tech")
    try:
        for name in names:
            info = lab_host(name=name)
            service.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
    finally:
        service.close()


def resume(path: Path, dep_id: int) -> dict[str, object]:
    done = cli(path, "--accept-new-host-keys", "deploy", "resume", str(dep_id), "--json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def audit_valid(path: Path) -> None:
    verify = cli(path, "audit", "verify", "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.loads(verify.stdout)
    assert report["ok"] and report["seals_checked"], report


RUN = ["--accept-new-host-keys", "deploy", "run"]


def test_sigkill_at_preflight_then_resume(lab: Lab, lab_host, site_path: Path,
                                          tmp_path: Path) -> None:
    names = ["kpre1", "kpre2", "kpre3"]
    add_hosts(lab_host, site_path, names)
    dep_id = plan(site_path, names, "pd-tools=2.1-1")

    def one_checked(dep: Deployment, log: list[str]) -> bool:
        return dep.phase is Phase.PREFLIGHT and any(t.health_before for t in dep.targets)

    killed = kill_when(site_path, [*RUN, str(dep_id), "--json"], dep_id, one_checked, tmp_path)
    assert killed.phase is Phase.PREFLIGHT
    assert not all(t.health_before for t in killed.targets)  # killed mid-way
    final = resume(site_path, dep_id)
    assert final["phase"] == "done"
    targets = final["targets"]
    assert isinstance(targets, list)
    assert {t["label"]: t["verified"] for t in targets} == dict.fromkeys(names, "installed")
    for name in names:
        assert apt_runs(lab, name, " pd-tools=") == 1, name
    audit_valid(site_path)


def test_sigkill_during_the_reboot_wait_then_resume(lab: Lab, lab_host, site_path: Path,
                                                    tmp_path: Path) -> None:
    """Killed once the reboot is recorded as scheduled: the host may or may not have been
    asked yet (the record comes first). Resume asks again only if the host still runs the
    same boot, then waits for the new boot; the package is installed once."""
    names = ["kboot1", "kboot2"]
    add_hosts(lab_host, site_path, names)
    for name in names:
        lab.exec(name, "cat > /usr/local/sbin/shutdown; chmod 755 /usr/local/sbin/shutdown",
                 input=SHUTDOWN_SHIM, check=True)
    dep_id = plan(site_path, names, "pd-kernel=5.1-1", reboot_lead_minutes=0)

    def waiting_for_reboot(dep: Deployment, log: list[str]) -> bool:
        return any(t.reboot == "scheduled" for t in dep.targets)

    killed = kill_when(site_path, [*RUN, str(dep_id), "--json"], dep_id, waiting_for_reboot,
                       tmp_path)
    waiting = [t for t in killed.targets if t.reboot == "scheduled"]
    assert len(waiting) == 1 and waiting[0].state is HostState.RUNNING
    host = waiting[0].label
    request = "cat /run/pd-shutdown-request 2>/dev/null"
    out = (tmp_path / "resume.out").open("w")
    resumed = subprocess.Popen([PATCHDESK, "--site", str(site_path), "--accept-new-host-keys",
                                "deploy", "resume", str(dep_id), "--json"], stdout=out,
                               stderr=subprocess.PIPE, text=True, env=ENV)
    rebooted: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while resumed.poll() is None:  # each host is rebooted when it asks for it
            assert time.monotonic() < deadline, f"no end; rebooted: {rebooted}"
            for name in names:
                if name not in rebooted and "-r +0" in lab.exec(name, request).stdout:
                    lab.simulate_reboot(name)
                    rebooted.append(name)
            time.sleep(0.1)
        _, err = resumed.communicate(timeout=30)
    finally:
        if resumed.poll() is None:
            resumed.kill()
            resumed.communicate()
        out.close()
    assert resumed.returncode == 0, err[-2000:]
    assert rebooted[0] == host and sorted(rebooted) == names  # asked again on resume
    final = json.loads((tmp_path / "resume.out").read_text())
    assert final["phase"] == "done"
    targets = {str(t["label"]): t for t in final["targets"]}
    assert {n: t["verified"] for n, t in targets.items()} == dict.fromkeys(names, "installed")
    assert str(targets[host]["reboot"]).startswith("done (boot marker changed")
    for name in names:
        assert apt_runs(lab, name, " pd-kernel=") == 1, name
    audit_valid(site_path)


def test_sigkill_during_verification_then_resume(lab: Lab, lab_host, site_path: Path,
                                                 tmp_path: Path) -> None:
    names = ["kver1", "kver2"]
    add_hosts(lab_host, site_path, names)
    dep_id = plan(site_path, names, "pd-tools=2.1-1")

    def verifying(dep: Deployment, log: list[str]) -> bool:
        return dep.phase is Phase.VERIFICATION

    killed = kill_when(site_path, [*RUN, str(dep_id), "--json"], dep_id, verifying, tmp_path)
    assert killed.phase is Phase.VERIFICATION
    assert all(t.state is HostState.SUCCEEDED and not t.verified for t in killed.targets)
    final = resume(site_path, dep_id)
    assert final["phase"] == "done"
    assert {t["label"]: t["verified"] for t in final["targets"]  # type: ignore[attr-defined]
            } == dict.fromkeys(names, "installed")
    for name in names:
        assert apt_runs(lab, name, " pd-tools=") == 1, name
    audit_valid(site_path)


def test_sigkill_during_rollback_then_resume_finishes_it(lab: Lab, lab_host, site_path: Path,
                                                         tmp_path: Path) -> None:
    names = ["krb1", "krb2", "krb3"]
    add_hosts(lab_host, site_path, names)
    dep_id = plan(site_path, names, "pd-tools=2.1-1")
    assert cli(site_path, *RUN, str(dep_id), "--json").returncode == 0

    def rolling_back_one(dep: Deployment, log: list[str]) -> bool:
        return dep.phase is Phase.ROLLING_BACK and any(m.endswith(": rolling back: "
                                                                  "pd-tools=2.0-1")
                                                       for m in log)

    killed = kill_when(site_path, ["deploy", "rollback", str(dep_id), "--json"], dep_id,
                       rolling_back_one, tmp_path)
    assert killed.phase is Phase.ROLLING_BACK
    assert any(t.state is HostState.SUCCEEDED for t in killed.targets)  # not all done
    final = resume(site_path, dep_id)
    assert final["phase"] == "rolled_back"
    assert {t["label"]: t["state"] for t in final["targets"]  # type: ignore[attr-defined]
            } == dict.fromkeys(names, "rolled_back")
    for name in names:
        out = lab.exec(name, ["dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}",
                              "pd-tools"]).stdout
        assert out.strip() == "2.0-1 ii", name
        assert apt_runs(lab, name, " pd-tools=") == 1, name  # installed once
        assert apt_runs(lab, name, "pd-tools_2.0-1") == 1, name  # rolled back once
    audit_valid(site_path)
