"""The dashboard's risk figures on a real site: the compliance figure is the service's (the
one the PDF report prints), overdue counts by priority, top risks and stale assessments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.core.models import Asset
from app.services import SiteService
from app.ui.mainwindow import MainWindow
from app.ui.monitor import STALE_DAYS
from tests.ui.conftest import wait_idle
from tests.ui.test_priorities import add_updates, build_fleet, security


def test_dashboard_shows_the_services_compliance_figure(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "dash.pdsite"
    service = SiteService.open(path, create=True, name="Dash", actor="tester")
    fleet = build_fleet(service)
    # an old assessment of a third host: its update is long overdue, and it is stale
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    file_server = service.add_asset(Asset(hostname="files", ips=("10.0.0.7",)))
    add_updates(service, file_server, [security("samba", "CVE-2025-0001")], when=old)
    service.add_asset(Asset(hostname="new-nas", ips=("10.0.0.8",)))  # never assessed
    service.update_settings(**{STALE_DAYS: 40})
    expected = service.compliance()
    assert 0 < expected.percent < 100
    service.close()

    win = MainWindow(SiteService.open(path, actor="tester"))
    qtbot.addWidget(win)
    win.show()
    wait_idle(qtbot, win)
    with qtbot.waitSignal(win.dashboard_loaded, timeout=10_000):
        win.show_page("dashboard")
    assert win.service is not None
    value, detail = win.dashboard.risk_cards["compliance"]
    assert value.text() == f"{win.service.compliance().percent:.1f} %"
    assert value.text() == f"{expected.percent:.1f} %"
    assert f"{expected.on_time} of {expected.pairs} security updates" in detail.text()
    overdue, by_priority = win.dashboard.risk_cards["overdue"]
    assert overdue.text() == "1" and "1 standard" in by_priority.text()
    coverage, coverage_detail = win.dashboard.risk_cards["coverage"]
    assert coverage.text() == "2"
    assert coverage_detail.text() == "1 never · 1 older than 40 days"
    assert "new-nas" in coverage.toolTip() and "files" in coverage.toolTip()
    top = win.dashboard.risk_lines()
    assert "kernel on pay01" in top[0] and "KEV" in top[0]
    assert any("samba on files" in line and "overdue" in line for line in top)
    assert fleet["pay"].label == "pay01"
    wait_idle(qtbot, win)
    win.close()
