"""[13] speed: the apt fast path keeps every safety step with fewer remote calls. Per host:
pre-flight (health snapshot and simulation) in one sudo call; keeping the old package,
checking the host is as pre-flight saw it and starting the job in one sudo call; the wait
for the job on the host with the versions and health read in the same call; a light
verification (versions and simulation) that records what it read in the site. Real lab
hosts, real sshd, sudo and apt."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.deployment import Gates, HostState, Phase, RebootPolicy, Stage
from app.core.models import Asset
from app.remote.ssh import SshTransport
from app.services import SiteService
from tests.lab.lab import Lab

MASTER = "lab master password"

pytestmark = pytest.mark.lab


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "fast.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    yield service
    service.close()


def version(lab: Lab, host: str, package: str) -> str:
    out = lab.exec(host, ["dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", package])
    return out.stdout.strip()


def _plan(site: SiteService, lab_host: Any, name: str) -> tuple[Any, Asset]:
    info = lab_host(name=name)
    asset = site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
    site.assess_assets(refresh=False)
    dep = site.plan_deployment(["pd-tools=2.1-1"], [name], gates=Gates(
        wave_size=5, concurrency=2, reboot=RebootPolicy.NEVER))
    return dep, asset


def test_one_host_takes_two_sudo_calls_and_keeps_every_safety_step(
        lab: Lab, lab_host, site: SiteService, monkeypatch) -> None:
    dep, asset = _plan(site, lab_host, "fast1")
    calls: list[tuple[str, bool]] = []
    real_run = SshTransport.run

    def counted(self: SshTransport, argv: Any, **kwargs: Any) -> Any:
        calls.append((str(argv[3] if argv[:2] == ["sh", "-c"] and len(argv) > 3 else argv[0]),
                      bool(kwargs.get("sudo"))))
        return real_run(self, argv, **kwargs)

    monkeypatch.setattr(SshTransport, "run", counted)
    dep = site.deployments.run(dep.id)
    monkeypatch.undo()
    assert dep.phase is Phase.DONE
    target = dep.targets[0]
    assert target.state is HostState.SUCCEEDED and target.verified == "installed"
    assert version(lab, "fast1", "pd-tools") == "2.1-1 ii"
    # The calls: the os-release read that picks the deployer, pre-flight, keep+check+start
    # (both through sudo), the wait (with the versions and the health snapshot), the
    # verification; no polling, no extra snapshot.
    names = Counter(name for name, _ in calls)
    assert [n for n, sudo in calls if sudo] == ["preflight", "keep-start"]
    assert names["preflight"] == 1 and names["keep-start"] == 1 and names["verify"] == 1
    # one wait, or two when the install outlasts the first wait on a loaded machine;
    # besides the waits exactly four calls (os-release, pre-flight, keep+start, verify)
    assert names["job-wait"] in (1, 2), calls
    assert len(calls) - names["job-wait"] == 4, calls
    # Every safety step is on record: pre-flight health, the change set, the old package
    # kept on the host, the after-install health, the audit trail.
    assert target.health_before["uid"] == "0" and target.health_before["boot_marker"]
    assert [(c.name, c.before, c.after) for c in target.changes] == [
        ("pd-tools", "2.0-1", "2.1-1")]
    assert target.before == {"pd-tools": "2.0-1"} and target.after["pd-tools"] == "2.1-1"
    kept = target.health_before["kept"]["pd-tools"]
    assert lab.exec("fast1", ["test", "-s", kept]).returncode == 0
    assert target.health_after["problems"] == [] and target.health_after["boot_marker"]
    log = [x["message"] for x in site.deployment_log(dep.id)]
    assert any("old package(s) kept: pd-tools" in m for m in log)
    actions = {e.action for e in site.audit_events(limit=100)}
    assert {"deploy.preflight", "deploy.install_start", "deploy.install_done",
            "deploy.verified"} <= actions
    # The light verification recorded what it read: the patch is no longer missing.
    assert not [p for p in site.patches(int(asset.id or 0)) if p.package == "pd-tools"]
    # And the kept package serves a rollback.
    dep = site.deployments.rollback(dep.id)
    assert dep.phase is Phase.ROLLED_BACK
    assert version(lab, "fast1", "pd-tools") == "2.0-1 ii"


def test_a_host_changed_after_pre_flight_is_checked_again_not_installed_blindly(
        lab: Lab, lab_host, site: SiteService) -> None:
    dep, _asset = _plan(site, lab_host, "fast2")
    engine = site.deployments.engine
    real_ring = engine._run_ring

    def ring(dep: Any, stage: Stage, *args: Any) -> None:
        # Between pre-flight and the install someone updates the package by hand.
        lab.exec("fast2", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                 "pd-tools=2.1-1 >/dev/null 2>&1", check=True)
        real_ring(dep, stage, *args)

    engine._run_ring = ring  # type: ignore[method-assign]
    dep = site.deployments.run(dep.id)
    target = dep.targets[0]
    assert dep.phase is Phase.DONE and target.state is HostState.SUCCEEDED
    assert target.detail == "already at the target version"
    assert not target.job or "-rb" not in target.job
    log = [x["message"] for x in site.deployment_log(dep.id)]
    assert any("changed since pre-flight (pd-tools)" in m for m in log)
    # No job of this deployment ran on the host: the one apt run is the hand-made one.
    jobs = lab.exec("fast2", "ls /var/lib/patchdesk/jobs 2>/dev/null | wc -l").stdout.strip()
    assert jobs == "0"
