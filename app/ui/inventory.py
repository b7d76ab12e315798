"""The Inventory page: the asset table with its filter box and the detail panel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from app.core.models import Asset, AssetPatch, AuditEvent, Software
from app.ui.models import (
    AssetFilterProxy,
    AssetStatus,
    AssetTableModel,
    asset_statuses,
)
from app.ui.page import Page
from app.ui.qt import (
    QAbstractItemView,
    QAction,
    QByteArray,
    QComboBox,
    QFrame,
    QGuiApplication,
    QHBoxLayout,
    QInputDialog,
    QKeySequence,
    QLabel,
    QLineEdit,
    QMenu,
    QModelIndex,
    QPoint,
    QPushButton,
    QSettings,
    QShortcut,
    QSplitter,
    QStackedWidget,
    Qt,
    QTimer,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.widgets import make_table_view, page_header, plain_label

if TYPE_CHECKING:
    from app.services import SiteService

FILTER_DEBOUNCE_MS = 150
#: Selection changes settle for this long before the deep-scan details are loaded.
DETAIL_DEBOUNCE_MS = 120
_DEFAULT_WIDTHS = (150, 110, 130, 190, 110, 150, 130, 75, 85, 100, 125, 120, 125, 65, 60)
#: The per-site setting holding the saved groups (name → filter words).
GROUPS_SETTING = "inventory_groups"








from app.ui.asset_details import (  # noqa: E402 - re-exported for the pages and tests
    ERROR_KINDS,
    AssetDetails,
    MissingUpdatesModel,
    SoftwareModel,
    error_kind_label,
    facts_texts,
    human_bytes,
    human_duration,
)

__all__ = ["ERROR_KINDS", "AssetDetails", "InventoryPage", "MissingUpdatesModel",
           "SoftwareModel", "error_kind_label", "facts_texts", "human_bytes", "human_duration"]


class InventoryPage(Page):
    """The asset table, its filter box, actions and the detail panel."""

    edit_requested = Signal()
    history_wanted = Signal(int)
    #: The deep-scan details of this asset should be loaded (debounced selection).
    assessment_wanted = Signal(int)
    #: The detail panel received an asset's deep-scan details (asset id).
    assessment_loaded = Signal(int)
    selection_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inventoryPage")
        self.model = AssetTableModel(self)
        self.proxy = AssetFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        header, self.summary = page_header("Inventory")

        self.search = QLineEdit()
        self.search.setObjectName("inventorySearch")
        self.search.setAccessibleName("Filter assets")
        self.search.setPlaceholderText(
            "Filter by host name, IP, MAC, OS, location, owner or tag  (Ctrl+F)"
        )
        self.search.setClearButtonEnabled(True)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(FILTER_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self.apply_filter)

        self.groups: dict[str, str] = {}
        self.group_combo = QComboBox()
        self.group_combo.setObjectName("inventoryGroups")
        self.group_combo.setAccessibleName("Saved groups")
        self.group_combo.setToolTip("Saved filters: choose one to show its assets")
        self.group_combo.addItem("All assets", "")
        self.group_combo.currentIndexChanged.connect(self._on_group_chosen)
        self.save_group_button = QToolButton()
        self.save_group_button.setObjectName("saveGroup")
        self.save_group_button.setText("Save as group…")
        self.save_group_button.setToolTip("Save the words in the filter box as a named group")
        self.save_group_button.clicked.connect(self.save_group)
        self.delete_group_button = QToolButton()
        self.delete_group_button.setObjectName("deleteGroup")
        self.delete_group_button.setText("Delete group")
        self.delete_group_button.setEnabled(False)
        self.delete_group_button.clicked.connect(self.delete_group)

        # Identity conflicts waiting for a person ([12].5): a badge that shows them.
        self.conflicts: list[dict[str, Any]] = []
        self.conflict_button = QToolButton()
        self.conflict_button.setObjectName("identityConflicts")
        self.conflict_button.setToolTip("Hosts that reported another asset's MAC address: "
                                        "show them and decide")
        self.conflict_button.clicked.connect(self.show_conflicts)
        self.conflict_button.hide()

        self.toolbar = QHBoxLayout()
        self.toolbar.setSpacing(6)
        self.toolbar.addWidget(self.conflict_button)
        self.toolbar.addWidget(self.group_combo)
        self.toolbar.addWidget(self.search, 1)
        self.toolbar.addWidget(self.save_group_button)
        self.toolbar.addWidget(self.delete_group_button)
        self.duplicate_label = plain_label(name="duplicateIps", role="field-error",
                                           hidden=True)

        self.view = make_table_view("inventoryView", "Assets")
        self.view.setModel(self.proxy)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu)
        self.view.doubleClicked.connect(lambda _i: self.edit_requested.emit())
        hdr = self.view.horizontalHeader()
        for col, width in enumerate(_DEFAULT_WIDTHS):
            hdr.resizeSection(col, width)
        # The deep-scan status columns read best next to the OS (a saved layout wins).
        for offset, column in enumerate((AssetTableModel.COL_MISSING,
                                         AssetTableModel.COL_ASSESSED,
                                         AssetTableModel.COL_REBOOT,
                                         AssetTableModel.COL_ONLINE)):
            hdr.moveSection(hdr.visualIndex(column), AssetTableModel.COL_OS + 1 + offset)
        hdr.setSortIndicator(AssetTableModel.COL_HOSTNAME, Qt.SortOrder.AscendingOrder)
        self.view.setSortingEnabled(True)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        # The source's signals, not the proxy's: filtering emits one per removed range.
        self.model.modelReset.connect(self._update_summary)
        self.model.rowsInserted.connect(self._update_summary)
        self.model.rowsRemoved.connect(self._update_summary)
        for key in ("Return", "Enter"):
            QShortcut(QKeySequence(key), self.view, self.edit_requested.emit,
                      Qt.ShortcutContext.WidgetShortcut)

        self.empty = QLabel(
            "This site has no assets yet.\n\n"
            "Add one with Edit ▸ Add asset (Ctrl+Shift+A), or import a spreadsheet with "
            "File ▸ Import CSV (Ctrl+I), or find the devices on your network on the "
            "Discover page (Ctrl+2)."
        )
        self.empty.setObjectName("inventoryEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setProperty("role", "muted")
        self.table_stack = QStackedWidget()
        self.table_stack.addWidget(self.view)
        self.table_stack.addWidget(self.empty)

        self.details = AssetDetails()
        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(DETAIL_DEBOUNCE_MS)
        self._detail_timer.timeout.connect(self._on_detail_timer_timeout)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("inventorySplitter")
        self.splitter.addWidget(self.table_stack)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 340])
        self.splitter.setChildrenCollapsible(False)

        # "Showing only …" when a dashboard card or a saved group narrowed the list.
        self.scope_bar = QFrame()
        self.scope_bar.setObjectName("inventoryScope")
        self.scope_bar.setProperty("role", "banner")
        scope_row = QHBoxLayout(self.scope_bar)
        scope_row.setContentsMargins(8, 4, 8, 4)
        self.scope_label = plain_label(name="inventoryScopeText")
        self.scope_clear = QPushButton("Show all")
        self.scope_clear.setObjectName("inventoryScopeClear")
        self.scope_clear.clicked.connect(lambda: self.set_scope(None))
        scope_row.addWidget(self.scope_label, 1)
        scope_row.addWidget(self.scope_clear)
        self.scope_bar.hide()
        self.scope_title = ""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.addWidget(header)
        layout.addLayout(self.toolbar)
        layout.addWidget(self.duplicate_label)
        layout.addWidget(self.scope_bar)
        layout.addWidget(self.splitter, 1)

        self.copy_ip = QAction("Copy IP address", self)
        self.copy_ip.triggered.connect(lambda: self._copy("ip"))
        self.copy_hostname = QAction("Copy host name", self)
        self.copy_hostname.triggered.connect(lambda: self._copy("hostname"))
        self._context_actions: list[QAction | None] = []
        self._update_summary()
        self.history_wanted.connect(self._load_history)
        self.assessment_wanted.connect(self._load_assessment)

    # -- wiring -----------------------------------------------------------------------------
    def add_tool_actions(self, actions: Sequence[QAction]) -> None:
        """Put buttons for the window's actions next to the filter box."""
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self.toolbar.addWidget(button)

    def set_context_actions(self, actions: Sequence[QAction | None]) -> None:
        """The window's actions to offer in the table's context menu (None: a separator)."""
        self._context_actions = list(actions)

    # -- data -------------------------------------------------------------------------------
    def clear(self) -> None:
        self.set_assets([])

    def load(self) -> None:
        """Reload the assets, their deep-scan status and the saved groups (in the
        background)."""

        def read(service: SiteService) -> tuple[list[Asset], dict[int, AssetStatus],
                                                dict[str, str], list[dict[str, Any]]]:
            status = asset_statuses(service.assessments(), service.patches())
            groups = service.settings().get(GROUPS_SETTING) or {}
            return (service.assets(), status, dict(groups) if isinstance(groups, dict) else {},
                    service.identity.conflicts())

        def show(result: tuple[list[Asset], dict[int, AssetStatus], dict[str, str],
                               list[dict[str, Any]]]) -> None:
            assets, status, groups, conflicts = result
            self.set_groups(groups)
            self.set_assets(assets, status)
            self.set_conflicts(conflicts)
            self.loaded.emit()

        self.read(read, "load assets", show)

    # -- identity conflicts ([12].5) -----------------------------------------------------
    def set_conflicts(self, conflicts: list[dict[str, Any]]) -> None:
        """Show the badge of open identity conflicts (hidden when there are none)."""
        self.conflicts = conflicts
        n = len(conflicts)
        self.conflict_button.setText(f"⚠ {n} identity conflict{'s' if n != 1 else ''}")
        self.conflict_button.setVisible(bool(n))

    def show_conflicts(self) -> None:
        """Show only the assets in a conflict, and the dialog to decide them."""
        from app.ui.identity_dialog import IdentityConflictsDialog

        ids = sorted({int(c[key]) for c in self.conflicts for key in ("claimed_by", "owner")})
        self.set_scope(ids, "assets with identity conflicts")
        IdentityConflictsDialog(self.conflicts, self.resolve_conflict, self).exec()

    def resolve_conflict(self, conflict_id: int, keep: Any, merge: bool) -> None:
        """Record a decision (audited), then reload the inventory."""
        service = self.service
        if service is None:
            return

        def done(_result: Any) -> None:
            self.status_message.emit(f"Identity conflict {conflict_id} resolved.", 5000)
            self.set_scope(None)
            self.load()

        self.write("identity", lambda: service.identity.resolve(conflict_id, keep, merge), done)

    # -- groups (saved filters) -----------------------------------------------------------
    def set_groups(self, groups: dict[str, str]) -> None:
        """Offer these saved filters (name → filter words) in the group list."""
        self.groups = {str(k): str(v) for k, v in groups.items()}
        current = self.group_combo.currentText() if self.group_combo.currentIndex() > 0 else ""
        self.group_combo.blockSignals(True)
        self.group_combo.clear()
        self.group_combo.addItem("All assets", "")
        for name in sorted(self.groups, key=str.lower):
            self.group_combo.addItem(name, name)
        index = self.group_combo.findData(current) if current else 0
        self.group_combo.setCurrentIndex(max(0, index))
        self.group_combo.blockSignals(False)
        self.delete_group_button.setEnabled(self.group_combo.currentIndex() > 0)

    def show_group(self, name: str) -> None:
        """Filter by a saved group's words ("": every asset)."""
        index = max(0, self.group_combo.findData(name) if name else 0)
        if index == self.group_combo.currentIndex():
            self._on_group_chosen(index)
        else:
            self.group_combo.setCurrentIndex(index)

    def _on_group_chosen(self, _index: int) -> None:
        name = str(self.group_combo.currentData() or "")
        self.delete_group_button.setEnabled(bool(name))
        self.search.setText(self.groups.get(name, "") if name else "")
        self.apply_filter()

    @staticmethod
    def ask_group_name(parent: QWidget, words: str) -> str:
        """The name for a new group ("" when cancelled); tests replace this."""
        name, ok = QInputDialog.getText(parent, "Save as group",
                                        f"Name for the assets matching “{words}”:")
        return name.strip() if ok else ""

    def save_group(self) -> None:
        """Save the words in the filter box as a named group (a per-site setting)."""
        words = self.search.text().strip()
        service = self.service
        if not words or service is None:
            self.status_message.emit("Type a filter first: a group is a saved filter.", 5000)
            return
        name = type(self).ask_group_name(self, words)
        if not name:
            return
        groups = {**self.groups, name: words}

        def done(_settings: Any) -> None:
            self.set_groups(groups)
            self.show_group(name)
            self.status_message.emit(f"Saved the group {name}.", 5000)

        self.write("groups", lambda: service.update_settings(**{GROUPS_SETTING: groups}),
                   done)

    def delete_group(self) -> None:
        """Forget the group chosen (the assets stay)."""
        name = str(self.group_combo.currentData() or "")
        service = self.service
        if not name or service is None:
            return
        groups = {k: v for k, v in self.groups.items() if k != name}

        def done(_settings: Any) -> None:
            self.set_groups(groups)
            self.show_group("")
            self.status_message.emit(f"Deleted the group {name}.", 5000)

        self.write("groups", lambda: service.update_settings(**{GROUPS_SETTING: groups}),
                   done)

    def _load_history(self, asset_id: int) -> None:
        self.read(lambda service: service.audit_events(object_type="asset",
                                                       object_id=str(asset_id)),
                  "asset history", lambda events: self.show_history(asset_id, events),
                  loading=False)

    def _load_assessment(self, asset_id: int) -> None:
        def read(service: SiteService) -> Any:
            return (service.assessment(asset_id), service.software(asset_id),
                    service.patches(asset_id))

        def show(result: Any) -> None:
            self.show_assessment(asset_id, *result)
            self.assessment_loaded.emit(asset_id)

        self.read(read, "asset assessment", show, loading=False)

    def set_assets(self, assets: Sequence[Asset],
                   status: dict[int, AssetStatus] | None = None) -> None:
        """Show a fresh list of assets, keeping the sort order and the selection if possible."""
        selected = {a.id for a in self.selected_assets() if a.id is not None}
        self.model.set_assets(assets, status)
        self._show_duplicates()
        hdr = self.view.horizontalHeader()
        self.model.sort(hdr.sortIndicatorSection(), hdr.sortIndicatorOrder())
        if selected:
            self.select_ids(selected)
        self._on_selection_changed()

    def select_ids(self, ids: set[int], *, current: int | None = None) -> None:
        """Select the rows of some assets (those hidden by the filter are skipped)."""
        sel = self.view.selectionModel()
        sel.clearSelection()
        first: QModelIndex | None = None
        for asset_id in ids:
            row = self.model.row_of(asset_id)
            if row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if not index.isValid():
                continue
            flags = (sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
            sel.select(index, flags)
            if first is None or asset_id == current:
                first = index
        if first is not None:
            sel.setCurrentIndex(first, sel.SelectionFlag.NoUpdate)
            self.view.scrollTo(first)

    def selected_assets(self) -> list[Asset]:
        """The selected assets, in view order."""
        rows = sorted(i.row() for i in self.view.selectionModel().selectedRows())
        return [self.proxy.asset_at(r) for r in rows]

    def set_scope(self, ids: Sequence[int] | None, title: str = "") -> None:
        """Show only these assets under a banner naming them (None: every asset)."""
        self.proxy.set_id_scope(ids)
        self.scope_title = title if ids is not None else ""
        if ids is None:
            self.scope_bar.hide()
        else:
            self.scope_label.setText(f"Showing only {title or 'some assets'} "
                                     f"({len(ids):,}).")
            self.scope_bar.show()
        self._update_summary()
        self._on_selection_changed()

    def apply_filter(self) -> None:
        """Filter now (the box debounces typing by 150 ms)."""
        self._debounce.stop()
        self.proxy.set_filter_text(self.search.text())
        self._update_summary()
        self._on_selection_changed()

    def focus_search(self) -> bool:
        """Put the cursor in the filter box, text selected."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()
        return True

    def show_history(self, asset_id: int, events: Sequence[AuditEvent]) -> None:
        """Deliver an asset's change log to the detail panel."""
        self.details.show_history(asset_id, events)

    # -- state ------------------------------------------------------------------------------
    def save_state(self, settings: QSettings) -> None:
        """Remember column widths, order, sort and the splitter position."""
        settings.setValue("inventory/header", self.view.horizontalHeader().saveState())
        settings.setValue("inventory/splitter", self.splitter.saveState())

    def restore_state(self, settings: QSettings) -> None:
        """Restore what :meth:`save_state` remembered."""
        header = settings.value("inventory/header")
        if isinstance(header, QByteArray | bytes):
            self.view.horizontalHeader().restoreState(header)
        splitter = settings.value("inventory/splitter")
        if isinstance(splitter, QByteArray | bytes):
            self.splitter.restoreState(splitter)

    def _show_duplicates(self) -> None:
        dupes = self.model.duplicate_ips
        if not dupes:
            self.duplicate_label.hide()
            return
        shown = "; ".join(f"{ip} ({', '.join(labels)})"
                          for ip, labels in list(dupes.items())[:3])
        more = f"; and {len(dupes) - 3} more" if len(dupes) > 3 else ""
        self.duplicate_label.setText(
            f"⚠ {len(dupes)} address{'es are' if len(dupes) > 1 else ' is'} used by more "
            f"than one asset: {shown}{more}. Deep scans and deployments reach whichever "
            "machine answers: correct or delete the stale entry.")
        self.duplicate_label.show()

    # -- slots ------------------------------------------------------------------------------
    def _update_summary(self) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        noun = "asset" if total == 1 else "assets"
        if (self.proxy.filter_text or self.proxy.id_scope is not None) and shown != total:
            self.summary.setText(f"Showing {shown:,} of {total:,} {noun}")
        else:
            self.summary.setText(f"{total:,} {noun}")
        self.table_stack.setCurrentIndex(1 if total == 0 else 0)

    def _on_selection_changed(self, *_args: object) -> None:
        assets = self.selected_assets()
        asset = assets[0] if len(assets) == 1 else None
        if asset is None and len(assets) > 1:
            self.details.show_asset(None)
            self.details.placeholder.setText(f"{len(assets)} assets selected.")
        else:
            self.details.placeholder.setText("Select an asset to see its details.")
            self.details.show_asset(asset)
            if asset is not None and asset.id is not None:
                self.history_wanted.emit(asset.id)
                if self.details.assessment_shown != asset.id:
                    self._detail_timer.start()
        self.selection_changed.emit()

    def _on_detail_timer_timeout(self) -> None:
        asset = self.details.asset
        if asset is not None and asset.id is not None:
            self.assessment_wanted.emit(asset.id)

    def refresh_assessment(self) -> None:
        """Reload the deep-scan details of the asset on display (after a new scan)."""
        self.details.assessment_shown = None
        if self.details.asset is not None:
            self._detail_timer.start()

    def show_assessment(self, asset_id: int, record: Any, software: Sequence[Software],
                        patches: Sequence[AssetPatch]) -> None:
        """Deliver an asset's deep-scan details to the detail panel."""
        self.details.show_assessment(asset_id, record, software, patches)

    def _on_view_context_menu(self, pos: QPoint) -> None:
        if not self.view.indexAt(pos).isValid():
            return
        menu = QMenu(self)
        for action in self._context_actions:
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        if self._context_actions:
            menu.addSeparator()
        menu.addAction(self.copy_ip)
        menu.addAction(self.copy_hostname)
        menu.exec(self.view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def _copy(self, what: str) -> None:
        assets = self.selected_assets()
        if what == "ip":
            values = [ip for a in assets for ip in a.ips[:1]]
        else:
            values = [a.hostname for a in assets if a.hostname]
        if values:
            QGuiApplication.clipboard().setText("\n".join(values))
