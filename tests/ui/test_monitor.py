"""Monitoring: a check compares the site before and after and reports what is new (new
missing updates, devices, overdue updates, KEV matches); the interval is a site setting."""

from __future__ import annotations

from typing import Any

from app.core.models import Asset
from app.ui.mainwindow import MainWindow
from app.ui.monitor import MONITOR_HOURS, Changes, Snapshot, changes_between
from tests.ui.conftest import wait_idle
from tests.ui.test_priorities import add_updates, security


def test_monitor_detects_a_new_patch_and_a_new_device(qtbot: Any, window: MainWindow) -> None:
    monitor = window.monitor
    service = window.service
    assert service is not None
    assert not monitor.active  # off by default
    with qtbot.waitSignal(monitor.checked, timeout=10_000) as first:
        assert monitor.check_now() is not None
    assert not first.args[0]  # the first check only takes the baseline
    web = next(a for a in service.assets() if a.hostname == "web01")
    add_updates(service, web, [security("openssl", "CVE-2024-5535")])
    service.add_asset(Asset(hostname="cam-7", ips=("10.0.0.77",)))
    notified: list[tuple[str, str]] = []
    monitor.notified.connect(lambda title, text: notified.append((title, text)))
    with qtbot.waitSignal(monitor.checked, timeout=10_000) as second:
        monitor.check_now()
    changes: Changes = second.args[0]
    assert changes.new_patches == ("openssl on web01",)
    assert changes.new_devices == ("cam-7",)
    assert notified and "1 new missing update: openssl on web01" in notified[0][1]
    wait_idle(qtbot, window)
    with qtbot.waitSignal(monitor.checked, timeout=10_000) as third:
        monitor.check_now()
    assert not third.args[0]  # nothing new since


def test_overdue_and_kev_news() -> None:
    before = Snapshot({1: "web01"}, frozenset({(1, "openssl", "2")}), frozenset(),
                      frozenset(), frozenset())
    after = Snapshot({1: "web01"}, frozenset({(1, "openssl", "2")}),
                     frozenset({(1, "openssl")}), frozenset({(1, "openssl", "CVE-1")}),
                     frozenset({4}))
    changes = changes_between(before, after)
    assert changes.new_overdue == ("openssl on web01",)
    assert changes.new_kev == ("CVE-1 (openssl on web01)",)
    assert changes.failed_deployments == ("deployment 4",)
    assert "1 update now overdue" in changes.summary()


def test_interval_is_a_site_setting(qtbot: Any, window: MainWindow) -> None:
    window.show_page("site")
    page = window.site_page
    assert page.monitor_spin.value() == 0 and page.stale_spin.value() == 30
    page.monitor_spin.setValue(6)
    assert page.save_button.isEnabled()
    with qtbot.waitSignal(window.changed, timeout=10_000):
        page.save_button.click()
    wait_idle(qtbot, window)
    assert window.service is not None
    assert window.service.settings()[MONITOR_HOURS] == 6
    assert window.monitor.active and window.monitor.timer.interval() == 6 * 3_600_000
    assert not page.save_button.isEnabled()
