"""The first report of a site without client or MSP details asks for them (and a logo),
saves them with the site and prints them; cancelling writes nothing; it asks once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from app.core.models import Site
from app.services import SiteService
from app.ui.mainwindow import MainWindow
from app.ui.qt import QDesktopServices
from app.ui.reports_page import ReportIdentityDialog, ReportsPage
from tests.reports_fixtures import png_logo
from tests.ui.conftest import wait_idle


@pytest.fixture
def bare(qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda _url: True)
    path = tmp_path / "bare.pdsite"
    SiteService.open(path, create=True, name="Main office", actor="alice").close()
    win = MainWindow(SiteService.open(path, actor="alice"))
    qtbot.addWidget(win)
    win.show()
    wait_idle(qtbot, win)
    win.show_page("reports")
    wait_idle(qtbot, win)
    yield win
    wait_idle(qtbot, win)
    win.close()


def test_first_report_asks_for_client_msp_and_logo(qtbot: Any, bare: MainWindow,
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    page = bare.reports
    assert page.site is not None and page.needs_identity()
    logo = png_logo(tmp_path / "logo.png")
    asked: list[Site] = []

    def answer(_parent: Any, site: Site) -> tuple[str, dict[str, str]]:
        asked.append(site)
        return "save", {"client": "Acme Dental Ltd", "msp_name": "Northwind IT",
                        "address": "1 High Street", "logo_path": str(logo)}

    monkeypatch.setattr(ReportsPage, "ask_identity", staticmethod(answer))
    page.output.setText(str(tmp_path / "first.pdf"))
    with qtbot.waitSignal(page.report_written, timeout=30_000) as blocker:
        assert page.generate() is None  # the details are saved first
    assert len(asked) == 1
    assert bare.service is not None
    site = bare.service.site()
    assert (site.client, site.msp_name, site.logo_path) == ("Acme Dental Ltd", "Northwind IT",
                                                            str(logo))
    text = PdfReader(blocker.args[0].path).pages[0].extract_text()
    assert "Acme Dental Ltd" in text and "Northwind IT" in text
    assert "Prepared by —" not in text
    # The second report does not ask again.
    wait_idle(qtbot, bare)
    page.output.setText(str(tmp_path / "second.pdf"))
    with qtbot.waitSignal(page.report_written, timeout=30_000):
        assert page.generate() is not None
    assert len(asked) == 1


def test_cancel_writes_nothing_and_skip_writes_without(qtbot: Any, bare: MainWindow,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    page = bare.reports
    monkeypatch.setattr(ReportsPage, "ask_identity", staticmethod(lambda _p, _s: ("", {})))
    out = tmp_path / "r.pdf"
    page.output.setText(str(out))
    assert page.generate() is None
    wait_idle(qtbot, bare)
    assert not out.exists() and page.status.text() == "No report was written."
    # Asked again after a cancel? Only once per session: the next Generate writes it.
    page._identity_asked = False
    monkeypatch.setattr(ReportsPage, "ask_identity",
                        staticmethod(lambda _p, _s: ("skip", {})))
    with qtbot.waitSignal(page.report_written, timeout=30_000):
        assert page.generate() is not None
    assert out.exists()


def test_identity_dialog_checks_its_fields(qtbot: Any, tmp_path: Path) -> None:
    dialog = ReportIdentityDialog(None, Site("Main office"))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.save_button.click()
    assert dialog.isVisible() and "Enter the client" in dialog.error.text()
    dialog.edits["client"].setText("Acme")
    dialog.edits["logo_path"].setText(str(tmp_path / "missing.png"))
    dialog.save_button.click()
    assert dialog.isVisible() and "No such file" in dialog.error.text()
    dialog.edits["logo_path"].clear()
    dialog.save_button.click()
    assert not dialog.isVisible() and dialog.choice == "save"
    assert dialog.values()["client"] == "Acme"

