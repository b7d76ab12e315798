"""[13]: deployment results and halts are e-mailed from every run through the services layer
(what the CLI's `deploy run`/`resume` and the GUI wizard call), not only from `run-due`;
sent to the loopback SMTP test server (STARTTLS, vaulted password). The real engine and
site; the hosts answer through scripted transports (tests/integration/test_hostile_hosts)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.core.deployment import Gates, PackagePin, Phase, RebootPolicy, Stage
from app.core.models import Asset
from app.services import SiteService
from tests.integration.test_hostile_hosts import LabDeployer, Remote, host
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "n.pdsite", create=True, actor="tech")
    service.remote.unlock("master pw", create=True)
    for name, ip in (("web1", "10.0.0.1"), ("web2", "10.0.0.4"), ("bad", "10.0.0.3")):
        service.add_asset(Asset(hostname=name, ips=(ip,)))
    yield service
    service.close()


@pytest.fixture
def smtp(tmp_path: Path, site: SiteService) -> Iterator[SmtpTestServer]:
    with SmtpTestServer(tmp_path) as srv:
        site.remote.add_smtp_credential("mail", "notify", "s3cret", host="127.0.0.1",
                                        port=srv.port, recipients=("ops@example.org",),
                                        cafile=srv.cafile)
        yield srv


def _plan(site: SiteService, names: tuple[str, ...], stages: tuple[Stage, ...] = (),
          **gates: Any) -> Any:
    hosts = {"10.0.0.1": host("10.0.0.1"), "10.0.0.4": host("10.0.0.4"),
             # the job exits 100 and the versions stay old: the install fails
             "10.0.0.3": host("10.0.0.3", exit_line="exit: 100")}
    engine = site.deployments.engine
    engine.remote = Remote(hosts)
    engine.deployer_for = lambda _transport: LabDeployer()
    assets = [site.find_assets(n)[0] for n in names]
    return site.deployments.plan(
        [PackagePin("pd-x", "1.1")],
        [(a, stages[i] if stages else Stage.PRODUCTION) for i, a in enumerate(assets)],
        Gates(wave_size=10, concurrency=2, reboot=RebootPolicy.NEVER, **gates))


def test_a_finished_run_mails_its_result_once(site: SiteService, smtp: SmtpTestServer) -> None:
    dep = _plan(site, ("web1", "web2"))
    dep = site.deployments.run(dep.id)
    assert dep.phase is Phase.DONE
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail.tls and mail.login == ("notify", "s3cret")
    assert mail.recipients == ["ops@example.org"]
    assert f"Subject: PatchDesk: deployment {dep.id} done (2 of 2 host(s) succeeded)" \
        in mail.data
    assert "web1: succeeded installed installed" in mail.data
    assert "web2: succeeded installed installed" in mail.data
    # Resuming a finished deployment changes nothing and sends nothing.
    site.deployments.resume(dep.id)
    assert len(smtp.messages) == 1
    sent = [e for e in site.audit_events(limit=50) if e.action == "notify.sent"]
    assert len(sent) == 1 and "deployment" in str(sent[0].details)


def test_a_halted_run_mails_the_halt_and_its_reason(site: SiteService,
                                                    smtp: SmtpTestServer) -> None:
    dep = _plan(site, ("bad", "web1"), max_failures=1)
    dep = site.deployments.run(dep.id)
    assert dep.phase is Phase.HALTED
    assert len(smtp.messages) == 1
    data = smtp.messages[0].data
    assert f"deployment {dep.id} HALTED" in data
    assert "bad: failed" in data and "apt exited 100" in data
    assert f"Reason: {dep.halt_reason}" in data and "failure threshold" in data


def test_a_run_stopping_for_approval_or_told_not_to_mails_nothing(
        site: SiteService, smtp: SmtpTestServer) -> None:
    dep = _plan(site, ("web1", "web2"), (Stage.TEST, Stage.PRODUCTION))
    dep = site.deployments.run(dep.id)
    assert dep.phase is Phase.AWAITING_APPROVAL
    assert smtp.messages == []
    quiet = _plan(site, ("web1",))
    assert site.deployments.run(quiet.id, notify=False).phase is Phase.DONE
    assert smtp.messages == []


def test_a_scheduled_deployment_sends_one_summary_not_two(site: SiteService,
                                                          smtp: SmtpTestServer) -> None:
    dep = _plan(site, ("web1",))
    site.schedules.add("deploy", str(dep.id), "daily 02:00")
    ran = site.schedules.run_due(datetime.now().astimezone() + timedelta(days=2))
    assert [s.last_status for s in ran] == ["ok"]
    assert site.deployments.get(dep.id).phase is Phase.DONE
    assert len(smtp.messages) == 1
    assert f"Deployment {dep.id} done: pd-x=1.1" in smtp.messages[0].data
