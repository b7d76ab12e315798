"""The Inventory on a real site: missing updates, last assessed, reboot and online columns;
the address as the name of a host without one; duplicate addresses flagged; bulk edit of
ring, owner, location, kind and tags; saved filters as groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.core.assessment import Assessment, RebootState, Update
from app.core.models import Asset, AssetKind, Classification, Ring, Severity
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from app.ui.actions import MainAction
from app.ui.bulk_edit import BulkChange, BulkEditDialog
from app.ui.inventory import GROUPS_SETTING, InventoryPage
from app.ui.mainwindow import MainWindow
from app.ui.models import AssetTableModel
from app.ui.qt import QColor, Qt
from tests.ui.conftest import wait_idle

M = AssetTableModel


def build(path: Path) -> None:
    service = SiteService.open(path, create=True, name="Inv", actor="alice")
    web = service.add_asset(Asset(hostname="web01", ips=("10.0.0.10",), tags=("dmz", "web")))
    mail = service.add_asset(Asset(hostname="mail01", ips=("10.0.0.12",)))
    service.add_asset(Asset(ips=("10.0.0.50",), macs=("00:11:22:33:44:55",)))  # no name
    service.add_asset(Asset(hostname="old-web", ips=("10.0.0.10",)))  # same IP as web01
    now = datetime.now(UTC).replace(microsecond=0)
    with service.store.atomic() as db:
        repo = AssessmentRepo(db)
        repo.record_success(int(web.id or 0), now - timedelta(minutes=5), now, Assessment(
            "web01", "apt", updates=[
                Update("openssl", "2", "1", classification=Classification.SECURITY,
                       severity=Severity.CRITICAL),
                Update("curl", "2", "1", classification=Classification.BUGFIX)],
            reboot=RebootState(True, ("/var/run/reboot-required",))))
        repo.record_failure(int(mail.id or 0), now, now, "auth_failed", "login refused")
    service.close()


@pytest.fixture
def inv(qtbot: Any, tmp_path: Path) -> Any:
    path = tmp_path / "inv.pdsite"
    build(path)
    win = MainWindow(SiteService.open(path, actor="alice"))
    qtbot.addWidget(win)
    win.show()
    wait_idle(qtbot, win)
    win.show_page("inventory")
    wait_idle(qtbot, win)
    yield win
    wait_idle(qtbot, win)
    win.close()


def cell(win: MainWindow, label: str, column: int) -> str:
    model = win.inventory.model
    row = next(r for r in range(model.rowCount()) if model.asset_at(r).label == label)
    return str(model.index(row, column).data())


def test_status_columns_name_fallback_and_duplicate_addresses(inv: MainWindow) -> None:
    headers = [inv.inventory.model.headerData(c, Qt.Orientation.Horizontal)
               for c in range(inv.inventory.model.columnCount())]
    assert headers[-4:] == ["Missing", "Last assessed", "Reboot", "Online"]
    assert cell(inv, "web01", M.COL_MISSING) == "2  (1 security)"
    assert cell(inv, "web01", M.COL_REBOOT) == "pending"
    assert cell(inv, "web01", M.COL_ASSESSED) not in ("never", "")
    assert "scan failed" in cell(inv, "mail01", M.COL_MISSING)
    assert cell(inv, "old-web", M.COL_MISSING) == "—"
    assert cell(inv, "old-web", M.COL_ASSESSED) == "never"
    assert cell(inv, "web01", M.COL_ONLINE) == "—"  # never seen by a scan
    model = inv.inventory.model
    assert model.online(Asset(last_seen=datetime.now(UTC) - timedelta(hours=1))) is True
    assert model.online(Asset(last_seen=datetime.now(UTC) - timedelta(days=3))) is False
    # A host without a name is listed by its address, greyed.
    assert cell(inv, "10.0.0.50", M.COL_HOSTNAME) == "10.0.0.50"
    row = next(r for r in range(model.rowCount()) if model.asset_at(r).label == "10.0.0.50")
    assert model.index(row, M.COL_HOSTNAME).data(Qt.ItemDataRole.ForegroundRole) is not None
    # Two assets on one address: flagged above the table and in the IP column.
    label = inv.inventory.duplicate_label
    assert label.isVisible() and "10.0.0.10 (web01, old-web)" in label.text()
    row = next(r for r in range(model.rowCount()) if model.asset_at(r).label == "web01")
    assert model.index(row, M.COL_IP).data(Qt.ItemDataRole.ForegroundRole) == \
        QColor("#b3261e")
    assert "old-web" in model.index(row, M.COL_IP).data(Qt.ItemDataRole.ToolTipRole)
    # Sorting by missing puts the most first.
    inv.inventory.view.sortByColumn(M.COL_MISSING, Qt.SortOrder.DescendingOrder)
    assert inv.inventory.proxy.asset_at(0).label == "web01"


def test_bulk_edit_ring_owner_location_kind_tags(qtbot: Any, inv: MainWindow,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    page = inv.inventory
    ids = {a.id for a in page.model.assets() if a.label in ("web01", "old-web")}
    page.select_ids({i for i in ids if i is not None})
    assert inv.action(MainAction.BULK_EDIT).isEnabled()

    def fill(_parent: Any, assets: list[Asset]) -> list[Asset]:
        dialog = BulkEditDialog(None, assets)
        qtbot.addWidget(dialog)
        assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
        for key in ("ring", "owner", "location", "kind", "add_tags", "remove_tags"):
            dialog.boxes[key].setChecked(True)
        dialog.ring.setCurrentIndex(dialog.ring.findData("pilot"))
        dialog.owner.setText("Ops team")
        dialog.location.setText("HQ rack 3")
        dialog.kind.setCurrentIndex(dialog.kind.findData("server"))
        dialog.add_tags.setText("linux, patched-weekly")
        dialog.remove_tags.setText("DMZ")
        return dialog.changed_assets()

    monkeypatch.setattr(BulkEditDialog, "ask", classmethod(lambda _c, p, a: fill(p, a)))
    with qtbot.waitSignal(inv.changed, timeout=10_000):
        inv.action(MainAction.BULK_EDIT).trigger()
    assert inv.service is not None
    stored = {a.label: a for a in inv.service.assets()}
    for name in ("web01", "old-web"):
        a = stored[name]
        assert (a.ring, a.owner, a.location, a.kind) == (Ring.PILOT, "Ops team", "HQ rack 3",
                                                         AssetKind.SERVER)
        assert "dmz" not in a.tags and {"linux", "patched-weekly"} <= set(a.tags)
    assert stored["web01"].tags == ("web", "linux", "patched-weekly")
    assert stored["mail01"].owner == ""  # not selected
    assert cell(inv, "web01", M.COL_OWNER) == "Ops team"


def test_bulk_change_keeps_untouched_assets() -> None:
    asset = Asset(hostname="a", owner="x", id=1)
    assert BulkChange(owner="x").apply(asset) is asset
    assert not BulkChange() and BulkChange(remove_tags=("t",))


def test_saved_filters_are_groups(qtbot: Any, inv: MainWindow,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    page = inv.inventory
    page.search.setText("10.0.0.10")
    page.apply_filter()
    monkeypatch.setattr(InventoryPage, "ask_group_name", staticmethod(lambda _p, _w: "Web"))
    with qtbot.waitSignal(page.wrote, timeout=10_000):
        page.save_group_button.click()
    assert inv.service is not None
    assert inv.service.settings()[GROUPS_SETTING] == {"Web": "10.0.0.10"}
    assert page.group_combo.currentText() == "Web"
    page.show_group("")
    assert page.search.text() == "" and page.proxy.rowCount() == 4
    page.show_group("Web")
    assert {page.proxy.asset_at(r).label for r in range(page.proxy.rowCount())} == \
        {"web01", "old-web"}
    # Reloaded from the site (as after reopening it), then deleted.
    page.load()
    wait_idle(qtbot, inv)
    assert page.group_combo.findData("Web") > 0
    page.show_group("Web")
    with qtbot.waitSignal(page.wrote, timeout=10_000):
        page.delete_group_button.click()
    assert inv.service.settings()[GROUPS_SETTING] == {}
    assert page.group_combo.count() == 1 and page.proxy.rowCount() == 4
