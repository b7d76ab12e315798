"""Done-when 2 of [13] with a real systemd: a machine booted with systemd as PID 1 (the
lab's Debian base plus Debian's systemd, in the lab's client namespace) runs ``systemd
--user`` for a lingering user, who runs ``patchdesk schedule install``; the user timer
itself fires ``patchdesk run-due`` (nothing starts the service by hand, no GUI, nobody
logged in), which runs a due assessment and a due deployment of a saved plan against a
lab host. The results and audit events are in the site and the e-mail reaches the SMTP
test server (listening on the lab's root-namespace address, where the machine reaches it).

Skipped only when the kernel cannot run such a machine (no PID/cgroup namespaces, no
cgroup hierarchy systemd can use); the lab fixtures fail instead of skipping under
PATCHDESK_REQUIRE_LAB=1 / CI. The unit files' content is tested in test_runner_lab.py and
tests/unit/test_schedule_units.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.models import Asset
from app.core.osschedule import UNIT
from app.services import SiteService
from tests.lab import systemdhost
from tests.lab.lab import Lab
from tests.smtp_server import SmtpTestServer

ROOT = Path(__file__).resolve().parents[2]
MASTER = "lab master password"
PATCHDESK = str(Path(sys.executable).with_name("patchdesk"))
USER, UID = "pdsched", 4242
USER_ENV = {"HOME": f"/home/{USER}", "XDG_RUNTIME_DIR": f"/run/user/{UID}",
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path=/run/user/{UID}/bus",
            "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _binds(share: Path) -> list[tuple[str, bool]]:
    """The product at the same paths as here (read-only), and the test's directory."""
    paths = {str(ROOT), sys.prefix}
    if not sys.base_prefix.startswith("/usr"):  # e.g. pyenv's Python the venv points to
        paths.add(sys.base_prefix)
    return [*((p, False) for p in sorted(paths)), (str(share), True)]


