"""The Patches page: models checked with qtmodeltester, filters, and navigation into the
inventory, on deep-scan results stored in a real site."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from app.core.models import Asset, AssetPatch, Classification, Severity
from app.ui.actions import MainAction
from app.ui.mainwindow import MainWindow
from app.ui.patches import (
    HostTableModel,
    PatchFilterProxy,
    PatchTableModel,
    build_rows,
    host_detail,
    patch_detail,
)
from app.ui.qt import QModelIndex, Qt
from tests.ui.conftest import wait_idle
from tests.ui.test_assess import asset_by_name, sample_assessment, store_assessment


@dataclass
class Record:
    """The fields of an ``AssessmentRecord`` the page reads."""

    ok: bool
    finished_at: datetime
    reboot_required: bool | None = None
    error_kind: str = ""
    error: str = ""


ASSETS = [Asset(id=1, hostname="web01", ips=("10.0.0.10",)),
          Asset(id=2, hostname="db01", ips=("10.0.0.11",)),
          Asset(id=3, hostname="nas", ips=("10.0.0.12",))]
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def sample_rows() -> tuple[list[Any], list[Any]]:
    patches = [
        AssetPatch(1, "openssl", "3.0.15", "3.0.14", classification=Classification.SECURITY,
                   severity=Severity.IMPORTANT, cves=("CVE-2024-5535",),
                   advisories=("DSA-5801-1",), source="bookworm-security"),
        AssetPatch(2, "openssl", "3.0.15", "3.0.13", classification=Classification.SECURITY,
                   severity=Severity.CRITICAL, cves=("CVE-2024-9143",),
                   source="bookworm-security"),
        AssetPatch(1, "curl", "7.88.1-10+deb12u6", "7.88.1-10+deb12u5",
                   classification=Classification.BUGFIX),
        AssetPatch(2, "linux-image-amd64", "6.1.119-1", "6.1.115-1",
                   classification=Classification.SECURITY, severity=Severity.LOW,
                   reboot_required=True),
        AssetPatch(99, "ghost", "2", "1"),  # an asset deleted since: ignored
    ]
    records = {1: Record(True, NOW, False), 2: Record(True, NOW, True),
               3: Record(False, NOW, None, "unreachable", "10.0.0.12: no route to host")}
    return build_rows(patches, records, ASSETS)


def test_build_rows_groups_by_patch_and_by_host() -> None:
    groups, hosts = sample_rows()
    by_name = {g.package: g for g in groups}
    assert set(by_name) == {"openssl", "curl", "linux-image-amd64"}
    openssl = by_name["openssl"]
    assert openssl.hosts == ((2, "db01"), (1, "web01"))
    assert openssl.severity is Severity.CRITICAL
    assert openssl.cves == ("CVE-2024-5535", "CVE-2024-9143")
    assert openssl.installed == ("3.0.13", "3.0.14")
    rows = {h.label: h for h in hosts}
    assert (rows["web01"].missing, rows["web01"].security) == (2, 1)
    assert (rows["db01"].missing, rows["db01"].security, rows["db01"].reboot_required) == (
        2, 2, True)
    assert (rows["nas"].ok, rows["nas"].error_kind, rows["nas"].missing) == (
        False, "unreachable", 0)
    assert "Missing on 2: db01, web01" in patch_detail(openssl)
    assert "failed" in host_detail(rows["nas"]) and "unreachable" in host_detail(rows["nas"])


def _model(which: str) -> Any:
    groups, hosts = sample_rows()
    model: Any = PatchTableModel() if which == "patch" else HostTableModel()
    model.set_objects(groups if which == "patch" else hosts)
    return model


@pytest.mark.parametrize("which", ["patch", "host"])
def test_models_pass_the_model_tester(qtmodeltester: Any, which: str) -> None:
    model = _model(which)
    qtmodeltester.check(model)
    assert model.index(0, 0).parent() == QModelIndex()
    assert model.index(model.rowCount(), 0) == QModelIndex()


@pytest.mark.parametrize("which", ["patch", "host"])
def test_proxies_pass_the_model_tester_while_filtering_and_sorting(qtmodeltester: Any,
                                                                   which: str) -> None:
    model = _model(which)
    proxy = PatchFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy)
    proxy.set_filters("security", 0)
    proxy.set_filter_text("openssl")
    for column in range(model.columnCount()):
        proxy.sort(column, Qt.SortOrder.DescendingOrder)
    proxy.set_filters("", 2)
    proxy.set_filter_text("")
    model.set_objects(model.objects()[:1])
    assert proxy.rowCount() <= 1


def test_filters_by_classification_severity_and_words() -> None:
    groups, hosts = sample_rows()
    model = PatchTableModel()
    model.set_objects(groups)
    proxy = PatchFilterProxy()
    proxy.setSourceModel(model)

    def shown() -> list[str]:
        return sorted(proxy.index(r, 0).data() for r in range(proxy.rowCount()))

    assert shown() == ["curl", "linux-image-amd64", "openssl"]
    proxy.set_filters("security", 0)
    assert shown() == ["linux-image-amd64", "openssl"]
    proxy.set_filters("", 3)  # important or worse
    assert shown() == ["openssl"]
    proxy.set_filters("", 0)
    proxy.set_filter_text("cve-2024-9143")
    assert shown() == ["openssl"]
    proxy.set_filter_text("web01")  # the hosts a patch is missing on are searchable too
    assert shown() == ["curl", "openssl"]
    hosts_model = HostTableModel()
    hosts_model.set_objects(hosts)
    host_proxy = PatchFilterProxy()
    host_proxy.setSourceModel(hosts_model)
    host_proxy.set_filter_text("curl")
    assert [host_proxy.index(r, 0).data() for r in range(host_proxy.rowCount())] == ["web01"]
    hosts_model.sort(HostTableModel.COL_SECURITY, Qt.SortOrder.DescendingOrder)
    host_proxy.set_filter_text("")
    assert host_proxy.index(0, 0).data() == "db01"
    assert hosts_model.index(hosts_model.rowCount() - 1, HostTableModel.COL_ERROR).data() \
        .startswith("unreachable: ")


@pytest.fixture
def assessed_window(qtbot: Any, window: MainWindow) -> MainWindow:
    """The window after deep scans of web01 (with a security update), acct-pc (without)
    and a failed one of the printer."""
    service = window.service
    assert service is not None
    store_assessment(service, asset_by_name(service, "web01"))
    store_assessment(service, asset_by_name(service, "acct-pc"),
                     sample_assessment("acct-pc", security=False, reboot=False))
    store_assessment(service, asset_by_name(service, "printer-2f"),
                     error=("unreachable", "10.0.0.100: no SSH on port 22"))
    with qtbot.waitSignal(window.patches_loaded, timeout=10_000):
        window.show_page("patches")
    return window


def test_patches_page_by_patch_and_by_host(qtbot: Any, assessed_window: MainWindow) -> None:
    window = assessed_window
    page = window.patches
    assert page.stack.currentIndex() == 0
    assert page.summary.text() == ("3 missing updates (1 security) in 2 packages on 3 "
                                   "assessed hosts \u00b7 1 needs a reboot \u00b7 1 with errors")
    patches = {page.patch_proxy.index(r, 0).data():
               [page.patch_proxy.index(r, c).data() for c in range(7)]
               for r in range(page.patch_proxy.rowCount())}
    assert patches["openssl"] == ["openssl", "3.0.15-1~deb12u1", "Security", "Important", "1",
                                  "CVE-2024-5535, CVE-2024-9143", ""]
    assert patches["curl"][4] == "2"
    assert page.tabs.tabText(0) == "By patch (2)"
    # Security updates sort first, in red.
    assert page.patch_proxy.index(0, 0).data() == "openssl"
    assert page.patch_proxy.index(0, 2).data(Qt.ItemDataRole.ForegroundRole).name() == "#b3261e"

    page.class_combo.setCurrentIndex(page.class_combo.findData("security"))
    assert page.patch_proxy.rowCount() == 1
    assert page.tabs.tabText(0) == "By patch (1 of 2)"
    page.class_combo.setCurrentIndex(0)
    page.severity_combo.setCurrentIndex(page.severity_combo.findData(4))  # critical
    assert page.patch_proxy.rowCount() == 0
    page.severity_combo.setCurrentIndex(0)

    page.tabs.setCurrentIndex(1)
    hosts = {page.host_proxy.index(r, 0).data():
             [page.host_proxy.index(r, c).data() for c in range(7)]
             for r in range(page.host_proxy.rowCount())}
    assert hosts["web01"][:5] == ["web01", "10.0.0.10", "2", "1", "required"]
    assert hosts["acct-pc"][2:5] == ["1", "0", "no"]
    assert hosts["printer-2f"][6] == "unreachable: 10.0.0.100: no SSH on port 22"


def test_double_click_opens_the_host_in_the_inventory(qtbot: Any,
                                                      assessed_window: MainWindow) -> None:
    window = assessed_window
    page = window.patches
    # Enter on a patch lists the hosts missing it.
    page.patch_view.setFocus()
    row = next(r for r in range(page.patch_proxy.rowCount())
               if page.patch_proxy.index(r, 0).data() == "openssl")
    page.patch_view.selectRow(row)
    qtbot.keyClick(page.patch_view, Qt.Key.Key_Return)
    assert page.tabs.currentIndex() == 1
    assert page.search.text() == "openssl"
    assert [page.host_proxy.index(r, 0).data() for r in range(page.host_proxy.rowCount())] \
        == ["web01"]
    # A filter on the inventory that hides the host is cleared.
    window.inventory.search.setText("printer")
    window.inventory.apply_filter()
    page.host_view.selectRow(0)
    rect = page.host_view.visualRect(page.host_proxy.index(0, 0))
    # A real double click is press, release, press, double-click: QTest sends only the
    # last part, and the view needs the press to know which row it is on.
    qtbot.mouseClick(page.host_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(page.host_view.viewport(), Qt.MouseButton.LeftButton,
                      pos=rect.center())
    assert window.current_page() == "inventory"
    assert [a.hostname for a in window.inventory.selected_assets()] == ["web01"]
    assert window.inventory.search.text() == ""
    qtbot.waitUntil(lambda: window.inventory.details.assessment_shown is not None,
                    timeout=10_000)
    wait_idle(qtbot, window)


def test_ctrl_f_filters_the_patches(qtbot: Any, assessed_window: MainWindow) -> None:
    window = assessed_window
    window.action(MainAction.FIND).trigger()
    assert window.patches.search.hasFocus()
    assert window.current_page() == "patches"


def test_empty_site_explains_how_to_get_patches(qtbot: Any, window: MainWindow) -> None:
    with qtbot.waitSignal(window.patches_loaded, timeout=10_000):
        window.show_page("patches")
    page = window.patches
    assert page.stack.currentIndex() == 1
    assert "Ctrl+R" in page.empty.text()
    assert page.summary.text() == "No missing updates known yet."


def test_dashboard_counts_missing_and_failed(qtbot: Any, assessed_window: MainWindow) -> None:
    window = assessed_window
    window.show_page("dashboard")
    wait_idle(qtbot, window)
    cards = window.dashboard.patch_cards
    assert cards["missing"][0].text() == "3"
    assert cards["missing"][1].text() == "on 2 of 3 assessed hosts"
    assert cards["security"][0].text() == "1"
    assert cards["errors"][0].text() == "1"
