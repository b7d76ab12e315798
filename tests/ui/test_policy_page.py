"""The Policy page on a real site: the policy in force as a form, editing into a new
version with a change note, viewing an old version, exporting, importing the KEV catalogue
(which flags the priorities), and the deploy wizard refusing an approver the policy does
not name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.core.deployment import Gates, PackagePin, Stage
from app.core.policy import Role
from app.services import SiteService
from app.ui.deploy.helpers import window_text
from app.ui.deploy.wizard import DeployWizard
from app.ui.mainwindow import MainWindow
from app.ui.pin_dialog import PinDialog
from app.ui.policy_page import PolicyPage, policy_document
from app.ui.tasks import TaskRunner
from tests.ui.conftest import wait_idle
from tests.ui.test_priorities import build_fleet


@pytest.fixture
def fleet_site(tmp_path: Path) -> Path:
    path = tmp_path / "policy.pdsite"
    service = SiteService.open(path, create=True, name="Policy site", actor="tester")
    build_fleet(service, kev=False)
    service.close()
    return path


@pytest.fixture
def policy_window(qtbot: Any, fleet_site: Path) -> Iterator[MainWindow]:
    win = MainWindow(SiteService.open(fleet_site, actor="tester"))
    qtbot.addWidget(win)
    win.show()
    wait_idle(qtbot, win)
    win.show_page("policy")
    wait_idle(qtbot, win)
    yield win
    wait_idle(qtbot, win)
    win.close()


def test_edit_saves_a_new_version_and_history_shows_the_old_one(
        qtbot: Any, policy_window: MainWindow, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, shown_errors: list[tuple[str, str]]) -> None:
    win = policy_window
    page = win.policy_page
    assert win.service is not None
    assert page.state is not None and page.state.current.version == 0
    assert "Built-in defaults" in page.subtitle.text()
    assert page.sla["emergency"].text() == "2d" and page.responsible.isReadOnly()
    assert not page.save_button.isVisible()

    page.edit_button.click()
    assert page.editing and not page.responsible.isReadOnly()
    page.responsible.setText("J. Smith")
    page.approvers.setText("alice, J. Smith")
    page.sla["emergency"].setText("1x")  # invalid: stays in edit mode, says why
    monkeypatch.setattr(PolicyPage, "ask_note", staticmethod(lambda _p: "named approvers"))
    page.save_button.click()
    assert page.editing and "SLA emergency" in page.errors.text()
    page.sla["emergency"].setText("24h")
    page.windows.setPlainText("ring:production=sat 22:00-04:00\n")
    page.save_button.click()
    qtbot.waitUntil(lambda: page.state is not None and page.state.current.version == 1,
                    timeout=10_000)
    assert not page.editing and not shown_errors
    current = win.service.policy()
    assert (current.version, current.author, current.note) == (1, "tester", "named approvers")
    assert set(current.policy.holders(Role.APPROVER)) == {"alice", "J. Smith"}
    assert current.policy.sla_hours[0][1] == 24
    assert [str(w) for w in current.policy.windows] == ["ring:production=sat 22:00-04:00"]
    assert "Version 1 — tester" in page.subtitle.text()
    assert page.history.count() == 1
    [event] = win.service.audit_events(object_type="policy")
    assert event.action == "policy.set"

    # a second version; then view version 1 from the history
    page.edit_button.click()
    page.reviewers.setText("J. Smith")
    page.save_button.click()
    qtbot.waitUntil(lambda: page.state is not None and page.state.current.version == 2,
                    timeout=10_000)
    assert page.history.count() == 2
    page.history.setCurrentRow(1)
    page.view_button.click()
    assert page.shown is not None and page.shown.version == 1
    assert "not in force" in page.banner.text()
    assert page.reviewers.text() == "" and page.current_button.isVisible()
    assert not page.edit_button.isEnabled()

    # export the version shown as Markdown
    out = tmp_path / "policy-v1"
    monkeypatch.setattr(PolicyPage, "ask_export_path", staticmethod(lambda _p, _n: str(out)))
    page.export_button.click()
    qtbot.waitUntil(lambda: (tmp_path / "policy-v1.md").exists(), timeout=10_000)
    text = (tmp_path / "policy-v1.md").read_text(encoding="utf-8")
    assert text.startswith("# Patch policy, version 1")
    assert "## Who" in text and "- may approve deployments: J. Smith, alice" in text
    page.current_button.click()
    assert page.shown is not None and page.shown.version == 2
    assert page.reviewers.text() == "J. Smith"
    assert policy_document(page.shown, markdown=False).startswith("Patch policy, version 2")


def test_kev_import_updates_the_status_and_the_priority_flags(
        qtbot: Any, policy_window: MainWindow, monkeypatch: pytest.MonkeyPatch,
        shown_errors: list[tuple[str, str]]) -> None:
    win = policy_window
    page = win.policy_page
    assert "Not imported yet" in page.kev_status.text()
    win.show_page("patches")
    wait_idle(qtbot, win)
    assert not any(i.kev for i in win.priorities.items_shown())

    win.show_page("policy")
    page.kev_sample_button.click()
    qtbot.waitUntil(lambda: "Catalogue version 2025.02.25" in page.kev_status.text(),
                    timeout=10_000)
    assert "20 entries" in page.kev_status.text()
    assert "1 missing update on this site" in page.kev_status.text()
    qtbot.waitUntil(lambda: any(i.kev for i in win.priorities.items_shown()),
                    timeout=10_000)
    flagged = [(i.host, i.package) for i in win.priorities.items_shown() if i.kev]
    assert flagged == [("pay01", "kernel")]

    # a file that is not a KEV catalogue changes nothing and says why
    bad = Path(page.service.path).with_name("bad.json")
    bad.write_text('{"count": 5, "vulnerabilities": []}', encoding="utf-8")
    monkeypatch.setattr(PolicyPage, "ask_kev_file", staticmethod(lambda _p: str(bad)))
    page.kev_file_button.click()
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    assert "'count' says 5" in shown_errors[0][1]
    assert "Catalogue version 2025.02.25" in page.kev_status.text()


def test_deploy_wizard_shows_the_refusal_of_an_approver_the_policy_does_not_name(
        qtbot: Any, tmp_path: Path, shown_errors: list[tuple[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    service = SiteService.open(tmp_path / "approve.pdsite", create=True, actor="tester")
    fleet = build_fleet(service, kev=False)
    service.set_policy_values([("approvers", "alice"), ("people.bob", "deployer")])
    # planned for a window three hours ahead: the wizard waits instead of running
    window = window_text(datetime.now(UTC) + timedelta(hours=3))
    dep = service.deployer.plan([PackagePin("openssl", "2.0")],
                                [(fleet["pay"], Stage.PRODUCTION)], Gates(), window)
    runner = TaskRunner()
    opened: list[DeployWizard] = []
    DeployWizard.resume(service, runner, dep.id, on_open=opened.append)
    qtbot.waitUntil(lambda: bool(opened), timeout=10_000)
    wizard = opened[0]
    qtbot.addWidget(wizard)
    service.people.add("bob", "bob-pin")  # bob proves who he is, and is still refused
    monkeypatch.setattr(PinDialog, "ask", staticmethod(lambda _p, _n, _w: "bob-pin"))
    wizard.approve("bob", "looks fine")
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    title, message = shown_errors[0]
    assert title == "Deployment"
    assert "bob may not approve deployments" in message and "only alice" in message
    assert service.deployment(dep.id).approval is None
    wizard.reject()
    runner.cancel_all()
    assert runner.wait_for_done(20_000)
    service.close()


def test_framework_deadlines_become_a_new_policy_version(
        qtbot: Any, policy_window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    win = policy_window
    page = win.policy_page
    service = win.service
    assert service is not None
    service.set_policy_values([("sla_hours.high", "30d"), ("sla_hours.low", "180d")],
                              "looser SLAs")
    page.load()
    wait_idle(qtbot, win)
    assert page.state is not None and page.state.current.version == 1
    asked: list[str] = []

    def answer(reply: str | None) -> None:
        monkeypatch.setattr(PolicyPage, "ask_preset_note",
                            staticmethod(lambda _p, what: asked.append(what) or reply))

    actions = {a.objectName(): a for a in page.presets_button.menu().actions()}
    assert {"preset_pci-dss", "preset_cyber-essentials", "preset_hipaa"} <= set(actions)
    answer(None)  # cancelled: nothing saved
    actions["preset_cyber-essentials"].trigger()
    wait_idle(qtbot, win)
    assert service.policy().version == 1 and "14 days" in asked[0]
    answer("")
    actions["preset_cyber-essentials"].trigger()
    wait_idle(qtbot, win)
    saved = service.policy()
    assert saved.version == 2
    hours = {str(p): h for p, h in saved.policy.sla_hours}
    # 14 days for high and critical; the shorter emergency SLA kept; the rest unchanged
    assert hours == {"emergency": 48, "high": 336, "standard": 720, "low": 4320}
    assert saved.note.startswith("SLAs from Cyber Essentials")
    event = next(e for e in service.audit_events() if e.action == "policy.set")
    assert event.details["from_version"] == 1 and "sla_hours" in json.dumps(
        event.details["changes"])
    assert page.sla["high"].text() == "2w" and page.state.current.version == 2
    actions["preset_cyber-essentials"].trigger()  # already met: no version, no question
    wait_idle(qtbot, win)
    assert service.policy().version == 2 and len(asked) == 2
    assert "already meet" in page.banner.text()
