"""The real main window driven against a real temporary site file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.models import Asset
from app.services import SiteService
from app.ui import dialogs
from app.ui.actions import MainAction
from app.ui.asset_dialog import AssetDialog
from app.ui.mainwindow import PAGES, MainWindow
from app.ui.qt import QDialogButtonBox, QKeySequence, Qt, QWidget
from app.ui.settings import recent_sites
from tests.ui.conftest import wait_idle

DialogScript = Callable[[AssetDialog], None]


def drive_asset_dialog(qtbot: object, monkeypatch: pytest.MonkeyPatch,
                       script: DialogScript, *, cancel_after: bool = False) -> list[AssetDialog]:
    """Replace AssetDialog.ask by one that fills the real dialog's widgets and clicks OK."""
    opened: list[AssetDialog] = []

    def ask(parent: QWidget | None, asset: Asset | None = None) -> Asset | None:
        dialog = AssetDialog(parent, asset)
        qtbot.addWidget(dialog)  # type: ignore[attr-defined]
        dialog.show()
        opened.append(dialog)
        script(dialog)
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
        if dialog.result_asset is None and cancel_after:
            dialog.reject()
        return dialog.result_asset

    monkeypatch.setattr(AssetDialog, "ask", classmethod(lambda cls, p, a=None: ask(p, a)))
    return opened


def type_into(qtbot: object, widget: QWidget, text: str) -> None:
    widget.clear()  # type: ignore[attr-defined]
    qtbot.keyClicks(widget, text)  # type: ignore[attr-defined]


def visible_hostnames(window: MainWindow) -> list[str]:
    proxy = window.inventory.proxy
    return sorted(proxy.asset_at(r).hostname for r in range(proxy.rowCount()))


def select(window: MainWindow, hostname: str) -> Asset:
    asset = next(a for a in window.inventory.model.assets() if a.hostname == hostname)
    assert asset.id is not None
    window.inventory.select_ids({asset.id})
    return asset


def stored(site_path: Path) -> list[Asset]:
    service = SiteService.open(site_path)
    try:
        return service.assets()
    finally:
        service.close()


def test_window_shows_site_inventory_and_status(window: MainWindow, site_path: Path) -> None:
    assert window.inventory.model.rowCount() == 3
    assert window.site_label.text() == "Site: Test site"
    assert window.path_label.text() == str(site_path)
    assert window.count_label.text() == "3 assets"
    assert window.windowTitle() == "Test site — PatchDesk"
    assert window.sidebar.count() == len(PAGES)


