"""The Reports page: a real site, a real task runner, a real PDF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.ui import reports_page
from app.ui.qt import QDate, QUrl
from app.ui.reports_page import ReportsPage
from app.ui.tasks import TaskRunner
from tests.reports_fixtures import ReportSite, build_report_site


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ReportSite]:
    built = build_report_site(tmp_path / "acme.pdsite")
    yield built
    built.service.close()


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    urls: list[str] = []

    def record(url: QUrl) -> bool:
        urls.append(url.toLocalFile())
        return True

    monkeypatch.setattr(reports_page.QDesktopServices, "openUrl", record)
    return urls


@pytest.fixture
def page(qtbot, site: ReportSite) -> Iterator[ReportsPage]:
    runner = TaskRunner()
    widget = ReportsPage(runner, site.service)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    qtbot.waitUntil(lambda: runner.active == 0, timeout=20_000)
    runner.wait_for_done()


def test_generate_writes_the_chosen_sections_and_opens_the_file(
        qtbot, page: ReportsPage, tmp_path: Path, opened: list[str]) -> None:
    out = tmp_path / "q1.pdf"
    page.output.setText(str(out))
    for key in ("inventory", "patches", "hosts"):
        page.section_boxes[key].setChecked(False)
    page.use_from.setChecked(True)
    page.from_date.setDate(QDate(2020, 1, 1))
    with qtbot.waitSignal(page.report_written, timeout=20_000) as blocker:
        task = page.generate()
        assert task is not None
        assert page.progress.isVisible()
        assert not page.generate_button.isEnabled()
        assert page.cancel_button.isEnabled()
    result = blocker.args[0]
    qtbot.waitUntil(lambda: page.task is None)
    assert result.path == out and out.exists()
    assert opened == [str(out)]
    assert page.status.text().startswith(f"Wrote {result.pages} page(s)")
    assert "compliance 50.0%" in page.status.text()  # SLA compliance (the dashboard's)
    assert page.generate_button.isEnabled() and not page.progress.isVisible()
    text = " ".join(p.extract_text() for p in PdfReader(out).pages)
    assert "Dana Scully" in text and "since 2020-01-01" in text
    assert "Per-host appendix" not in text and "2. Deployments" in text


def test_generate_needs_a_section_a_file_and_a_sane_period(page: ReportsPage) -> None:
    assert page.generate_button.isEnabled()
    for box in page.section_boxes.values():
        box.setChecked(False)
    assert not page.generate_button.isEnabled()
    assert page.status.text() == "Choose at least one section."
    assert page.generate() is None
    page.section_boxes["exec"].setChecked(True)
    assert page.generate_button.isEnabled()
    assert page.status.text() == ""
    page.use_from.setChecked(True)
    page.use_to.setChecked(True)
    page.from_date.setDate(QDate(2026, 3, 1))
    page.to_date.setDate(QDate(2026, 2, 1))
    assert not page.generate_button.isEnabled()
    page.to_date.setDate(QDate(2026, 4, 1))
    page.output.setText("")
    assert not page.generate_button.isEnabled()
    assert page.status.text() == "Choose where to save the PDF."


def test_cancel_leaves_no_file(qtbot, page: ReportsPage, tmp_path: Path,
                               opened: list[str]) -> None:
    out = tmp_path / "cancelled.pdf"
    page.output.setText(str(out))
    task = page.generate()
    assert task is not None
    page.cancel_button.click()
    qtbot.waitUntil(lambda: page.task is None, timeout=20_000)
    assert page.status.text() == "Cancelled; no report was written."
    assert not out.exists() and opened == []


def test_an_unwritable_file_is_reported(qtbot, page: ReportsPage, tmp_path: Path,
                                        opened: list[str]) -> None:
    page.output.setText(str(tmp_path / "missing-folder" / "r.pdf"))
    page.open_when_done.setChecked(False)
    page.generate()
    qtbot.waitUntil(lambda: page.task is None, timeout=20_000)
    assert page.status.text().startswith("The report was not written: Cannot write")
    assert opened == []


def test_choose_sets_the_output(page: ReportsPage, monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    monkeypatch.setattr(ReportsPage, "ask_output_path",
                        staticmethod(lambda _parent, _current: str(tmp_path / "x.pdf")))
    page.findChild(reports_page.QPushButton, "reportBrowse").click()
    assert page.output.text() == str(tmp_path / "x.pdf")


def test_without_a_site_nothing_can_be_generated(qtbot) -> None:
    widget = ReportsPage(TaskRunner())
    qtbot.addWidget(widget)
    assert not widget.generate_button.isEnabled()
    assert widget.status.text() == "Open a site first."


def test_chosen_frameworks_get_their_appendices(qtbot, page: ReportsPage, tmp_path: Path,
                                                opened: list[str]) -> None:
    assert set(page.framework_boxes) >= {"pci-dss", "cyber-essentials", "hipaa"}
    assert not any(box.isChecked() for box in page.framework_boxes.values())
    out = tmp_path / "fw.pdf"
    page.output.setText(str(out))
    page.open_when_done.setChecked(False)
    page.framework_boxes["pci-dss"].setChecked(True)
    page.framework_boxes["hipaa"].setChecked(True)
    assert page.options().frameworks == ("hipaa", "pci-dss")
    with qtbot.waitSignal(page.report_written, timeout=20_000):
        assert page.generate() is not None
    text = " ".join(p.extract_text() for p in PdfReader(out).pages).replace("\n", " ")
    assert "Appendix: PCI DSS" in text and "Appendix: HIPAA" in text
    assert "Appendix: Cyber Essentials" not in text
