"""Deployments to the lab's RPM hosts through the same engine path as apt: a "rocky" host
(real dnf 4.14 + rpm 4.18) and an "opensuse" host (real zypper 1.14), planned and run
through SiteService. Pre-flight asks the host's deployer (from the driver registry), the
install runs as a host-side job, verification and rollback are checked with ``rpm -q`` on
the host itself, and a failing ``%post`` halts the deployment at the test ring (dnf exits
0 there: app/drivers/rpm_deploy.py says why that still is a failure)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.deployment import HostState, PackageChange, Phase, Stage
from app.core.models import Asset
from app.services import SiteService
from tests.lab import rpmrepo
from tests.lab.lab import HostInfo, Lab

MASTER = "lab master password"
KINDS = ("rocky", "opensuse")
OLD, NEW = rpmrepo.OPENSSL_OLD, rpmrepo.OPENSSL_NEW
BROKEN_OLD, BROKEN_NEW = rpmrepo.BROKEN_OLD, rpmrepo.BROKEN_NEW

pytestmark = pytest.mark.lab


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "rpmdeploy.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    service.people.add("J. Smith", "4711-blue")  # approvals are proved by PIN ([12].8)
    yield service
    service.close()


def rpm_q(lab: Lab, host: str, *names: str) -> list[str]:
    """``rpm -q`` on the host itself: one NEVRA line per installed instance."""
    out = lab.exec(host, ["rpm", "-q", *names])
    return out.stdout.split()


def rpm_hosts(lab_host: Callable[..., HostInfo], site: SiteService, kind: str,
              names: list[str]) -> list[HostInfo]:
    made = [lab_host(name=name, kind=kind) for name in names]
    for info in made:
        site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
    return made


@pytest.mark.parametrize("kind", KINDS)
def test_security_update_preflight_install_verify_and_rollback(
        lab: Lab, lab_host: Callable[..., HostInfo], site: SiteService, kind: str) -> None:
    test_name, prod_name = f"{kind[:4]}st", f"{kind[:4]}sp"
    rpm_hosts(lab_host, site, kind, [test_name, prod_name])
    t0 = time.monotonic()
    outcomes = site.assess_assets()
    assert [(o.ok, o.message) for o in outcomes] == [(True, "")] * 2
    t_assess = time.monotonic() - t0
    dep = site.plan_deployment(["pd-openssl"], [prod_name], test_ring=[test_name])
    assert [str(p) for p in dep.packages] == [f"pd-openssl:x86_64={NEW.evr}"]
    assert {t.label: t.stage for t in dep.targets} == {test_name: Stage.TEST,
                                                       prod_name: Stage.PRODUCTION}
    t0 = time.monotonic()
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin="4711-blue")
    t_run = time.monotonic() - t0
    details = {t.label: t.detail for t in dep.targets}
    assert dep.phase is Phase.DONE, (dep.halt_reason, details,
                                     [t.preflight for t in dep.targets])
    for target in dep.targets:
        assert target.preflight == ()
        assert (target.state, target.verified) == (HostState.SUCCEEDED, "installed"), details
        # the dry run's change set, and the versions rpm shows after
        assert target.changes == (PackageChange("pd-openssl", OLD.evr, NEW.evr, "upgrade",
                                                True),)
        assert target.before == {"pd-openssl": OLD.evr}
        assert target.after == {"pd-openssl": NEW.evr}
        kept = target.health_before["kept"]["pd-openssl"]
        assert kept == f"/var/cache/patchdesk/rollback/{target.job}/{OLD.filename}"
        assert lab.exec(target.label, ["test", "-s", kept]).returncode == 0
        assert rpm_q(lab, target.label, "pd-openssl") == [NEW.nevra]
    # untouched packages stay as they were
    assert rpm_q(lab, test_name, "pd-tools") == [rpmrepo.TOOLS_OLD.nevra]
    # verification re-assessed: nothing misses pd-openssl any more
    assert not [p for p in site.patches() if p.package == "pd-openssl"]
    print(f"\n{kind}: rpm -q after install: {rpm_q(lab, test_name, 'pd-openssl')}")

    t0 = time.monotonic()
    dep = site.deployments.rollback(dep.id)
    t_rollback = time.monotonic() - t0
    assert dep.phase is Phase.ROLLED_BACK, [t.detail for t in dep.targets]
    for target in dep.targets:
        assert target.state is HostState.ROLLED_BACK, target.detail
        assert rpm_q(lab, target.label, "pd-openssl") == [OLD.nevra]
        # the rollback job installed the kept file (one transaction, a downgrade)
        args = lab.exec(target.label, ["cat", f"/var/lib/patchdesk/jobs/{target.job}-rb/args"],
                        check=True).stdout.split()
        assert args == [f"{'dnf' if kind == 'rocky' else 'zypper'}-rollback",
                        target.health_before["kept"]["pd-openssl"]]
    print(f"{kind}: rpm -q after rollback: {rpm_q(lab, test_name, 'pd-openssl')}; "
          f"assess {t_assess:.2f}s, plan→run (pre-flight, test ring, approval, production, "
          f"verification) {t_run:.2f}s, rollback {t_rollback:.2f}s")


@pytest.mark.parametrize("kind", KINDS)
def test_failing_post_scriptlet_halts_at_the_test_ring(
        lab: Lab, lab_host: Callable[..., HostInfo], site: SiteService, kind: str) -> None:
    test_name, prod_name = f"{kind[:4]}bt", f"{kind[:4]}bp"
    rpm_hosts(lab_host, site, kind, [test_name, prod_name])
    dep = site.plan_deployment([f"pd-broken={BROKEN_NEW.evr}"], [prod_name],
                               test_ring=[test_name])
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin="4711-blue")
    assert dep.phase is Phase.HALTED, [t.detail for t in dep.targets]
    assert "test host(s) failed" in dep.halt_reason
    states = {t.label: t.state for t in dep.targets}
    assert states == {test_name: HostState.FAILED, prod_name: HostState.PENDING}
    failed = next(t for t in dep.targets if t.label == test_name)
    # rpm leaves the new version installed after a failed %post: the job log decides
    assert rpm_q(lab, test_name, "pd-broken") == [BROKEN_NEW.nevra]
    assert "a package scriptlet failed: warning: %post(" in failed.detail, failed.detail
    if kind == "opensuse":
        assert failed.detail.startswith("failed: zypper exited 107"), failed.detail
    else:
        assert "dnf exited" not in failed.detail  # dnf 4 said 0
    assert rpm_q(lab, prod_name, "pd-broken") == [BROKEN_OLD.nevra]
    print(f"\n{kind}: {failed.detail}")

    dep = site.deployments.rollback(dep.id)
    assert dep.phase is Phase.ROLLED_BACK, [t.detail for t in dep.targets]
    assert dep.target(failed.asset_id).state is HostState.ROLLED_BACK
    assert rpm_q(lab, test_name, "pd-broken") == [BROKEN_OLD.nevra]
    assert rpm_q(lab, prod_name, "pd-broken") == [BROKEN_OLD.nevra]