def test_add_asset_through_dialog_then_find_it(
    qtbot: object, window: MainWindow, site_path: Path, monkeypatch: pytest.MonkeyPatch,
    shown_errors: list[tuple[str, str]],
) -> None:
    def fill(d: AssetDialog) -> None:
        type_into(qtbot, d.hostname, "db-server")
        type_into(qtbot, d.ips, "192.168.5.20, 10.1.1.1")
        type_into(qtbot, d.macs, "AA-BB-CC-DD-EE-FF")
        d.os_family.setCurrentIndex(d.os_family.findData("linux"))
        type_into(qtbot, d.os_name, "Debian")
        type_into(qtbot, d.os_version, "12")
        type_into(qtbot, d.os_build, "6.1.0-18")
        d.kind.setCurrentIndex(d.kind.findData("server"))
        type_into(qtbot, d.manufacturer, "Dell")
        type_into(qtbot, d.warranty_end, "2030-01-31")
        type_into(qtbot, d.location, "Basement rack")
        type_into(qtbot, d.owner, "Database team")
        type_into(qtbot, d.tags, "db, pci")
        d.ring.setCurrentIndex(d.ring.findData("test"))
        d.impact.setCurrentIndex(d.impact.findData("critical"))
        d.sensitivity[next(iter(d.sensitivity))].setChecked(True)
        d.internet_facing.setChecked(True)
        qtbot.keyClicks(d.notes, "Backups nightly")  # type: ignore[attr-defined]

    drive_asset_dialog(qtbot, monkeypatch, fill)
    with qtbot.waitSignal(window.changed, timeout=5000):  # type: ignore[attr-defined]
        window.action(MainAction.ADD).trigger()
    assert window.inventory.model.rowCount() == 4
    assert window.count_label.text() == "4 assets"
    new = next(a for a in stored(site_path) if a.hostname == "db-server")
    assert new.ips == ("192.168.5.20", "10.1.1.1")
    assert new.macs == ("aa:bb:cc:dd:ee:ff",)
    assert (new.os_name, new.os_version, new.os_build, str(new.kind)) == (
        "Debian", "12", "6.1.0-18", "server")
    assert str(new.warranty_end) == "2030-01-31"
    assert new.tags == ("db", "pci")
    assert (str(new.ring), str(new.impact)) == ("test", "critical")
    assert [str(d) for d in new.data_sensitivity] == ["personal"]
    assert new.internet_facing and not new.public_facing
    assert new.notes == "Backups nightly"
    # The new asset is selected and described in the detail panel.
    assert [a.hostname for a in window.inventory.selected_assets()] == ["db-server"]
    assert window.inventory.details.values["owner"].text() == "Database team"

    # Find it with the filter box (Edit ▸ Find focuses it).
    window.action(MainAction.FIND).trigger()
    assert window.focusWidget() is window.inventory.search
    qtbot.keyClicks(window.inventory.search, "PCI")  # type: ignore[attr-defined]
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: visible_hostnames(window) == ["db-server"], timeout=2000)
    type_into(qtbot, window.inventory.search, "192.168.5")
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: visible_hostnames(window) == ["db-server"], timeout=2000)
    assert "Showing 1 of 4" in window.inventory.summary.text()
    assert shown_errors == []


def test_edit_asset_and_change_log(
    qtbot: object, window: MainWindow, site_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    select(window, "web01")

    def fill(d: AssetDialog) -> None:
        assert d.hostname.text() == "web01"
        type_into(qtbot, d.os_version, "24.04")
        type_into(qtbot, d.owner, "Web team")

    drive_asset_dialog(qtbot, monkeypatch, fill)
    with qtbot.waitSignal(window.changed, timeout=5000):  # type: ignore[attr-defined]
        window.action(MainAction.EDIT).trigger()
    web = next(a for a in stored(site_path) if a.hostname == "web01")
    assert (web.os_version, web.owner) == ("24.04", "Web team")
    assert window.inventory.model.rowCount() == 3
    details = window.inventory.details
    assert details.values["os_version"].text() == "24.04"
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: "os_version: 22.04 → 24.04" in details.history.text(), timeout=5000)
    assert "add" in details.history.text()


