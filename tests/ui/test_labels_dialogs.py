"""Labels, dialogs and fields a new user tripped over (issue 17): no literal "&" in a label,
password dialogs that neither squash nor clip, a multi-line reboot notice, the wizard's Ring
column in view, and "Open when done" saying when no viewer opened the report."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.ui.dialogs import MasterPasswordDialog, NewSiteDialog
from app.ui.mainwindow import PAGES, MainWindow
from app.ui.policy_page import PolicyPage
from app.ui.qt import QDesktopServices, QLabel, QLineEdit, QPlainTextEdit, QUrl, QWidget, QWizard
from app.ui.reports_page import ReportsPage
from app.ui.tasks import TaskRunner
from tests.reports_fixtures import ReportSite, build_report_site
from tests.ui.conftest import wait_idle
from tests.ui.test_deploy_wizard import click_next, open_wizard, patched_site  # noqa: F401

MNEMONIC = re.compile(r"&[^&\s]")


def literal_ampersands(root: QWidget) -> list[str]:
    """Texts of labels that would show their mnemonic '&' as a literal character: a label
    shows '&x' underlined only when it has a buddy to focus."""
    found = []
    for label in root.findChildren(QLabel):
        text = label.text().replace("&&", "")
        if MNEMONIC.search(text) and label.buddy() is None and label.isVisibleTo(root):
            found.append(label.text())
    return found


def clipped(root: QWidget) -> list[str]:
    """Widgets shown smaller than they need: wrapped labels shorter than their text at
    their width, line edits squashed below their size hint."""
    found = []
    for label in root.findChildren(QLabel):
        if (label.isVisible() and label.wordWrap() and label.text()
                and label.height() < label.heightForWidth(label.width())):
            found.append(f"label {label.text()[:30]!r} {label.height()} < "
                         f"{label.heightForWidth(label.width())}")
    for edit in root.findChildren(QLineEdit):
        if edit.isVisible() and edit.height() < edit.minimumSizeHint().height():
            found.append(f"edit {edit.accessibleName()} {edit.height()}")
    return found


def test_no_page_of_the_window_shows_a_literal_ampersand(qtbot: Any,
                                                         window: MainWindow) -> None:
    for key, _label, _icon in PAGES:
        window.show_page(key)
        wait_idle(qtbot, window)
        assert literal_ampersands(window.pages[key]) == [], key
    assert window.site_page.findChild(QLabel, "") is not None
    # The site's identity rows keep their access keys (their labels focus the edit).
    buddies = {label.text(): label.buddy() for label in window.site_page.findChildren(QLabel)
               if label.buddy() is not None}
    assert buddies["&Client"] is window.site_page.edits["client"]


def test_new_site_dialog_labels(qtbot: Any) -> None:
    dialog = NewSiteDialog(None)
    qtbot.addWidget(dialog)
    dialog.show()
    assert literal_ampersands(dialog) == []


def test_wizard_labels_and_ring_column_in_view(qtbot: Any,
                                               patched_site: Any) -> None:  # noqa: F811
    runner = TaskRunner()
    wizard = open_wizard(qtbot, patched_site, runner)
    wizard.patches_page.check_package("pd-openssl")
    click_next(qtbot, wizard)
    page = wizard.targets_page
    assert literal_ampersands(page) == []
    # At the wizard's size on a 1280-px screen, and at 1024 px, the ring combos are in view.
    for width in (wizard.width(), 1024):
        wizard.resize(min(width, 1024 if width == 1024 else width), wizard.height())
        qtbot.wait(50)
        table = page.table
        right = table.columnViewportPosition(4) + table.columnWidth(4)
        assert right <= table.viewport().width(), (width, right, table.viewport().width())
        combo = table.cellWidget(0, 4)
        assert combo.width() >= combo.minimumSizeHint().width()
    wizard.button(QWizard.WizardButton.CancelButton)
    runner.cancel_all()
    wizard.close()
    assert runner.wait_for_done(20_000)


@pytest.mark.parametrize(("create", "error"), [
    (True, ""), (False, ""), (False, "Wrong master password. Try again; the vault stays "
                                     "locked until the right one is entered.")])
def test_master_password_dialog_neither_squashes_nor_clips(qtbot: Any, create: bool,
                                                           error: str) -> None:
    dialog = MasterPasswordDialog(None, create=create, error=error)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert clipped(dialog) == []
    assert literal_ampersands(dialog) == []
    # At its minimum size too, and after an error line appears.
    dialog.resize(dialog.minimumSize())
    qtbot.wait(20)
    assert clipped(dialog) == []
    dialog.accept()  # empty: "Enter the master password."
    qtbot.wait(20)
    assert dialog.isVisible() and dialog.error.isVisible()
    assert clipped(dialog) == []
    dialog.reject()


def test_reboot_notice_is_a_multi_line_field(qtbot: Any, window: MainWindow,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    page = window.policy_page
    monkeypatch.setattr(PolicyPage, "ask_note", staticmethod(lambda _p: "longer notice"))
    window.show_page("policy")
    wait_idle(qtbot, window)
    assert isinstance(page.notice, QPlainTextEdit)
    long_notice = ("This computer restarts in {minutes} minutes to finish installing "
                   "security updates. Save your work now; call the help desk on 0123 456 "
                   "if this is a bad moment.")
    page.edit_button.click()
    page.notice.setPlainText(long_notice)
    with qtbot.waitSignal(page.changed, timeout=10_000):
        page.save_button.click()
    wait_idle(qtbot, window)
    assert window.service is not None
    assert window.service.policy().policy.reboot_notice == long_notice
    # The whole notice is shown, not its tail: the box is several lines high.
    assert page.notice.height() >= 3 * page.notice.fontMetrics().height()


@pytest.fixture
def report_site(tmp_path: Path) -> Iterator[ReportSite]:
    built = build_report_site(tmp_path / "acme.pdsite")
    yield built
    built.service.close()


def test_open_when_done_reports_when_nothing_opened_the_pdf(
        qtbot: Any, report_site: ReportSite, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def no_viewer(url: QUrl) -> bool:
        asked.append(url.toLocalFile())
        return False

    monkeypatch.setattr(QDesktopServices, "openUrl", no_viewer)
    runner = TaskRunner()
    page = ReportsPage(runner, report_site.service)
    qtbot.addWidget(page)
    messages: list[str] = []
    page.status_message.connect(lambda text, _ms: messages.append(text))
    out = tmp_path / "r.pdf"
    page.output.setText(str(out))
    with qtbot.waitSignal(page.report_written, timeout=30_000):
        page.generate()
    qtbot.waitUntil(lambda: page.task is None)
    assert asked == [str(out)] and out.exists()
    assert "could not be opened" in page.status.text() and str(out) in page.status.text()
    assert messages and "could not be opened" in messages[0]
    runner.wait_for_done()


def test_a_saved_inventory_group_is_a_deployment_target(qtbot: Any,
                                                        patched_site: Any) -> None:  # noqa: F811
    patched_site.update_settings(inventory_groups={"First two": "10.0.0.1"})
    runner = TaskRunner()
    wizard = open_wizard(qtbot, patched_site, runner)
    wizard.patches_page.check_package("pd-openssl")
    click_next(qtbot, wizard)
    page = wizard.targets_page
    assert len(page.chosen()) == 3
    labels = [page.group_combo.itemText(i) for i in range(page.group_combo.count())]
    assert labels == ["every host missing the patches", "the group First two"]
    page.group_combo.setCurrentIndex(1)
    # "10.0.0.1" matches alpha (10.0.0.1) only: the words filter as the Inventory does.
    chosen = {wizard.assets[a].label for a, _stage in page.chosen()}
    assert chosen == {"alpha"}
    page.group_combo.setCurrentIndex(0)
    assert len(page.chosen()) == 3
    runner.cancel_all()
    wizard.close()
    assert runner.wait_for_done(20_000)


def test_credential_dialog_labels_have_their_fields_as_buddies(qtbot: Any) -> None:
    """The SSH/WinRM credential dialog's rows whose field is a layout showed a literal "&"."""
    from app.ui.credential_dialogs import CredentialDialog

    dialog = CredentialDialog(None, taken=[], assets=[], tags=[])
    qtbot.addWidget(dialog)
    dialog.show()
    assert literal_ampersands(dialog) == []
