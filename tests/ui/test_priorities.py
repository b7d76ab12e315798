"""The "By risk" tab of the Patches page: the model (qtmodeltester), order and colours, the
"why this score" text, filters, urgency reviews with an exception through the dialog, an
expired exception overdue again, and ending an exception — on a real site."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.core.assessment import Assessment, Update
from app.core.models import Asset, Classification, DataSensitivity, Impact, Severity
from app.core.policy import Priority
from app.core.risk import Decision, ItemState
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from app.ui import dialogs, priorities
from app.ui.asset_dialog import AssetDialog
from app.ui.mainwindow import MainWindow
from app.ui.priorities import (
    PRIORITY_STYLE,
    ReviewDialog,
    RiskFilterProxy,
    RiskTableModel,
    risk_detail,
)
from app.ui.qt import QDate, QDialog, Qt
from tests.ui.conftest import wait_idle


def add_updates(service: SiteService, asset: Asset, updates: list[Update],
                when: datetime | None = None) -> None:
    """Store updates the way a deep scan does."""
    when = when or datetime.now(UTC).replace(microsecond=0)
    with service.store.atomic() as db:
        AssessmentRepo(db).record_success(int(asset.id or 0), when, when,
                                          Assessment(asset.label, "dnf", updates=updates))


def security(package: str, *cves: str, severity: Severity = Severity.IMPORTANT) -> Update:
    return Update(package, "2.0", "1.0", classification=Classification.SECURITY,
                  severity=severity, cves=cves)


def build_fleet(service: SiteService, *, kev: bool = True) -> dict[str, Asset]:
    """A public-facing payment server and a lab workstation with missing updates."""
    pay = service.add_asset(Asset(hostname="pay01", ips=("10.0.0.5",), impact=Impact.CRITICAL,
                                  data_sensitivity=(DataSensitivity.PAYMENT,),
                                  public_facing=True))
    lab = service.add_asset(Asset(hostname="lab-ws3", ips=("10.0.0.33",), impact=Impact.LOW))
    add_updates(service, pay, [
        security("kernel", "CVE-2024-53104", severity=Severity.CRITICAL),
        security("openssl", "CVE-2024-5535"),
    ])
    add_updates(service, lab, [security("vim", severity=Severity.MODERATE)])
    if kev:
        service.kev_import(sample=True)
    return {"pay": pay, "lab": lab}


@pytest.fixture
def risk_site(tmp_path: Path) -> Path:
    path = tmp_path / "risk.pdsite"
    service = SiteService.open(path, create=True, name="Risk site", actor="tester")
    build_fleet(service)
    service.close()
    return path


@pytest.fixture
def risk_window(qtbot: Any, risk_site: Path) -> Iterator[MainWindow]:
    win = MainWindow(SiteService.open(risk_site, actor="tester"))
    qtbot.addWidget(win)
    win.show()
    wait_idle(qtbot, win)
    win.show_page("patches")
    wait_idle(qtbot, win)
    win.patches.show_by_risk()
    yield win
    wait_idle(qtbot, win)
    win.close()


def rows(win: MainWindow) -> list[tuple[str, str]]:
    return [(i.host, i.package) for i in win.priorities.items_shown()]


def test_model_passes_the_model_tester(qtmodeltester: Any, tmp_path: Path) -> None:
    service = SiteService.open(tmp_path / "m.pdsite", create=True, actor="tester")
    build_fleet(service)
    model = RiskTableModel()
    model.set_items(service.risk_items())
    qtmodeltester.check(model)
    proxy = RiskFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_filters("", False, True)
    qtmodeltester.check(proxy)
    assert proxy.rowCount() == 1
    service.close()


def test_kev_critical_patch_on_a_payment_server_ranks_above_a_lab_patch(
        qtbot: Any, risk_window: MainWindow) -> None:
    win = risk_window
    panel = win.priorities
    assert win.patches.tabs.currentWidget() is panel
    assert rows(win)[0] == ("pay01", "kernel")
    assert rows(win)[-1] == ("lab-ws3", "vim")
    assert "By risk (3)" in win.patches.tabs.tabText(2)
    top = panel.proxy.item_at(0)
    assert top is not None and top.priority is Priority.EMERGENCY and top.kev
    # the priority cell is coloured by class; the KEV flag is shown
    index = panel.proxy.index(0, RiskTableModel.COL_PRIORITY)
    assert index.data() == "Emergency"
    assert index.data(Qt.ItemDataRole.BackgroundRole) == PRIORITY_STYLE[Priority.EMERGENCY][1]
    assert panel.proxy.index(0, RiskTableModel.COL_KEV).data() == "KEV"
    # the details pane explains the score factor by factor
    panel.select(top.asset_id, "kernel")
    why = panel.detail.toPlainText()
    for factor in ("severity: critical", "security update: yes",
                   "known exploited (CISA KEV): CVE-2024-53104", "asset impact: critical",
                   "payment data: held", "public-facing: yes"):
        assert factor in why, factor
    assert "+35" in why and "capped at 100" in why
    lab = next(i for i in panel.items_shown() if i.package == "vim")
    lab_why = risk_detail(lab)
    assert "severity: moderate" in lab_why and "Not adding points:" in lab_why
    assert "internet-facing (no)" in lab_why
    # sorting by score ascending puts the lab workstation first
    panel.view.sortByColumn(RiskTableModel.COL_SCORE, Qt.SortOrder.AscendingOrder)
    assert rows(win)[0] == ("lab-ws3", "vim")


def test_filters_priority_kev_overdue_and_text(qtbot: Any, risk_window: MainWindow) -> None:
    win = risk_window
    panel = win.priorities
    panel.kev_box.setChecked(True)
    assert rows(win) == [("pay01", "kernel")]
    panel.kev_box.setChecked(False)
    panel.priority_combo.setCurrentIndex(panel.priority_combo.findData("high"))
    assert all(i.priority is Priority.HIGH for i in panel.items_shown())
    panel.priority_combo.setCurrentIndex(0)
    panel.overdue_box.setChecked(True)
    assert rows(win) == []  # everything was first seen today
    panel.overdue_box.setChecked(False)
    win.patches.search.setText("lab-ws3")
    win.patches.apply_filter()
    assert rows(win) == [("lab-ws3", "vim")]
    assert "By risk (1 of 3)" in win.patches.tabs.tabText(2)


def answer_review(monkeypatch: pytest.MonkeyPatch, configure: Any) -> list[ReviewDialog]:
    """Replace the modal run of the review dialog: ``configure`` fills it in."""
    seen: list[ReviewDialog] = []

    def exec_(dialog: ReviewDialog) -> int:
        seen.append(dialog)
        configure(dialog)
        dialog.accept()
        return int(dialog.result())

    monkeypatch.setattr(ReviewDialog, "exec", exec_)
    return seen


def test_urgency_review_with_an_exception_through_the_dialog(
        qtbot: Any, risk_window: MainWindow, monkeypatch: pytest.MonkeyPatch,
        shown_errors: list[tuple[str, str]]) -> None:
    win = risk_window
    panel = win.priorities
    assert win.service is not None
    item = next(i for i in panel.items_shown() if i.package == "openssl")
    panel.select(item.asset_id, "openssl")
    until = datetime.now(UTC).date() + timedelta(days=20)

    def no_reason(dialog: ReviewDialog) -> None:
        dialog.choose(Decision.EXCEPTION)
        dialog.until.setDate(QDate(until.year, until.month, until.day))

    # Without a reason the dialog stays open and says why.
    dialog = ReviewDialog(panel, item)
    qtbot.addWidget(dialog)
    assert dialog.by.text() == priorities.current_user()  # the reviewer is prefilled
    no_reason(dialog)
    assert dialog.until.isEnabled() and not dialog.planned.isEnabled()
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "Reason: say why" in dialog.error.text()

    def fill(dialog: ReviewDialog) -> None:
        no_reason(dialog)
        dialog.reason.setPlainText("WAF rule 42 blocks the vector")
        dialog.by.setText("J. Smith")

    seen = answer_review(monkeypatch, fill)
    win.service.people.add("J. Smith", "4711-blue")
    pins = ["", "wrong", "4711-blue"]  # cancelled, wrong, right ([12].8)
    asked: list[str] = []

    def ask_pin(_parent: object, name: str, _purpose: str) -> str | None:
        asked.append(name)
        return pins.pop(0) or None

    monkeypatch.setattr(priorities.PinDialog, "ask", staticmethod(ask_pin))
    panel.review_button.click()  # the PIN dialog cancelled: nothing recorded
    wait_idle(qtbot, win)
    assert win.service.exceptions() == [] and not shown_errors
    panel.review_button.click()  # a wrong PIN: refused, said why
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    assert "Wrong PIN for J. Smith" in shown_errors[0][1]
    assert win.service.exceptions() == []
    shown_errors.clear()
    panel.review_button.click()
    assert len(seen) == 3 and asked == ["J. Smith"] * 3
    qtbot.waitUntil(lambda: any(i.package == "openssl" and i.state is ItemState.EXCEPTED
                                for i in panel.items_shown()), timeout=10_000)
    assert not shown_errors
    [exc] = win.service.exceptions()
    assert (exc.decided_by, exc.until, exc.host, exc.reason) == (
        "J. Smith", until, "pay01", "WAF rule 42 blocks the vector")
    panel.select(item.asset_id, "openssl")
    row_texts = [panel.proxy.index(r, RiskTableModel.COL_REVIEW).data()
                 for r in range(panel.proxy.rowCount())]
    assert f"Exception until {until:%Y-%m-%d}" in row_texts
    assert "J. Smith: workaround + exception (on pay01)" in panel.detail.toPlainText()
    assert panel.end_button.isEnabled()
    audit = [e.action for e in win.service.audit_events(object_type="review")]
    assert audit == ["review.exception"]

    # After its expiry the item is overdue again (the panel judges "now" 30 days later).
    panel.clock = lambda: datetime.now(UTC) + timedelta(days=30)
    panel.reload()
    qtbot.waitUntil(lambda: any(i.package == "openssl" and i.overdue
                                for i in panel.items_shown()), timeout=10_000)
    expired = next(i for i in panel.items_shown() if i.package == "openssl")
    assert expired.state is ItemState.EXCEPTION_EXPIRED
    row = next(r for r in range(panel.proxy.rowCount())
               if panel.proxy.item_at(r) is not None
               and panel.proxy.item_at(r).package == "openssl")  # type: ignore[union-attr]
    due = panel.proxy.index(row, RiskTableModel.COL_DUE)
    assert "(overdue" in due.data()
    assert due.data(Qt.ItemDataRole.ForegroundRole) is not None
    assert panel.proxy.index(row, RiskTableModel.COL_REVIEW).data() == "Exception expired"

    # Back to today: End exception (confirmed) makes it overdue at once.
    panel.clock = lambda: datetime.now(UTC)
    panel.reload()
    wait_idle(qtbot, win)
    panel.select(item.asset_id, "openssl")
    monkeypatch.setattr(dialogs, "confirm", lambda *_a: True)
    panel.end_button.click()
    qtbot.waitUntil(lambda: any(i.package == "openssl" and
                                i.state is ItemState.EXCEPTION_EXPIRED
                                for i in panel.items_shown()), timeout=10_000)
    assert win.service.exceptions()[0].ended_at is not None


def test_reviews_refused_for_someone_the_policy_does_not_name(
        qtbot: Any, risk_window: MainWindow, monkeypatch: pytest.MonkeyPatch,
        shown_errors: list[tuple[str, str]]) -> None:
    win = risk_window
    assert win.service is not None
    win.service.set_policy_values([("reviewers", "J. Smith")])
    panel = win.priorities
    item = panel.items_shown()[0]
    panel.select(item.asset_id, item.package)

    def fill(dialog: ReviewDialog) -> None:
        dialog.choose(Decision.PATCH_NOW)
        dialog.reason.setPlainText("exploited in the wild")
        dialog.by.setText("bob")

    answer_review(monkeypatch, fill)
    panel.review_button.click()
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    assert "bob may not record a 'patch_now' decision" in shown_errors[0][1]
    assert win.service.reviews() == []


@pytest.mark.skipif(not os.environ.get("PATCHDESK_SCREENSHOTS"),
                    reason="writes docs/ pictures only with PATCHDESK_SCREENSHOTS=docs")
def test_screenshots_of_priorities_and_policy(qtbot: Any, tmp_path: Path) -> None:
    """Pictures of the By-risk tab and the Policy page for docs/."""
    from app.ui.main import create_app

    create_app()  # the application's style and style sheet, as users see it
    folder = Path(os.environ["PATCHDESK_SCREENSHOTS"])
    folder.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "shots.pdsite"
    service = SiteService.open(path, create=True, name="Müller Dental", actor="J. Smith")
    fleet = build_fleet(service)
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)
    for name, ip, impact, updates in (
            ("reception-pc", "10.0.0.21", Impact.LOW,
             [security("p7zip", "CVE-2025-0411", severity=Severity.MODERATE),
              Update("firefox", "136.0", "135.0", classification=Classification.SECURITY,
                     severity=Severity.IMPORTANT, cves=("CVE-2025-1009", "CVE-2025-1010"))]),
            ("xray-ws", "10.0.0.30", Impact.HIGH,
             [security("openssh-server", "CVE-2024-6387", severity=Severity.CRITICAL),
              Update("tzdata", "2025a", "2024b", classification=Classification.ENHANCEMENT)]),
            ("files", "10.0.0.7", Impact.HIGH,
             [security("samba", "CVE-2025-0001", severity=Severity.MODERATE),
              Update("rsync", "3.2.7-2", "3.2.7-1", classification=Classification.BUGFIX)])):
        asset = service.add_asset(Asset(hostname=name, ips=(ip,), impact=impact,
                                        data_sensitivity=(DataSensitivity.HEALTH,)
                                        if name == "xray-ws" else ()))
        add_updates(service, asset, updates, when=old if name == "files" else None)
    service.set_policy_values(
        [("responsible", "J. Smith"), ("approvers", "J. Smith, A. Jones"),
         ("deployers", "J. Smith, K. Brown"), ("reviewers", "J. Smith"),
         ("windows", "ring:production=sat 22:00-04:00;ring:pilot=wed 19:00-21:00"),
         ("scope.exclude", "tag:lab")], "named the people; weekend window")
    service.people.add("J. Smith", "4711-blue")
    service.add_review(Decision.EXCEPTION, package="openssl", host="pay01", by="J. Smith",
                       reason="WAF rule 42 blocks the vector until the vendor's fix",
                       until=datetime.now(UTC).date() + timedelta(days=14), pin="4711-blue")
    assert fleet["pay"].id is not None
    service.close()

    win = MainWindow(SiteService.open(path, actor="J. Smith"))
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    wait_idle(qtbot, win)
    win.show_page("patches")
    wait_idle(qtbot, win)
    win.patches.show_by_risk()
    win.priorities.select(int(fleet["pay"].id), "kernel")
    qtbot.wait(200)
    win.grab().save(str(folder / "screenshot-priorities.png"))
    win.show_page("policy")
    wait_idle(qtbot, win)
    qtbot.wait(200)
    win.grab().save(str(folder / "screenshot-policy.png"))
    win.show_page("dashboard")
    wait_idle(qtbot, win)
    qtbot.wait(200)
    win.grab().save(str(tmp_path / "dashboard.png"))
    win.show_page("inventory")
    win.inventory.select_ids({int(fleet["pay"].id)})
    dialog = AssetDialog(win, win.inventory.selected_assets()[0])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.wait(200)
    dialog.grab().save(str(tmp_path / "asset-dialog.png"))
    dialog.close()
    wait_idle(qtbot, win)
    win.close()
