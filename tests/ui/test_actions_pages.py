"""The main window's action registry, the page base class and the widget factories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.core.models import Asset
from app.services import SiteService
from app.ui.actions import ACTIONS, INVENTORY_CONTEXT, INVENTORY_TOOLS, MENUS, MainAction
from app.ui.mainwindow import MainWindow
from app.ui.page import Page
from app.ui.qt import QAbstractItemView, QKeySequence, Qt, QTableWidgetItem
from app.ui.tasks import TaskRunner
from app.ui.widgets import make_table_view, make_table_widget, plain_label
from tests.ui.conftest import wait_idle


# -- the action registry --------------------------------------------------------------------
def test_every_action_is_declared_once_and_sits_in_one_menu(window: MainWindow) -> None:
    ids = [spec.id for spec in ACTIONS]
    assert sorted(ids) == sorted(MainAction)  # each id declared exactly once
    in_menus = [entry for _title, entries in MENUS for entry in entries
                if isinstance(entry, MainAction)]
    assert sorted(in_menus) == sorted(MainAction)  # each action in exactly one menu
    bar = {action.text(): action for action in window.menuBar().actions()}
    for title, entries in MENUS:
        menu = bar[title].menu()
        assert menu is not None
        shown = menu.actions()
        for entry in entries:
            if isinstance(entry, MainAction):
                assert window.action(entry) in shown, (title, entry)
    for spec in ACTIONS:
        action = window.action(spec.id)
        assert action.text() == spec.text
        assert action.shortcuts() == [QKeySequence(s) for s in spec.shortcuts]
        assert action.statusTip() == spec.tip
    tools = window.inventory.toolbar
    buttons = [tools.itemAt(i).widget() for i in range(tools.count())]
    defaults = [getattr(b, "defaultAction", lambda: None)() for b in buttons]
    assert [window.action(a) for a in INVENTORY_TOOLS] == [d for d in defaults if d]
    assert window.inventory._context_actions == [
        window.action(a) if a is not None else None for a in INVENTORY_CONTEXT]


def test_no_two_actions_share_a_shortcut_and_the_known_ones_stay(window: MainWindow) -> None:
    seen: dict[str, str] = {}
    for action in window.actions():
        for key in action.shortcuts():
            text = key.toString()
            assert text not in seen, f"{text}: {seen.get(text)} and {action.text()}"
            seen[text] = action.text()
    expected = {MainAction.ASSESS: "Ctrl+R", MainAction.ASSESS_ALL: "Ctrl+Shift+R",
                MainAction.DEPLOY: "Ctrl+D", MainAction.IMPORT: "Ctrl+I",
                MainAction.EXPORT_CSV: "Ctrl+E", MainAction.EDIT: "F2",
                MainAction.UNLOCK: "Ctrl+Shift+U", MainAction.LOCK: "Ctrl+Shift+L",
                MainAction.CRITICALITY: "Ctrl+Shift+K", MainAction.QUIT: "Ctrl+Q"}
    for action_id, key in expected.items():
        assert QKeySequence(key) in window.action(action_id).shortcuts(), action_id
    assert [a.shortcuts()[0].toString() for a in window.page_actions] == [
        f"Ctrl+{n % 10}" for n in range(1, len(window.page_actions) + 1)]


def test_actions_are_enabled_as_declared(qtbot: Any, window: MainWindow) -> None:
    window.show_page("inventory")
    window.inventory.select_ids(set())
    enabled = {a for a in MainAction if window.action(a).isEnabled()}
    assert MainAction.EDIT not in enabled and MainAction.DELETE not in enabled
    assert {MainAction.IMPORT, MainAction.ADD, MainAction.ASSESS_ALL,
            MainAction.UNLOCK} <= enabled
    first = window.inventory.model.assets()[0]
    assert first.id is not None
    window.inventory.select_ids({first.id})
    for action_id in (MainAction.EDIT, MainAction.DELETE, MainAction.ASSESS,
                      MainAction.CRITICALITY):
        assert window.action(action_id).isEnabled(), action_id
    window.show_page("audit")  # the selection counts on the Inventory page only
    wait_idle(qtbot, window)
    assert not window.action(MainAction.EDIT).isEnabled()
    assert not window.action(MainAction.UNDO).isEnabled()


def test_without_a_site_only_site_independent_actions_are_enabled(qtbot: Any) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    enabled = {a for a in MainAction if window.action(a).isEnabled()}
    assert enabled == {MainAction.NEW_SITE, MainAction.OPEN_SITE, MainAction.QUIT,
                       MainAction.FIND, MainAction.ABOUT, MainAction.SHORTCUTS,
                       MainAction.USER_GUIDE}


# -- pages load their own data --------------------------------------------------------------
def test_a_page_loads_when_shown_and_again_only_after_a_change(qtbot: Any,
                                                              window: MainWindow) -> None:
    with qtbot.waitSignal(window.audit_loaded, timeout=5000):
        window.show_page("audit")
    assert not window.audit.stale
    window.show_page("inventory")
    with qtbot.assertNotEmitted(window.audit_loaded, wait=300):
        window.show_page("audit")  # nothing changed: no second read
    window.show_page("site")
    with qtbot.waitSignal(window.changed, timeout=5000):
        window.site_page.save_site({"client": "Contoso"})
    assert window.audit.stale  # the write added an audit entry
    with qtbot.waitSignal(window.audit_loaded, timeout=5000):
        window.show_page("audit")
    assert window.audit.model.index(0, 2).data() == "site.update"
    # The dashboard's figures are read again on every visit.
    for _ in range(2):
        with qtbot.waitSignal(window.dashboard_loaded, timeout=5000):
            window.show_page("dashboard")
        window.show_page("inventory")


class CountingPage(Page):
    """A page that shows how many assets the site has."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self.shown: list[int] = []
        self.cleared = 0

    def clear(self) -> None:
        self.cleared += 1
        self.shown = []

    def load(self) -> None:
        self.loads += 1
        self.read(lambda service: len(service.assets()), "count", self.shown.append)


