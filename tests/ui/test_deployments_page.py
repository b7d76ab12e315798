"""The Deployments page: history model, drill-down into hosts and step log, Resume and
Rollback wiring — on a real site whose deployments were planned by the engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.core.deployment import Deployment, Gates, HostState, PackagePin, Phase, Stage
from app.services import SiteService
from app.store.deployments import DeploymentRepo
from app.ui import deployments_page
from app.ui.deployments_page import DeploymentsPage, DeploymentTableModel, TargetTableModel
from app.ui.models import ObjectRole
from app.ui.tasks import TaskRunner


@pytest.fixture
def service(site_path: Path) -> Iterator[SiteService]:
    site = SiteService.open(site_path, actor="tester")
    yield site
    site.close()


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    tasks = TaskRunner()
    yield tasks
    assert tasks.wait_for_done(30_000)


def plan_two(service: SiteService) -> tuple[Deployment, Deployment]:
    """Two planned deployments; the first has a step logged (a pre-flight override)."""
    web, acct, printer = service.assets()
    engine = service.deployer
    first = engine.plan([PackagePin("pd-openssl", "1.0-2")],
                        [(web, Stage.TEST), (acct, Stage.PRODUCTION)], Gates())
    engine.override(first.id, int(web.id or 0), "checked by hand <b>")
    second = engine.plan([PackagePin("pd-tools", "2.1-1"), PackagePin("pd-kernel", "5.1-1")],
                         [(printer, Stage.PILOT)], Gates())
    return service.deployment(first.id), service.deployment(second.id)


def store_as(service: SiteService, dep: Deployment) -> None:
    with service.store.atomic() as db:
        DeploymentRepo(db).save(dep)


def test_models_pass_the_model_tester(qtbot, qtmodeltester, service: SiteService) -> None:
    first, second = plan_two(service)
    halted = replace(first.moved(Phase.PREFLIGHT).moved(Phase.HALTED, reason="gate not passed"),
                     targets=(replace(first.targets[0], state=HostState.FAILED,
                                      before={"pd-openssl": "1.0-1"}, detail="apt exited 1"),
                              first.targets[1]))
    model = DeploymentTableModel()
    model.set_objects([second, halted])
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    cells = [model.data(model.index(1, c)) for c in range(model.columnCount())]
    assert cells[0] == str(first.id)
    assert cells[2] == "pd-openssl=1.0-2"
    assert cells[3:] == ["Halted", "2", "", "gate not passed"]
    assert model.data(model.index(0, 2)) == "pd-tools=2.1-1, pd-kernel=5.1-1"
    model.sort(DeploymentTableModel.COL_ID)
    assert model.data(model.index(0, 0), ObjectRole).id == first.id
    assert model.row_of(second.id) == 1
    qtmodeltester.check(model)

    targets = TargetTableModel()
    targets.set_objects(halted.targets)
    qtmodeltester.check(targets)
    assert targets.data(targets.index(0, TargetTableModel.COL_STATE)) == "failed"
    assert targets.data(targets.index(0, TargetTableModel.COL_BEFORE)) == "pd-openssl 1.0-1"
    assert "override by tester: checked by hand <b>" in targets.data(
        targets.index(0, TargetTableModel.COL_DETAIL))
    # New states of the same hosts are shown in place (rows and selection kept).
    changed = [replace(halted.targets[0], state=HostState.ROLLED_BACK), halted.targets[1]]
    resets: list[int] = []
    targets.modelReset.connect(lambda: resets.append(1))
    targets.update_targets(list(reversed(changed)))
    assert resets == []
    assert targets.data(targets.index(0, TargetTableModel.COL_STATE)) == "rolled back"
    qtmodeltester.check(targets)


def test_drill_down_resume_and_new(qtbot, service: SiteService, runner: TaskRunner) -> None:
    first, second = plan_two(service)
    page = DeploymentsPage()
    qtbot.addWidget(page)
    page.show()
    page.bind(service, runner)
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=10_000)
    # Newest first, and the newest is selected.
    assert page.selected_deployment() is not None
    assert page.selected_deployment().id == second.id  # type: ignore[union-attr]
    assert page.targets_model.rowCount() == 1
    assert page.select_deployment(first.id)
    assert [t.label for t in page.targets_model.objects()] == ["web01", "acct-pc"]
    qtbot.waitUntil(lambda: "pre-flight override for web01" in page.log_view.toPlainText(),
                    timeout=10_000)
    assert "checked by hand <b>" in page.log_view.toPlainText()  # plain text, as written
    assert page.resume_button.isEnabled()
    assert not page.rollback_button.isEnabled()  # nothing was installed yet
    with qtbot.waitSignal(page.resume_requested) as resumed:
        page.resume_button.click()
    assert resumed.args == [first.id]
    with qtbot.waitSignal(page.open_wizard_requested):
        page.new_button.click()
    # A refresh keeps the selection.
    page.load()
    qtbot.waitUntil(lambda: runner.active == 0, timeout=10_000)
    assert page.selected_deployment().id == first.id  # type: ignore[union-attr]


def test_rollback_asks_then_runs_on_the_pool(qtbot, service: SiteService, runner: TaskRunner,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    first, _second = plan_two(service)
    # The test host installed (and failed): something to roll back ([13]).
    installed = replace(first.targets[0], state=HostState.FAILED, before={"pd-openssl": "1.0-1"})
    store_as(service, first.with_target(installed).moved(Phase.PREFLIGHT)
             .moved(Phase.HALTED, reason="test failed"))

    def rollback_host(dep_id: int, target: object, _cancel: object) -> None:  # no host here
        service.deployer._update_target(dep_id, replace(target, state=HostState.ROLLED_BACK),  # type: ignore[type-var]
                                        "rolled back in this test")

    monkeypatch.setattr(service.deployer, "_rollback_host", rollback_host)
    page = DeploymentsPage()
    qtbot.addWidget(page)
    page.bind(service, runner)
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=10_000)
    page.select_deployment(first.id)
    assert page.rollback_button.isEnabled()
    assert not page.resume_button.isEnabled()  # halted after installing: roll back or plan

    answers: list[str | None] = [None, "all"]
    asked: list[int] = []

    def scope(_parent: object, dep: Deployment, selected: list[object]) -> str | None:
        asked.append(dep.id)
        return answers.pop(0)

    monkeypatch.setattr(deployments_page, "ask_rollback_scope", scope)
    requested: list[tuple[int, object]] = []
    page.rollback_requested.connect(lambda dep_id, ids: requested.append((dep_id, ids)))
    page.rollback_button.click()  # cancelled
    assert requested == []
    with qtbot.waitSignal(page.rollback_finished, timeout=30_000):
        page.rollback_button.click()
    assert asked == [first.id, first.id]
    assert requested == [(first.id, None)]
    assert service.deployment(first.id).phase is Phase.ROLLED_BACK
    qtbot.waitUntil(lambda: page.selected_deployment() is not None
                    and page.selected_deployment().phase is Phase.ROLLED_BACK,  # type: ignore[union-attr]
                    timeout=10_000)
    assert "rolled back" in page.status_label.text()
    assert not page.rollback_button.isEnabled()


def test_opening_a_site_offers_to_resume_an_interrupted_deployment(qtbot, tmp_path) -> None:
    from app.core.deployment import Deployment, PackagePin, Phase, Stage, Target
    from app.services import SiteService
    from app.store.deployments import DeploymentRepo
    from app.ui.mainwindow import MainWindow

    path = tmp_path / "interrupted.pdsite"
    service = SiteService.open(path, create=True)
    with service.store.atomic() as db:
        DeploymentRepo(db).create(Deployment(
            id=0, packages=(PackagePin("pd-tools", "2.1-1"),),
            targets=(Target(asset_id=1, label="web01", address="10.0.0.5",
                            stage=Stage.PRODUCTION),),
            phase=Phase.PRODUCTION))
    service.close()
    window = MainWindow(SiteService.open(path))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.resume_button.isVisibleTo(window), timeout=10_000)
    assert window.resume_button.text() == "Deployment 1 was interrupted — resume…"
    assert window.unfinished_deployment == 1
    qtbot.waitUntil(lambda: window.runner.active == 0, timeout=10_000)
    window.close()


def test_a_long_rollback_never_holds_the_write_worker(qtbot, service: SiteService,
                                                      runner: TaskRunner,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A rollback may wait up to 1,800 s per host: it runs on the worker pool, and a short
    write submitted meanwhile (an asset edit, an approval) goes through at once."""
    import threading

    first, _second = plan_two(service)
    store_as(service, first.moved(Phase.PREFLIGHT).moved(Phase.HALTED, reason="test failed"))
    page = DeploymentsPage()
    qtbot.addWidget(page)
    page.bind(service, runner)
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=10_000)
    release = threading.Event()
    started = threading.Event()

    def slow_rollback(dep_id: int, asset_ids: object = None, cancel: object = None) -> Deployment:
        started.set()
        release.wait(20)  # the remote work
        return service.deployment(dep_id)

    monkeypatch.setattr(service.deployments, "rollback", slow_rollback)
    task = page.run_rollback(first.id, None)
    assert task is not None
    try:
        assert started.wait(10)
        wrote: list[object] = []
        runner.submit(lambda: service.deployer.override(first.id, first.targets[0].asset_id,
                                                        "short write"),
                      name="override", write=True, on_result=wrote.append)
        qtbot.waitUntil(lambda: bool(wrote), timeout=5_000)  # not queued behind the rollback
    finally:
        release.set()
    qtbot.waitUntil(lambda: not task.running, timeout=10_000)
