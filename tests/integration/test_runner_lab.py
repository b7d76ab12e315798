"""Done-when 2 of [13]: `patchdesk schedule install` writes the systemd user timer, and the
command its ExecStart names — run directly, as the timer would, with HOME in tmp and no
GUI — executes a due assessment and a due deployment against lab hosts; the results and
audit events are in the site and an e-mail reaches the loopback SMTP server."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.core.models import Asset
from app.services import SiteService
from tests.lab.lab import Lab
from tests.smtp_server import SmtpTestServer

MASTER = "lab master password"
PATCHDESK = str(Path(sys.executable).with_name("patchdesk"))

pytestmark = pytest.mark.lab


def cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([PATCHDESK, *args], capture_output=True, text=True, env=env,
                          input=stdin, timeout=300, check=False)


def test_timer_runs_due_assessment_and_deployment_without_gui(
        lab: Lab, lab_host, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PATCHDESK_MASTER_PASSWORD": MASTER}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["XDG_RUNTIME_DIR"] = str(home / "run")  # no user manager for this HOME
    path = tmp_path / "runner.pdsite"
    site = SiteService.open(path, create=True, actor="tech")
    info = lab_host(name="rdue")
    try:
        site.remote.unlock(MASTER, create=True)
        site.remote.add_ssh_credential("office", "admin", password="labpass")
        asset = site.add_asset(Asset(hostname="rdue", ips=(info.ip,)))
        site.assess_assets()
        dep = site.plan_deployment(["pd-tools=2.1-1"], ["rdue"])
    finally:
        site.close()
    with SmtpTestServer(tmp_path) as smtp:
        res = cli("--site", str(path), "notify", "smtp", "mail", "--host", "127.0.0.1",
                  "--port", str(smtp.port), "--user", "notify", "--to", "ops@example.org",
                  "--cafile", smtp.cafile, "--password-stdin", env=env, stdin="s3cret\n")
        assert res.returncode == 0, res.stderr
        now = datetime.now()
        at = (now + timedelta(minutes=1 if now.second < 45 else 2)).replace(second=0,
                                                                           microsecond=0)
        for job in (["assess", "host:rdue"], ["deploy", str(dep.id)]):
            res = cli("--site", str(path), "--actor", "tech", "schedule", "add", *job,
                      "--at", f"daily {at:%H:%M}", env=env)
            assert res.returncode == 0, res.stderr
        # Nothing is due yet: run-due does nothing.
        early = cli("--site", str(path), "--json", "run-due", env=env)
        assert early.returncode == 0 and json.loads(early.stdout) == [], early.stderr
        # Register with the OS scheduler (the master password from a 0600 file).
        secret = home / ".config" / "patchdesk" / "master"
        secret.parent.mkdir(parents=True)
        secret.write_text(MASTER + "\n")
        secret.chmod(0o600)
        res = cli("--site", str(path), "--master-password-file", str(secret), "--json",
                  "schedule", "install", "--interval", "5", env=env)
        assert res.returncode == 0, res.stderr
        installed = json.loads(res.stdout)
        unit_dir = home / ".config" / "systemd" / "user"
        service_text = (unit_dir / "patchdesk-run-due.service").read_text()
        timer_text = (unit_dir / "patchdesk-run-due.timer").read_text()
        assert "OnCalendar=*:0/5" in timer_text and "Persistent=true" in timer_text
        assert "WantedBy=timers.target" in timer_text
        exec_line = next(x for x in service_text.splitlines() if x.startswith("ExecStart="))
        argv = shlex.split(exec_line.removeprefix("ExecStart="))
        assert argv[-1] == "run-due" and str(path) in argv and str(secret) in argv
        if shutil.which("systemctl") is None:
            assert installed["todo"].startswith("run: systemctl --user daemon-reload")
        else:  # no user manager answers for this HOME: it says what to run
            assert installed["ran"] and "systemctl --user enable --now" in installed["todo"]
        while datetime.now() < at:
            time.sleep(1.0)
        # What the timer starts: the ExecStart command itself, no GUI, HOME in tmp.
        no_password = {k: v for k, v in env.items() if k != "PATCHDESK_MASTER_PASSWORD"}
        run = subprocess.run([*argv[:-1], "--json", argv[-1]], capture_output=True, text=True,
                             env=no_password, timeout=600, check=False)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        ran = {r["kind"]: r for r in json.loads(run.stdout)}
        assert set(ran) == {"assess", "deploy"}
        assert ran["assess"]["last_status"] == "ok"
        assert ran["assess"]["last_result"] == "assessed 1 of 1 host(s)"
        assert ran["deploy"]["last_status"] == "ok"
        assert ran["deploy"]["last_result"].startswith(f"deployment {dep.id}: done (1 of 1")
        assert datetime.fromisoformat(ran["deploy"]["next_run"]).date() > at.date()
        # A second run-due right after: nothing is due any more.
        again = subprocess.run([*argv[:-1], "--json", argv[-1]], capture_output=True,
                               text=True, env=no_password, timeout=120, check=False)
        assert json.loads(again.stdout) == []
        assert any(f"Deployment {dep.id} done" in m.data for m in smtp.messages)
        assert all(m.tls and m.login == ("notify", "s3cret") for m in smtp.messages)
    out = lab.exec("rdue", ["dpkg-query", "-W", "-f=${Version}", "pd-tools"])
    assert out.stdout.strip() == "2.1-1"
    site = SiteService.open(path)
    try:
        assert site.deployment(dep.id).phase.value == "done"
        assert site.assessment(int(asset.id or 0)) is not None
        actions = [e.action for e in site.audit_events(limit=100)]
        assert actions.count("schedule.run") == 2 and "notify.sent" in actions
        assert "deploy.install_done" in actions
    finally:
        site.close()
