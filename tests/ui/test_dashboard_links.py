"""The dashboard on a real site: cards and risk lines open the page they summarise,
filtered; the two charts draw the report's own figures; failed and never-assessed hosts are
named; the compliance card says which hosts its figure leaves out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.reports import charts as report_charts
from app.reports.data import compliance_trend
from app.services import SiteService
from app.services.reports import collect, generate
from app.ui.charts import SEVERITY_COLOURS
from app.ui.mainwindow import MainWindow
from app.ui.qt import QColor, Qt
from tests.reports_fixtures import build_report_site
from tests.ui.conftest import wait_idle


@pytest.fixture
def dash(qtbot: Any, tmp_path: Path) -> Iterator[MainWindow]:
    site = build_report_site(tmp_path / "acme.pdsite")
    # One report written already: the trend has a stored point and "now".
    generate(site.service, tmp_path / "first.pdf")
    site.service.close()
    win = MainWindow(SiteService.open(tmp_path / "acme.pdsite", actor="alice"))
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    win.activateWindow()
    qtbot.waitActive(win)
    wait_idle(qtbot, win)
    with qtbot.waitSignal(win.dashboard_loaded, timeout=20_000):
        win.show_page("dashboard")
    yield win
    wait_idle(qtbot, win)
    win.close()


def test_charts_draw_the_reports_figures(qtbot: Any, dash: MainWindow) -> None:
    assert dash.service is not None
    data = collect(dash.service)
    page = dash.dashboard
    assert page.severity_chart.items == list(data.figures.by_severity.items())
    assert dict(page.severity_chart.items) == {"critical": 2, "important": 2, "moderate": 1,
                                               "low": 1}
    # The PDF's trend points: the stored report, then now.
    expected = compliance_trend(data.history, data.figures.compliance_pct, data.options)
    assert page.trend_chart.points == expected and len(expected) == 2
    assert expected[-1] == ("now", 50.0)
    # The colours are the report's; the bars are drawn with them.
    for name, colour in SEVERITY_COLOURS.items():
        assert report_charts.SEVERITY_COLOURS[name].hexval().lower() == \
            "0x" + colour.lower().lstrip("#")
    image = page.severity_chart.grab().toImage()
    colours = {image.pixelColor(x, y).name().lower()
               for x in range(0, image.width(), 2) for y in range(0, image.height(), 2)}
    assert QColor(SEVERITY_COLOURS["critical"]).name().lower() in colours
    trend = page.trend_chart.grab().toImage()
    assert trend.width() > 100 and "50.0 %" in page.trend_chart.toolTip()


def test_failed_and_never_assessed_hosts_are_named(dash: MainWindow) -> None:
    page = dash.dashboard
    lines = page.attention_lines()
    assert any(line.startswith("✖ mail01") and "SSH login refused" in line for line in lines)
    assert any(line.startswith("○ printer-2f") and "never assessed" in line for line in lines)
    warning = page.card_widgets["compliance"].warning
    assert warning.isVisible()
    assert warning.text() == "Not counted: 1 never assessed, 1 failed scan"


def test_cards_open_the_filtered_inventory(qtbot: Any, dash: MainWindow) -> None:
    page = dash.dashboard
    card = page.card_widgets["unowned"]
    qtbot.mouseClick(card, Qt.MouseButton.LeftButton)
    assert dash.current_page() == "inventory"
    shown = {dash.inventory.proxy.asset_at(r).label
             for r in range(dash.inventory.proxy.rowCount())}
    assert shown == {"mail01", "printer-2f"}
    assert dash.inventory.scope_bar.isVisible()
    assert "no owner recorded" in dash.inventory.scope_label.text()
    dash.inventory.scope_clear.click()
    assert dash.inventory.proxy.rowCount() == 5 and not dash.inventory.scope_bar.isVisible()

    dash.show_page("dashboard")
    wait_idle(qtbot, dash)
    page.card_widgets["errors"].setFocus()
    qtbot.waitUntil(page.card_widgets["errors"].hasFocus)
    qtbot.keyClick(page.card_widgets["errors"], Qt.Key.Key_Return)
    assert [dash.inventory.proxy.asset_at(r).label
            for r in range(dash.inventory.proxy.rowCount())] == ["mail01"]

    dash.show_page("dashboard")
    wait_idle(qtbot, dash)
    # A never-assessed host's line opens that host.
    view = page.attention
    row = next(i for i, line in enumerate(page.attention_lines()) if "printer-2f" in line)
    item = view.item(row)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.visualItemRect(item).center())
    assert dash.current_page() == "inventory"
    assert [a.label for a in dash.inventory.selected_assets()] == ["printer-2f"]


def test_cards_and_risk_lines_open_the_filtered_patches(qtbot: Any, dash: MainWindow) -> None:
    page = dash.dashboard
    qtbot.mouseClick(page.card_widgets["security"], Qt.MouseButton.LeftButton)
    assert dash.current_page() == "patches"
    assert dash.patches.class_combo.currentData() == "security"
    assert dash.patches.tabs.currentIndex() == 0

    dash.show_page("dashboard")
    wait_idle(qtbot, dash)
    qtbot.mouseClick(page.card_widgets["overdue"], Qt.MouseButton.LeftButton)
    assert dash.current_page() == "patches"
    assert dash.patches.tabs.currentWidget() is dash.priorities
    assert dash.priorities.overdue_box.isChecked()
    assert dash.priorities.items_shown() and all(i.overdue
                                                 for i in dash.priorities.items_shown())

    dash.show_page("dashboard")
    wait_idle(qtbot, dash)
    lines = page.risk_lines()
    assert "openssl on web01" in lines[0]
    view = page.top_risks
    view.setCurrentRow(1)
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert dash.current_page() == "patches"
    assert not dash.priorities.overdue_box.isChecked()
    chosen = dash.priorities.selected_item()
    assert chosen is not None and f"{chosen.package} on {chosen.host}" in lines[1]