def test_an_edit_keeps_what_another_process_changed_meanwhile(
    qtbot: object, window: MainWindow, site_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """[12].16: while the dialog is open another process sets the location; saving the
    dialog's owner change does not revert it."""
    select(window, "web01")

    def fill(d: AssetDialog) -> None:
        other = SiteService.open(site_path, actor="other")
        try:
            loaded = other.find_assets("web01")[0]
            other.update_asset(loaded.with_changes(location="Rack 9"), base=loaded)
        finally:
            other.close()
        type_into(qtbot, d.owner, "Web team")

    drive_asset_dialog(qtbot, monkeypatch, fill)
    with qtbot.waitSignal(window.changed, timeout=5000):  # type: ignore[attr-defined]
        window.action(MainAction.EDIT).trigger()
    web = next(a for a in stored(site_path) if a.hostname == "web01")
    assert (web.location, web.owner) == ("Rack 9", "Web team")


def test_bad_ip_and_mac_are_shown_inline_and_nothing_is_saved(
    qtbot: object, window: MainWindow, site_path: Path, monkeypatch: pytest.MonkeyPatch,
    shown_errors: list[tuple[str, str]],
) -> None:
    before = stored(site_path)

    def fill(d: AssetDialog) -> None:
        type_into(qtbot, d.hostname, "broken")
        type_into(qtbot, d.ips, "10.0.0.300")
        type_into(qtbot, d.macs, "00:11:22:33:44")
        # Live validation while typing, before OK is clicked.
        assert "10.0.0.300" in d.error_text("ips")
        assert "not a valid MAC" in d.error_text("macs")

    dialogs_opened = drive_asset_dialog(qtbot, monkeypatch, fill, cancel_after=True)
    window.action(MainAction.ADD).trigger()
    dialog = dialogs_opened[0]
    assert dialog.error_text("ips") == \
        "'10.0.0.300' is not a valid IPv4 or IPv6 address"
    assert "not a valid MAC address" in dialog.error_text("macs")
    assert dialog.ips.property("invalid") is True
    assert dialog.error_text("hostname") == ""
    assert dialog.result_asset is None
    wait_idle(qtbot, window)
    assert stored(site_path) == before
    assert window.inventory.model.rowCount() == 3
    assert shown_errors == []


def test_delete_cancel_confirm_and_undo(
    qtbot: object, window: MainWindow, site_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[list[str]] = []
    answer = [False]

    def confirm(_parent: QWidget | None, assets: list[Asset]) -> bool:
        asked.append([a.label for a in assets])
        return answer[0]

    monkeypatch.setattr(dialogs, "confirm_delete", confirm)
    web = select(window, "web01")
    printer = next(a for a in window.inventory.model.assets() if a.hostname == "printer-2f")
    assert web.id is not None and printer.id is not None
    window.inventory.select_ids({web.id, printer.id})
    assert window.action(MainAction.DELETE).isEnabled()

    window.action(MainAction.DELETE).trigger()  # cancelled
    wait_idle(qtbot, window)
    assert sorted(asked[0]) == ["printer-2f", "web01"]
    assert len(stored(site_path)) == 3

    answer[0] = True
    with qtbot.waitSignal(window.changed, timeout=5000):  # type: ignore[attr-defined]
        window.action(MainAction.DELETE).trigger()
    assert visible_hostnames(window) == ["acct-pc"]
    assert [a.hostname for a in stored(site_path)] == ["acct-pc"]
    assert window.action(MainAction.UNDO).isEnabled()
    assert window.undo_button.isVisible()
    assert "2 assets" in window.action(MainAction.UNDO).text()

    with qtbot.waitSignal(window.changed, timeout=5000):  # type: ignore[attr-defined]
        qtbot.keySequence(window, QKeySequence("Ctrl+Z"))  # type: ignore[attr-defined]
    assert visible_hostnames(window) == ["acct-pc", "printer-2f", "web01"]
    assert sorted(a.hostname for a in stored(site_path)) == ["acct-pc", "printer-2f", "web01"]
    assert not window.action(MainAction.UNDO).isEnabled()


def test_audit_page_lists_events_and_verifies(qtbot: object, window: MainWindow) -> None:
    with qtbot.waitSignal(window.audit_loaded, timeout=5000):  # type: ignore[attr-defined]
        window.show_page("audit")
    model = window.audit.model
    assert model.rowCount() == 4  # site.create + 3 asset.add
    assert model.index(0, 2).data() == "asset.add"  # newest first
    assert model.index(model.rowCount() - 1, 2).data() == "site.create"
    window.audit.search.setText("printer")
    window.audit.apply_filter()
    assert window.audit.proxy.rowCount() == 1
    with qtbot.waitSignal(window.verify_done, timeout=5000) as blocker:  # type: ignore[attr-defined]
        qtbot.mouseClick(window.audit.verify_button,  # type: ignore[attr-defined]
                         Qt.MouseButton.LeftButton)
    assert blocker.args == [[]]
    assert "intact" in window.audit.result.text()


def test_site_settings_edit_persists(
    qtbot: object, window: MainWindow, site_path: Path,
) -> None:
    window.show_page("site")
    page = window.site_page
    assert page.edits["name"].text() == "Test site"
    assert not page.save_button.isEnabled()
    type_into(qtbot, page.edits["client"], "Smith & Co")
    type_into(qtbot, page.edits["msp_name"], "Northwind IT")
    type_into(qtbot, page.edits["address"], "1 Main St")
    type_into(qtbot, page.edits["name"], "Smith HQ")
    with qtbot.waitSignal(window.changed, timeout=5000):  # type: ignore[attr-defined]
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
    assert page.status.text() == "Saved."
    assert window.site_label.text() == "Site: Smith HQ"
    service = SiteService.open(site_path)
    site = service.site()
    service.close()
    assert (site.name, site.client, site.msp_name, site.address) == (
        "Smith HQ", "Smith & Co", "Northwind IT", "1 Main St")


def test_site_settings_empty_name_is_refused_inline(
    qtbot: object, window: MainWindow, site_path: Path,
) -> None:
    window.show_page("site")
    page = window.site_page
    page.edits["name"].clear()
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: not page.errors["name"].isHidden(), timeout=5000)  # type: ignore[attr-defined]
    assert "name" in page.errors["name"].text()
    service = SiteService.open(site_path)
    assert service.site().name == "Test site"
    service.close()


def test_open_new_and_recent_sites(
    qtbot: object, window: MainWindow, site_path: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, shown_errors: list[tuple[str, str]],
) -> None:
    # New site.
    new_path = tmp_path / "client-b"
    monkeypatch.setattr(dialogs.NewSiteDialog, "ask", classmethod(
        lambda cls, parent, folder="": (new_path.with_suffix(".pdsite"), "Client B", "B Ltd")))
    with qtbot.waitSignal(window.assets_loaded, timeout=5000):  # type: ignore[attr-defined]
        window.action(MainAction.NEW_SITE).trigger()
    assert window.site_label.text() == "Site: Client B"
    assert window.inventory.model.rowCount() == 0
    assert window.inventory.table_stack.currentWidget() is window.inventory.empty
    assert window.site is not None and window.site.client == "B Ltd"

    # Opening something that is not a site is refused with the service's message.
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    monkeypatch.setattr(dialogs, "ask_open_file", lambda *a, **k: str(junk))
    window.action(MainAction.OPEN_SITE).trigger()
    assert shown_errors and "not a PatchDesk site" in shown_errors[-1][1]
    assert window.site_label.text() == "Site: Client B"

    # Recent sites: newest first, current one disabled, missing files pruned.
    recents = recent_sites()
    assert recents[:2] == [str(new_path.with_suffix(".pdsite").resolve()),
                           str(site_path.resolve())]
    window.rebuild_recent_menu()
    entries = [a for a in window.recent_menu.actions() if a.data()]
    assert [a.data() for a in entries][:2] == recents[:2]
    assert not entries[0].isEnabled() and entries[1].isEnabled()
    with qtbot.waitSignal(window.assets_loaded, timeout=5000):  # type: ignore[attr-defined]
        entries[1].trigger()
    assert window.site_label.text() == "Site: Test site"
    assert window.inventory.model.rowCount() == 3

    gone = tmp_path / "gone.pdsite"
    SiteService.open(gone, create=True).close()
    with qtbot.waitSignal(window.assets_loaded, timeout=5000):  # type: ignore[attr-defined]
        window.open_site_path(gone)
    with qtbot.waitSignal(window.assets_loaded, timeout=5000):  # type: ignore[attr-defined]
        window.open_site_path(site_path)
    gone.unlink()
    window.rebuild_recent_menu()
    assert str(gone.resolve()) not in [a.data() for a in window.recent_menu.actions()]


def test_geometry_page_and_columns_persist(qtbot: object, site_path: Path) -> None:
    first = MainWindow(SiteService.open(site_path))
    qtbot.addWidget(first)  # type: ignore[attr-defined]
    first.show()
    first.resize(760, 540)
    first.show_page("audit")
    first.inventory.view.horizontalHeader().resizeSection(0, 321)
    first.inventory.view.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    wait_idle(qtbot, first)
    first.close()

    second = MainWindow(SiteService.open(site_path))
    qtbot.addWidget(second)  # type: ignore[attr-defined]
    second.show()
    wait_idle(qtbot, second)
    assert (second.width(), second.height()) == (760, 540)
    assert second.current_page() == "audit"
    header = second.inventory.view.horizontalHeader()
    assert header.sectionSize(0) == 321
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (
        1, Qt.SortOrder.DescendingOrder)
    ips = [second.inventory.proxy.index(r, 1).data() for r in range(3)]
    assert ips == ["10.0.0.100", "10.0.0.10", "10.0.0.9"]
    second.close()


def test_view_shortcuts_switch_pages(qtbot: object, window: MainWindow) -> None:
    qtbot.keySequence(window, QKeySequence("Ctrl+F"))  # type: ignore[attr-defined]
    assert window.current_page() == "inventory"
    assert window.inventory.search.hasFocus()
    for number, (key, _label, _icon) in enumerate(PAGES, start=1):
        qtbot.keySequence(window, QKeySequence(f"Ctrl+{number % 10}"))  # type: ignore[attr-defined]
        assert window.current_page() == key
        wait_idle(qtbot, window)


def test_dashboard_counts_real_assets(qtbot: object, window: MainWindow) -> None:
    window.show_page("dashboard")
    value, _detail = window.dashboard.cards["assets"]
    qtbot.waitUntil(lambda: value.text() == "3", timeout=5000)  # type: ignore[attr-defined]
    assert window.dashboard.cards["unowned"][0].text() == "1"
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: "asset.add" in window.dashboard.recent.text(), timeout=5000)


