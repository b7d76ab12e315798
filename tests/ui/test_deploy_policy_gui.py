"""[13] GUI: the wizard asks for the master password before planning when the vault is
locked; a halted run shows halted, not 100 %; the Schedules window lists last and next
runs and edits them. No host is contacted (the sites' addresses are never connected to:
the plans wait for a window two hours ahead, or are written halted)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.core.deployment import HostState, Phase
from app.services import SiteService
from app.store.deployments import DeploymentRepo
from app.ui import dialogs
from app.ui.deploy import questions
from app.ui.deploy.helpers import P_TEST
from app.ui.deploy.wizard import DeployWizard
from app.ui.schedules import SchedulesDialog
from app.ui.tasks import TaskRunner
from tests.ui.test_deploy_wizard import (  # noqa: F401 - fixtures
    click_next,
    closing,
    open_wizard,
    patched_site,
    runner,
)

MASTER = "wizard master password"


@pytest.fixture
def locked_site(patched_site: SiteService) -> SiteService:  # noqa: F811
    patched_site.remote.unlock(MASTER, create=True)  # a vault exists ...
    patched_site.remote.lock()  # ... and is locked, as after opening the site
    return patched_site


def plan_in_two_hours(qtbot, wizard: DeployWizard) -> None:
    wizard.patches_page.check_package("pd-openssl")
    click_next(qtbot, wizard)
    click_next(qtbot, wizard)
    schedule = wizard.schedule_page
    schedule.window_radio.setChecked(True)
    start = datetime.now().astimezone() + timedelta(hours=2)
    schedule.start_edit.setDateTime(schedule.start_edit.dateTime().fromSecsSinceEpoch(
        int(start.timestamp())))
    click_next(qtbot, wizard)


def test_locked_vault_asks_for_the_master_password_before_planning(
        qtbot, locked_site: SiteService, runner: TaskRunner,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    answers = ["wrong password", MASTER]
    asked: list[str] = []

    def ask(_parent: object, error: str = "") -> str | None:
        asked.append(error)
        return answers.pop(0)

    monkeypatch.setattr(questions, "ask_master_password", ask)
    wizard = open_wizard(qtbot, locked_site, runner)
    assert not locked_site.credentials.unlocked
    plan_in_two_hours(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.currentId() == P_TEST, timeout=10_000)
    # Asked before planning; the wrong password was refused and asked again, with why.
    assert asked == ["", "Wrong master password; try again."]
    assert locked_site.credentials.unlocked
    assert wizard.dep is not None
    assert locked_site.deployment(wizard.dep.id).phase is Phase.PLANNED
    wizard.reject()


def test_cancelling_the_password_plans_nothing(
        qtbot, locked_site: SiteService, runner: TaskRunner,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(questions, "ask_master_password", lambda _p, error="": None)
    wizard = open_wizard(qtbot, locked_site, runner)
    plan_in_two_hours(qtbot, wizard)
    page = wizard.schedule_page
    qtbot.waitUntil(lambda: "vault is locked" in page.status.text(), timeout=10_000)
    assert wizard.dep is None and not locked_site.deployments.all()
    wizard.reject()


def test_a_halted_run_shows_halted_not_100_percent(
        qtbot, patched_site: SiteService, runner: TaskRunner) -> None:  # noqa: F811
    dep = patched_site.plan_deployment(["pd-openssl"], ["all"])
    failed = tuple(replace(t, state=HostState.FAILED, detail="failed: apt exited 100")
                   for t in dep.targets)
    halted = replace(dep, targets=failed, phase=Phase.HALTED,
                     halt_reason="failure threshold reached")
    with patched_site.store.atomic() as db:
        DeploymentRepo(db).save(halted)
    wizard = DeployWizard(patched_site, runner, deployment=patched_site.deployment(dep.id))
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.currentPage()
    progress = page.progress  # type: ignore[attr-defined]
    assert progress.text().startswith("Halted")
    assert "100" not in progress.text()
    assert page.halt_label.isVisible()  # type: ignore[attr-defined]
    wizard.reject()


def test_schedules_window_lists_runs_and_edits(
        qtbot, patched_site: SiteService, runner: TaskRunner,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = patched_site.schedules.add("assess", "ring:test", "daily 02:00")
    patched_site.schedules.add("report", str(tmp_path / "r.pdf"), "Sat 22:00")
    dialog = SchedulesDialog(patched_site, runner)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.loaded, timeout=10_000)
    table = dialog.table
    assert table.rowCount() == 2
    assert [table.item(0, c).text() for c in (1, 2, 3)] == ["assess", "ring:test",
                                                            "daily 02:00"]
    assert table.item(0, 4).text().endswith("02:00") and table.item(0, 5).text() == "—"
    table.selectRow(0)
    monkeypatch.setattr("app.ui.schedules.ask_spec", lambda _p, _s: "mon-fri 06:30")
    dialog.edit_button.click()
    qtbot.waitUntil(lambda: table.item(0, 3).text() == "Mon,Tue,Wed,Thu,Fri 06:30",
                    timeout=10_000)
    assert patched_site.schedules.all()[0].spec == "Mon,Tue,Wed,Thu,Fri 06:30"
    table.selectRow(0)
    dialog.toggle_button.click()
    qtbot.waitUntil(lambda: table.item(0, 8).text() == "no", timeout=10_000)
    monkeypatch.setattr(dialogs, "confirm", lambda *_a: True)
    table.selectRow(1)
    dialog.remove_button.click()
    qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=10_000)
    actions = [e.action for e in patched_site.audit_events(object_type="schedule")]
    assert actions.count("schedule.edit") == 2 and "schedule.remove" in actions
    assert patched_site.schedules.all()[0].id == first.id
