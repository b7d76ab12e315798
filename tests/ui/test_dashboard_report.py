"""The dashboard's compliance figure is the one the PDF executive summary prints."""

from __future__ import annotations

import re
from pathlib import Path

from pypdf import PdfReader

from app.reports.report import generate_report
from app.services import SiteService
from app.ui.mainwindow import MainWindow
from tests.reports_fixtures import add_risk_records, build_report_site, kev_file


def test_dashboard_and_pdf_show_the_same_compliance(qtbot, tmp_path: Path) -> None:
    built = build_report_site(tmp_path / "acme.pdsite")
    add_risk_records(built, kev_file(tmp_path / "kev.json", "CVE-2024-3094"))
    pdf = tmp_path / "report.pdf"
    generate_report(built.service, pdf)
    path = built.service.path
    built.service.close()
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())
    printed = re.search(r"(\d+\.\d)% SLA compliance", text)
    assert printed is not None, text[:500]

    window = MainWindow(SiteService.open(path))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.dashboard_loaded, timeout=20_000):
        window.show_page("dashboard")
        window.dashboard.load()
    shown = window.dashboard.risk_cards["compliance"][0].text()
    assert shown.replace(" ", "") == f"{printed.group(1)}%"
    qtbot.waitUntil(lambda: window.runner.active == 0, timeout=10_000)
    window.close()
