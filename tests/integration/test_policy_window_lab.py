"""Done-when 1 of [13]: a plan takes its rules from the policy in force (failures ≤ 1, no
reboot, backup required, a window that is closed now), `deploy run` installs nothing until
the window opens, and the plan's JSON names each rule's source. Also: a window that closes
mid-run starts no new host, and the emergency procedure opens an audited out-of-window run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.core.deployment import Gates, HostState, Phase, RebootPolicy
from app.core.errors import UserError
from app.core.models import Asset, AssetKind
from app.core.policy import MaintenanceWindow, Policy
from app.services import SiteService
from tests.lab.lab import Lab

MASTER = "lab master password"
PATCHDESK = str(Path(sys.executable).with_name("patchdesk"))

pytestmark = pytest.mark.lab


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "policy.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    yield service
    service.close()


def version(lab: Lab, host: str, package: str) -> str:
    out = lab.exec(host, ["dpkg-query", "-W", "-f=${Version}", package])
    return out.stdout.strip()


def test_deploy_run_follows_the_policy_and_waits_for_the_window(
        lab: Lab, lab_host, site: SiteService) -> None:
    ok, nob = lab_host(name="wpol"), lab_host(name="wnob")
    server = site.add_asset(Asset(hostname="wpol", ips=(ok.ip,), kind=AssetKind.SERVER))
    site.add_asset(Asset(hostname="wnob", ips=(nob.ip,), kind=AssetKind.SERVER))
    site.attest_backup([int(server.id or 0)], "image verified")  # wnob has none
    now = datetime.now()
    start = (now + timedelta(minutes=1 if now.second < 35 else 2)).replace(second=0,
                                                                           microsecond=0)
    window = f"daily {start:%H:%M}-{start + timedelta(minutes=30):%H:%M}"
    site.save_policy(Policy(max_failures=1, reboot=RebootPolicy.NEVER, backup_required=True,
                            backup_days=7, windows=(MaintenanceWindow.parse(window),)))
    path = site.path
    site.close()
    env = {**os.environ, "PATCHDESK_MASTER_PASSWORD": MASTER}
    proc = subprocess.Popen(
        [PATCHDESK, "--site", str(path), "--actor", "tech", "deploy", "run",
         "--accept-new-host-keys", "--patch",
         "pd-tools=2.1-1",
         "--targets", "wpol,wnob", "--yes", "--json", "--pilot-success", "0.95",
         "--max-failure-rate", "0.5", "--override", "lab: rate only matters past 1 host"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # Until the window opens: planned, waiting, nothing installed, nothing pre-flighted.
        waited = False
        while datetime.now() < start - timedelta(seconds=2):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            reader = SiteService.open(path)
            try:
                deps = reader.deployments.all()
                if deps:
                    dep = deps[0]
                    assert dep.phase is Phase.PLANNED
                    log = [x["message"] for x in reader.deployment_log(dep.id)]
                    waited = waited or any(m.startswith(f"waiting for window {start:%a %H:%M}")
                                           for m in log)
            finally:
                reader.close()
            assert version(lab, "wpol", "pd-tools") == "2.0-1"
            time.sleep(1.0)
        assert waited, "the run never said it waits for the window"
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err[-2000:]
    data = json.loads(out)
    gates = data["gates"]
    assert (gates["max_failures"], gates["reboot"], gates["backup_days"],
            gates["windows"]) == (1, "never", 7, [str(MaintenanceWindow.parse(window))])
    assert gates["pilot_success"] == 0.95 and gates["max_failure_rate"] == 0.5
    sources = gates["sources"]
    for rule in ("max_failures", "reboot", "reboot_message", "reboot_lead_minutes",
                 "backup_days", "windows", "rings"):
        assert sources[rule] == "policy v1", rule
    assert sources["pilot_success"] == "flag --pilot-success"
    assert sources["max_failure_rate"].startswith("override by tech (flag --max-failure-rate")
    assert data["phase"] == "done"
    hosts = {t["label"]: t for t in data["targets"]}
    assert hosts["wpol"]["verified"] == "installed"
    assert hosts["wnob"]["preflight"] == ["no verified backup in the last 7 days"]
    started = datetime.fromisoformat(hosts["wpol"]["started_at"])
    assert started >= start.astimezone()
    assert version(lab, "wpol", "pd-tools") == "2.1-1"
    assert version(lab, "wnob", "pd-tools") == "2.0-1"
    reader = SiteService.open(path)
    try:
        actions = [e.action for e in reader.audit_events(limit=50)]
    finally:
        reader.close()
    assert {"policy.override", "deploy.window_wait", "deploy.plan"} <= set(actions)


def test_window_closing_mid_run_starts_no_new_host_and_emergency_opens_one(
        lab: Lab, lab_host, site: SiteService) -> None:
    for name in ("wc1", "wc2"):
        info = lab_host(name=name)
        site.add_asset(Asset(hostname=name, ips=(info.ip,)))
    site.save_policy(Policy(windows=(MaintenanceWindow.parse("sat 22:00-04:00"),)))
    dep = site.plan_deployment(["pd-tools=2.1-1"], ["wc1", "wc2"],
                               gates=Gates(wave_size=5, concurrency=1))
    engine = site.deployments.engine
    inside = datetime(2026, 12, 5, 23, 0).astimezone()  # a Saturday night
    calls: list[datetime] = []

    def clock() -> datetime:  # open until the first host is installing, then closed
        running = [t for t in site.deployments.get(dep.id).targets
                   if t.state is not HostState.PENDING]
        calls.append(inside)
        return inside if not running else inside + timedelta(hours=6)

    engine.clock = clock
    from app.core.progress import CancelToken
    cancel = CancelToken()
    messages: list[str] = []

    def progress(p: object) -> None:
        messages.append(getattr(p, "message", ""))
        if "waiting for window" in getattr(p, "message", "") and \
                any(t.state is HostState.SUCCEEDED
                    for t in site.deployments.get(dep.id).targets):
            cancel.cancel()  # the next window is a week away: stop waiting

    result = site.deployments.run(dep.id, progress=progress, cancel=cancel)
    states = {t.label: t.state for t in result.targets}
    assert states == {"wc1": HostState.SUCCEEDED, "wc2": HostState.PENDING}
    assert version(lab, "wc2", "pd-tools") == "2.0-1"
    assert any(m.startswith("waiting for window Sat 22:00") for m in messages)
    assert any("not started: its maintenance window has closed" in x["message"]
               for x in site.deployment_log(dep.id))
    # The emergency procedure opens a run outside the window (audited, by name).
    site.save_policy(Policy(responsible="boss", windows=(
        MaintenanceWindow.parse("sat 22:00-04:00"),)))
    with pytest.raises(UserError, match="may not open an emergency run"):
        site.plan_deployment(["pd-tools=2.1-1"], ["wc2"], emergency="CVE in the wild")
    boss = SiteService.open(site.path, actor="boss")
    try:
        boss.remote.unlock(MASTER)
        urgent = boss.plan_deployment(["pd-tools=2.1-1"], ["wc2"], emergency="CVE in the wild")
        boss.deployments.engine.clock = lambda: inside + timedelta(hours=6)  # closed
        done = boss.deployments.run(urgent.id)
        assert done.phase is Phase.DONE and done.gates.emergency == "boss: CVE in the wild"
        assert version(lab, "wc2", "pd-tools") == "2.1-1"
        assert "deploy.emergency" in [e.action for e in boss.audit_events(limit=30)]
    finally:
        boss.close()