def _user_manager_up(machine: systemdhost.Machine, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        res = machine.exec(["systemctl", "--user", "is-system-running"], user=USER,
                           env=USER_ENV, timeout=30)
        state = (res.stdout or res.stderr).strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    status = machine.exec(["systemctl", "status", f"user@{UID}.service", "--no-pager"])
    pytest.fail(f"systemd --user of the lingering user did not start ({state}):\n"
                + status.stdout[-2000:])


def test_user_timer_runs_due_assessment_and_deployment(
        lab: Lab, lab_host, tmp_path: Path) -> None:
    why = systemdhost.kernel_support()
    if why:
        pytest.skip(f"this kernel cannot boot a systemd machine: {why}")
    share = tmp_path / "share"
    share.mkdir()
    path = share / "sched.pdsite"
    site = SiteService.open(path, create=True, actor="tech")
    info = lab_host(name="sdue")
    try:
        site.remote.unlock(MASTER, create=True)
        site.remote.add_ssh_credential("office", "admin", password="labpass")
        asset = site.add_asset(Asset(hostname="sdue", ips=(info.ip,)))
        site.assess_assets()
        dep = site.plan_deployment(["pd-tools=2.1-1"], ["sdue"])
    finally:
        site.close()
    secret = share / "master"
    secret.write_text(MASTER + "\n")
    secret.chmod(0o600)
    env = {**os.environ, "PATCHDESK_MASTER_PASSWORD": MASTER, "PYTHONPATH": str(ROOT)}
    with SmtpTestServer(share, host=lab.root_ip) as smtp:
        res = subprocess.run(
            [PATCHDESK, "--site", str(path), "notify", "smtp", "mail", "--host", lab.root_ip,
             "--port", str(smtp.port), "--user", "notify", "--to", "ops@example.org",
             "--cafile", smtp.cafile, "--password-stdin"], input="s3cret\n", env=env,
            capture_output=True, text=True, timeout=120, check=False)
        assert res.returncode == 0, res.stderr
        for p in (share, *share.iterdir()):
            os.chown(p, UID, UID)
        setup = (f"useradd -m -u {UID} -U -s /bin/bash {USER}\n"
                 f"mkdir -p /var/lib/systemd/linger && touch /var/lib/systemd/linger/{USER}\n")
        t0 = time.monotonic()
        assert lab.base is not None
        with systemdhost.boot(lab.base, lab.cache, tmp_path / "machine",
                              netns=lab.client_ns, binds=_binds(share), setup=setup) as machine:
            machine.wait_running()
            _user_manager_up(machine)
            booted = time.monotonic() - t0

            def as_user(*argv: str) -> subprocess.CompletedProcess[str]:
                return machine.exec(list(argv), user=USER, env=USER_ENV, timeout=300)

            # The user manager starts run-due with this checkout's code (PYTHONPATH).
            res = as_user("systemctl", "--user", "set-environment", f"PYTHONPATH={ROOT}")
            assert res.returncode == 0, res.stderr
            # Due at the next whole minute but one, in the machine's local time.
            due = (int(as_user("date", "+%s").stdout) // 60 + 2) * 60
            hhmm = as_user("date", "-d", f"@{due}", "+%H:%M").stdout.strip()
            for job in (["assess", "host:sdue"], ["deploy", str(dep.id)]):
                res = as_user(PATCHDESK, "--site", str(path), "--actor", "tech", "schedule",
                              "add", *job, "--at", f"daily {hhmm}")
                assert res.returncode == 0, res.stdout + res.stderr
            res = as_user(PATCHDESK, "--site", str(path), "--master-password-file",
                          str(secret), "--json", "schedule", "install", "--interval", "1")
            assert res.returncode == 0, res.stdout + res.stderr
            installed = json.loads(res.stdout)
            assert installed["todo"] == "", installed
            assert [r[1] for r in installed["ran"]] == [0, 0], installed
            enabled = as_user("systemctl", "--user", "is-enabled", f"{UNIT}.timer")
            assert enabled.stdout.strip() == "enabled"
            shown = as_user("systemctl", "--user", "show", f"{UNIT}.service", "-p", "ExecStart")
            assert f"path={PATCHDESK} " in shown.stdout and str(path) in shown.stdout, shown
            # Wait for the timer to fire run-due after the schedules are due (the timer
            # runs every minute with up to 20 s of randomized delay).
            deadline = time.monotonic() + (due - time.time()) + 240
            while time.monotonic() < deadline and not any(
                    f"Deployment {dep.id}" in m.data for m in smtp.messages):
                time.sleep(2.0)
            while time.monotonic() < deadline and as_user(
                    "systemctl", "--user", "is-active", f"{UNIT}.service").stdout.strip() \
                    in ("activating", "active"):
                time.sleep(1.0)
            trigger = as_user("systemctl", "--user", "show", f"{UNIT}.timer",
                              "-p", "LastTriggerUSecMonotonic")
            # The user's journal (the user manager's and run-due's messages), for failures.
            journal = machine.exec(["journalctl", "--no-pager", "-o", "short-iso",
                                    f"_UID={UID}"])
            as_user("systemctl", "--user", "disable", "--now", f"{UNIT}.timer")
        assert any(f"Deployment {dep.id} done" in m.data for m in smtp.messages), (
            f"no e-mail; the user's journal:\n{journal.stdout[-3000:]}")
        assert all(m.tls and m.login == ("notify", "s3cret") for m in smtp.messages)
    # The timer fired it: systemd recorded a trigger (no one ran systemctl start).
    assert trigger.stdout.strip() not in ("", "LastTriggerUSecMonotonic=0"), (
        trigger.stdout + journal.stdout[-3000:])
    out = lab.exec("sdue", ["dpkg-query", "-W", "-f=${Version}", "pd-tools"])
    assert out.stdout.strip() == "2.1-1"
    site = SiteService.open(path)
    try:
        ran = {str(s.kind): s for s in site.schedules.all()}
        assert ran["assess"].last_status == "ok", ran
        assert ran["assess"].last_result == "assessed 1 of 1 host(s)"
        assert ran["deploy"].last_status == "ok"
        assert ran["deploy"].last_result.startswith(f"deployment {dep.id}: done (1 of 1")
        assert site.deployment(dep.id).phase.value == "done"
        assert site.assessment(int(asset.id or 0)) is not None
        actions = [e.action for e in site.audit_events(limit=200)]
        assert actions.count("schedule.run") == 2 and "notify.sent" in actions
        assert "schedule.add" in actions and "deploy.install_done" in actions
    finally:
        site.close()
    print(f"systemd machine + user manager up in {booted:.1f}s")
