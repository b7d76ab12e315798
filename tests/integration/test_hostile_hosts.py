"""[12].1: one host's output never aborts a run. The real engine, the real site (SQLite) and
the real apt driver's parsing; each host answers through a scripted transport, one of them
with garbage numbers where the driver expects numbers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.core.deployment import (
    Gates,
    HostState,
    PackageChange,
    PackagePin,
    Phase,
    RebootPolicy,
    Stage,
)
from app.core.models import Asset
from app.drivers.apt_deploy import AptDeployer
from app.drivers.parsers.apt_changes import Simulation
from app.services import SiteService
from app.store.deployments import DeploymentRepo
from tests.fakes import ScriptedTransport, contains

PIN = {"pd-x": "1.1"}


def health_output(uptime: str = "123.4 99.0") -> str:
    sections = {"uid": "0", "package-tools": "apt-get dpkg", "boot-id": "b1", "pid1-start": "42",
                "uptime": uptime, "loadavg": "0.10 0.05 0.01 1/100 1234",
                "dpkg-audit": "", "failed-units": ""}
    return "".join(f"@@pd:{k}@@\n{v}\n" for k, v in sections.items()) + "@@pd:end@@\n"


class Host(ScriptedTransport):
    """A scripted host that records whether its install ran."""

    installed: bool = False

    def close(self) -> None:
        pass


class LabDeployer(AptDeployer):
    """The apt driver with its remote scripts answered by the scripted hosts: health and
    job status go through the real parsers; the rest is a plain up-to-date host."""

    def simulate(self, transport: Any, pins: dict[str, str]) -> Simulation:
        return Simulation("amd64", dict(PIN), (PackageChange("pd-x", "1.0", "1.1", "upgrade",
                                                             True),))

    def versions(self, transport: Any, names: list[str], native: str = "") -> dict[str, str]:
        return dict.fromkeys(names, "1.1" if transport.installed else "1.0")

    def keep_for_rollback(self, transport: Any, keep_id: str,
                          pins: dict[str, str]) -> dict[str, str]:
        return {n: f"/var/lib/x/{n}.deb" for n in pins}

    def start(self, transport: Any, job: str, pins: dict[str, str]) -> tuple[str, str]:
        transport.installed = transport.host != "10.0.0.3"  # the one whose poll is garbage
        transport.installed = True if transport.host == "10.0.0.33" else transport.installed
        return "started", job


class Remote:
    def __init__(self, hosts: dict[str, Host]) -> None:
        self.hosts = hosts

    def transport_for(self, asset: Asset) -> Host:
        return self.hosts[asset.primary_ip]


def host(ip: str, *, uptime: str = "123.4 99.0", exit_line: str = "exit: 0") -> Host:
    h = Host(host=ip)
    h.on(contains("job-status"), 0, f"state: done\n{exit_line}\nlog:\n")
    h.on(lambda argv: True, 0, health_output(uptime))
    return h


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "h.pdsite", create=True, actor="tech")
    for name, ip in (("good1", "10.0.0.1"), ("badup", "10.0.0.2"), ("badexit", "10.0.0.3"),
                     ("good2", "10.0.0.4")):
        service.add_asset(Asset(hostname=name, ips=(ip,)))
    yield service
    service.close()


def _engine(site: SiteService, hosts: dict[str, Host]) -> Any:
    engine = site.deployments.engine
    engine.remote = Remote(hosts)
    engine.deployer_for = lambda _transport: LabDeployer()
    engine.reassess = None  # no real hosts to re-assess
    return engine


def _plan(site: SiteService) -> Any:
    assets = [site.find_assets(n)[0] for n in ("good1", "badup", "badexit", "good2")]
    return site.deployments.plan(
        [PackagePin("pd-x", "1.1")],
        [(a, Stage.PRODUCTION) for a in assets],
        Gates(wave_size=10, concurrency=4, max_failure_rate=1.0, reboot=RebootPolicy.NEVER))


def test_garbage_numbers_fail_only_their_host_and_resume_works(site: SiteService) -> None:
    hosts = {"10.0.0.1": host("10.0.0.1"), "10.0.0.2": host("10.0.0.2", uptime="notanumber"),
             "10.0.0.3": host("10.0.0.3", exit_line="exit: notanint"),
             "10.0.0.4": host("10.0.0.4")}
    engine = _engine(site, hosts)
    dep = _plan(site)
    dep = engine.run(dep.id)
    states = {t.label: t.state for t in dep.targets}
    assert states["good1"] is HostState.SUCCEEDED and states["good2"] is HostState.SUCCEEDED
    badup = next(t for t in dep.targets if t.label == "badup")
    assert badup.excluded and any("notanumber" in p for p in badup.preflight)
    badexit = next(t for t in dep.targets if t.label == "badexit")
    assert badexit.state is HostState.FAILED and "notanint" in badexit.detail
    assert dep.phase is Phase.DONE
    assert engine.run(dep.id).phase is Phase.DONE  # resume of a finished one is a no-op


def test_a_host_whose_result_cannot_be_stored_fails_alone(site: SiteService,
                                                          monkeypatch) -> None:
    """Storing is per host: a storage failure for one host's result (the IntegrityError of
    the dnf multi-arch case) becomes that host's error, audited; the others finish."""
    hosts = {ip: host(ip) for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5")}
    hosts["10.0.0.3"] = hosts.pop("10.0.0.5")
    hosts["10.0.0.3"].host = "10.0.0.33"  # installs fine (see LabDeployer.start)
    engine = _engine(site, hosts)
    dep = _plan(site)
    real_log = DeploymentRepo.log

    def failing_log(self: DeploymentRepo, dep_id: int, message: str,
                    asset_id: int | None = None) -> None:
        if message.startswith("badexit: installed"):
            raise sqlite3.IntegrityError("UNIQUE constraint failed: package.name")
        real_log(self, dep_id, message, asset_id)

    monkeypatch.setattr(DeploymentRepo, "log", failing_log)
    dep = engine.run(dep.id)
    states = {t.label: t.state for t in dep.targets}
    assert states == {"good1": HostState.SUCCEEDED, "badup": HostState.SUCCEEDED,
                      "badexit": HostState.FAILED, "good2": HostState.SUCCEEDED}
    bad = next(t for t in dep.targets if t.label == "badexit")
    assert "could not be stored" in bad.detail and "IntegrityError" in bad.detail
    errors = [e for e in site.audit_events(object_type="deployment", object_id=str(dep.id))
              if e.action == "deploy.host_error"]
    assert len(errors) == 1 and errors[0].details["asset_id"] == bad.asset_id
    assert dep.phase is Phase.DONE


def test_resume_of_a_host_left_running_with_a_garbage_poll(site: SiteService) -> None:
    """The run that crashed on ``exit: notanint`` left the host "running"; resuming polls
    the job again: the host ends in its error state and the deployment finishes."""
    hosts = {"10.0.0.1": host("10.0.0.1"), "10.0.0.2": host("10.0.0.2"),
             "10.0.0.3": host("10.0.0.3", exit_line="exit: notanint"),
             "10.0.0.4": host("10.0.0.4")}
    _engine(site, hosts)
    dep = _plan(site)
    badexit = next(t for t in dep.targets if t.label == "badexit")
    dep = dep.moved(Phase.PREFLIGHT).moved(Phase.PRODUCTION).with_target(
        replace(badexit, state=HostState.RUNNING, job="pd-x-y-a3", before={"pd-x": "1.0"}))
    with site.store.atomic() as db:
        DeploymentRepo(db).save(dep)
    dep = site.deployments.resume(dep.id)
    states = {t.label: t.state for t in dep.targets}
    assert states["badexit"] is HostState.FAILED
    assert "notanint" in dep.target(badexit.asset_id).detail
    assert states["good1"] is HostState.SUCCEEDED
    assert dep.phase is Phase.DONE


def test_an_assessment_that_cannot_be_stored_is_that_hosts_error(tmp_path: Path,
                                                                 monkeypatch) -> None:
    """Assessments store per host: one host's result that the site refuses (an
    IntegrityError) is stored as that host's failure, audited; the others are stored."""
    from datetime import datetime

    import app.services.assessment as assessment_service
    from app.core.assessment import Assessment, Update
    from app.store.assessments import AssessmentRepo

    service = SiteService.open(tmp_path / "a.pdsite", create=True, actor="tech")
    try:
        service.remote.unlock("master password here", create=True)
        service.remote.add_ssh_credential("office", "admin", password="pw")
        for name, ip in (("a1", "10.0.0.1"), ("dup", "10.0.0.2"), ("a3", "10.0.0.3")):
            service.add_asset(Asset(hostname=name, ips=(ip,)))
        monkeypatch.setattr(assessment_service, "assess_host", lambda transport, refresh, **_kw: (
            Assessment(transport.host, "dnf", updates=[Update("x", "2", "1", arch="x86_64")])))
        real = AssessmentRepo.record_success

        def record(self: AssessmentRepo, asset_id: int, started: datetime, ended: datetime,
                   result: Assessment) -> None:
            if result.host == "10.0.0.2":
                raise sqlite3.IntegrityError("UNIQUE constraint failed: asset_patch.package")
            real(self, asset_id, started, ended, result)

        monkeypatch.setattr(AssessmentRepo, "record_success", record)
        outcomes = {o.label: o for o in service.assess_assets(refresh=False)}
        assert outcomes["a1"].ok and outcomes["a3"].ok
        assert not outcomes["dup"].ok and "could not be stored" in outcomes["dup"].message
        dup = service.find_assets("dup")[0]
        stored = service.assessment(int(dup.id or 0))
        assert stored is not None and "could not be stored" in str(stored.error)
        events = [e for e in service.audit_events(limit=20) if e.action == "assess.store_failed"]
        assert len(events) == 1 and events[0].object_id == str(dup.id)
    finally:
        service.close()


class RebootingHost(Host):
    """A host that comes back with a new boot marker after its scheduled reboot."""

    rebooted = False

    def run(self, argv: Any, **kwargs: Any) -> Any:
        if argv[:2] == ["shutdown", "-r"]:
            self.rebooted = True
        if len(argv) > 2 and str(argv[2]).startswith("cat /proc/sys/kernel/random/boot_id"):
            self.calls.append((tuple(argv), False))
            from tests.fakes import FakeResult
            return FakeResult(tuple(argv), 0, "b2\n43\n" if self.rebooted else "b1\n42\n")
        return super().run(argv, **kwargs)


def test_reboot_notice_with_braces_and_dashes_reaches_shutdown_as_text(site: SiteService,
                                                                       ) -> None:
    """[12].15: the notice is a person's text: ``{x}`` is no format field (no KeyError) and a
    leading ``-`` is no option (it follows ``--``); only ``{minutes}`` is filled in."""
    notice = "-k Save {x} work: restart in {minutes} min {0}"
    hosts = {ip: RebootingHost(host=ip) for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3",
                                                   "10.0.0.4")}
    for h in hosts.values():
        h.on(contains("job-status"), 0, "state: done\nexit: 0\nlog:\n")
        h.on(contains("wall"), 0, "")
        h.on(contains("shutdown"), 0, "")
        h.on(lambda argv: list(argv) == ["true"], 0, "")
        h.on(lambda argv: True, 0, health_output())
    engine = _engine(site, hosts)
    assets = [site.find_assets("good1")[0]]
    dep = site.deployments.plan([PackagePin("pd-x", "1.1")], [(assets[0], Stage.PRODUCTION)],
                                Gates(reboot=RebootPolicy.ALWAYS, reboot_lead_minutes=0,
                                      reboot_message=notice))
    dep = engine.run(dep.id)
    assert dep.targets[0].state is HostState.SUCCEEDED, dep.targets[0].detail
    calls = [argv for argv, _sudo in hosts["10.0.0.1"].calls if argv[0] == "shutdown"]
    text = "-k Save {x} work: restart in 0 min {0}"
    assert calls == [("shutdown", "-r", "+0", "--", text)]
