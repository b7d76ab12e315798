"""[13] GUI flows of a deployment that stopped: Override + Retry runs pre-flight again (no
repeated halt dialog), Resume offered for a deployment halted at pre-flight while Roll back
is not (nothing installed), Cancel and Archive on the Deployments page. The sites have no
credentials: pre-flight fails per host before any connection is tried."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core.deployment import Gates, HostState, PackagePin, Phase, Stage
from app.services import SiteService
from app.store.deployments import DeploymentRepo
from app.ui import deployments_page
from app.ui.deploy import questions
from app.ui.deploy.helpers import P_TEST
from app.ui.deploy.wizard import DeployWizard
from app.ui.deployments_page import DeploymentsPage
from app.ui.qt import QWizard
from app.ui.tasks import TaskRunner
from tests.ui.test_deploy_wizard import (  # noqa: F401 - fixtures
    click_next,
    closing,
    open_wizard,
    patched_site,
    runner,
)


def test_override_then_retry_runs_preflight_again_without_an_error(
        qtbot, patched_site: SiteService, runner: TaskRunner,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, shown_errors: list[tuple[str, str]]) -> None:
    wizard = open_wizard(qtbot, patched_site, runner)
    wizard.patches_page.check_package("pd-tools")  # alpha (test ring) and charlie
    click_next(qtbot, wizard)
    click_next(qtbot, wizard)
    click_next(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.currentId() == P_TEST, timeout=10_000)
    page = wizard.test_page
    qtbot.waitUntil(lambda: page.continue_button.isVisible() and not wizard.busy,
                    timeout=30_000)
    assert "every host failed pre-flight" in page.halt_label.text()
    assert not page.rollback_button.isVisible()  # nothing was installed: no Roll back
    # Override the production host only, and retry: the test ring is still out.
    labels = [t.label for t in page.model.objects()]
    page.table.selectRow(labels.index("charlie"))
    monkeypatch.setattr(questions, "ask_override_reason", lambda _p, _t: "checked by hand")
    page.override_button.click()
    qtbot.waitUntil(lambda: wizard.dep is not None and not wizard.busy
                    and any(t.override for t in wizard.dep.targets), timeout=10_000)
    page.continue_button.click()
    qtbot.waitUntil(lambda: "pre-flight again for" in page.log_view.toPlainText()
                    and not wizard.busy, timeout=30_000)
    qtbot.waitUntil(lambda: "still halted" in page.log_view.toPlainText(), timeout=10_000)
    assert shown_errors == []  # before [13]: "deployment N halted ... Roll it back"
    assert page.halt_label.isVisible()
    assert "the whole test ring failed pre-flight" in page.halt_label.text()
    assert page.continue_button.isVisible() and page.continue_button.isEnabled()
    # The cause is fixed (a check that passes now): Retry checks again and goes on.
    engine = patched_site.deployer
    monkeypatch.setattr(engine, "_checks", lambda _d, _a, snapshot, _c: [])

    def install(dep_id: int, target: object, _cancel: object) -> None:  # no host contacted
        engine._update_target(dep_id, replace(target, state=HostState.SUCCEEDED,  # type: ignore[type-var]
                                              before={"pd-tools": "2.0-1"}), "installed")

    monkeypatch.setattr(engine, "_install_host", install)
    page.continue_button.click()
    qtbot.waitUntil(lambda: wizard.dep is not None and not wizard.busy
                    and wizard.dep.phase is Phase.AWAITING_APPROVAL, timeout=30_000)
    dep = patched_site.deployment(wizard.dep.id)
    assert all(not t.preflight for t in dep.targets)  # both checked again, both passed
    assert "resumed after pre-flight checks" in [
        line["message"] for line in patched_site.deployment_log(dep.id)]
    assert shown_errors == []
    wizard.reject()


def plan_halted_at_preflight(service: SiteService) -> int:
    alpha, charlie = (service.find_assets(n)[0] for n in ("alpha", "charlie"))
    dep = service.deployments.plan([PackagePin("pd-tools", "2.1-1")],
                                   [(alpha, Stage.TEST), (charlie, Stage.PRODUCTION)], Gates())
    assert service.deployments.run(dep.id).phase is Phase.HALTED  # no credentials
    return dep.id


def test_deployments_page_resume_cancel_and_archive_a_halted_deployment(
        qtbot, patched_site: SiteService, runner: TaskRunner,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    halted = plan_halted_at_preflight(patched_site)
    done = patched_site.deployments.plan([PackagePin("pd-openssl", "1.0-2")],
                                         [(patched_site.find_assets("bravo")[0], Stage.PILOT)],
                                         Gates())
    page = DeploymentsPage()
    qtbot.addWidget(page)
    page.bind(patched_site, runner)
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=10_000)
    assert page.select_deployment(halted)
    # Halted at pre-flight: Resume (Retry re-checks), not Roll back (nothing installed).
    assert page.resume_button.isEnabled()
    assert not page.rollback_button.isEnabled()
    assert page.cancel_button.isEnabled()
    assert not page.archive_button.isEnabled() or page.archive_button.text() == "&Archive"
    with qtbot.waitSignal(page.resume_requested) as resumed:
        page.resume_button.click()
    assert resumed.args == [halted]
    # Cancel asks for a reason; no reason, nothing happens.
    reasons = ["", "superseded"]
    monkeypatch.setattr(deployments_page, "ask_cancel_reason",
                        lambda _p, _d: reasons.pop(0))
    page.cancel_button.click()
    assert patched_site.deployment(halted).phase is Phase.HALTED
    page.cancel_button.click()
    qtbot.waitUntil(lambda: patched_site.deployment(halted).phase is Phase.CANCELLED,
                    timeout=10_000)
    qtbot.waitUntil(lambda: page.selected_deployment() is not None
                    and page.selected_deployment().phase is Phase.CANCELLED,  # type: ignore[union-attr]
                    timeout=10_000)
    assert page.model.data(page.model.index(page.model.row_of(halted) or 0, 3)) == "Cancelled"
    assert not page.cancel_button.isEnabled() and not page.resume_button.isEnabled()
    assert page.archive_button.isEnabled()
    page.archive_button.click()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)  # hidden
    assert page.model.row_of(done.id) == 0
    assert patched_site.deployment(halted).archived
    page.show_combo.setCurrentIndex(page.show_combo.findData("archived"))
    qtbot.waitUntil(lambda: page.model.row_of(halted) == 0 and page.model.rowCount() == 1,
                    timeout=10_000)
    assert "(archived)" in page.model.data(page.model.index(0, 3))
    page.select_deployment(halted)
    assert page.archive_button.text() == "Un&archive"
    page.archive_button.click()
    qtbot.waitUntil(lambda: page.model.rowCount() == 0, timeout=10_000)
    assert not patched_site.deployment(halted).archived
    actions = [e.action for e in patched_site.audit_events(object_type="deployment")]
    assert {"deploy.cancel", "deploy.archive", "deploy.unarchive"} <= set(actions)
    qtbot.waitUntil(lambda: runner.active == 0, timeout=10_000)


def test_per_host_rollback_is_offered_only_where_something_was_installed(
        qtbot, patched_site: SiteService, runner: TaskRunner,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    alpha, bravo, charlie = (patched_site.find_assets(n)[0]
                             for n in ("alpha", "bravo", "charlie"))
    dep = patched_site.deployments.plan(
        [PackagePin("pd-openssl", "1.0-2")],
        [(alpha, Stage.TEST), (bravo, Stage.PILOT), (charlie, Stage.PRODUCTION)], Gates())
    installed = replace(dep.targets[0], state=HostState.FAILED,
                        before={"pd-openssl": "1.0-1"})
    with patched_site.store.atomic() as db:
        DeploymentRepo(db).save(dep.with_target(installed).moved(Phase.PREFLIGHT)
                                .moved(Phase.HALTED, reason="test ring failed"))
    page = DeploymentsPage()
    qtbot.addWidget(page)
    page.bind(patched_site, runner)
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)
    page.select_deployment(dep.id)
    assert not page.resume_button.isEnabled()  # something was installed: no retry
    assert page.rollback_button.isEnabled()  # the whole deployment: alpha has something
    offered: list[list[str]] = []

    def scope(_parent: object, _dep: object, selected: list) -> None:  # type: ignore[type-arg]
        offered.append([t.label for t in selected])

    monkeypatch.setattr(deployments_page, "ask_rollback_scope", scope)
    page.targets_table.selectAll()
    page.rollback_button.click()
    assert offered == [["alpha"]]  # bravo and charlie installed nothing
    # A wizard on it offers Roll back too (alpha); on a halted-at-pre-flight one it did not.
    wizard = DeployWizard(patched_site, runner, deployment=patched_site.deployment(dep.id))
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.test_page.rollback_button.isVisible()
    wizard.reject()
    assert QWizard  # imported for the wizard's buttons in the other tests


def test_the_run_page_shows_hosts_done_and_the_time_left(
        qtbot, patched_site: SiteService, runner: TaskRunner,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from app.core.clock import utcnow
    from app.ui.deployments_page import TargetTableModel

    alpha, bravo, charlie = (patched_site.find_assets(n)[0]
                             for n in ("alpha", "bravo", "charlie"))
    dep = patched_site.deployments.plan(
        [PackagePin("pd-openssl", "1.0-2")],
        [(alpha, Stage.PRODUCTION), (bravo, Stage.PRODUCTION), (charlie, Stage.PRODUCTION)],
        Gates(concurrency=1, wave_size=1))
    now = utcnow()
    first, second, third = dep.targets
    done = replace(first, state=HostState.SUCCEEDED, started_at=now - timedelta(seconds=300),
                   finished_at=now - timedelta(seconds=180))  # took 2 min
    going = replace(second, state=HostState.RUNNING, started_at=now - timedelta(seconds=30))
    running = dep.with_target(done).with_target(going).moved(Phase.PREFLIGHT) \
        .moved(Phase.PRODUCTION)
    with patched_site.store.atomic() as db:
        DeploymentRepo(db).save(running)
    monkeypatch.setattr(DeployWizard, "start_run", lambda self: None)  # only the view here
    wizard = DeployWizard(patched_site, runner, deployment=patched_site.deployment(dep.id))
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.rollout_page
    assert wizard.currentPage() is page
    # 1 of 3 done; the running one needs ~90 s more, then the third 120 s: ~4 min.
    assert page.progress.text() == "1 of 3 host(s) done · 1 running · about 4 min left"
    assert page.progress.value() == 1 and page.progress.maximum() == 3
    times = {t.label: page.model.data(page.model.index(row, TargetTableModel.COL_TIME))
             for row, t in enumerate(page.model.objects())}
    assert times[first.label] == "2 min"
    assert times[second.label].startswith("running ")
    assert times[third.label] == ""
    wizard.reject()