def test_page_base_class_contract(qtbot: Any, tmp_path: Path) -> None:
    runner = TaskRunner(inline=True)
    first = SiteService.open(tmp_path / "a.pdsite", create=True, actor="tester")
    second = SiteService.open(tmp_path / "b.pdsite", create=True, actor="tester")
    first.add_asset(Asset(hostname="one", ips=("10.0.0.1",)))
    page = CountingPage()
    qtbot.addWidget(page)
    page.refresh()  # no site yet: nothing read, still stale
    assert page.shown == [] and page.stale
    page.loads = 0
    page.bind(first, runner)
    assert page.cleared == 1 and page.stale
    page.refresh()
    page.refresh()
    assert page.loads == 1 and page.shown == [1] and not page.stale
    page.mark_stale()
    page.refresh()
    assert page.loads == 2 and page.shown == [1, 1]
    # A result that arrives after another site was bound is dropped.
    slow = TaskRunner()
    page.bind(first, slow)
    task = page.read(lambda service: len(service.assets()), "count", page.shown.append)
    assert task is not None
    page.bind(second, runner)
    qtbot.waitUntil(lambda: not task.running, timeout=5000)
    assert page.shown == []
    page.refresh()
    assert page.shown == [0]
    slow.wait_for_done(5000)
    first.close()
    second.close()


# -- widget factories -----------------------------------------------------------------------
def test_labels_show_host_text_as_plain_text(qtbot: Any) -> None:
    label = plain_label("<b>evil</b>", name="hostName", role="muted", selectable=True,
                        hidden=True)
    qtbot.addWidget(label)
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert label.objectName() == "hostName" and label.property("role") == "muted"
    assert label.wordWrap() and label.isHidden()
    assert label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse


@pytest.mark.parametrize("single", [True, False])
def test_tables_are_read_only_and_select_rows(qtbot: Any, single: bool) -> None:
    table = make_table_widget("hosts", "Hosts", ["Host", "Address"], (120,), single=single)
    view = make_table_view("view", "View", widths=(80, 90), single=single)
    for widget in (table, view):
        qtbot.addWidget(widget)
        assert widget.editTriggers() == QAbstractItemView.EditTrigger.NoEditTriggers
        assert widget.selectionBehavior() == QAbstractItemView.SelectionBehavior.SelectRows
        assert widget.selectionMode() == (
            QAbstractItemView.SelectionMode.SingleSelection if single
            else QAbstractItemView.SelectionMode.ExtendedSelection)
        assert not widget.showGrid() and widget.verticalHeader().isHidden()
    assert table.objectName() == "hosts" and table.accessibleName() == "Hosts"
    assert table.columnCount() == 2 and table.columnWidth(0) == 120
    table.setRowCount(1)
    table.setItem(0, 0, QTableWidgetItem("alpha"))
    header = table.horizontalHeaderItem(1)
    assert header is not None and header.text() == "Address"