def test_about_names_version_and_licences(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.ui.qt import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "about", lambda _p, _t, text: shown.append(text))
    window.action(MainAction.ABOUT).trigger()
    assert "0.1.0" in shown[0] and "LGPL" in shown[0] and "paramiko" in shown[0]


def test_enter_on_the_table_edits_and_context_menu_copies(
    qtbot: object, window: MainWindow, monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(AssetDialog, "ask", classmethod(
        lambda cls, parent, asset=None: asked.append(asset.hostname if asset else "") or None))
    select(window, "acct-pc")
    window.inventory.view.setFocus()
    qtbot.keyClick(window.inventory.view, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    assert asked == ["acct-pc"]
    qtbot.keyClick(window, Qt.Key.Key_F2)  # type: ignore[attr-defined]
    assert asked == ["acct-pc", "acct-pc"]

    from app.ui.qt import QGuiApplication

    window.inventory.copy_ip.trigger()
    assert QGuiApplication.clipboard().text() == "10.0.0.9"
    window.inventory.copy_hostname.trigger()
    assert QGuiApplication.clipboard().text() == "acct-pc"


def test_delete_confirmation_names_the_assets(qtbot: object) -> None:
    from app.ui.qt import QApplication, QMessageBox, QTimer

    assets = [Asset(hostname=f"pc{i:02d}", id=i) for i in range(7)]
    seen: list[str] = []

    def answer(button_text: str) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, lambda: answer(button_text))
            return
        seen.append(box.text())
        button = next(b for b in box.buttons() if b.text().replace("&", "") == button_text)
        button.click()

    QTimer.singleShot(0, lambda: answer("Cancel"))
    assert dialogs.confirm_delete(None, assets) is False
    assert "Delete 7 assets" in seen[0]
    assert "pc00" in seen[0] and "pc04" in seen[0] and "pc05" not in seen[0]
    assert "and 2 more" in seen[0]
    QTimer.singleShot(0, lambda: answer("Delete"))
    assert dialogs.confirm_delete(None, assets[:1]) is True
    assert "Delete 1 asset from" in seen[1]
