"""The screenshot set in docs/, light and dark (run with PATCHDESK_SCREENSHOTS=docs):
each page of the window on a real site — a report written already (the trend), risk
records, a loopback scan waiting for review — in both themes, plus Help's dialogs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.services import SiteService
from app.services.reports import generate
from app.ui.mainwindow import MainWindow
from app.ui.qt import QApplication, QWidget
from app.ui.theme import apply_theme
from tests.integration.test_scan_service import Listener
from tests.reports_fixtures import add_risk_records, build_report_site, kev_file, png_logo
from tests.ui.conftest import wait_idle
from tests.ui.test_discover import start

pytestmark = pytest.mark.skipif(not os.environ.get("PATCHDESK_SCREENSHOTS"),
                                reason="writes docs/ pictures only with "
                                       "PATCHDESK_SCREENSHOTS=docs")

#: (file stem, page key) in the order the README shows them.
SHOTS = (("dashboard", "dashboard"), ("inventory", "inventory"), ("patches", "patches"),
         ("discover", "discover"), ("audit", "audit"), ("reports", "reports"),
         ("policy", "policy"))


def save(widget: QWidget, folder: Path, stem: str, dark: bool) -> Path:
    path = folder / f"screenshot-{stem}{'-dark' if dark else ''}.png"
    assert widget.grab().save(str(path)), path
    return path


def test_screenshot_set_light_and_dark(qtbot: Any, tmp_path: Path) -> None:
    from app.ui.main import create_app

    app = create_app()
    folder = Path(os.environ["PATCHDESK_SCREENSHOTS"])
    folder.mkdir(parents=True, exist_ok=True)
    logo = png_logo(tmp_path / "logo.png")
    site = build_report_site(tmp_path / "Acme Dental.pdsite", logo=logo)
    add_risk_records(site, kev_file(tmp_path / "kev.json", "CVE-2024-7348"))
    generate(site.service, tmp_path / "last-month.pdf")
    site.service.close()
    listener = Listener("127.0.33.2", 2222)
    win = MainWindow(SiteService.open(site.service.path, actor="J. Smith"))
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    wait_idle(qtbot, win)
    try:
        start(win, "127.0.33.2-3", ports="2222", merge=False)
        qtbot.waitUntil(lambda: not win.discover.running, timeout=30_000)
        wait_idle(qtbot, win)
    finally:
        listener.close()
    written: list[Path] = []
    for dark in (False, True):
        assert isinstance(app, QApplication)
        apply_theme(app, "dark" if dark else "light")
        for stem, key in SHOTS:
            win.show_page(key)
            wait_idle(qtbot, win)
            if key == "inventory":
                web = next(a for a in win.inventory.model.assets() if a.hostname == "web01")
                with qtbot.waitSignal(win.assessment_loaded, timeout=10_000):
                    win.inventory.select_ids({int(web.id or 0)})
                    win.inventory.refresh_assessment()
            if key == "patches":
                win.patches.show_by_risk()
                win.priorities.view.selectRow(0)
            if key == "audit":
                rows = [win.audit.proxy.event_at(r).action
                        for r in range(win.audit.proxy.rowCount())]
                win.audit.view.selectRow(rows.index("report.generate")
                                         if "report.generate" in rows else 0)
            qtbot.wait(250)
            written.append(save(win, folder, stem, dark))
        win.show_page("dashboard")
        wait_idle(qtbot, win)
        guide = win.show_user_guide()
        qtbot.wait(200)
        written.append(save(guide, folder, "user-guide", dark))
        guide.close()
        shortcuts = win.show_shortcuts()
        qtbot.wait(200)
        written.append(save(shortcuts, folder, "shortcuts", dark))
        shortcuts.close()
    apply_theme(app, "light")
    assert all(p.stat().st_size > 10_000 for p in written)
    wait_idle(qtbot, win)
    win.close()

