"""[13] A halted deployment can be cancelled and archived (service and CLI, audited;
archived ones hidden from the default list); a rollback is refused where nothing was
installed; Retry/Resume run pre-flight again for overridden hosts. On a real site file;
no host is contacted (the site has no credentials: pre-flight fails before connecting)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli import main
from app.core.deployment import (
    Deployment,
    DeploymentError,
    Gates,
    HostState,
    PackagePin,
    Phase,
    Stage,
)
from app.core.errors import UserError
from app.services import SiteService
from app.store.deployments import DeploymentRepo


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    path = tmp_path / "closing.pdsite"
    for name, ip in (("web01", "10.0.0.5"), ("web02", "10.0.0.6")):
        assert run("--site", str(path), "asset", "add", "--hostname", name, "--ip", ip)[0] == 0
    service = SiteService.open(path, actor="tester")
    yield service
    service.close()


def plan(site: SiteService) -> Deployment:
    web01, web02 = site.assets()
    return site.deployments.plan([PackagePin("pd-tools", "2.1-1")],
                                 [(web01, Stage.TEST), (web02, Stage.PRODUCTION)], Gates())


def test_halted_at_preflight_is_resumed_not_rolled_back_then_cancelled_and_archived(
        site: SiteService) -> None:
    dep = plan(site)
    halted = site.deployments.run(dep.id)  # no credentials: every host fails pre-flight
    assert halted.phase is Phase.HALTED and halted.untouched
    # Nothing was installed: there is nothing to roll back.
    assert halted.rollback_targets() == []
    with pytest.raises(UserError, match="Nothing to roll back"):
        site.deployments.rollback(dep.id)
    assert site.deployment(dep.id).phase is Phase.HALTED
    # Archiving needs a reason-less click, cancelling a reason.
    with pytest.raises(UserError, match="needs a reason"):
        site.deployments.cancel(dep.id, " ")
    cancelled = site.deployments.cancel(dep.id, "superseded by deployment 2")
    assert cancelled.phase is Phase.CANCELLED and cancelled.finished
    with pytest.raises(DeploymentError):
        site.deployments.cancel(dep.id, "again")
    assert site.deployments.run(dep.id).phase is Phase.CANCELLED  # nothing more runs
    archived = site.deployments.archive(dep.id)
    assert archived.archived.startswith("tester at ")
    other = plan(site)
    assert [d.id for d in site.deployments.listed()] == [other.id]
    assert [d.id for d in site.deployments.listed(True)] == [dep.id]
    assert [d.id for d in site.deployments.listed(None)] == [other.id, dep.id]
    with pytest.raises(DeploymentError, match="once it is done"):
        site.deployments.archive(other.id)  # planned: cancel it first
    assert not site.deployments.archive(dep.id, False).archived
    actions = [e.action for e in site.audit_events(object_type="deployment")]
    assert {"deploy.cancel", "deploy.archive", "deploy.unarchive"} <= set(actions)
    cancel_event = next(e for e in site.audit_events(object_type="deployment")
                        if e.action == "deploy.cancel")
    assert "superseded by deployment 2" in json.dumps(cancel_event.details)


def test_cli_cancel_archive_and_list(site: SiteService) -> None:
    path = str(site.path)
    first, second = plan(site), plan(site)
    code, out = run("--site", path, "deploy", "cancel", str(first.id), "--reason", "not now")
    assert code == 0 and "cancelled" in out
    code, out = run("--site", path, "deploy", "archive", str(first.id))
    assert code == 0 and "archived by" in out
    code, out = run("--site", path, "--json", "deploy", "list")
    assert [d["id"] for d in json.loads(out)] == [second.id]
    code, out = run("--site", path, "--json", "deploy", "list", "--archived")
    assert [(d["id"], d["phase"]) for d in json.loads(out)] == [(first.id, "cancelled")]
    code, out = run("--site", path, "deploy", "list", "--all")
    assert code == 0 and str(first.id) in out and str(second.id) in out
    code, out = run("--site", path, "deploy", "archive", str(second.id))
    assert code != 0  # planned: refused with the reason, nothing changed
    assert not site.deployment(second.id).archived
    code, _out = run("--site", path, "deploy", "archive", str(first.id), "--undo")
    assert code == 0 and not site.deployment(first.id).archived


def test_rollback_only_of_hosts_where_something_was_installed(site: SiteService) -> None:
    dep = plan(site)
    web01 = dep.targets[0]
    installed = replace(web01, state=HostState.FAILED, before={"pd-tools": "2.0-1"})
    with site.store.atomic() as db:
        DeploymentRepo(db).save(dep.with_target(installed).moved(Phase.PREFLIGHT)
                                .moved(Phase.HALTED, reason="test host failed"))
    stored = site.deployment(dep.id)
    assert [t.label for t in stored.rollback_targets()] == ["web01"]
    with pytest.raises(UserError, match="the hosts asked for"):
        site.deployments.rollback(dep.id, [dep.targets[1].asset_id])


def test_retry_runs_preflight_again_and_stays_halted_with_the_reason(
        site: SiteService) -> None:
    dep = plan(site)
    web01, web02 = (t.asset_id for t in dep.targets)
    site.deployments.run(dep.id)
    site.deployments.override(dep.id, web02, "production host checked by hand")
    # Before [13] this raised "halted ... Roll it back" (the test ring is still out).
    again = site.deployments.run(dep.id)
    assert again.phase is Phase.HALTED
    assert "the whole test ring failed pre-flight" in again.halt_reason
    log = [line["message"] for line in site.deployment_log(dep.id)]
    assert "pre-flight again for web01, web02" in log
    assert again.target(web02).override  # the override is kept
    assert sum(m.startswith("pre-flight failed") for m in log) == 4  # twice per host
    # Overriding the test host too clears the way: the run goes on past pre-flight.
    site.deployments.override(dep.id, web01, "test host checked by hand")
    after = site.deployments.run(dep.id)
    log = [line["message"] for line in site.deployment_log(dep.id)]
    assert "resumed after pre-flight checks" in log
    assert after.phase is Phase.HALTED  # its install fails: no credential on this site
    assert "test host(s) failed" in after.halt_reason


def test_resume_checks_overridden_hosts_again(site: SiteService,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    dep = plan(site)
    web01, web02 = (t.asset_id for t in dep.targets)
    failed = replace(dep.targets[1], preflight=("vault is locked",))
    with site.store.atomic() as db:  # paused after pre-flight: web02 left out
        DeploymentRepo(db).save(dep.with_target(failed).moved(Phase.PREFLIGHT)
                                .moved(Phase.TEST_RING))
    site.deployments.override(dep.id, web02, "the vault is open now")
    checked: list[int] = []
    engine = site.deployer

    def checks(_dep: object, asset: object, snapshot: dict[str, object],
               _changes: list[object]) -> list[str]:
        checked.append(int(asset.id))  # type: ignore[attr-defined]
        snapshot["checked"] = True
        return []

    monkeypatch.setattr(engine, "_checks", checks)
    def install(dep_id: int, target: object, _cancel: object) -> None:  # no host contacted
        engine._update_target(dep_id, replace(target, state=HostState.FAILED),  # type: ignore[type-var]
                              "not installed in this test")

    monkeypatch.setattr(engine, "_install_host", install)
    site.deployments.run(dep.id)
    assert checked == [web02]  # only the overridden host, before anything installs
    stored = site.deployment(dep.id)
    assert stored.target(web02).preflight == ()
    assert stored.target(web02).health_before.get("checked") is True
    assert stored.target(web01).state is HostState.FAILED  # the ring ran after the check
